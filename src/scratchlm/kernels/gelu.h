// gelu.h — GELU with the tanh approximation (chapter 4.3), as GPT-2 and the book use:
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

void gelu_forward(float* out, const float* inp, int64_t n);
// The same rounded to bf16 (the operand of the next matmul in a mixed-precision run).
void gelu_forward_bf16(bf16_t* out, const float* inp, int64_t n);
// dinp = dout * gelu'(inp)  (dinp may alias dout)
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);

}  // namespace slm
