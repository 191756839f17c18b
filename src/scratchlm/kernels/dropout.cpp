// dropout.cpp — counter-based dropout and the residual add (see dropout.h).
#include "scratchlm/kernels/dropout.h"

#include "scratchlm/tensor/parallel.h"

namespace slm {

void dropout_forward(float* x, int64_t n, float p, uint64_t key) {
  if (p <= 0.0f) return;
  const uint32_t th = dropout_threshold(p);
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = dropout_keep(key, static_cast<uint64_t>(i), th) ? x[i] * scale : 0.0f;
}

void dropout_backward(float* dx, const float* dout, int64_t n, float p, uint64_t key) {
  if (p <= 0.0f) {
    if (dx != dout)
      for (int64_t i = 0; i < n; ++i) dx[i] = dout[i];
    return;
  }
  const uint32_t th = dropout_threshold(p);
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dropout_keep(key, static_cast<uint64_t>(i), th) ? dout[i] * scale : 0.0f;
}

void residual_forward(float* out, const float* x, const float* y, int64_t n, float p, uint64_t key) {
  if (p <= 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
    return;
  }
  const uint32_t th = dropout_threshold(p);
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    out[i] = x[i] + (dropout_keep(key, static_cast<uint64_t>(i), th) ? y[i] * scale : 0.0f);
}

void residual_backward_branch(float* dy, const float* dout, int64_t n, float p, uint64_t key) {
  dropout_backward(dy, dout, n, p, key);
}

}  // namespace slm
