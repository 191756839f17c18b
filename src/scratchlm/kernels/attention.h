// attention.h — fused causal multi-head self-attention (chapter 3: scaled dot-product attention,
// causal mask, dropout on the attention weights, multiple heads).
//
// Input qkv[B, T, 3C] holds, per token, the query, key and value projections side by side (the
// Hugging Face c_attn layout), head h using columns h*hd .. (h+1)*hd of each. For every query row
// the scores against keys 0..i are computed into a per-thread buffer of length T, softmaxed and
// applied to the values, so memory is O(T) per thread and the T x T attention matrix is never
// stored. Forward saves the row's log-sum-exp; backward recomputes the probabilities from it.
// Attention-weight dropout uses the counter-based masks of dropout.h (index ((b*H+h)*T+i)*T+j).
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

// out[B, T, C] (the heads concatenated, before out_proj), lse[B, H, T].
void attention_forward(float* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                       float dropout_p, uint64_t dropout_key);

// The same with out rounded to bf16 (c_proj's operand in a bf16 model's generation prefill; a bf16
// training pass uses attention_bf16.h's tiles): each output row summed in fp32 as
// attention_forward's, then rounded (tensor/bf16.h).
void attention_forward_bf16(bf16_t* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                            float dropout_p, uint64_t dropout_key);

// dqkv[B, T, 3C] = gradient of the loss w.r.t. qkv, given dout[B, T, C]; overwrites dqkv. Each
// row's D = sum_j p_ij dP_ij is dout . out when out is given (fp32 runs: bit-exact with the fixtures)
// and is summed from the recomputed probabilities when out is null (for an output kept only as its
// bf16 rounding, which would round D; a bf16 training run's backward is attention_bf16.h's).
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int64_t B,
                        int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key);

// One query position against cached keys/values (generation with a KV cache): q[C] (heads side
// by side), K/V caches [n, C] holding positions 0..n-1 (the current one included); out[C].
// scratch holds H * n floats.
void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int64_t n, int64_t C,
                      int64_t H, float* scratch);

}  // namespace slm
