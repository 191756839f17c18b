// gelu.h — GELU with the tanh approximation (chapter 4.3), as GPT-2 and the book use:
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

void gelu_forward(float* out, const float* inp, int64_t n);
// A mixed-precision run's GELU: the input is c_fc's bf16 output (as autocast's bf16 linear gives
// it), the GELU computed in fp32 and rounded to bf16 (the operand of the next matmul).
void gelu_forward_bf16(bf16_t* out, const bf16_t* inp, int64_t n);
// dinp = dout * gelu'(inp)  (dinp may alias dout)
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);

// The feed-forward backward of a mixed-precision run in one pass over its M x N pre-activations x
// (bf16) and the gradient g of the GELU output (fp32), rows N apart, sharing each tanh:
//   act16 (unless null) = gelu_forward_bf16(x): the operand of c_proj's weight gradient again
//   g's row r, first half = gelu_backward's values rounded to bf16 (rows 2N bf16 values apart:
//                           the next matmul's operand; the fp32 values are gone)
//   dbias (unless null)  += the column sums of the fp32 values (per-thread partial sums added in
//                           thread order: the same bits for the same thread count)
void gelu_backward_bf16(bf16_t* act16, float* g, float* dbias, const bf16_t* x, int64_t M, int64_t N);

}  // namespace slm
