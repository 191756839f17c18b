// attention.cpp — fused causal self-attention, forward and backward (see attention.h).
#include "scratchlm/kernels/attention.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "scratchlm/kernels/dropout.h"
#include "scratchlm/kernels/fastmath.h"
#include "scratchlm/tensor/parallel.h"

namespace slm {

namespace {
inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline void axpy(float* y, float a, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

template <class Out>
void forward(Out* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H, float dropout_p,
             uint64_t dropout_key) {
  const int64_t hd = C / H, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool drop = dropout_p > 0.0f;
  const uint32_t th = dropout_threshold(dropout_p);
  const float keep_scale = drop ? 1.0f / (1.0f - dropout_p) : 1.0f;
#pragma omp parallel
  {
    std::vector<float> s(static_cast<size_t>(T));
    std::vector<float> orow(std::is_same_v<Out, float> ? 0 : static_cast<size_t>(hd));  // bf16: sums in fp32
#pragma omp for schedule(dynamic, 16)
    for (int64_t row = 0; row < B * H * T; ++row) {
      const int64_t i = row % T, bh = row / T, h = bh % H, b = bh / H;
      const float* base = qkv + b * T * C3;
      const float* q = base + i * C3 + h * hd;
      float m = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = scale * dot(q, base + j * C3 + C + h * hd, hd);
        m = s[j] > m ? s[j] : m;
      }
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = fast_expf(s[j] - m);
        sum += s[j];
      }
      const float inv = 1.0f / sum;
      float* o;
      if constexpr (std::is_same_v<Out, float>)
        o = out + (b * T + i) * C + h * hd;
      else
        o = orow.data();
      std::memset(o, 0, sizeof(float) * static_cast<size_t>(hd));
      const uint64_t drow = static_cast<uint64_t>(row) * static_cast<uint64_t>(T);
      for (int64_t j = 0; j <= i; ++j) {
        float p = s[j] * inv;
        if (drop) p = dropout_keep(dropout_key, drow + static_cast<uint64_t>(j), th) ? p * keep_scale : 0.0f;
        axpy(o, p, base + j * C3 + 2 * C + h * hd, hd);
      }
      if constexpr (!std::is_same_v<Out, float>)
        for (int64_t d = 0; d < hd; ++d) out[(b * T + i) * C + h * hd + d] = f32_to_bf16_vec(o[d]);
      lse[row] = m + std::log(sum);
    }
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                       float dropout_p, uint64_t dropout_key) {
  forward(out, lse, qkv, B, T, C, H, dropout_p, dropout_key);
}

void attention_forward_bf16(bf16_t* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                            float dropout_p, uint64_t dropout_key) {
  forward(out, lse, qkv, B, T, C, H, dropout_p, dropout_key);
}

namespace {

// kHaveOut: D = dO . O from the output; else summed from the recomputed probabilities (out unused).
template <bool kHaveOut>
void backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int64_t B,
              int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key) {
  const int64_t hd = C / H, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool drop = dropout_p > 0.0f;
  const uint32_t th = dropout_threshold(dropout_p);
  const float keep_scale = drop ? 1.0f / (1.0f - dropout_p) : 1.0f;
  // Each (b, h) owns its slice of dqkv: parallel over heads, no races, deterministic.
#pragma omp parallel
  {
    std::vector<float> pbuf(static_cast<size_t>(T)), dsbuf(static_cast<size_t>(T));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) {
      const int64_t h = bh % H, b = bh / H;
      const float* base = qkv + b * T * C3;
      float* dbase = dqkv + b * T * C3;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t part = 0; part < 3; ++part)
          std::memset(dbase + t * C3 + part * C + h * hd, 0, sizeof(float) * static_cast<size_t>(hd));
      float* p = pbuf.data();
      float* ds = dsbuf.data();
      for (int64_t i = 0; i < T; ++i) {
        const int64_t row = bh * T + i;
        const float* q = base + i * C3 + h * hd;
        const float* dO = dout + (b * T + i) * C + h * hd;
        float* dq = dbase + i * C3 + h * hd;
        float D = 0.0f;  // = sum_j p_ij * dP_ij (dropout included) = dO . O
        if constexpr (kHaveOut) D = dot(dO, out + (b * T + i) * C + h * hd, hd);
        const float L = lse[row];
        const uint64_t drow = static_cast<uint64_t>(row) * static_cast<uint64_t>(T);
        // Recompute the probabilities of row i from the saved log-sum-exp.
        for (int64_t j = 0; j <= i; ++j) p[j] = scale * dot(q, base + j * C3 + C + h * hd, hd) - L;
#pragma omp simd
        for (int64_t j = 0; j <= i; ++j) p[j] = fast_expf(p[j]);
        if constexpr (!kHaveOut) {
          for (int64_t j = 0; j <= i; ++j) {
            float d = 1.0f;
            if (drop) d = dropout_keep(dropout_key, drow + static_cast<uint64_t>(j), th) ? keep_scale : 0.0f;
            ds[j] = d * dot(dO, base + j * C3 + 2 * C + h * hd, hd);  // dP_ij, for the loop below
            D += p[j] * ds[j];
          }
        }
        for (int64_t j = 0; j <= i; ++j) {
          float d = 1.0f;
          if (drop) d = dropout_keep(dropout_key, drow + static_cast<uint64_t>(j), th) ? keep_scale : 0.0f;
          const float* v = base + j * C3 + 2 * C + h * hd;
          float dp;
          if constexpr (kHaveOut)
            dp = d * dot(dO, v, hd);
          else
            dp = ds[j];
          axpy(dbase + j * C3 + 2 * C + h * hd, p[j] * d, dO, hd);  // dv_j
          ds[j] = p[j] * (dp - D) * scale;
        }
        for (int64_t j = 0; j <= i; ++j) {
          const float* k = base + j * C3 + C + h * hd;
          axpy(dq, ds[j], k, hd);
          axpy(dbase + j * C3 + C + h * hd, ds[j], q, hd);  // dk_j
        }
      }
    }
  }
}

}  // namespace

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int64_t B,
                        int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key) {
  if (out)
    backward<true>(dqkv, dout, qkv, out, lse, B, T, C, H, dropout_p, dropout_key);
  else
    backward<false>(dqkv, dout, qkv, out, lse, B, T, C, H, dropout_p, dropout_key);
}

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int64_t n, int64_t C,
                      int64_t H, float* scratch) {
  const int64_t hd = C / H;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
#pragma omp parallel for schedule(static) if (n * C >= kParallelMin)
  for (int64_t h = 0; h < H; ++h) {
    float* s = scratch + h * n;
    const float* qh = q + h * hd;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      s[j] = scale * dot(qh, kcache + j * C + h * hd, hd);
      m = s[j] > m ? s[j] : m;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
      s[j] = fast_expf(s[j] - m);
      sum += s[j];
    }
    float* o = out + h * hd;
    std::memset(o, 0, sizeof(float) * static_cast<size_t>(hd));
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; ++j) axpy(o, s[j] * inv, vcache + j * C + h * hd, hd);
  }
}

}  // namespace slm
