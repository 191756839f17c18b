// embedding.cpp — token + positional embedding forward and backward (see embedding.h).
#include "scratchlm/kernels/embedding.h"

#include "scratchlm/tensor/parallel.h"

namespace slm {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B, int64_t T,
                       int64_t C, const int64_t* pos0) {
#pragma omp parallel for schedule(static) if (B * T * C >= kParallelMin)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    const float* te = wte + static_cast<int64_t>(tokens[bt]) * C;
    const float* pe = wpe + ((pos0 ? pos0[bt / T] : 0) + bt % T) * C;
    float* o = out + bt * C;
    for (int64_t i = 0; i < C; ++i) o[i] = te[i] + pe[i];
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C) {
  constexpr int64_t kBlock = 32;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    int64_t c1 = c0 + kBlock < C ? c0 + kBlock : C;
    for (int64_t bt = 0; bt < B * T; ++bt) {
      const float* d = dout + bt * C;
      if (dwte) {
        float* g = dwte + static_cast<int64_t>(tokens[bt]) * C;
        for (int64_t i = c0; i < c1; ++i) g[i] += d[i];
      }
      if (dwpe) {
        float* g = dwpe + (bt % T) * C;
        for (int64_t i = c0; i < c1; ++i) g[i] += d[i];
      }
    }
  }
}

}  // namespace slm
