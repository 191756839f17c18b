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
// 32 and N to 64 with zeros. The GEMM otherwise copies B into this layout inside every call, more
// slowly: the head's weight, multiplied in every chunk, is packed once per pass, and the blocks'
// weights and output gradients once per product (kernels/matmul_bf16.cpp). Only the native path
// uses it (blocked_weights_available).
bool blocked_weights_available();
int64_t blocked_weight_size(int64_t K, int64_t N);  // in bf16 values
// ldw: W's row stride (N when 0). Also packs the output gradient of a layer, the B operand of its
// weight gradient dW += X^T dY (K = tokens): packed by us it is cheaper than the GEMM's own copy
// of a plain dY (the same sums, bit for bit).
void pack_blocked_weight(bf16_t* dst, const bf16_t* W, int64_t K, int64_t N, int64_t ldw = 0);
// The same layout of W[K, N] = Wt^T from Wt[N, K] (row-major): the head's logits, inp Wt16^T.
void pack_blocked_weight_t(bf16_t* dst, const bf16_t* Wt, int64_t K, int64_t N);
// Wt[N, K] (fp32, row-major: the head's weight, N the vocabulary) rounded to bf16 (nearest even,
// as f32_to_bf16) and packed in one pass into both layouts its GEMMs take: that of Wt^T (K x N,
// pack_blocked_weight_t's: the logits) into t, and that of Wt itself (N x K, pack_blocked_weight's:
// the input gradient) into w, which may be null. The head keeps no plain bf16 copy
// (kernels/cross_entropy.h). Needs AVX-512 (the native path) and 64-byte aligned t and w: it
// writes them past the caches (the GEMMs read them a chunk at a time, later).
void pack_blocked_weight_both(bf16_t* t, bf16_t* w, const float* Wt, int64_t N, int64_t K);

}  // namespace slm
