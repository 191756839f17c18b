// matmul_panels.cpp — fp32 linear layers on weights packed in panels of 16 outputs (see
// matmul_panels.h). A tile is MR rows x NP panels of accumulators; for each input k it loads the
// NP panels' 16 weights once and multiplies them with the MR rows' input k. Scalar, AVX2 and
// AVX-512 paths in the one order of sums (one fma chain per output, increasing k); bf16 weights
// are widened to fp32 as they are loaded (exact), so the arithmetic is the fp32 kernel's.
#include "scratchlm/kernels/matmul_panels.h"

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

// One group of panels (consecutive, starting at output column n0) against all M rows; weights in
// fp32 or bf16 (widened to fp32 as they are loaded).
template <class Wt>
struct Group {
  float* out;         // out[M, N]
  const float* in;    // in[M, K]
  const Wt* panels;   // the group's first panel
  const float* bias;  // bias[N] or null
  int64_t M, K, N, n0;
};

// Columns of the panel starting at output `col` that exist (16 except in the last panel).
template <class Wt>
int64_t lanes(const Group<Wt>& g, int64_t col) {
  return std::min<int64_t>(kPanelWidth, g.N - col);
}

__attribute__((target("avx512f,avx2,fma"))) inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
__attribute__((target("avx512f,avx2,fma"))) inline __m512 load16(const bf16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2,fma"))) inline __m256 load8(const bf16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline float widen(float w) { return w; }
inline float widen(bf16_t w) { return bf16_to_f32(w); }

// ---- AVX-512: a panel is one vector

template <int MR, int NP, class Wt>
__attribute__((target("avx512f,avx2,fma"))) void tile_avx512(const Group<Wt>& g, int64_t m) {
  __m512 acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_setzero_ps();
  const float* x = g.in + m * g.K;
  for (int64_t k = 0; k < g.K; ++k) {
    __m512 w[NP];
    for (int j = 0; j < NP; ++j) w[j] = load16(g.panels + (j * g.K + k) * kPanelWidth);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * g.K + k]);
      for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_fmadd_ps(a, w[j], acc[r][j]);
    }
  }
  for (int j = 0; j < NP; ++j) {
    const int64_t col = g.n0 + j * kPanelWidth;
    const auto mask = static_cast<__mmask16>((1u << lanes(g, col)) - 1);
    const __m512 b = g.bias ? _mm512_maskz_loadu_ps(mask, g.bias + col) : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) {
      const __m512 v = g.bias ? _mm512_add_ps(acc[r][j], b) : acc[r][j];
      _mm512_mask_storeu_ps(g.out + (m + r) * g.N + col, mask, v);
    }
  }
}

template <int NP, class Wt>
void rows_avx512(const Group<Wt>& g) {
  int64_t m = 0;
  if constexpr (NP <= 2)
    for (; m + 8 <= g.M; m += 8) tile_avx512<8, NP>(g, m);
  for (; m + 4 <= g.M; m += 4) tile_avx512<4, NP>(g, m);
  for (; m + 2 <= g.M; m += 2) tile_avx512<2, NP>(g, m);
  for (; m < g.M; ++m) tile_avx512<1, NP>(g, m);
}

// ---- AVX2: a panel is two vectors (lanes 0-7 and 8-15)

template <int MR, int NP, class Wt>
__attribute__((target("avx2,fma"))) void tile_avx2(const Group<Wt>& g, int64_t m) {
  __m256 acc[MR][NP][2];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP; ++j) acc[r][j][0] = acc[r][j][1] = _mm256_setzero_ps();
  const float* x = g.in + m * g.K;
  for (int64_t k = 0; k < g.K; ++k) {
    __m256 w[NP][2];
    for (int j = 0; j < NP; ++j) {
      w[j][0] = load8(g.panels + (j * g.K + k) * kPanelWidth);
      w[j][1] = load8(g.panels + (j * g.K + k) * kPanelWidth + 8);
    }
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_set1_ps(x[r * g.K + k]);
      for (int j = 0; j < NP; ++j) {
        acc[r][j][0] = _mm256_fmadd_ps(a, w[j][0], acc[r][j][0]);
        acc[r][j][1] = _mm256_fmadd_ps(a, w[j][1], acc[r][j][1]);
      }
    }
  }
  for (int j = 0; j < NP; ++j) {
    const int64_t col = g.n0 + j * kPanelWidth, n = lanes(g, col);
    for (int r = 0; r < MR; ++r) {
      alignas(32) float v[kPanelWidth];
      _mm256_store_ps(v, acc[r][j][0]);
      _mm256_store_ps(v + 8, acc[r][j][1]);
      float* o = g.out + (m + r) * g.N + col;
      for (int64_t l = 0; l < n; ++l) o[l] = g.bias ? v[l] + g.bias[col + l] : v[l];
    }
  }
}

