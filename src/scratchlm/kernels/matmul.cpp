// matmul.cpp — linear layers on BLAS sgemm (see matmul.h). The bias add and bias gradient are
// our own loops; everything else is one sgemm call.
#include "scratchlm/kernels/matmul.h"

#include <cblas.h>

#include <cstring>

#include "scratchlm/kernels/matmul_few_rows.h"
#include "scratchlm/tensor/parallel.h"

namespace slm {

void blas_set_threads(int n) { openblas_set_num_threads(n); }

void matmul_forward(float* out, const float* inp, const float* W, const float* bias, int64_t M, int64_t K, int64_t N) {
  if (M == 1) {  // one row (a decode step): sgemv reads each weight once, without sgemm's packing
    if (bias) std::memcpy(out, bias, sizeof(float) * static_cast<size_t>(N));
    cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, W, N, inp, 1, bias ? 1.0f : 0.0f, out, 1);
    return;
  }
  if (bias) {
#pragma omp parallel for schedule(static) if (M * N >= kParallelMin)
    for (int64_t i = 0; i < M; ++i) std::memcpy(out + i * N, bias, sizeof(float) * static_cast<size_t>(N));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, inp, K, W, N, bias ? 1.0f : 0.0f, out, N);
}

void matmul_backward(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const float* W,
                     int64_t M, int64_t K, int64_t N, bool accumulate_dinp) {
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, dout, N, W, N, accumulate_dinp ? 1.0f : 0.0f,
                dinp, K);
  if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, inp, K, dout, N, 1.0f, dW, N);
  if (dbias) {
    // Columns in parallel, rows in order: deterministic for any thread count.
#pragma omp parallel for schedule(static)
    for (int64_t j0 = 0; j0 < N; j0 += 64) {
      int64_t j1 = j0 + 64 < N ? j0 + 64 : N;
      for (int64_t i = 0; i < M; ++i) {
        const float* d = dout + i * N;
        for (int64_t j = j0; j < j1; ++j) dbias[j] += d[j];
      }
    }
  }
}

void matmul_forward_wt(float* out, const float* inp, const float* Wt, int64_t M, int64_t K, int64_t N) {
  static const bool few_rows = matmul_few_rows_available();
  if (few_rows && M <= kFewRowsMax) {  // the head of a decode step: one order of sums for 1 to 8 rows
    matmul_few_rows_wt(out, inp, Wt, M, K, N);
    return;
  }
  if (M == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, Wt, K, inp, 1, 0.0f, out, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, Wt, K, 0.0f, out, N);
}

void matmul_backward_wt(float* dinp, float* dWt, const float* dout, const float* inp, const float* Wt, int64_t M,
                        int64_t K, int64_t N, bool accumulate_dinp) {
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, Wt, K, accumulate_dinp ? 1.0f : 0.0f,
                dinp, K);
  if (dWt) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dWt, K);
}

}  // namespace slm
