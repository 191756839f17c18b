// cross_entropy.cpp — chunked, fused output head + softmax cross-entropy (see cross_entropy.h).
#include "scratchlm/kernels/cross_entropy.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/util/error.h"

namespace slm {

int64_t count_targets(const int32_t* targets, int64_t M, int64_t V) {
  int64_t n = 0;
  for (int64_t r = 0; r < M; ++r) {
    int32_t t = targets[r];
    if (t == kIgnoreIndex) continue;
    if (t < 0 || t >= V) fail("target id {} at position {} is out of range for a vocabulary of {}", t, r, V);
    ++n;
  }
  return n;
}

CrossEntropyResult head_cross_entropy(const float* x, const float* Wt, const int32_t* targets, int64_t M, int64_t C,
                                      int64_t V, float* dx, float* dWt, float dscale, float* scratch,
                                      int64_t chunk_rows, float* row_loss, const uint16_t* Wt16) {
  CrossEntropyResult res;
  const bool grads = dx || dWt;
  // bf16 (Wt16): the logit gradient rounded to bf16 row by row as it is formed, into the first half
  // of the row's own fp32 storage (through a row buffer: no type punning), so that the bf16
  // gradient's rows are 2V bf16 values apart and need no buffer of their own.
  const bool round16 = grads && Wt16;
  bf16_t* const d16 = round16 ? reinterpret_cast<bf16_t*>(scratch) : nullptr;
  for (int64_t r0 = 0; r0 < M; r0 += chunk_rows) {
    const int64_t m = (r0 + chunk_rows < M ? r0 + chunk_rows : M) - r0;
    float* logits = scratch;
    if (Wt16)
      matmul_forward_wt_bf16(logits, x + r0 * C, Wt16, m, C, V);
    else
      matmul_forward_wt(logits, x + r0 * C, Wt, m, C, V);
    double chunk_loss = 0.0;
    int64_t chunk_count = 0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_loss, chunk_count)
    for (int64_t i = 0; i < m; ++i) {
      float* l = logits + i * V;
      const int32_t t = targets[r0 + i];
      if (t == kIgnoreIndex) {
        if (row_loss) row_loss[r0 + i] = 0.0f;
        if (grads) std::memset(l, 0, sizeof(float) * static_cast<size_t>(V));
        continue;  // (a zero row is zero in bf16 too)
      }
      float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
      for (int64_t v = 0; v < V; ++v) mx = l[v] > mx ? l[v] : mx;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < V; ++v) sum += fast_expf(l[v] - mx);
      const float lse = mx + std::log(sum);
      const float loss = lse - l[t];
      if (row_loss) row_loss[r0 + i] = loss;
      chunk_loss += loss;
      chunk_count += 1;
      if (grads) {
#pragma omp simd
        for (int64_t v = 0; v < V; ++v) l[v] = fast_expf(l[v] - lse) * dscale;
        l[t] -= dscale;
        if (round16) {  // while the row is in cache
          thread_local std::vector<bf16_t> row;
          row.resize(static_cast<size_t>(V));
          f32_to_bf16_array(l, row.data(), V);
          std::memcpy(d16 + i * 2 * V, row.data(), sizeof(bf16_t) * static_cast<size_t>(V));
        }
      }
    }
    res.loss_sum += chunk_loss;
    res.count += chunk_count;
    if (round16)
      matmul_backward_wt_bf16_rounded(dx ? dx + r0 * C : nullptr, dWt, d16, 2 * V, x + r0 * C, Wt16, m, C, V);
    else if (grads)
      matmul_backward_wt(dx ? dx + r0 * C : nullptr, dWt, logits, x + r0 * C, Wt, m, C, V);
  }
  return res;
}

}  // namespace slm
