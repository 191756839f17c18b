// cross_entropy.h — the output head fused with softmax cross-entropy (chapter 5.1.2), computed in
// chunks of rows so the (rows x vocab) logit matrix is never held whole.
//
// For rows r0..r1 of x[M, C]: logits = x @ Wt^T (Wt[V, C]: lm_head, or wte when tied), then per
// row loss = logsumexp(logits) - logits[target]; rows whose target is ignore_index (-100, as in
// PyTorch) contribute nothing. With gradients requested, dlogits = (softmax - onehot) * dscale is
// formed in the same chunk buffer and immediately turned into dx = dlogits @ Wt and
// dWt += dlogits^T @ x, so forward and backward of the head share one pass.
#pragma once

#include <cstdint>

#include "scratchlm/kernels/matmul_bf16.h"  // Precision

namespace slm {

inline constexpr int32_t kIgnoreIndex = -100;

struct CrossEntropyResult {
  double loss_sum = 0.0;  // sum of per-row losses over counted rows
  int64_t count = 0;      // rows whose target is not ignore_index
};

// Number of targets != ignore_index (validating that the others are in [0, V)).
int64_t count_targets(const int32_t* targets, int64_t M, int64_t V);

// precision Bf16 (--precision bf16): the head's three products (logits, dx, dWt) take bf16
// operands with fp32 sums (kernels/matmul_bf16.h), Wt rounded to nearest even (as every bf16 copy
// of a weight is); the logits are rounded to bf16 as they are written, as PyTorch autocast's bf16
// head gives them; the softmax and loss stay fp32, and each logit's gradient is rounded to bf16 in
// the logit's place. scratch must hold chunk_rows * V floats, or in bf16 chunk_rows * V bf16
// values (half the bytes). dx (M x C, overwritten) and dWt (accumulated) may be null; dscale is
// the gradient of the loss w.r.t. each counted row's loss (e.g. 1/count for a mean). row_loss
// (optional, M entries) receives each row's loss (0 for ignored rows).
// In bf16 the head keeps no bf16 copy of Wt between calls: each call rounds Wt once into what its
// GEMMs take, in grow-only buffers kept for the next call. On the native path that is oneDNN's
// blocked layout (blocked_weight.h), for the logits (Wt^T) and, with dx, for dx's GEMM (Wt), both
// written in one pass over Wt (4.5-5.5 ms for gpt2-mini's 19 M values, 9-10 ms for gpt2-124M's
// 39 M), where the GEMMs would repack a plain copy in every chunk (6-9 ms per chunk for dx); the
// two buffers take the memory of the plain copy they replace and one more. On the fallback path
// it is one plain copy.
CrossEntropyResult head_cross_entropy(const float* x, const float* Wt, const int32_t* targets, int64_t M, int64_t C,
                                      int64_t V, float* dx, float* dWt, float dscale, float* scratch,
                                      int64_t chunk_rows, float* row_loss = nullptr,
                                      Precision precision = Precision::Fp32);

}  // namespace slm
