// q8_0_matmul.h — the linear layer on Q8_0 weights (chapter 7 "going further": quantized
// inference, as llama.cpp runs it): out[M, N] = x[M, K] · W[N, K]ᵀ (+ bias), W in blocks of 32
// int8 with an fp16 scale (tensor/q8_0.h), rows of K values ([out][in], the GGUF layout). The
// activations are quantized to Q8_0 per block of 32 too, by llama.cpp's x86 rule (round half to
// even of x · 127/amax), and each block pair contributes d_w · d_x · Σ q_w·q_x, the integer sum
// exact: llama.cpp's q8_0 × q8_0 dot product.
//
// One fixed order of the float operations, shared by every path, makes them bit-identical: a
// block's 32 products are summed in 8 integer lanes of 4 (lane l: values 4l..4l+3); lane l of
// accumulator b % 2 then takes fma(lane sum, d_w·d_x, acc); at the end the two accumulators are
// added lane by lane and the 8 lanes summed as a tree ((l + l+4), then (+2), then (+1)).
#pragma once

#include <cstdint>

#include "scratchlm/tensor/q8_0.h"

namespace slm {

// The int8 dot-product paths: run-time choice by cpu_features(); each may be called directly
// when the CPU has it (tests compare them with the scalar reference).
enum class Q8Path { Scalar, Avx2, AvxVnni, Avx512Vnni };

const char* q8_path_name(Q8Path p);
// The fastest path cpu_features() allows, and whether a path can run here.
Q8Path q8_best_path();
bool q8_path_available(Q8Path p);

// out[M, N] = x[M, K] · W[N, K/32 blocks]ᵀ (+ bias[N] when non-null); K a multiple of 32.
// Threads over the output columns (the rows of W); the same result for any thread count.
void matmul_q8_0(float* out, const float* x, const BlockQ8_0* W, const float* bias, int64_t M, int64_t K, int64_t N);
void matmul_q8_0_path(float* out, const float* x, const BlockQ8_0* W, const float* bias, int64_t M, int64_t K,
                      int64_t N, Q8Path path);

}  // namespace slm
