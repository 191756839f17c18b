// attention_bf16.h — causal self-attention for a mixed-precision training run (chapter 3's
// attention; issue 15's bf16 mode): the same contract as attention.h's attention_forward_bf16 /
// attention_backward, computed as tiles per (sequence, head) instead of one query row at a time.
//
// Per (b, h), on the thread that owns it: S = Q K^T for all queries against all keys (only the
// causal tiles), softmax in fp32 (scale, causal mask, log-sum-exp saved), the attention-weight
// dropout of dropout.h at the same indices as attention.h ((b*H+h)*T+i)*T+j, then O = P V. The
// GEMM operands Q, K, V, P (and in backward dO, dS) are rounded to bf16 and their products summed
// in fp32 (kernels/bf16_tile_gemm.h: AVX512_BF16 or the portable fallback, as bf16_path() says),
// as torch.autocast does for its matmuls; softmax, the log-sum-exp and D are fp32.
// Backward recomputes P from the saved log-sum-exp: dP = dO V^T, D_i = sum_j P_ij dP_ij (dropout
// included), dS = P o (dP - D), dV = P^T dO, dQ = dS K, dK = dS^T Q.
//
// Memory: each thread keeps a grow-only scratch of O(T^2) for the (b, h) it works on (the scores,
// and in backward dP and four bf16 T x T tiles: about 1.4 MiB per thread at T = 256), outside the
// activation arena; nothing of size T^2 is saved between forward and backward.
#pragma once

#include <cstdint>

#include "scratchlm/tensor/bf16.h"

namespace slm {

// out[B, T, C] in bf16 (c_proj's operand), lse[B, H, T]; qkv[B, T, 3C] as attention.h.
void attention_forward_tiled_bf16(bf16_t* out, float* lse, const float* qkv, int64_t B, int64_t T, int64_t C, int64_t H,
                                  float dropout_p, uint64_t dropout_key);

// dqkv[B, T, 3C] (overwritten) from dout[B, T, C], the forward's qkv and lse.
void attention_backward_tiled_bf16(float* dqkv, const float* dout, const float* qkv, const float* lse, int64_t B,
                                   int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key);

// The same two on qkv16, c_attn's output in bf16 (a training run's arena keeps it so: the GEMMs
// here read Q, K and V rounded to bf16 anyway). On qkv16 = qkv rounded they give the same bits.
void attention_forward_tiled_bf16(bf16_t* out, float* lse, const bf16_t* qkv16, int64_t B, int64_t T, int64_t C,
                                  int64_t H, float dropout_p, uint64_t dropout_key);
void attention_backward_tiled_bf16(float* dqkv, const float* dout, const bf16_t* qkv16, const float* lse, int64_t B,
                                   int64_t T, int64_t C, int64_t H, float dropout_p, uint64_t dropout_key);

}  // namespace slm
