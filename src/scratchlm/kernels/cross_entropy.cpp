// cross_entropy.cpp — chunked, fused output head + softmax cross-entropy (see cross_entropy.h).
#include "scratchlm/kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "scratchlm/kernels/blocked_weight.h"
#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/scratch_buffer.h"
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

namespace {

inline float to_f32(float x) { return x; }
inline float to_f32(bf16_t x) { return bf16_to_f32(x); }

// Loss (and with grads the logit gradient, in place) of rows [0, m) of a chunk: logits rows V
// apart, fp32 or (bf16 runs) bf16. The softmax and loss are fp32 either way.
template <typename L>
void softmax_rows(L* logits, const int32_t* targets, int64_t m, int64_t V, bool grads, float dscale, float* row_loss,
                  double& loss_sum, int64_t& count) {
  double chunk_loss = 0.0;
  int64_t chunk_count = 0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_loss, chunk_count)
  for (int64_t i = 0; i < m; ++i) {
    L* l = logits + i * V;
    const int32_t t = targets[i];
    if (t == kIgnoreIndex) {
      if (row_loss) row_loss[i] = 0.0f;
      if (grads) std::fill(l, l + V, L{0});  // (zero in bf16 too)
      continue;
    }
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t v = 0; v < V; ++v) mx = to_f32(l[v]) > mx ? to_f32(l[v]) : mx;
    // bf16 logits: each exp kept (a row's fp32 values in L2) for the gradient below; the same sum.
    float* e = nullptr;
    if constexpr (!std::is_same_v<L, float>) {
      thread_local std::vector<float> exps;
      e = grow(exps, V);
    }
    float sum = 0.0f;
    if constexpr (std::is_same_v<L, float>) {
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < V; ++v) sum += fast_expf(to_f32(l[v]) - mx);
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < V; ++v) {
        e[v] = fast_expf(to_f32(l[v]) - mx);
        sum += e[v];
      }
    }
    const float lse = mx + std::log(sum);
    const float lt = to_f32(l[t]), loss = lse - lt;
    if (row_loss) row_loss[i] = loss;
    chunk_loss += loss;
    chunk_count += 1;
    if (!grads) continue;
    if constexpr (std::is_same_v<L, float>) {
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) l[v] = fast_expf(l[v] - lse) * dscale;
      l[t] -= dscale;
    } else {  // softmax = exp / sum times dscale, each gradient rounded once, the target's from fp32
      const float k = dscale / sum;
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) l[v] = f32_to_bf16_vec(e[v] * k);
      l[t] = f32_to_bf16(e[t] * k - dscale);
    }
  }
  loss_sum += chunk_loss;
  count += chunk_count;
}

}  // namespace

CrossEntropyResult head_cross_entropy(const float* x, const float* Wt, const int32_t* targets, int64_t M, int64_t C,
                                      int64_t V, float* dx, float* dWt, float dscale, float* scratch,
                                      int64_t chunk_rows, float* row_loss, Precision precision) {
  CrossEntropyResult res;
  const bool grads = dx || dWt;
  const bool bf16 = precision == Precision::Bf16;
  // bf16: Wt rounded once per call into what the chunks' GEMMs take, in grow-only buffers.
  const bf16_t *Wt16 = nullptr, *blocked = nullptr, *blocked_t = nullptr;
  if (bf16 && blocked_weights_available()) {
    thread_local std::vector<bf16_t> packed_t, packed;
    bf16_t* t = grow_aligned64(packed_t, blocked_weight_size(C, V));
    bf16_t* w = dx ? grow_aligned64(packed, blocked_weight_size(V, C)) : nullptr;
    pack_blocked_weight_both(t, w, Wt, V, C);
    blocked_t = t;
    blocked = w;
  } else if (bf16) {
    thread_local std::vector<bf16_t> copy;
    Wt16 = grow(copy, V * C);
    f32_to_bf16_array(Wt, copy.data(), V * C);
  }
  for (int64_t r0 = 0; r0 < M; r0 += chunk_rows) {
    const int64_t m = (r0 + chunk_rows < M ? r0 + chunk_rows : M) - r0;
    float* const rl = row_loss ? row_loss + r0 : nullptr;
    if (bf16) {  // bf16 logits (as autocast's bf16 head gives them), their gradient in their place
      bf16_t* logits = reinterpret_cast<bf16_t*>(scratch);
      matmul_forward_wt_bf16_out16(logits, x + r0 * C, Wt16, m, C, V, blocked_t);
      softmax_rows(logits, targets + r0, m, V, grads, dscale, rl, res.loss_sum, res.count);
      if (grads)
        matmul_backward_wt_bf16_rounded(dx ? dx + r0 * C : nullptr, dWt, logits, V, x + r0 * C, Wt16, m, C, V, false,
                                        blocked);
    } else {
      float* logits = scratch;
      matmul_forward_wt(logits, x + r0 * C, Wt, m, C, V);
      softmax_rows(logits, targets + r0, m, V, grads, dscale, rl, res.loss_sum, res.count);
      if (grads) matmul_backward_wt(dx ? dx + r0 * C : nullptr, dWt, logits, x + r0 * C, Wt, m, C, V);
    }
  }
  return res;
}

}  // namespace slm
