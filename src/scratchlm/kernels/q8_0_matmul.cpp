// q8_0_matmul.cpp — Q8_0 × Q8_0 linear layers: a scalar reference and AVX2 / AVX-VNNI /
// AVX512-VNNI int8 dot products, one float order for all (see q8_0_matmul.h). The SIMD paths are
// compiled per function with target attributes and chosen by cpu_features() at run time.
//
// Signed × signed int8 has no instruction: as llama.cpp does, |w| (unsigned) times x with w's
// sign moved onto it gives the same products; maddubs' int16 pair sums cannot saturate, since
// |q| <= 128 and |x| <= 127 (activations are quantized to [-127, 127]).
#include "scratchlm/kernels/q8_0_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "scratchlm/tensor/half.h"
#include "scratchlm/util/cpu_features.h"
#include "scratchlm/util/error.h"

// GCC 12's AVX-512 headers start vectors from _mm*_undefined_*(), which its own -Wuninitialized
// flags inside the intrinsics; the values are fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slm {

namespace {

constexpr int kLanes = 8;

// The final tree over 8 lanes, as the SIMD horizontal sum does it.
float tree_sum8(const float* v) {
  const float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
  return (t0 + t2) + (t1 + t3);
}

float dot_scalar(const BlockQ8_0* w, const BlockQ8_0* x, const float* xd, int64_t nb) {
  float acc[2][kLanes] = {};
  for (int64_t b = 0; b < nb; ++b) {
    const float s = f16_to_f32(w[b].d) * xd[b];
    for (int l = 0; l < kLanes; ++l) {
      int32_t sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sum += int32_t{w[b].qs[j]} * int32_t{x[b].qs[j]};
      acc[b & 1][l] = std::fma(static_cast<float>(sum), s, acc[b & 1][l]);
    }
  }
  float v[kLanes];
  for (int l = 0; l < kLanes; ++l) v[l] = acc[0][l] + acc[1][l];
  return tree_sum8(v);
}

__attribute__((target("avx2,fma,f16c"))) float hsum256(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  return _mm_cvtss_f32(_mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1)));
}

// Block b's 8 lane sums by AVX2: |w| · sign(x, w) in int16 pairs, then int32 quads.
__attribute__((target("avx2,fma,f16c"))) inline __m256i lanes_avx2(const BlockQ8_0& w, const BlockQ8_0& x) {
  const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs));
  const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

__attribute__((target("avx2,fma,f16c"))) float dot_avx2(const BlockQ8_0* w, const BlockQ8_0* x, const float* xd,
                                                        int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const __m256 s = _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]);
    acc[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes_avx2(w[b], x[b])), s, acc[b & 1]);
  }
  return hsum256(_mm256_add_ps(acc[0], acc[1]));
}

__attribute__((target("avx2,fma,f16c,avxvnni"))) float dot_avx_vnni(const BlockQ8_0* w, const BlockQ8_0* x,
                                                                    const float* xd, int64_t nb) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256i sum =
        _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    const __m256 s = _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]);
    acc[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), s, acc[b & 1]);
  }
  return hsum256(_mm256_add_ps(acc[0], acc[1]));
}

#define SLM_AVX512 "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"

// Blocks b (even, low half) and b + 1 (odd, high half) in one ZMM: the two accumulators side by side.
__attribute__((target(SLM_AVX512))) float dot_avx512_vnni(const BlockQ8_0* w, const BlockQ8_0* x, const float* xd,
                                                          int64_t nb) {
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    const __m512i qw =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].qs)), 1);
    const __m512i qx =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b + 1].qs)), 1);
    const __m512i sx = _mm512_mask_sub_epi8(qx, _mm512_movepi8_mask(qw), _mm512_setzero_si512(), qx);
    const __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), sx);
    const __m512 s = _mm512_castpd_ps(  // (insertf64x4 needs only AVX-512F; insertf32x8 needs DQ)
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(w[b].d) * xd[b])),
                           _mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(w[b + 1].d) * xd[b + 1])), 1));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc);
  }
  __m256 even = _mm512_castps512_ps256(acc);
  const __m256 odd = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  if (b < nb) {  // an odd count: the last block is an even one
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256i sx = _mm256_mask_sub_epi8(qx, _mm256_movepi8_mask(qw), _mm256_setzero_si256(), qx);
    const __m256i sum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qw), sx);
    even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(_cvtsh_ss(w[b].d) * xd[b]), even);
  }
  return hsum256(_mm256_add_ps(even, odd));
}

