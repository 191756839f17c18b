// bf16_tile_gemm.cpp — pair-packed bf16 tile GEMMs, AVX512_BF16 and portable (see bf16_tile_gemm.h).
#include "scratchlm/kernels/bf16_tile_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

// GCC 12's AVX-512 headers start vectors from _mm*_undefined_*(), which its own -Wuninitialized
// flags inside the intrinsics; the values are fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slm {

namespace {

constexpr int kMr = 6;  // rows of a native register tile
constexpr int kNv = 4;  // 16-column vectors of a native register tile
constexpr int kLanes = 16;

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

// The pair (A[i, 2p], A[i, 2p + 1]) is at A + i * ra + p * pa in both layouts.
template <int MR, int NV>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void micro(int64_t p0, int64_t p1, const bf16_t* A,
                                                                           int64_t ra, int64_t pa, const bf16_t* B,
                                                                           int64_t ldb, float* C, int64_t ldc,
                                                                           bool accumulate, const float* next) {
  // The next tile's sums to add to, fetched while this one computes (a weight gradient's C comes
  // from memory: 80% of the peak without this, 90% from cache).
  if (next)
    for (int r = 0; r < kMr; ++r)
      for (int v = 0; v < kNv; ++v)
        _mm_prefetch(reinterpret_cast<const char*>(next + r * ldc + v * kLanes), _MM_HINT_T0);
  __m512 c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + v * kLanes) : _mm512_setzero_ps();
  for (int64_t p = p0; p < p1; ++p) {  // pairs of k
    __m512bh b[NV];
    for (int v = 0; v < NV; ++v) b[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(B + (p * ldb + v * kLanes) * 2));
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, A + r * ra + p * pa, sizeof pair);
      const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + v * kLanes, c[r][v]);
}

using MicroFn = void (*)(int64_t, int64_t, const bf16_t*, int64_t, int64_t, const bf16_t*, int64_t, float*, int64_t,
                         bool, const float*);

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

void gemm_native(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t ra, int64_t pa, const bf16_t* B, int64_t ldb,
                 float* C, int64_t ldc, bool accumulate, TileCausal causal) {
  for (int64_t i0 = 0; i0 < M; i0 += kMr) {
    const int rows = static_cast<int>(std::min<int64_t>(kMr, M - i0));
    const Range r = range_for(causal, i0, rows, N, K);
    const bf16_t* a = A + i0 * ra;
    float* c = C + i0 * ldc;
    for (int64_t n0 = 0; n0 < r.n1; n0 += kNv * kLanes) {
      const int nv = static_cast<int>(std::min<int64_t>(kNv, (r.n1 - n0) / kLanes));
      const float* next = !accumulate                ? nullptr
                          : n0 + kNv * kLanes < r.n1 ? c + n0 + kNv * kLanes
                          : i0 + kMr + kMr <= M      ? c + kMr * ldc
                                                     : nullptr;
      micro_for(rows, nv)(r.k0 / 2, r.k1 / 2, a, ra, pa, B + n0 * 2, ldb, c + n0, ldc, accumulate, next);
    }
  }
}

// ---------------------------------------------------------------- fallback

void gemm_fallback(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t ra, int64_t pa, const bf16_t* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate, TileCausal causal) {
  for (int64_t i = 0; i < M; ++i) {
    const Range r = range_for(causal, i, 1, N, K);
    float* c = C + i * ldc;
    if (!accumulate) std::fill(c, c + r.n1, 0.0f);
    for (int64_t k = r.k0; k < r.k1; k += 2) {
      const bf16_t* a = A + i * ra + (k / 2) * pa;
      const float a0 = bf16_to_f32(a[0]), a1 = bf16_to_f32(a[1]);
      const bf16_t* b = B + (k / 2) * ldb * 2;
#pragma omp simd
      for (int64_t n = 0; n < r.n1; ++n) c[n] += a0 * bf16_to_f32(b[2 * n]) + a1 * bf16_to_f32(b[2 * n + 1]);
    }
  }
}

inline void put_pair(bf16_t* dst, float lo, float hi) {
  const uint32_t w = static_cast<uint32_t>(f32_to_bf16_vec(lo)) | static_cast<uint32_t>(f32_to_bf16_vec(hi)) << 16;
  std::memcpy(dst, &w, sizeof w);
}

}  // namespace

void tile_gemm_bf16(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, TileA a_layout, const bf16_t* B,
                    int64_t ldb, float* C, int64_t ldc, bool accumulate, TileCausal causal, Bf16Path path) {
  const bool rows = a_layout == TileA::RowMajor;
  const int64_t ra = rows ? lda : 2, pa = rows ? 2 : 2 * lda;
  if (path == Bf16Path::Native)
    gemm_native(M, N, K, A, ra, pa, B, ldb, C, ldc, accumulate, causal);
  else
    gemm_fallback(M, N, K, A, ra, pa, B, ldb, C, ldc, accumulate, causal);
}

