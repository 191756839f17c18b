// matmul_few_rows.cpp — the head for a few rows, every weight read once (see matmul_few_rows.h).
// AVX-512 and AVX2 + FMA paths in one order of sums; CPUs without FMA never get here (matmul.cpp
// keeps BLAS for them).
#include "scratchlm/kernels/matmul_few_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "scratchlm/tensor/parallel.h"
#include "scratchlm/util/cpu_features.h"
#include "scratchlm/util/error.h"

// GCC 12's AVX-512 headers start vectors from _mm*_undefined_*(), which its own -Wuninitialized
// flags inside the intrinsics; the values are fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slm {

namespace {

// ---- Wt[N, K]: one dot product per output, 16 lanes summed in a fixed tree

__attribute__((target("avx2,fma"))) float hsum256(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  return _mm_cvtss_f32(_mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1)));
}

__attribute__((target("avx2,fma"))) float dot_tail(float r, const float* w, const float* x, int64_t k0, int64_t K) {
  for (int64_t k = k0; k < K; ++k) r = std::fma(w[k], x[k], r);
  return r;
}

// R rows' dot products with NW rows of Wt (out[r * ldo + j] for row r, weight row j): R x NW
// independent chains, so that the fmas' latency overlaps and each load feeds several fmas.
template <int R, int NW>
__attribute__((target("avx512f,avx2,fma"))) void dots_avx512(float* out, int64_t ldo, const float* w, const float* x,
                                                             int64_t K) {
  __m512 acc[R][NW];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NW; ++j) acc[r][j] = _mm512_setzero_ps();
  const int64_t K16 = K / 16 * 16;
  for (int64_t k = 0; k < K16; k += 16) {
    __m512 wv[NW];
    for (int j = 0; j < NW; ++j) wv[j] = _mm512_loadu_ps(w + j * K + k);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * K + k);
      for (int j = 0; j < NW; ++j) acc[r][j] = _mm512_fmadd_ps(wv[j], xv, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NW; ++j) {
      const __m256 lo = _mm512_castps512_ps256(acc[r][j]);
      const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][j]), 1));
      out[r * ldo + j] = dot_tail(hsum256(_mm256_add_ps(lo, hi)), w + j * K, x + r * K, K16, K);
    }
}

template <int R>
__attribute__((target("avx2,fma"))) void dots_avx2(float* out, int64_t ldo, const float* w, const float* x, int64_t K) {
  __m256 lo[R], hi[R];  // lanes 0-7 and 8-15
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  const int64_t K16 = K / 16 * 16;
  for (int64_t k = 0; k < K16; k += 16) {
    const __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + k + 8);
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * K + k), lo[r]);
      hi[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * K + k + 8), hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r * ldo] = dot_tail(hsum256(_mm256_add_ps(lo[r], hi[r])), w, x + r * K, K16, K);
}

using DotsFn = void (*)(float*, int64_t, const float*, const float*, int64_t);
// Indexed [weight rows per call: 1, 2 or 4][rows - 1]: up to 8 rows with 1 or 2 weight rows, up to
// 4 with 4 (16 accumulators at most).
constexpr DotsFn kDotsAvx512[3][8] = {{dots_avx512<1, 1>, dots_avx512<2, 1>, dots_avx512<3, 1>, dots_avx512<4, 1>,
                                       dots_avx512<5, 1>, dots_avx512<6, 1>, dots_avx512<7, 1>, dots_avx512<8, 1>},
                                      {dots_avx512<1, 2>, dots_avx512<2, 2>, dots_avx512<3, 2>, dots_avx512<4, 2>,
                                       dots_avx512<5, 2>, dots_avx512<6, 2>, dots_avx512<7, 2>, dots_avx512<8, 2>},
                                      {dots_avx512<1, 4>, dots_avx512<2, 4>, dots_avx512<3, 4>, dots_avx512<4, 4>}};
constexpr DotsFn kDotsAvx2[] = {dots_avx2<1>, dots_avx2<2>, dots_avx2<3>, dots_avx2<4>};

}  // namespace

bool few_rows_path_available(FewRowsPath p) {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && (p == FewRowsPath::Avx2 || f.avx512f);
}

bool matmul_few_rows_available() { return few_rows_path_available(FewRowsPath::Avx2); }

FewRowsPath few_rows_best_path() {
  return few_rows_path_available(FewRowsPath::Avx512) ? FewRowsPath::Avx512 : FewRowsPath::Avx2;
}

void matmul_few_rows_wt(float* out, const float* in, const float* Wt, int64_t M, int64_t K, int64_t N,
                        FewRowsPath path) {
  if (!few_rows_path_available(path)) fail_internal("matmul_few_rows_wt: this CPU cannot run this path");
  if (path == FewRowsPath::Avx2) {
#pragma omp parallel for schedule(static) if (M * N * K >= kParallelMin)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m0 = 0; m0 < M; m0 += 4)
        kDotsAvx2[std::min<int64_t>(4, M - m0) - 1](out + m0 * N + n, N, Wt + n * K, in + m0 * K, K);
    return;
  }
  // AVX-512: weight rows in pairs against up to 8 rows, or in fours against up to 4; a last odd
  // weight row alone.
  const int64_t NW = M <= 4 ? 4 : 2, RB = M <= 4 ? 4 : 8, groups = (N + NW - 1) / NW;
#pragma omp parallel for schedule(static) if (M * N * K >= kParallelMin)
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t n0 = g * NW, nw = std::min(NW, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += RB) {
      const int64_t r = std::min(RB, M - m0);
      if (nw == NW) {
        kDotsAvx512[NW == 4 ? 2 : 1][r - 1](out + m0 * N + n0, N, Wt + n0 * K, in + m0 * K, K);
      } else {
        for (int64_t n = n0; n < n0 + nw; ++n) kDotsAvx512[0][r - 1](out + m0 * N + n, N, Wt + n * K, in + m0 * K, K);
      }
    }
  }
}

}  // namespace slm
