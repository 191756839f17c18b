// matmul_bf16.h — mixed-precision linear layers (issue 15): the matmul operands, weights and
// activations, in bfloat16, the products accumulated in fp32 and written as fp32. Everything else
// of a training step (LayerNorm, softmax, GELU, the loss, the master weights, gradients and AdamW
// state) stays fp32; see docs/experiments.md "Mixed precision".
//
// Two GEMM paths, chosen at run time (one binary serves every x86-64 CPU):
//   Bf16Path::Native    the CPU has AVX512_BF16 (vdpbf16ps): oneDNN's bf16 matmul (bf16 sources,
//                       f32 destination, one cached primitive per shape)
//   Bf16Path::Fallback  any CPU (or SLM_CPU=avx2|scalar): the bf16 operands widened to fp32 and
//                       BLAS sgemm. A bf16 x bf16 product is exact in fp32, so both paths compute
//                       the same sums, in another order: correct, just not faster.
// Activations are rounded to bf16 as they are packed for the GEMM, round to nearest, ties to even
// (tensor/bf16.h's f32_to_bf16, the same on both paths: subnormals rounded, NaN kept).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scratchlm/kernels/matmul.h"
#include "scratchlm/tensor/bf16.h"
#include "scratchlm/util/cpu_features.h"

namespace slm {

// The precision of a training run's matmuls (--precision).
enum class Precision { Fp32, Bf16 };
const char* precision_name(Precision p);        // "fp32" / "bf16"
Precision parse_precision(std::string_view s);  // BadInput error naming the value
enum class Bf16Path { Fallback, Native };
const char* bf16_path_name(Bf16Path p);  // "fallback (fp32 sgemm)" / "native (...)"
// The path a CPU with these features gets (Native needs avx512_bf16 and oneDNN in the build).
Bf16Path bf16_path_for(const CpuFeatures& f);
// The path in use: bf16_path_for(cpu_features()) unless set_bf16_path chose one (tests force the
// fallback this way, as SLM_CPU does for a whole process). Setting Native where the CPU lacks
// AVX512_BF16 is a BadInput error.
Bf16Path bf16_path();
void set_bf16_path(Bf16Path p);

// C[M, N] = op(A) op(B) (+ C when accumulate), row-major: op(A) is A[M, K] (lda) or, when ta, the
// transpose of A[K, M]; op(B) is B[K, N] (ldb) or, when tb, the transpose of B[N, K]. fp32 sums.
void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda, const bf16_t* B,
               int64_t ldb, bool accumulate, float* C, int64_t ldc, Bf16Path path);
// How many of the oneDNN GEMMs this process created run oneDNN's reference code: correct, but
// hundreds of times slower than its AVX-512 kernels (a layout combination those do not take, such
// as a strided A with a blocked B). The tests keep a training step's count at zero.
int64_t gemm_reference_primitives();

// x[n] rounded to bf16 into y (in parallel).
void f32_to_bf16_array(const float* x, bf16_t* y, int64_t n);

// matmul.h's linear layers with a bf16 copy of the weight (W16[K, N], Conv1D layout; Wt16[N, K]
// for the head): the same contracts, the operands rounded to bf16. Gradients are fp32 and are
// accumulated in fp32 (dW += X^T dY with bf16 X and dY).
void matmul_forward_bf16(float* out, const float* inp, const bf16_t* W16, const float* bias, int64_t M, int64_t K,
                         int64_t N);
void matmul_backward_bf16(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const bf16_t* W16,
                          int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false);
// The same with the input already rounded to bf16 (inp16[M, K]: a LayerNorm or GELU output that its
// kernel wrote in bf16, kernels/layernorm.h and gelu.h): the products of the calls above on an
// input that rounds to inp16, bit for bit.
void matmul_forward_bf16_in16(float* out, const bf16_t* inp16, const bf16_t* W16, const float* bias, int64_t M,
                              int64_t K, int64_t N);
// The same with the output rounded to bf16 as it is written (nearest even, bias included): c_fc's
// output in a mixed-precision run, as autocast's bf16 linear gives it (the GELU's input).
void matmul_forward_bf16_in16_out16(bf16_t* out, const bf16_t* a, const bf16_t* W16, const float* bias, int64_t M,
                                    int64_t K, int64_t N);
void matmul_backward_bf16_in16(float* dinp, float* dW, float* dbias, const float* dout, const bf16_t* inp16,
                               const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false);
// The same with dout already rounded to bf16 (dout16, rows ldd apart: a kernel that produces the
// gradient writes it so, kernels/gelu.h gelu_backward_bf16) and the bias gradient left to that
// kernel.
void matmul_backward_bf16_rounded(float* dinp, float* dW, const bf16_t* dout16, int64_t ldd, const bf16_t* inp16,
                                  const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false);
void matmul_forward_wt_bf16(float* out, const float* inp, const bf16_t* Wt16, int64_t M, int64_t K, int64_t N);
void matmul_backward_wt_bf16(float* dinp, float* dWt, const float* dout, const float* inp, const bf16_t* Wt16,
                             int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false);
// The head's logits in bf16, as an autocast bf16 linear layer gives them: out[M, N] = inp Wt16^T
// with bf16 operands and fp32 sums, each sum rounded to bf16 (nearest even) as it is written.
// Wt_blocked (native path): Wt16^T packed by blocked_weight.h's pack_blocked_weight_t, used instead of Wt16.
void matmul_forward_wt_bf16_out16(bf16_t* out, const float* inp, const bf16_t* Wt16, int64_t M, int64_t K, int64_t N,
                                  const bf16_t* Wt_blocked = nullptr);
// The same with dout already rounded to bf16, its rows ldd apart (the head rounds each row of its
// logit gradient while the row is in cache, into the row's own storage: kernels/cross_entropy.cpp).
// Wt_blocked (native path): Wt16 packed by blocked_weight.h's pack_blocked_weight, used for dinp instead of Wt16 (the
// same sums, bit for bit, without the GEMM repacking Wt16 on every call).
void matmul_backward_wt_bf16_rounded(float* dinp, float* dWt, const bf16_t* dout16, int64_t ldd, const float* inp,
                                     const bf16_t* Wt16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false,
                                     const bf16_t* Wt_blocked = nullptr);

// The backward pass of linear_dispatch.h's linear_forward in the precision of its weight: bf16
// when the model keeps a bf16 copy W16 of W (--precision bf16), else fp32 (exactly matmul_backward).
inline void linear_backward(float* dinp, float* dW, float* dbias, const float* dout, const float* inp, const float* W,
                            const bf16_t* W16, int64_t M, int64_t K, int64_t N, bool accumulate_dinp = false) {
  if (W16)
    matmul_backward_bf16(dinp, dW, dbias, dout, inp, W16, M, K, N, accumulate_dinp);
  else
    matmul_backward(dinp, dW, dbias, dout, inp, W, M, K, N, accumulate_dinp);
}

}  // namespace slm