using DotFn = float (*)(const BlockQ8_0*, const BlockQ8_0*, const float*, int64_t);

// Activations to Q8_0 by llama.cpp's x86 rule (its quantize_row_q8_0 on AVX/AVX2, which it uses for
// the vec_dot operand): d = amax / 127 stored as fp16, q = round-half-even(x * (127 / amax)). The
// file's weights follow ggml's reference rule instead (tensor/q8_0.h). xd: each d back as float.
void quantize_activations(const float* x, BlockQ8_0* y, float* xd, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQ8_0Block;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t j = 0; j < kQ8_0Block; ++j) {
      finite = finite && std::isfinite(xb[j]);
      amax = std::max(amax, std::fabs(xb[j]));
    }
    if (!finite) fail("a Q8_0 layer's input holds a non-finite value (the model's activations overflowed)");
    y[b].d = f32_to_f16(amax / 127.0f);
    xd[b] = f16_to_f32(y[b].d);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t j = 0; j < kQ8_0Block; ++j) y[b].qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
  }
}

DotFn dot_for(Q8Path p) {
  switch (p) {
    case Q8Path::Scalar:
      return dot_scalar;
    case Q8Path::Avx2:
      return dot_avx2;
    case Q8Path::AvxVnni:
      return dot_avx_vnni;
    case Q8Path::Avx512Vnni:
      return dot_avx512_vnni;
  }
  return dot_scalar;
}

}  // namespace

const char* q8_path_name(Q8Path p) {
  switch (p) {
    case Q8Path::Scalar:
      return "scalar";
    case Q8Path::Avx2:
      return "avx2";
    case Q8Path::AvxVnni:
      return "avx-vnni";
    case Q8Path::Avx512Vnni:
      return "avx512-vnni";
  }
  return "?";
}

bool q8_path_available(Q8Path p) {
  const CpuFeatures& f = cpu_features();
  switch (p) {
    case Q8Path::Scalar:
      return true;
    case Q8Path::Avx2:
      return f.avx2 && f.fma && f.f16c;
    case Q8Path::AvxVnni:
      return f.avx2 && f.fma && f.f16c && f.avx_vnni;
    case Q8Path::Avx512Vnni:
      return f.avx512bw && f.avx512vl && f.avx512_vnni && f.f16c;
  }
  return false;
}

Q8Path q8_best_path() {
  for (Q8Path p : {Q8Path::Avx512Vnni, Q8Path::AvxVnni, Q8Path::Avx2})
    if (q8_path_available(p)) return p;
  return Q8Path::Scalar;
}

void matmul_q8_0_path(float* out, const float* x, const BlockQ8_0* W, const float* bias, int64_t M, int64_t K,
                      int64_t N, Q8Path path) {
  if (K % kQ8_0Block != 0) fail_internal("matmul_q8_0: K = {} is not a multiple of {}", K, kQ8_0Block);
  if (!q8_path_available(path)) fail_internal("matmul_q8_0: this CPU cannot run the {} path", q8_path_name(path));
  const int64_t nb = K / kQ8_0Block;
  // The activations as Q8_0, with their scales as floats (read once per block pair).
  thread_local std::vector<BlockQ8_0> xq;
  thread_local std::vector<float> xd;
  xq.resize(static_cast<size_t>(M * nb));
  xd.resize(xq.size());
  for (int64_t m = 0; m < M; ++m) quantize_activations(x + m * K, xq.data() + m * nb, xd.data() + m * nb, nb);
  const DotFn dot = dot_for(path);
  const BlockQ8_0* xqp = xq.data();
  const float* xdp = xd.data();
  // Each weight row stays in L1 while every activation row meets it.
#pragma omp parallel for schedule(static) if (N * K * M >= (1 << 16))
  for (int64_t n = 0; n < N; ++n) {
    const BlockQ8_0* wr = W + n * nb;
    const float b = bias ? bias[n] : 0.0f;
    for (int64_t m = 0; m < M; ++m) out[m * N + n] = dot(wr, xqp + m * nb, xdp + m * nb, nb) + b;
  }
}

void matmul_q8_0(float* out, const float* x, const BlockQ8_0* W, const float* bias, int64_t M, int64_t K, int64_t N) {
  static const Q8Path best = q8_best_path();
  matmul_q8_0_path(out, x, W, bias, M, K, N, best);
}

}  // namespace slm
