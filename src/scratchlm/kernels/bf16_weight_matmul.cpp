// bf16_weight_matmul.cpp — bf16-weight linear layers: scalar, AVX2 and AVX-512 dot products in one
// float order (see bf16_weight_matmul.h), and widened tiles through sgemm for many rows.
#include "scratchlm/kernels/bf16_weight_matmul.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "scratchlm/util/cpu_features.h"
#include "scratchlm/util/error.h"

// GCC 12's AVX-512 headers start vectors from _mm*_undefined_*(), which its own -Wuninitialized
// flags inside the intrinsics; the values are fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace slm {

namespace {

constexpr int kLanes = 16;

float dot_scalar(const bf16_t* w, const float* x, int64_t K) {
  float acc[kLanes] = {};
  const int64_t K16 = K / kLanes * kLanes;
  for (int64_t k = 0; k < K16; k += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = std::fma(bf16_to_f32(w[k + l]), x[k + l], acc[l]);
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = acc[l] + acc[l + 8];
  const float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
  float r = (t0 + t2) + (t1 + t3);
  for (int64_t k = K16; k < K; ++k) r = std::fma(bf16_to_f32(w[k]), x[k], r);
  return r;
}

__attribute__((target("avx2,fma"))) float hsum256(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  return _mm_cvtss_f32(_mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1)));
}

__attribute__((target("avx2,fma"))) inline __m256 widen8(const bf16_t* w) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma"))) float dot_avx2(const bf16_t* w, const float* x, int64_t K) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();  // lanes 0-7 and 8-15
  const int64_t K16 = K / kLanes * kLanes;
  for (int64_t k = 0; k < K16; k += kLanes) {
    lo = _mm256_fmadd_ps(widen8(w + k), _mm256_loadu_ps(x + k), lo);
    hi = _mm256_fmadd_ps(widen8(w + k + 8), _mm256_loadu_ps(x + k + 8), hi);
  }
  float r = hsum256(_mm256_add_ps(lo, hi));
  for (int64_t k = K16; k < K; ++k) r = std::fma(bf16_to_f32(w[k]), x[k], r);
  return r;
}

__attribute__((target("avx512f,avx2,fma"))) float dot_avx512(const bf16_t* w, const float* x, int64_t K) {
  __m512 acc = _mm512_setzero_ps();
  const int64_t K16 = K / kLanes * kLanes;
  for (int64_t k = 0; k < K16; k += kLanes) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k));
    const __m512 wf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    acc = _mm512_fmadd_ps(wf, _mm512_loadu_ps(x + k), acc);
  }
  const __m256 lo = _mm512_castps512_ps256(acc);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  float r = hsum256(_mm256_add_ps(lo, hi));
  for (int64_t k = K16; k < K; ++k) r = std::fma(bf16_to_f32(w[k]), x[k], r);
  return r;
}

using DotFn = float (*)(const bf16_t*, const float*, int64_t);

DotFn dot_for(Bf16WeightPath p) {
  switch (p) {
    case Bf16WeightPath::Scalar:
      return dot_scalar;
    case Bf16WeightPath::Avx2:
      return dot_avx2;
    case Bf16WeightPath::Avx512:
      return dot_avx512;
  }
  return dot_scalar;
}

}  // namespace

const char* bf16_weight_path_name(Bf16WeightPath p) {
  switch (p) {
    case Bf16WeightPath::Scalar:
      return "scalar";
    case Bf16WeightPath::Avx2:
      return "avx2";
    case Bf16WeightPath::Avx512:
      return "avx512";
  }
  return "?";
}

bool bf16_weight_path_available(Bf16WeightPath p) {
  const CpuFeatures& f = cpu_features();
  switch (p) {
    case Bf16WeightPath::Scalar:
      return true;
    case Bf16WeightPath::Avx2:
      return f.avx2 && f.fma;
    case Bf16WeightPath::Avx512:
      return f.avx512f && f.avx2 && f.fma;
  }
  return false;
}

Bf16WeightPath bf16_weight_best_path() {
  if (bf16_weight_path_available(Bf16WeightPath::Avx512)) return Bf16WeightPath::Avx512;
  return bf16_weight_path_available(Bf16WeightPath::Avx2) ? Bf16WeightPath::Avx2 : Bf16WeightPath::Scalar;
}

void matmul_bf16_weights_path(float* out, const float* x, const bf16_t* W, const float* bias, int64_t M, int64_t K,
                              int64_t N, Bf16WeightPath path) {
  if (!bf16_weight_path_available(path))
    fail_internal("matmul_bf16_weights: this CPU cannot run the {} path", bf16_weight_path_name(path));
  const DotFn dot = dot_for(path);
#pragma omp parallel for schedule(static) if (N * K * M >= (1 << 16))
  for (int64_t n = 0; n < N; ++n) {
    const bf16_t* wr = W + n * K;
    const float b = bias ? bias[n] : 0.0f;
    for (int64_t m = 0; m < M; ++m) out[m * N + n] = dot(wr, x + m * K, K) + b;
  }
}

void matmul_bf16_weights(float* out, const float* x, const bf16_t* W, const float* bias, int64_t M, int64_t K,
                         int64_t N) {
  static const Bf16WeightPath best = bf16_weight_best_path();
  if (M < kBf16GemmRows) {
    matmul_bf16_weights_path(out, x, W, bias, M, K, N, best);
    return;
  }
  // Tiles of weight rows widened to fp32 (L2-sized), each one sgemm over all M rows.
  const int64_t tile = std::max<int64_t>(16, std::min<int64_t>(N, (int64_t{256} << 10) / (4 * K)));
  thread_local std::vector<float> tile_buf;  // the calling thread's; the team writes through wf
  tile_buf.resize(static_cast<size_t>(tile * K));
  float* wf = tile_buf.data();
  for (int64_t n0 = 0; n0 < N; n0 += tile) {
    const int64_t nt = std::min(tile, N - n0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nt; ++i) bf16_to_f32_row(W + (n0 + i) * K, wf + i * K, static_cast<size_t>(K));
    if (bias)
      for (int64_t m = 0; m < M; ++m) std::copy_n(bias + n0, nt, out + m * N + n0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nt, K, 1.0f, x, K, wf, K, bias ? 1.0f : 0.0f, out + n0, N);
  }
}

}  // namespace slm
