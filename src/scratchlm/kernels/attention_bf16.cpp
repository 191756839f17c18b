// attention_bf16.cpp — tiled causal self-attention with bf16 GEMM operands (see attention_bf16.h).
#include "scratchlm/kernels/attention_bf16.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "scratchlm/kernels/bf16_tile_gemm.h"
#include "scratchlm/kernels/dropout.h"
#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/scratch_buffer.h"

namespace slm {

namespace {

// One head's shapes: hd columns (D2 padded to even: the k of Q K^T; Dp to 16: the n of the
// products that give head-sized rows), T rows (T2 to even: the k of P V; Tp to 16: the n of S).
struct Dims {
  int64_t T, C, H, hd, C3, D2, Dp, T2, Tp;
  float scale;
  Dims(int64_t t, int64_t c, int64_t h)
      : T(t),
        C(c),
        H(h),
        hd(c / h),
        C3(3 * c),
        D2(round_up(c / h, 2)),
        Dp(round_up(c / h, 16)),
        T2(round_up(t, 2)),
        Tp(round_up(t, 16)),
        scale(1.0f / std::sqrt(static_cast<float>(c / h))) {}
};

// The calling thread's scratch, grown on demand and kept (sized by the largest T and head seen).
struct Scratch {
  std::vector<bf16_t> q16, do16, kt, vt, kp, qp, dop, v, p16, ds16, dsP, pdP, prow;
  std::vector<float> s, dp, o, f;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// dst[rows, ldd] = src rounded to bf16 (cols of each row, the rest zero).
void round_rows(bf16_t* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
#pragma omp simd
    for (int64_t d = 0; d < cols; ++d) dst[i * ldd + d] = f32_to_bf16_vec(src[i * lds + d]);
    std::fill(dst + i * ldd + cols, dst + (i + 1) * ldd, bf16_t{0});
  }
}

// The same from bf16 rows (a bf16 run's qkv: the values already rounded, copied).
void round_rows(bf16_t* dst, int64_t ldd, const bf16_t* src, int64_t lds, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    std::copy_n(src + i * lds, cols, dst + i * ldd);
    std::fill(dst + i * ldd + cols, dst + (i + 1) * ldd, bf16_t{0});
  }
}

// The dropout factor of score (row, j): 0 or 1/(1-p), 1 without dropout.
struct Drop {
  bool on;
  uint32_t th;
  float keep_scale;
  uint64_t key;
  Drop(float p, uint64_t k)
      : on(p > 0.0f), th(dropout_threshold(p)), keep_scale(p > 0.0f ? 1.0f / (1.0f - p) : 1.0f), key(k) {}
  float factor(uint64_t drow, int64_t j) const {
    if (!on) return 1.0f;
    return dropout_keep(key, drow + static_cast<uint64_t>(j), th) ? keep_scale : 0.0f;
  }
};

// Q: the element type of qkv (fp32, or bf16 in a training run's arena: the same values rounded).
template <class Q>
void forward_head(bf16_t* out, float* lse, const Q* qkv, const Dims& d, int64_t bh, const Drop& drop, Bf16Path path) {
  const int64_t T = d.T, h = bh % d.H, b = bh / d.H;
  const float scale = d.scale;  // a local: the loops below store floats, which could alias d
  const Q* base = qkv + b * T * d.C3 + h * d.hd;
  Scratch& sc = scratch();
  bf16_t* q16 = grow(sc.q16, T * d.D2);
  bf16_t* kt = grow(sc.kt, d.D2 * d.Tp);
  bf16_t* v = grow(sc.v, d.T2 * d.Dp);
  bf16_t* p16 = grow(sc.p16, T * d.Tp);
  float* s = grow(sc.s, T * d.Tp);
  float* o = grow(sc.o, T * d.Dp);
  round_rows(q16, d.D2, base, d.C3, T, d.hd);
  pack_pairs_cols(kt, d.Tp, base + d.C, d.C3, T, d.hd);
  pack_pairs_rows(v, d.Dp, base + 2 * d.C, d.C3, T, d.hd);
  tile_gemm_bf16(T, d.Tp, d.D2, q16, d.D2, TileA::RowMajor, kt, d.Tp, s, d.Tp, false, TileCausal::ColsUpToRow, path);
  for (int64_t i = 0; i < T; ++i) {
    const int64_t row = bh * T + i;
    float* si = s + i * d.Tp;
    bf16_t* pi = p16 + i * d.Tp;
    float m = -INFINITY;  // the largest product; scale > 0, so scale * m is the largest score
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j <= i; ++j) m = std::max(m, si[j]);
    m *= scale;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j <= i; ++j) {
      si[j] = fast_expf(si[j] * scale - m);
      sum += si[j];
    }
    const float inv = 1.0f / sum;
    const uint64_t drow = static_cast<uint64_t>(row) * static_cast<uint64_t>(T);
    if (drop.on)
      for (int64_t j = 0; j <= i; ++j) pi[j] = f32_to_bf16_vec(si[j] * inv * drop.factor(drow, j));
    else
#pragma omp simd
      for (int64_t j = 0; j <= i; ++j) pi[j] = f32_to_bf16_vec(si[j] * inv);
    std::fill(pi + i + 1, pi + d.T2, bf16_t{0});
    lse[row] = m + std::log(sum);
  }
  tile_gemm_bf16(T, d.Dp, d.T2, p16, d.Tp, TileA::RowMajor, v, d.Dp, o, d.Dp, false, TileCausal::SumUpToRow, path);
  bf16_t* ob = out + b * T * d.C + h * d.hd;
  for (int64_t i = 0; i < T; ++i)