template <int NP, class Wt>
void rows_avx2(const Group<Wt>& g) {
  int64_t m = 0;
  if constexpr (NP == 1)
    for (; m + 4 <= g.M; m += 4) tile_avx2<4, 1>(g, m);
  for (; m + 2 <= g.M; m += 2) tile_avx2<2, NP>(g, m);
  for (; m < g.M; ++m) tile_avx2<1, NP>(g, m);
}

// ---- Scalar: the reference order written out

template <class Wt>
void rows_scalar(const Group<Wt>& g, int64_t np) {
  for (int64_t m = 0; m < g.M; ++m)
    for (int64_t j = 0; j < np; ++j) {
      const int64_t col = g.n0 + j * kPanelWidth;
      for (int64_t l = 0; l < lanes(g, col); ++l) {
        const Wt* w = g.panels + j * g.K * kPanelWidth + l;
        float acc = 0.0f;
        for (int64_t k = 0; k < g.K; ++k) acc = std::fma(g.in[m * g.K + k], widen(w[k * kPanelWidth]), acc);
        g.out[m * g.N + col + l] = g.bias ? acc + g.bias[col + l] : acc;
      }
    }
}

// The product over all panel groups, in parallel.
template <class Wt>
void run(float* out, const float* in, const Wt* panels, const float* bias, int64_t M, int64_t K, int64_t N,
         PanelPath path) {
  if (!panel_path_available(path)) fail_internal("matmul_panels: this CPU cannot run this path");
  // Panels per group: enough accumulators for the fmas' latency to overlap, few enough to stay in
  // registers (AVX-512: 8 rows x 2 panels, or 4 x 4 for fewer rows; AVX2: 2 x 2).
  const int64_t NP = path == PanelPath::Avx512 && M < 8 ? 4 : 2;
  const int64_t P = (N + kPanelWidth - 1) / kPanelWidth, G = (P + NP - 1) / NP;
#pragma omp parallel for schedule(static) if (M * N * K >= kParallelMin)
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t p0 = gi * NP, np = std::min(NP, P - p0);
    Group<Wt> g{out, in, panels + p0 * K * kPanelWidth, bias, M, K, N, p0 * kPanelWidth};
    if (path == PanelPath::Scalar)
      rows_scalar(g, np);
    else if (np == NP && path == PanelPath::Avx2)
      rows_avx2<2>(g);
    else if (np == NP)
      NP == 4 ? rows_avx512<4>(g) : rows_avx512<2>(g);
    else  // the right edge: fewer panels than a group, one at a time
      for (int64_t j = 0; j < np; ++j, g.n0 += kPanelWidth, g.panels += K * kPanelWidth)
        path == PanelPath::Avx2 ? rows_avx2<1>(g) : rows_avx512<1>(g);
  }
}

template <class Wt, class Round>
void pack(Wt* panels, const float* W, int64_t K, int64_t N, Round round) {
  const int64_t P = (N + kPanelWidth - 1) / kPanelWidth;
  parallel_for(0, P, [&](int64_t p) {
    Wt* dst = panels + p * K * kPanelWidth;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t l = 0; l < kPanelWidth; ++l) {
        const int64_t n = p * kPanelWidth + l;
        dst[k * kPanelWidth + l] = round(n < N ? W[k * N + n] : 0.0f);
      }
  });
}

}  // namespace

int64_t panel_floats(int64_t N, int64_t K) { return (N + kPanelWidth - 1) / kPanelWidth * kPanelWidth * K; }

void pack_panels(float* panels, const float* W, int64_t K, int64_t N) {
  pack(panels, W, K, N, [](float w) { return w; });
}

void pack_panels(bf16_t* panels, const float* W, int64_t K, int64_t N) {
  pack(panels, W, K, N, [](float w) { return f32_to_bf16(w); });
}

bool panel_path_available(PanelPath p) {
  const CpuFeatures& f = cpu_features();
  switch (p) {
    case PanelPath::Scalar:
      return true;
    case PanelPath::Avx2:
      return f.avx2 && f.fma;
    case PanelPath::Avx512:
      return f.avx2 && f.fma && f.avx512f;
  }
  return false;
}

bool matmul_panels_available() { return panel_path_available(PanelPath::Avx2); }

PanelPath panel_best_path() {
  if (panel_path_available(PanelPath::Avx512)) return PanelPath::Avx512;
  return panel_path_available(PanelPath::Avx2) ? PanelPath::Avx2 : PanelPath::Scalar;
}

void matmul_panels(float* out, const float* in, const float* panels, const float* bias, int64_t M, int64_t K, int64_t N,
                   PanelPath path) {
  run(out, in, panels, bias, M, K, N, path);
}

void matmul_panels(float* out, const float* in, const bf16_t* panels, const float* bias, int64_t M, int64_t K,
                   int64_t N, PanelPath path) {
  run(out, in, panels, bias, M, K, N, path);
}

}  // namespace slm
