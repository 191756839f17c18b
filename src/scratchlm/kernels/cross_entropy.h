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

namespace slm {

inline constexpr int32_t kIgnoreIndex = -100;

struct CrossEntropyResult {
  double loss_sum = 0.0;  // sum of per-row losses over counted rows
  int64_t count = 0;      // rows whose target is not ignore_index
};

// Number of targets != ignore_index (validating that the others are in [0, V)).
int64_t count_targets(const int32_t* targets, int64_t M, int64_t V);

// Wt16: a bf16 copy of Wt (--precision bf16): the head's three products (logits, dx, dWt) then
// take bf16 operands with fp32 sums (kernels/matmul_bf16.h), and the logits are rounded to bf16 as
// they are written, as PyTorch autocast's bf16 head gives them; the softmax and loss stay fp32,
// and each logit's gradient is rounded to bf16 in the logit's place. scratch must hold
// chunk_rows * V floats, or with Wt16 chunk_rows * V bf16 values (half the bytes). dx (M x C, overwritten) and dWt
// (accumulated) may be null; dscale is the gradient of the loss w.r.t. each counted row's loss (e.g. 1/count for a
// mean). row_loss (optional, M entries) receives each row's loss (0 for ignored rows).
// With Wt16, dx and at least two chunks, the native path packs Wt16 once per call for dx's GEMM
// (matmul_bf16.h pack_blocked_weight: the same sums, without the GEMM repacking it in every chunk),
// into a grow-only buffer of V x C bf16 values kept between calls. It pays from the second chunk
// on: per chunk it saves 6 ms (gpt2-mini, B8 T256: 7 chunks) or 9 ms (gpt2-124M, B4 T256: 4) for
// 3.4 or 7 ms of packing once. A single chunk (a small batch) goes without it.
inline constexpr int64_t kBlockedHeadMinChunks = 2;
// The same for the logits' GEMM (pack_blocked_weight_t: 4.4 ms for gpt2-mini) from
// kBlockedLogitsMinChunks chunks on, in a second buffer: it takes the weight's memory once more, so
// only a head of many chunks has it (gpt2-mini B8 T256, 7 chunks: 26 instead of 27-34 ms per chunk;
// gpt2-124M B4 T256 has 4 and goes without, which keeps its bf16 step within fp32's memory).
inline constexpr int64_t kBlockedLogitsMinChunks = 6;
CrossEntropyResult head_cross_entropy(const float* x, const float* Wt, const int32_t* targets, int64_t M, int64_t C,
                                      int64_t V, float* dx, float* dWt, float dscale, float* scratch,
                                      int64_t chunk_rows, float* row_loss = nullptr, const uint16_t* Wt16 = nullptr);

}  // namespace slm
