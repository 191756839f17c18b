// layernorm.h — LayerNorm (chapter 4.2): y = (x - mean) / sqrt(var + eps) * weight + bias, with
// the biased variance, over the last dimension C. Forward saves mean and rstd per row for backward.
#pragma once

#include <cstdint>

namespace slm {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t rows, int64_t C, float eps);

// dinp (+)= ..., dweight += ..., dbias += ... (dweight/dbias skipped when null; dinp skipped when
// null; accumulate_dinp adds into dinp instead of overwriting it).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t rows, int64_t C,
                        bool accumulate_dinp);

}  // namespace slm
