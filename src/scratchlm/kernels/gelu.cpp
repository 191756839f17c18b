// gelu.cpp — GELU (tanh approximation) forward and backward (see gelu.h).
#include "scratchlm/kernels/gelu.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/tensor/parallel.h"

namespace slm {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
}

namespace {
inline float gelu_u(float x) { return kSqrt2OverPi * (x + 0.044715f * x * x * x); }
inline float gelu_of(float x, float t) { return 0.5f * x * (1.0f + t); }  // t = tanh(u)
inline float gelu(float x) { return gelu_of(x, fast_tanhf(gelu_u(x))); }
// dout * gelu'(x), t = tanh(u(x))
inline float gelu_grad(float x, float t, float dout) {
  const float sech2 = 1.0f - t * t;
  const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return dout * (0.5f * (1.0f + t) + 0.5f * x * sech2 * du);
}
}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = gelu(inp[i]);
}

void gelu_forward_bf16(bf16_t* out, const bf16_t* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16_vec(gelu(bf16_to_f32(inp[i])));
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    dinp[i] = gelu_grad(x, fast_tanhf(gelu_u(x)), dout[i]);
  }
}

void gelu_backward_bf16(bf16_t* act16, float* g, float* dbias, const bf16_t* x16, int64_t M, int64_t N) {
  const int nt = omp_get_max_threads();
  std::vector<float> partial(dbias ? static_cast<size_t>(nt) * N : 0, 0.0f);
#pragma omp parallel num_threads(nt)
  {
    float* pb = dbias ? partial.data() + static_cast<size_t>(omp_get_thread_num()) * N : nullptr;
    std::vector<float> d(static_cast<size_t>(N));
    std::vector<bf16_t> d16(static_cast<size_t>(N));
    std::vector<float> x(static_cast<size_t>(N));
    float* xr = x.data();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < M; ++r) {
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) xr[i] = bf16_to_f32(x16[r * N + i]);
      float* gr = g + r * N;
      if (act16) {
        bf16_t* a = act16 + r * N;
#pragma omp simd
        for (int64_t i = 0; i < N; ++i) {
          const float t = fast_tanhf(gelu_u(xr[i]));
          a[i] = f32_to_bf16_vec(gelu_of(xr[i], t));
          d[i] = gelu_grad(xr[i], t, gr[i]);
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < N; ++i) d[i] = gelu_grad(xr[i], fast_tanhf(gelu_u(xr[i])), gr[i]);
      }
      if (pb)
#pragma omp simd
        for (int64_t i = 0; i < N; ++i) pb[i] += d[i];
#pragma omp simd
      for (int64_t i = 0; i < N; ++i) d16[i] = f32_to_bf16_vec(d[i]);
      std::memcpy(gr, d16.data(), sizeof(bf16_t) * static_cast<size_t>(N));  // the row's first half
    }
  }
  if (dbias)  // the threads' partial sums in thread order: the same bits for the same thread count
    for (int t = 0; t < nt; ++t)
      for (int64_t i = 0; i < N; ++i) dbias[i] += partial[static_cast<size_t>(t) * N + i];
}

}  // namespace slm
