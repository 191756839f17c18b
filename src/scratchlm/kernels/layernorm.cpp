// layernorm.cpp — LayerNorm forward and backward (see layernorm.h).
#include "scratchlm/kernels/layernorm.h"

#include <omp.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "scratchlm/tensor/parallel.h"

namespace slm {

namespace {

inline void store(float* y, float v) { *y = v; }
inline void store(bf16_t* y, float v) { *y = f32_to_bf16_vec(v); }

// y = (x - m) * rs * weight + bias over one row: the forward's output, and its bf16 operand again.
template <class Out>
inline void normalize_row(Out* y, const float* x, float m, float rs, const float* weight, const float* bias,
                          int64_t C) {
  for (int64_t i = 0; i < C; ++i) store(y + i, (x[i] - m) * rs * weight[i] + bias[i]);
}

// One forward for both output types: the bf16 output is the fp32 one rounded.
template <class Out>
void forward(Out* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int64_t rows,
             int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (rows * C >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * C;
    Out* y = out + r * C;
    double s = 0.0, v = 0.0;
    if constexpr (std::is_same_v<Out, float>) {  // one running sum each: the fp32 path's bits
      for (int64_t i = 0; i < C; ++i) s += x[i];
    } else {  // bf16 runs: the same double sums in vector lanes (a dependent add per element is
              // most of the row's time otherwise)
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < C; ++i) s += x[i];
    }
    const float m = static_cast<float>(s / C);
    if constexpr (std::is_same_v<Out, float>) {
      for (int64_t i = 0; i < C; ++i) {
        const float d = x[i] - m;
        v += static_cast<double>(d) * d;
      }
    } else {
#pragma omp simd reduction(+ : v)
      for (int64_t i = 0; i < C; ++i) {
        const float d = x[i] - m;
        v += static_cast<double>(d) * d;
      }
    }
    float rs = 1.0f / std::sqrt(static_cast<float>(v / C) + eps);
    normalize_row(y, x, m, rs, weight, bias, C);
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t rows, int64_t C, float eps) {
  forward(out, mean, rstd, inp, weight, bias, rows, C, eps);
}

void layernorm_forward_bf16(bf16_t* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, int64_t rows, int64_t C, float eps) {
  forward(out, mean, rstd, inp, weight, bias, rows, C, eps);
}

void layernorm_apply_bf16(bf16_t* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                          const float* bias, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) normalize_row(out + r * C, inp + r * C, mean[r], rstd[r], weight, bias, C);
}

namespace {

// Lanes: the row's two sums in vector lanes (bf16 runs) instead of one running float each.
template <bool Lanes>
void backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
              const float* mean, const float* rstd, int64_t rows, int64_t C, bool accumulate_dinp) {
  // Per-thread partial sums for dweight/dbias, reduced in thread order (deterministic).
  const int nt = omp_get_max_threads();
  const bool want_wb = dweight || dbias;
  std::vector<float> partial(want_wb ? static_cast<size_t>(nt) * 2 * C : 0, 0.0f);
#pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num();
    float* pw = want_wb ? partial.data() + static_cast<size_t>(tid) * 2 * C : nullptr;
    float* pb = want_wb ? pw + C : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = inp + r * C;
      const float* dy = dout + r * C;
      const float m = mean[r], rs = rstd[r];
      float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
      if constexpr (Lanes) {
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
        for (int64_t i = 0; i < C; ++i) {
          const float norm = (x[i] - m) * rs;
          const float dn = weight[i] * dy[i];
          dnorm_mean += dn;
          dnorm_norm_mean += dn * norm;
        }
      } else {
        for (int64_t i = 0; i < C; ++i) {
          float norm = (x[i] - m) * rs;
          float dn = weight[i] * dy[i];
          dnorm_mean += dn;
          dnorm_norm_mean += dn * norm;
        }
      }
      if (pw) {  // a separate loop, so dinp is bit-identical whether or not these are requested
        for (int64_t i = 0; i < C; ++i) {
          pw[i] += (x[i] - m) * rs * dy[i];
          pb[i] += dy[i];
        }
      }
      dnorm_mean /= static_cast<float>(C);
      dnorm_norm_mean /= static_cast<float>(C);
      if (dinp) {
        float* dx = dinp + r * C;
        for (int64_t i = 0; i < C; ++i) {
          float norm = (x[i] - m) * rs;
          float g = (weight[i] * dy[i] - dnorm_mean - norm * dnorm_norm_mean) * rs;
          dx[i] = accumulate_dinp ? dx[i] + g : g;
        }
      }
    }
  }
  if (want_wb) {
    for (int t = 0; t < nt; ++t) {
      const float* pw = partial.data() + static_cast<size_t>(t) * 2 * C;
      for (int64_t i = 0; i < C; ++i) {
        if (dweight) dweight[i] += pw[i];
        if (dbias) dbias[i] += pw[C + i];
      }
    }
  }
}

}  // namespace

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t rows, int64_t C,
                        bool accumulate_dinp) {
  backward<false>(dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows, C, accumulate_dinp);
}

void layernorm_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const float* mean, const float* rstd, int64_t rows, int64_t C,
                             bool accumulate_dinp) {
  backward<true>(dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows, C, accumulate_dinp);
}

}  // namespace slm
