// bf16_weight_matmul.h — the linear layer on bf16 weights for inference (chapter 5 "going further":
// mixed precision; issue 15 §4): out[M, N] = x[M, K] · W[N, K]ᵀ (+ bias), W in bf16 rows of K
// values ([out][in]), x and the arithmetic in fp32. Decoding is memory-bound: half the weight
// bytes of fp32 per token. Each bf16 is widened exactly to fp32 in registers (a 16-bit shift),
// so the products are the fp32 products of the rounded weights; the activations are not rounded.
//
// A row's dot product has one fixed order on every path: 16 lanes (lane l takes k ≡ l mod 16) of
// fma, then lanes l and l + 8 added, the 8 lanes summed as a tree ((l + l+4), (+2), (+1)), then
// the K mod 16 tail in order. Many rows at once (a prompt, eval) widen tiles of W to fp32 and run
// BLAS sgemm instead (the same products, another summation order).
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

enum class Bf16WeightPath { Scalar, Avx2, Avx512 };

const char* bf16_weight_path_name(Bf16WeightPath p);
Bf16WeightPath bf16_weight_best_path();
bool bf16_weight_path_available(Bf16WeightPath p);

// out[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N] when non-null). M >= kBf16GemmRows uses sgemm on tiles.
inline constexpr int64_t kBf16GemmRows = 64;
void matmul_bf16_weights(float* out, const float* x, const bf16_t* W, const float* bias, int64_t M, int64_t K,
                         int64_t N);
// The row-by-row dot products on one path (any M).
void matmul_bf16_weights_path(float* out, const float* x, const bf16_t* W, const float* bias, int64_t M, int64_t K,
                              int64_t N, Bf16WeightPath path);

}  // namespace slm