#pragma omp simd
    for (int64_t e = 0; e < d.hd; ++e) ob[i * d.C + e] = f32_to_bf16_vec(o[i * d.Dp + e]);
}

// g[T, Dp] (head-sized rows) into the head's columns of one part of dqkv.
void store_rows(float* dst, int64_t ldd, const float* g, const Dims& d) {
  for (int64_t i = 0; i < d.T; ++i) std::copy_n(g + i * d.Dp, d.hd, dst + i * ldd);
}

template <class Q>
void backward_head(float* dqkv, const float* dout, const Q* qkv, const float* lse, const Dims& d, int64_t bh,
                   const Drop& drop, Bf16Path path) {
  const int64_t T = d.T, h = bh % d.H, b = bh / d.H, Tp = d.Tp;
  const float scale = d.scale;  // locals: the loops below store floats, which could alias d
  const Q* base = qkv + b * T * d.C3 + h * d.hd;
  const float* dO = dout + b * T * d.C + h * d.hd;
  float* dbase = dqkv + b * T * d.C3 + h * d.hd;
  Scratch& sc = scratch();
  bf16_t* q16 = grow(sc.q16, T * d.D2);
  bf16_t* do16 = grow(sc.do16, T * d.D2);
  bf16_t* kt = grow(sc.kt, d.D2 * d.Tp);
  bf16_t* vt = grow(sc.vt, d.D2 * d.Tp);
  bf16_t* ds16 = grow(sc.ds16, T * d.Tp);
  bf16_t* dsP = grow(sc.dsP, d.T2 * d.Tp);
  bf16_t* pdP = grow(sc.pdP, d.T2 * d.Tp);
  float* s = grow(sc.s, T * d.Tp);
  float* dp = grow(sc.dp, T * d.Tp);
  float* g = grow(sc.o, T * d.Dp);
  float* f = grow(sc.f, T);
  round_rows(q16, d.D2, base, d.C3, T, d.hd);
  round_rows(do16, d.D2, dO, d.C, T, d.hd);
  pack_pairs_cols(kt, d.Tp, base + d.C, d.C3, T, d.hd);
  pack_pairs_cols(vt, d.Tp, base + 2 * d.C, d.C3, T, d.hd);
  tile_gemm_bf16(T, d.Tp, d.D2, q16, d.D2, TileA::RowMajor, kt, d.Tp, s, d.Tp, false, TileCausal::ColsUpToRow,
                 path);  // S
  tile_gemm_bf16(T, d.Tp, d.D2, do16, d.D2, TileA::RowMajor, vt, d.Tp, dp, d.Tp, false, TileCausal::ColsUpToRow,
                 path);  // dO V^T
  // dS row-major (the A of dQ = dS K) and, as dS^T and P^T for dK and dV, dS and the dropped P
  // with their rows written in pairs (TileA::PairPacked), a pair of rows at a time from dS's rows
  // and the pair's rows of P (prow). Past the causal part they are zero.
  bf16_t* prow = grow(sc.prow, 2 * Tp);
  for (int64_t i = 0; i < T; ++i) {
    const int64_t row = bh * T + i;
    const uint64_t drow = static_cast<uint64_t>(row) * static_cast<uint64_t>(T);
    float* pi = s + i * Tp;
    float* dpi = dp + i * Tp;
    const float L = lse[row];
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) pi[j] = fast_expf(scale * pi[j] - L);
    if (drop.on) {
      for (int64_t j = 0; j <= i; ++j) f[j] = drop.factor(drow, j);
#pragma omp simd
      for (int64_t j = 0; j <= i; ++j) dpi[j] *= f[j];
    }
    float D = 0.0f;  // = sum_j p_ij dP_ij, dropout included
#pragma omp simd reduction(+ : D)
    for (int64_t j = 0; j <= i; ++j) D += pi[j] * dpi[j];
    bf16_t* dsi = ds16 + i * Tp;
    bf16_t* pr = prow + (i % 2) * Tp;
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) {
      dsi[j] = f32_to_bf16_vec(pi[j] * (dpi[j] - D) * scale);
      pr[j] = f32_to_bf16_vec(drop.on ? pi[j] * f[j] : pi[j]);
    }
    std::fill(dsi + i + 1, dsi + Tp, bf16_t{0});
    std::fill(pr + i + 1, pr + Tp, bf16_t{0});
    if (i % 2 == 1 || i == T - 1) {  // rows i0 and i0 + 1 (none past an odd T) as pairs
      const int64_t i0 = i - i % 2;
      interleave_pairs(dsP + i0 * Tp, ds16 + i0 * Tp, i % 2 ? dsi : nullptr, Tp);
      interleave_pairs(pdP + i0 * Tp, prow, i % 2 ? pr : nullptr, Tp);
    }
  }
  // The right operands pair-packed along the sum of each product (keys for dQ, queries for dK, dV).
  bf16_t* kp = grow(sc.kp, d.T2 * d.Dp);
  bf16_t* qp = grow(sc.qp, d.T2 * d.Dp);
  bf16_t* dop = grow(sc.dop, d.T2 * d.Dp);
  pack_pairs_rows(kp, d.Dp, base + d.C, d.C3, T, d.hd);
  pack_pairs_rows(qp, d.Dp, base, d.C3, T, d.hd);
  pack_pairs_rows(dop, d.Dp, dO, d.C, T, d.hd);
  // dQ, dK, dV: straight into the head's columns of dqkv when a head is a whole number of 16-column
  // vectors (the usual 64), else through g.
  const bool direct = d.Dp == d.hd;
  auto product = [&](const bf16_t* a, int64_t lda, TileA layout, const bf16_t* b, TileCausal causal, float* dst) {
    tile_gemm_bf16(T, d.Dp, d.T2, a, lda, layout, b, d.Dp, direct ? dst : g, direct ? d.C3 : d.Dp, false, causal, path);
    if (!direct) store_rows(dst, d.C3, g, d);
  };
  product(ds16, d.Tp, TileA::RowMajor, kp, TileCausal::SumUpToRow, dbase);              // dQ = dS K
  product(dsP, d.Tp, TileA::PairPacked, qp, TileCausal::SumFromRow, dbase + d.C);       // dK = dS^T Q
  product(pdP, d.Tp, TileA::PairPacked, dop, TileCausal::SumFromRow, dbase + 2 * d.C);  // dV = P^T dO
}

}  // namespace