namespace {

// d[2j], d[2j + 1] = a0[j], a1[j] (a1 null: zero) for j < n: two rows of A written as pairs.
void interleave_portable(bf16_t* d, const bf16_t* a0, const bf16_t* a1, int64_t n) {
  for (int64_t j = 0; j < n; ++j) d[2 * j] = a0[j], d[2 * j + 1] = a1 ? a1[j] : bf16_t{0};
}

__attribute__((target("avx512f,avx512bw"))) void interleave_native(bf16_t* d, const bf16_t* a0, const bf16_t* a1,
                                                                   int64_t n) {
  int64_t j = 0;
  if (a1)
    for (; j + 16 <= n; j += 16) {
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a0 + j)));
      const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a1 + j)));
      _mm512_storeu_si512(d + 2 * j, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  interleave_portable(d + 2 * j, a0 + j, a1 ? a1 + j : nullptr, n - j);
}

}  // namespace

void interleave_pairs(bf16_t* d, const bf16_t* a0, const bf16_t* a1, int64_t n) {
  bf16_path() == Bf16Path::Native ? interleave_native(d, a0, a1, n) : interleave_portable(d, a0, a1, n);
}

void tile_gemm_bf16_at(int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B, int64_t ldb,
                       float* C, int64_t ldc, Bf16Path path) {
  constexpr int64_t kBlock = 96;  // rows of C per panel: 16 register tiles, 192 bytes of each row of A
  const int64_t pairs = (K + 1) / 2, blocks = (M + kBlock - 1) / kBlock;
  const bool native = path == Bf16Path::Native;
#pragma omp parallel
  {
    std::vector<bf16_t> panel(static_cast<size_t>(pairs * kBlock * 2));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = b * kBlock, rows = std::min(kBlock, M - i0);
      for (int64_t p = 0; p < pairs; ++p) {
        const bf16_t* a0 = A + 2 * p * lda + i0;
        const bf16_t* a1 = 2 * p + 1 < K ? a0 + lda : nullptr;
        bf16_t* d = panel.data() + p * kBlock * 2;
        native ? interleave_native(d, a0, a1, rows) : interleave_portable(d, a0, a1, rows);
      }
      tile_gemm_bf16(rows, N, 2 * pairs, panel.data(), kBlock, TileA::PairPacked, B, ldb, C + i0 * ldc, ldc, true,
                     TileCausal::Full, path);
    }
  }
}

void pack_pairs_rows(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t K, int64_t N) {
  for (int64_t k = 0; k < K; k += 2) {
    bf16_t* d = dst + k * ldb;  // pair k / 2
    const float* s0 = src + k * lds;
    if (k + 1 < K) {
      const float* s1 = s0 + lds;
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) put_pair(d + 2 * n, s0[n], s1[n]);
    } else {  // the padding row past an odd K
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) put_pair(d + 2 * n, s0[n], 0.0f);
    }
    std::fill(d + 2 * N, d + 2 * ldb, bf16_t{0});
  }
}

namespace {

// 16x16 transpose of 32-bit words: row i of r becomes column i.
__attribute__((target("avx512f"))) inline void transpose16(__m512i r[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 16; i += 2) {
    a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
    b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
    b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
    b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
  }
  for (int j = 0; j < 4; ++j) {  // b[4g + j] holds word j of each 128-bit lane of rows 4g..4g+3
    a[j] = _mm512_shuffle_i32x4(b[j], b[4 + j], 0x88);
    a[4 + j] = _mm512_shuffle_i32x4(b[j], b[4 + j], 0xdd);
    a[8 + j] = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0x88);
    a[12 + j] = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0xdd);
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_i32x4(a[j], a[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_i32x4(a[j], a[8 + j], 0xdd);
  }
}

}  // namespace

__attribute__((target("avx512f"))) void transpose_words16(uint32_t* dst, int64_t ldd, const uint32_t* src, int64_t lds,
                                                          bool stream) {
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + i * lds);
  transpose16(r);
  if (stream) {
    for (int i = 0; i < 16; ++i) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i * ldd), r[i]);
  } else {
    for (int i = 0; i < 16; ++i) _mm512_storeu_si512(dst + i * ldd, r[i]);
  }
}

