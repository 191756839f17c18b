// gelu.cpp — GELU (tanh approximation) forward and backward (see gelu.h).
#include "scratchlm/kernels/gelu.h"

#include <cmath>

#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/tensor/parallel.h"

namespace slm {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
}

namespace {
inline float gelu(float x) {
  float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + fast_tanhf(u));
}
}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = gelu(inp[i]);
}

void gelu_forward_bf16(bf16_t* out, const float* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16_vec(gelu(inp[i]));
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    float t = fast_tanhf(u);
    float sech2 = 1.0f - t * t;
    float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * sech2 * du);
  }
}

}  // namespace slm
