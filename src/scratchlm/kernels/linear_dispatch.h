// linear_dispatch.h — one entry point for an inference-time linear layer whose weight may be held
// packed in a low-precision format (chapters 5 and 7 "going further": bf16 and Q8_0 inference).
// A packed weight is [N][K] (rows of the K inputs: the GGUF layout) or, fp32 always and bf16 for
// the block matrices, in panels of 16 outputs (matmul_panels.h); without one, the fp32 weight goes to the BLAS
// layer of matmul.h. No gradients: the packed path is forward-only.
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

enum class WeightFormat { F32, BF16, Q8_0 };

// A view of a packed weight matrix (owned elsewhere, e.g. model/inference_weights.h).
struct PackedLinear {
  WeightFormat format = WeightFormat::F32;
  int64_t N = 0, K = 0;        // output and input width
  const void* data = nullptr;  // N rows of K values (bf16_t, or K/32 BlockQ8_0), or panels
  bool panels = false;         // fp32 or bf16 values in panels of 16 outputs (matmul_panels.h)
};

// out[M, N] = in[M, K] · W + bias, the one linear layer of the block's forward pass: `packed`
// (inference weights, its shape must be N x K) when non-null; else W16 (a mixed-precision training
// run's bf16 copy of W, matmul_bf16.h) when non-null; else the fp32 Conv1D weight W[K, N]
// (matmul_forward, bit-exact with the fp32 fixtures).
void linear_forward(float* out, const float* in, const float* W, const PackedLinear* packed, const bf16_t* W16,
                    const float* bias, int64_t M, int64_t K, int64_t N);
// The same for a head stored [N, K] in fp32 (matmul_forward_wt): out[M, N] = in · Wtᵀ.
void linear_forward_wt(float* out, const float* in, const float* Wt, const PackedLinear* packed, int64_t M, int64_t K,
                       int64_t N);

}  // namespace slm
