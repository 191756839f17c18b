// blocked_weight.cpp — bf16 weights in oneDNN's blocked layout (see blocked_weight.h).
#include "scratchlm/kernels/blocked_weight.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "scratchlm/kernels/bf16_tile_gemm.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/util/cpu_features.h"
#include "scratchlm/util/error.h"

namespace slm {

bool blocked_weights_available() {
#ifdef SLM_HAVE_DNNL
  return bf16_path() == Bf16Path::Native;
#else
  return false;
#endif
}

int64_t blocked_weight_size(int64_t K, int64_t N) { return round_up(K, 32) * round_up(N, 64); }

namespace {

// n fp32 values rounded to bf16 (nearest even, f32_to_bf16) at dst, in vector lanes.
void round_row(bf16_t* dst, const float* src, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dst[j] = f32_to_bf16_vec(src[j]);
}

// Rows v0..v0+63 of Wt (zero past N; contiguous in Wt, so read as one stream) rounded into a
// strip of 64 rows of Kp64 values (zero past K), then written as the strip's blocks of both
// layouts: for Wt, two 32-row blocks per 64 columns (pairs of rows interleaved); for Wt^T, the
// strip's 64-column block (each row's pairs of values transposed, 16 x 16 words at a time).
__attribute__((target("avx512f,avx512bw"))) void pack_both_strip(bf16_t* w, bf16_t* t, const float* Wt, int64_t N,
                                                                 int64_t K, int64_t v0, bf16_t* strip) {
  const int64_t rows = std::min<int64_t>(64, N - v0), Kp64 = round_up(K, 64);
  for (int64_t r = 0; r < 64; ++r) {
    bf16_t* d = strip + r * Kp64;
    const int64_t n = r < rows ? K : 0;
    round_row(d, Wt + (v0 + r) * K, n);
    std::fill(d + n, d + Kp64, bf16_t{0});
  }
  const int64_t Np = round_up(N, 32), Kp = round_up(K, 32);
  if (w) {  // Wt [N, K]: blocks of 32 rows (v) x 64 columns (k)
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                        5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int64_t k0 = 0; k0 < K; k0 += 64)
      for (int64_t b = 0; b < 2 && v0 + 32 * b < Np; ++b) {
        bf16_t* d = w + (k0 / 64) * Np * 64 + (v0 / 32 + b) * 2048;
        for (int64_t p = 0; p < 16; ++p) {
          const bf16_t* r0 = strip + (32 * b + 2 * p) * Kp64 + k0;
          for (int64_t h = 0; h < 2; ++h) {  // columns 32h..32h+31 of the two rows
            const __m512i a = _mm512_loadu_si512(r0 + 32 * h), c = _mm512_loadu_si512(r0 + Kp64 + 32 * h);
            _mm512_stream_si512(reinterpret_cast<__m512i*>(d + p * 128 + 64 * h), _mm512_permutex2var_epi16(a, lo, c));
            _mm512_stream_si512(reinterpret_cast<__m512i*>(d + p * 128 + 64 * h + 32),
                                _mm512_permutex2var_epi16(a, hi, c));
          }
        }
      }
  }
  // Wt^T [K, N]: blocks of 32 rows (k) x 64 columns (v), the strip's column block v0 / 64
  uint32_t* d = reinterpret_cast<uint32_t*>(t + (v0 / 64) * Kp * 64);
  for (int64_t kb = 0; kb < Kp / 32; ++kb)
    for (int64_t j0 = 0; j0 < 64; j0 += 16)
      transpose_words16(d + kb * 1024 + j0, 64, reinterpret_cast<const uint32_t*>(strip + j0 * Kp64 + 32 * kb),
                        Kp64 / 2, true);
  _mm_sfence();
}

}  // namespace

void pack_blocked_weight(bf16_t* dst, const bf16_t* W, int64_t K, int64_t N, int64_t ldw) {
  if (ldw == 0) ldw = N;
  const int64_t Kp = round_up(K, 32), kblocks = Kp / 32, nblocks = round_up(N, 64) / 64;
#pragma omp parallel for schedule(static)
  for (int64_t kb = 0; kb < kblocks; ++kb)
    for (int64_t nb = 0; nb < nblocks; ++nb) {
      const int64_t n0 = nb * 64, n = std::min<int64_t>(64, N - n0);
      for (int64_t p = 0; p < 16; ++p) {  // rows k0, k0 + 1 interleaved, zero past N and K
        const int64_t k0 = kb * 32 + 2 * p;
        bf16_t* d = dst + nb * Kp * 64 + kb * 2048 + p * 128;
        if (k0 < K) interleave_pairs(d, W + k0 * ldw + n0, k0 + 1 < K ? W + (k0 + 1) * ldw + n0 : nullptr, n);
        std::fill(d + (k0 < K ? 2 * n : 0), d + 128, bf16_t{0});
      }
    }
}

void pack_blocked_weight_t(bf16_t* dst, const bf16_t* Wt, int64_t K, int64_t N) {
  const int64_t Kp = round_up(K, 32), kblocks = Kp / 32, nblocks = round_up(N, 64) / 64;
  const bool native = cpu_features().avx512f;
#pragma omp parallel for schedule(static)
  for (int64_t nb = 0; nb < nblocks; ++nb)
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      bf16_t* d = dst + nb * Kp * 64 + kb * 2048;
      const int64_t k0 = kb * 32, k1 = std::min<int64_t>(32, K - k0);
      if (native && k1 == 32 && nb * 64 + 64 <= N && K % 2 == 0) {  // a whole block, straight from Wt
        for (int64_t j0 = 0; j0 < 64; j0 += 16)
          transpose_words16(reinterpret_cast<uint32_t*>(d) + j0, 64,
                            reinterpret_cast<const uint32_t*>(Wt + (nb * 64 + j0) * K + k0), K / 2);
        continue;
      }
      // An edge block: its 64 columns of W (rows of Wt), 32 values each, zero past N and K.
      alignas(64) bf16_t tile[64 * 32];
      for (int64_t j = 0; j < 64; ++j) {
        const int64_t n = nb * 64 + j;
        bf16_t* t = tile + j * 32;
        std::fill(t, t + 32, bf16_t{0});
        if (n < N) std::copy_n(Wt + n * K + k0, k1, t);
      }
      if (native) {  // 4 transposes of 16 x 16 pairs
        for (int64_t j0 = 0; j0 < 64; j0 += 16)
          transpose_words16(reinterpret_cast<uint32_t*>(d) + j0, 64, reinterpret_cast<const uint32_t*>(tile + j0 * 32),
                            16);
      } else {
        for (int64_t j = 0; j < 64; ++j)
          for (int64_t k = 0; k < 32; ++k) d[(k / 2) * 128 + 2 * j + k % 2] = tile[j * 32 + k];
      }
    }
}

void pack_blocked_weight_both(bf16_t* t, bf16_t* w, const float* Wt, int64_t N, int64_t K) {
  if (!cpu_features().avx512bw) fail_internal("pack_blocked_weight_both needs AVX-512");
  if (reinterpret_cast<uintptr_t>(t) % 64 || reinterpret_cast<uintptr_t>(w) % 64)
    fail_internal("pack_blocked_weight_both writes 64-byte aligned buffers");
  const int64_t strips = round_up(N, 64) / 64;
#pragma omp parallel
  {
    std::vector<bf16_t> strip(static_cast<size_t>(64 * round_up(K, 64)));
#pragma omp for schedule(static)
    for (int64_t s = 0; s < strips; ++s) pack_both_strip(w, t, Wt, N, K, s * 64, strip.data());
  }
}

}  // namespace slm
