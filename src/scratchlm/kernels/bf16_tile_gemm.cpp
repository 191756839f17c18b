// bf16_tile_gemm.cpp — pair-packed bf16 tile GEMMs, AVX512_BF16 and portable (see bf16_tile_gemm.h).
#include "scratchlm/kernels/bf16_tile_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

// GCC 12's AVX-512 headers start vectors from _mm*_undefined_*(), which its own -Wuninitialized
// flags inside the intrinsics; the values are fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slm {

namespace {

constexpr int kMr = 6;  // rows of a native register tile
constexpr int kNv = 4;  // 16-column vectors of a native register tile
constexpr int kLanes = 16;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// The k range and column count row tile [i0, i0 + rows) needs.
struct Range {
  int64_t k0, k1, n1;
};
Range range_for(TileCausal c, int64_t i0, int64_t rows, int64_t N, int64_t K) {
  Range r{0, K, N};
  if (c == TileCausal::ColsUpToRow) r.n1 = std::min(N, round_up(i0 + rows, kLanes));
  if (c == TileCausal::SumUpToRow) r.k1 = std::min(K, round_up(i0 + rows, 2));
  if (c == TileCausal::SumFromRow) r.k0 = std::min(K, i0 / 2 * 2);
  return r;
}

// ---------------------------------------------------------------- native

template <int MR, int NV>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void micro(int64_t p0, int64_t p1, const bf16_t* A,
                                                                           int64_t lda, const bf16_t* B, int64_t ldb,
                                                                           float* C, int64_t ldc, bool accumulate) {
  __m512 c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + v * kLanes) : _mm512_setzero_ps();
  for (int64_t p = p0; p < p1; ++p) {  // pairs of k
    __m512bh b[NV];
    for (int v = 0; v < NV; ++v) b[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(B + (p * ldb + v * kLanes) * 2));
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, A + r * lda + 2 * p, sizeof pair);
      const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + v * kLanes, c[r][v]);
}

using MicroFn = void (*)(int64_t, int64_t, const bf16_t*, int64_t, const bf16_t*, int64_t, float*, int64_t, bool);

template <int MR>
MicroFn micro_for(int nv) {
  switch (nv) {
    case 1:
      return micro<MR, 1>;
    case 2:
      return micro<MR, 2>;
    case 3:
      return micro<MR, 3>;
    default:
      return micro<MR, 4>;
  }
}
MicroFn micro_for(int mr, int nv) {
  switch (mr) {
    case 1:
      return micro_for<1>(nv);
    case 2:
      return micro_for<2>(nv);
    case 3:
      return micro_for<3>(nv);
    case 4:
      return micro_for<4>(nv);
    case 5:
      return micro_for<5>(nv);
    default:
      return micro_for<6>(nv);
  }
}

void gemm_native(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B, int64_t ldb, float* C,
                 int64_t ldc, bool accumulate, TileCausal causal) {
  for (int64_t i0 = 0; i0 < M; i0 += kMr) {
    const int rows = static_cast<int>(std::min<int64_t>(kMr, M - i0));
    const Range r = range_for(causal, i0, rows, N, K);
    const bf16_t* a = A + i0 * lda;
    float* c = C + i0 * ldc;
    for (int64_t n0 = 0; n0 < r.n1; n0 += kNv * kLanes) {
      const int nv = static_cast<int>(std::min<int64_t>(kNv, (r.n1 - n0) / kLanes));
      micro_for(rows, nv)(r.k0 / 2, r.k1 / 2, a, lda, B + n0 * 2, ldb, c + n0, ldc, accumulate);
    }
  }
}

// ---------------------------------------------------------------- fallback

void gemm_fallback(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B, int64_t ldb,
                   float* C, int64_t ldc, bool accumulate, TileCausal causal) {
  for (int64_t i = 0; i < M; ++i) {
    const Range r = range_for(causal, i, 1, N, K);
    float* c = C + i * ldc;
    if (!accumulate) std::fill(c, c + r.n1, 0.0f);
    for (int64_t k = r.k0; k < r.k1; k += 2) {
      const float a0 = bf16_to_f32(A[i * lda + k]), a1 = bf16_to_f32(A[i * lda + k + 1]);
      const bf16_t* b = B + (k / 2) * ldb * 2;
#pragma omp simd
      for (int64_t n = 0; n < r.n1; ++n) c[n] += a0 * bf16_to_f32(b[2 * n]) + a1 * bf16_to_f32(b[2 * n + 1]);
    }
  }
}

}  // namespace

void tile_gemm_bf16(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B, int64_t ldb,
                    float* C, int64_t ldc, bool accumulate, TileCausal causal, Bf16Path path) {
  if (path == Bf16Path::Native)
    gemm_native(M, N, K, A, lda, B, ldb, C, ldc, accumulate, causal);
  else
    gemm_fallback(M, N, K, A, lda, B, ldb, C, ldc, accumulate, causal);
}

void pack_pairs_rows(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t K, int64_t N) {
  for (int64_t k = 0; k < round_up(K, 2); ++k) {
    bf16_t* d = dst + (k / 2) * ldb * 2 + k % 2;
    const int64_t n1 = k < K ? N : 0;  // the padding row past an odd K is zero
    for (int64_t n = 0; n < n1; ++n) d[2 * n] = f32_to_bf16_vec(src[k * lds + n]);
    for (int64_t n = n1; n < ldb; ++n) d[2 * n] = 0;
  }
}

void pack_pairs_cols(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t N, int64_t K) {
  const int64_t K2 = round_up(K, 2);
  for (int64_t n = 0; n < ldb; ++n) {
    bf16_t* d = dst + n * 2;  // (k / 2) * ldb * 2 + k % 2 further on
    const int64_t k1 = n < N ? K : 0;
    for (int64_t k = 0; k < k1; ++k) d[(k / 2) * ldb * 2 + k % 2] = f32_to_bf16_vec(src[n * lds + k]);
    for (int64_t k = k1; k < K2; ++k) d[(k / 2) * ldb * 2 + k % 2] = 0;
  }
}

}  // namespace slm
