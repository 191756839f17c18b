// blocked_weight.h — a bf16 weight packed once in the blocked layout oneDNN's bf16 GEMM multiplies
// (mixed precision, chapter 5 "going further": the language-model head of chapter 4, whose weight
// every chunk of the fused head and loss multiplies, kernels/cross_entropy.h).
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

// A weight W[K, N] (row-major bf16) in the blocked layout oneDNN's bf16 GEMM multiplies (its
// BA16a64b2a): blocks of 32 rows x 64 columns, column blocks outermost, each block its 16 pairs of
// rows interleaved (element (k, n) at 2 * (n % 64) + k % 2 of pair row (k % 32) / 2); K padded to
// 32 and N to 64 with zeros. The GEMM otherwise copies B into this layout on every call: a weight
// multiplied in many chunks (the head's input gradient) is packed once instead. Only the native
// path uses it (blocked_weights_available).
bool blocked_weights_available();
int64_t blocked_weight_size(int64_t K, int64_t N);  // in bf16 values
void pack_blocked_weight(bf16_t* dst, const bf16_t* W, int64_t K, int64_t N);
// The same layout of W[K, N] = Wt^T from Wt[N, K] (row-major): the head's logits, inp Wt16^T.
void pack_blocked_weight_t(bf16_t* dst, const bf16_t* Wt, int64_t K, int64_t N);

}  // namespace slm
