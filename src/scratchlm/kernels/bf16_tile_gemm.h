// bf16_tile_gemm.h — small bf16 GEMMs with fp32 sums for the tiles of a mixed-precision attention
// (chapter 3's attention, issue 15's bf16 training): C[M, N] = A[M, K] B[K, N], A row-major bf16,
// B packed as pairs of its rows ("pair-packed": element (k, n) at ((k / 2) * ldb + n) * 2 + k % 2,
// the layout vdpbf16ps multiplies), so that one instruction adds the products of two k for 16
// columns. Sized for one head of one sequence (T x T x head size), called from many threads at
// once, each on its own tiles; no threading inside.
//
// Two paths, chosen by matmul_bf16.h's bf16_path() (tests force the fallback with set_bf16_path):
//   Native    AVX512_BF16 register tiles of 6 rows x 64 columns (vdpbf16ps)
//   Fallback  portable C++: the same products (exact in fp32), summed in another order.
#pragma once

#include <cstdint>

#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/bf16.h"

namespace slm {

// Which part of the product a causal attention needs (rows i of C are queries or keys):
//   Full          all of C and all of K
//   ColsUpToRow   row i only needs columns 0..i (scores: key j <= query i); columns past the last
//                 row of a tile are left unwritten
//   SumUpToRow    row i only sums k = 0..i (A[i, k] is zero past i: P V, dS K)
//   SumFromRow    row i only sums k = i..K-1 (A[i, k] is zero before i: P^T dO, dS^T Q)
enum class TileCausal { Full, ColsUpToRow, SumUpToRow, SumFromRow };

// x rounded up to a multiple of m: the padded sizes the tiles need (K even, N a multiple of 16).
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// How A is laid out: RowMajor, element (i, k) at i * lda + k (lda even); or PairPacked like B,
// element (i, k) at ((k / 2) * lda + i) * 2 + k % 2 — the transpose of a matrix whose rows were
// written in pairs, so that dS^T Q and P^T dO need no transposed copy.
enum class TileA { RowMajor, PairPacked };

// C[M, N] (ldc) = A[M, K] . B (pair-packed, ldb >= N, a multiple of 16), or += when accumulate.
// K is even (A's and B's padding zero), N a multiple of 16.
void tile_gemm_bf16(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, TileA a_layout, const bf16_t* B,
                    int64_t ldb, float* C, int64_t ldc, bool accumulate, TileCausal causal, Bf16Path path);

// C[M, N] += A^T B for A[K, M] row-major bf16 (rows lda apart) and B pair-packed (K rounded up to
// even, the padding zero): a weight gradient, dW = dY^T X, straight from the rows of dY. In
// parallel over blocks of C's rows; each block's columns of A are pair-packed (pairs of A's rows)
// into a per-thread panel and multiplied tile by tile as tile_gemm_bf16 does. N a multiple of 16.
void tile_gemm_bf16_at(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B, int64_t ldb,
                       float* C, int64_t ldc, Bf16Path path);

// Pair-packs src[K, N] (fp32 rows lds apart) rounded to bf16 into dst (K rounded up to even and N
// up to ldb: the padding zero).
void pack_pairs_rows(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t K, int64_t N);
// Pair-packs the transpose of src[N, K] (fp32 rows lds apart), B[k, n] = src[n, k]; N is padded
// to ldb and K to even with zeros. On the native path 16 columns at a time through a register
// transpose (an attention head's keys: 3x the scalar loop), the same bits.
void pack_pairs_cols(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t N, int64_t K);
// The same two from bf16 sources (values already rounded: copied as they are).
void pack_pairs_rows(bf16_t* dst, int64_t ldb, const bf16_t* src, int64_t lds, int64_t K, int64_t N);
void pack_pairs_cols(bf16_t* dst, int64_t ldb, const bf16_t* src, int64_t lds, int64_t N, int64_t K);
// d[2j], d[2j + 1] = a0[j], a1[j] for j < n (a1 null: zeros): two rows of a matrix written as
// pairs, TileA::PairPacked's layout (16 at a time on the native path).
void interleave_pairs(bf16_t* d, const bf16_t* a0, const bf16_t* a1, int64_t n);
// dst[i, j] = src[j, i] for a 16 x 16 block of 32-bit words (pairs of bf16), rows ldd and lds words
// apart: an AVX-512 register transpose, for the native path only (CPUs with AVX-512F). stream:
// dst's rows (64-byte aligned) written past the caches (a packing whose output is not read soon;
// the caller fences).
void transpose_words16(uint32_t* dst, int64_t ldd, const uint32_t* src, int64_t lds, bool stream = false);

}  // namespace slm
