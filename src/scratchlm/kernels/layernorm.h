// layernorm.h — LayerNorm (chapter 4.2): y = (x - mean) / sqrt(var + eps) * weight + bias, with
// the biased variance, over the last dimension C. Forward saves mean and rstd per row for backward.
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t rows, int64_t C, float eps);

// The same with the output rounded to bf16 (the bf16 operand of the matmul that reads it, in a
// mixed-precision run). The row's mean and variance are the same double sums added in vector lanes
// (4x faster than one running sum): they round to layernorm_forward's floats or one ulp off, and
// where they agree the output is exactly f32_to_bf16 of layernorm_forward's.
void layernorm_forward_bf16(bf16_t* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, int64_t rows, int64_t C, float eps);

// layernorm_forward_bf16's output again from the mean and rstd that forward saved, without summing
// the rows again: bit for bit the same values (the backward pass of a bf16 run re-forms the
// operand of a weight gradient this way instead of keeping it).
void layernorm_apply_bf16(bf16_t* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                          const float* bias, int64_t rows, int64_t C);

// dinp (+)= ..., dweight += ..., dbias += ... (dweight/dbias skipped when null; dinp skipped when
// null; accumulate_dinp adds into dinp instead of overwriting it).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t rows, int64_t C,
                        bool accumulate_dinp);
// The same for a bf16 run: each row's two sums over C in vector lanes instead of one running float
// each (the order of the float additions differs; everything else is layernorm_backward's).
void layernorm_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const float* mean, const float* rstd, int64_t rows, int64_t C,
                             bool accumulate_dinp);

}  // namespace slm
