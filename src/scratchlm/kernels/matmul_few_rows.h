// matmul_few_rows.h — the output head for a few rows at once (chapter 5's generation, several
// sequences decoding together in `slm serve --parallel`): out = in · Wtᵀ with the head stored
// [V, C] (wte, tied). Each weight row is read from memory once and multiplied with all the rows
// while it is in the L1 cache, up to 16 independent dot products at a time (two or four weight
// rows against the rows); OpenBLAS's sgemm for 2 to 8 rows is 15-45% slower on GPT-2's
// 50,257 x 768 head (bench/bench_few_rows.cpp), mostly copying (packing) the weights first, and
// sgemv for one row no faster. The block matrices (Conv1D layout
// W[K, N]) are packed in panels for inference instead (matmul_panels.h).
//
// Order of the sums: each output is 16 partial sums over k ≡ l (mod 16), each a chain of fmas in
// increasing k, added in a fixed tree, then the K mod 16 last products in order. It depends on
// neither the number of rows, nor the thread count, nor the instruction set (AVX-512 and AVX2 give
// the same bits).
#pragma once

#include <cstdint>

namespace slm {

// Row counts from 1 up to this (a decode step of up to --parallel 8) go through the kernel
// (matmul_forward_wt), so that a sequence's logits do not depend on how many decode with it;
// more rows go to sgemm, whose packing then pays off.
inline constexpr int64_t kFewRowsMax = 8;

// The instruction sets the kernel comes in.
enum class FewRowsPath { Avx2, Avx512 };
bool few_rows_path_available(FewRowsPath p);  // by cpu_features() (SLM_CPU caps it)
// Whether this CPU runs it at all (AVX2 and FMA): matmul.cpp keeps BLAS otherwise.
bool matmul_few_rows_available();
FewRowsPath few_rows_best_path();  // when available

// out[M, N] = in[M, K] @ Wt[N, K]^T.
void matmul_few_rows_wt(float* out, const float* in, const float* Wt, int64_t M, int64_t K, int64_t N,
                        FewRowsPath path = few_rows_best_path());

}  // namespace slm
