// matmul.h — the linear layer y = x W + b on BLAS sgemm (chapters 3–4: nn.Linear), forward and
// backward. Weights use Hugging Face's Conv1D layout W[in, out] (row-major), so GPT-2's
// c_attn/c_proj/c_fc weights are used as stored, with no transpose at load or per step.
#pragma once

#include <cstdint>

namespace slm {

// out[M, N] = inp[M, K] @ W[K, N] (+ bias[N] when bias != nullptr). One row (M = 1, a decode step
// of generation with a KV cache) is a matrix-vector product that reads each weight once.
void matmul_forward(float* out, const float* inp, const float* W, const float* bias, int64_t M, int64_t K, int64_t N);

// Given dout[M, N]: dinp[M, K] (+)= dout @ W^T  (skipped when dinp == nullptr; accumulates when
// accumulate_dinp), dW[K, N] += inp^T @ dout and dbias[N] += sum over rows of dout (each skipped
// when null).
void matmul_backward(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const float* W,
                     int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false);

// The same for a weight stored transposed, Wt[N, K] (torch Linear layout, e.g. lm_head / wte):
// out[M, N] = inp[M, K] @ Wt^T (2 to 8 rows: matmul_few_rows_wt).
void matmul_forward_wt(float* out, const float* inp, const float* Wt, int64_t M, int64_t K, int64_t N);
void matmul_backward_wt(float* dinp, float* dWt, const float* dout, const float* inp, const float* Wt, int64_t M,
                        int64_t K, int64_t N, bool accumulate_dinp = false);

// Number of threads BLAS uses (kept equal to ScratchLM's own thread count).
void blas_set_threads(int n);

}  // namespace slm