namespace {

template <class Q>
void forward_all(bf16_t* out, float* lse, const Q* qkv, int64_t B, int64_t T, int64_t C, int64_t H, float dropout_p,
                 uint64_t dropout_key) {
  const Dims d(T, C, H);
  const Drop drop(dropout_p, dropout_key);
  const Bf16Path path = bf16_path();
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < B * H; ++bh) forward_head(out, lse, qkv, d, bh, drop, path);
}

template <class Q>
void backward_all(float* dqkv, const float* dout, const Q* qkv, const float* lse, int64_t B, int64_t T, int64_t C,
                  int64_t H, float dropout_p, uint64_t dropout_key) {
  const Dims d(T, C, H);
  const Drop drop(dropout_p, dropout_key);
  const Bf16Path path = bf16_path();
  // Each (b, h) owns its columns of dqkv: no races, and the sums do not depend on the threads.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < B * H; ++bh) backward_head(dqkv, dout, qkv, lse, d, bh, drop, path);
}

}  // namespace

void attention_forward_tiled_bf16(bf16_t* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                                  float dropout_p, uint64_t dropout_key) {
  forward_all(out, lse, qkv, B, T, C, H, dropout_p, dropout_key);
}

void attention_forward_tiled_bf16(bf16_t* out, float* lse, const bf16_t* qkv16, int64_t B, int64_t T, int64_t C,
                                  int64_t H, float dropout_p, uint64_t dropout_key) {
  forward_all(out, lse, qkv16, B, T, C, H, dropout_p, dropout_key);
}

void attention_backward_tiled_bf16(float* dqkv, const float* dout, const float* qkv, const float* lse, int64_t B,
                                   int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key) {
  backward_all(dqkv, dout, qkv, lse, B, T, C, H, dropout_p, dropout_key);
}

void attention_backward_tiled_bf16(float* dqkv, const float* dout, const bf16_t* qkv16, const float* lse, int64_t B,
                                   int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key) {
  backward_all(dqkv, dout, qkv16, lse, B, T, C, H, dropout_p, dropout_key);
}

}  // namespace slm