namespace {

constexpr int64_t kMaxPairsNative = 128;  // pairs of k the native packing's stack block holds

// pack_pairs_cols 16 columns at a time: 16 rows of src rounded into a block of pairs (each pair
// one 32-bit word), then written as 16-word rows by a register transpose. ldb a multiple of 16.
__attribute__((target("avx512f"))) void pack_pairs_cols_native(bf16_t* dst, int64_t ldb, const float* src, int64_t lds,
                                                               int64_t N, int64_t K) {
  const int64_t pairs = (K + 1) / 2, stride = round_up(pairs, 16);
  alignas(64) uint32_t block[16 * kMaxPairsNative];
  uint32_t* d32 = reinterpret_cast<uint32_t*>(dst);
  for (int64_t n0 = 0; n0 < ldb; n0 += 16) {
    for (int64_t i = 0; i < 16; ++i) {
      bf16_t* row = reinterpret_cast<bf16_t*>(block + i * stride);
      const int64_t n = n0 + i;
      const int64_t k1 = n < N ? K : 0;
      const float* s = n < N ? src + n * lds : src;
#pragma omp simd
      for (int64_t k = 0; k < k1; ++k) row[k] = f32_to_bf16_vec(s[k]);
      std::fill(row + k1, row + 2 * stride, bf16_t{0});
    }
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(block + i * stride + p0);
      transpose16(r);
      const int64_t q1 = std::min<int64_t>(16, pairs - p0);
      for (int64_t q = 0; q < q1; ++q) _mm512_storeu_si512(d32 + (p0 + q) * ldb + n0, r[q]);
    }
  }
}

}  // namespace

void pack_pairs_rows(bf16_t* dst, int64_t ldb, const bf16_t* src, int64_t lds, int64_t K, int64_t N) {
  for (int64_t k = 0; k < K; k += 2) {
    bf16_t* d = dst + k * ldb;  // pair k / 2
    const bf16_t* s0 = src + k * lds;
    const bf16_t* s1 = k + 1 < K ? s0 + lds : nullptr;
    if (bf16_path() == Bf16Path::Native)
      interleave_native(d, s0, s1, N);
    else
      interleave_portable(d, s0, s1, N);
    std::fill(d + 2 * N, d + 2 * ldb, bf16_t{0});
  }
}

void pack_pairs_cols(bf16_t* dst, int64_t ldb, const bf16_t* src, int64_t lds, int64_t N, int64_t K) {
  // Each pair (src[n, 2p], src[n, 2p + 1]) is already one 32-bit word of the row: a transpose of words.
  uint32_t* d32 = reinterpret_cast<uint32_t*>(dst);
  const int64_t pairs = (K + 1) / 2;
  const bool native =
      bf16_path() == Bf16Path::Native && K % 2 == 0 && lds % 2 == 0 && reinterpret_cast<uintptr_t>(src) % 4 == 0;
  int64_t n0 = 0;
  if (native)
    for (; n0 + 16 <= N; n0 += 16) {
      int64_t p0 = 0;
      for (; p0 + 16 <= pairs; p0 += 16)
        transpose_words16(d32 + p0 * ldb + n0, ldb, reinterpret_cast<const uint32_t*>(src + n0 * lds) + p0, lds / 2);
      for (; p0 < pairs; ++p0)
        for (int64_t n = n0; n < n0 + 16; ++n) std::memcpy(d32 + p0 * ldb + n, src + n * lds + 2 * p0, 4);
    }
  for (int64_t n = n0; n < ldb; ++n)
    for (int64_t p = 0; p < pairs; ++p) {
      const bf16_t lo = n < N ? src[n * lds + 2 * p] : bf16_t{0};
      const bf16_t hi = n < N && 2 * p + 1 < K ? src[n * lds + 2 * p + 1] : bf16_t{0};
      d32[p * ldb + n] = static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16;
    }
}

void pack_pairs_cols(bf16_t* dst, int64_t ldb, const float* src, int64_t lds, int64_t N, int64_t K) {
  if (bf16_path() == Bf16Path::Native && ldb % 16 == 0 && (K + 1) / 2 <= kMaxPairsNative) {
    pack_pairs_cols_native(dst, ldb, src, lds, N, K);
    return;
  }
  for (int64_t n = 0; n < ldb; ++n) {
    bf16_t* d = dst + 2 * n;  // pair p at d + p * 2 * ldb
    if (n >= N) {
      for (int64_t k = 0; k < K; k += 2) put_pair(d + k * ldb, 0.0f, 0.0f);
      continue;
    }
    const float* s = src + n * lds;
    for (int64_t k = 0; k + 1 < K; k += 2) put_pair(d + k * ldb, s[k], s[k + 1]);
    if (K % 2) put_pair(d + (K - 1) * ldb, s[K - 1], 0.0f);
  }
}

}  // namespace slm
