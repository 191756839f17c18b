// block.h — the transformer block of chapter 4.5 and its two sub-layers, MultiHeadAttention
// (chapter 3.6) and FeedForward (chapter 4.3), each with forward and backward side by side.
//
//   x   -> LayerNorm1 -> MultiHeadAttention -> dropout -> (+ x)   = r
//   r   -> LayerNorm2 -> FeedForward        -> dropout -> (+ r)   = out
// Weights are pointers into the model's ParamStore (Hugging Face names h.N.*); a null gradient
// pointer means that parameter is frozen and its gradient is not computed.
#pragma once

#include <cstdint>

#include "scratchlm/kernels/linear_dispatch.h"
#include "scratchlm/model/lora.h"
#include "scratchlm/tensor/bf16.h"

namespace slm {

class ParamStore;
struct KVCache;

// Shapes and switches of one forward/backward pass.
struct PassInfo {
  int64_t B = 0, T = 0;
  float drop_p = 0.0f;  // 0 in eval mode
  uint64_t seed = 0, step = 0;
  // A cached pass (generation, the KV-cache bonus of chapter 4) is one row of all its tokens (B = 1,
  // T = their count), cut into n_caches sequences: the next lens[r] tokens continue the sequence of
  // caches[r] at position caches[r]->len. Each layer appends their keys and values to the caches
  // and attends over everything cached: prompts, prompt chunks and decode steps (one token) of
  // several sequences in one pass, as llama.cpp batches them. nullptr: a plain pass.
  KVCache* const* caches = nullptr;
  const int64_t* lens = nullptr;
  int64_t n_caches = 0;
  // The batch's first row in a larger batch whose dropout masks it takes (a data-parallel rank's
  // slice of the global batch, or a later micro-batch of the step: GPT::next_dropout_rows).
  uint64_t row0 = 0;
};

// The dropout key whose element i is element first + i of `key`'s (kernels/dropout.h's
// dropout_keep hashes key + i * 0x9E3779B97F4A7C15): the masks of rows from `first` on.
inline uint64_t dropout_key_from(uint64_t key, uint64_t first) { return key + first * 0x9E3779B97F4A7C15ULL; }

struct MultiHeadAttention {
  int layer = 0;
  int64_t C = 0, H = 0;
  const float *w_qkv = nullptr, *b_qkv = nullptr, *w_proj = nullptr, *b_proj = nullptr;
  float *g_w_qkv = nullptr, *g_b_qkv = nullptr, *g_w_proj = nullptr, *g_b_proj = nullptr;
  const bf16_t *w16_qkv = nullptr, *w16_proj = nullptr;  // bf16 copies (--precision bf16), else null
  LoraAdapter lora_qkv, lora_proj;                       // appendix E; off unless the model has adapters
  float* lora_du = nullptr;                              // scratch for the adapters' backward, [M, 3r]
  // Inference: the weights packed in bf16 / Q8_0 (model/inference_weights.h), used when non-null.
  const PackedLinear *packed_qkv = nullptr, *packed_proj = nullptr;
  // saved activations
  float *qkv = nullptr, *att = nullptr, *lse = nullptr;
  // bf16 activations (TransformerBlock::ln1_16): instead of att, the attention output only as
  // c_proj's bf16 operand; attention's backward then sums its rowsum(dO o O) from the probabilities.
  // In training also qkv16: c_attn's output in bf16, which is all attention reads; qkv is then one
  // fp32 buffer the blocks share, for a pass with KV caches (generation keeps fp32 keys and values).
  bf16_t *att16 = nullptr, *qkv16 = nullptr;

  // out[B,T,C] = out_proj(attention(qkv_proj(in))). The input is in (fp32) or, when the block
  // keeps bf16 activations (TransformerBlock::ln1_16), in16: the operand already rounded.
  void forward(const float* in, const bf16_t* in16, float* out, const PassInfo& p, uint64_t att_drop_key);
  // din (overwritten) from dout; scratch_qkv holds B*T*3C floats, scratch_att B*T*C.
  void backward(const float* dout, float* din, const float* in, const bf16_t* in16, float* scratch_qkv,
                float* scratch_att, const PassInfo& p, uint64_t att_drop_key);

 private:
  // att from qkv in a cached pass (p.caches): append the keys and values, attend over the caches.
  void attend_cached(const PassInfo& p);
};

struct FeedForward {
  int64_t C = 0;
  const float *w_fc = nullptr, *b_fc = nullptr, *w_proj = nullptr, *b_proj = nullptr;
  float *g_w_fc = nullptr, *g_b_fc = nullptr, *g_w_proj = nullptr, *g_b_proj = nullptr;
  const bf16_t *w16_fc = nullptr, *w16_proj = nullptr;  // bf16 copies (--precision bf16), else null
  LoraAdapter lora_fc, lora_proj;
  const PackedLinear *packed_fc = nullptr, *packed_proj = nullptr;  // as MultiHeadAttention's
  float* lora_du = nullptr;
  float *fc = nullptr, *act = nullptr;  // saved: pre-GELU and post-GELU, [B,T,4C]
  // bf16 activations (TransformerBlock::ln1_16): instead of fc, c_fc's output in bf16 (fc16, as
  // autocast's bf16 linear writes it: the GELU's input); instead of act, the GELU output's bf16
  // operand in a buffer the blocks share, formed again from fc16 when the backward pass needs it.
  bf16_t *fc16 = nullptr, *act16 = nullptr;

  // in / in16 as MultiHeadAttention's.
  void forward(const float* in, const bf16_t* in16, float* out, const PassInfo& p);
  // din (overwritten) from dout; scratch holds B*T*4C floats.
  void backward(const float* dout, float* din, const float* in, const bf16_t* in16, float* scratch, const PassInfo& p);
};

struct TransformerBlock {
  int layer = 0;
  int64_t C = 0;
  float eps = 1e-5f;
  const float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;
  float *g_ln1_w = nullptr, *g_ln1_b = nullptr, *g_ln2_w = nullptr, *g_ln2_b = nullptr;
  MultiHeadAttention attn;
  FeedForward ff;
  // saved activations
  float *ln1 = nullptr, *ln1_mean = nullptr, *ln1_rstd = nullptr, *resid2 = nullptr;
  float *ln2 = nullptr, *ln2_mean = nullptr, *ln2_rstd = nullptr;
  // bf16 activations (a mixed-precision model without adapters, GPT::layout_arena): instead of ln1
  // and ln2, the LayerNorm outputs as the bf16 operands of the matmuls that read them (nothing else
  // does: LayerNorm's backward reads its input and the saved mean and rstd), in a buffer the
  // blocks share. The backward pass forms each again from the saved input (x, resid2) by the same
  // kernel, bit for bit, instead of keeping it: an elementwise pass for 2 bytes per element.
  bf16_t *ln1_16 = nullptr, *ln2_16 = nullptr;

  // Point weights (and gradients, when enabled) at the store's h.<layer>.* parameters.
  void bind(ParamStore& store, int layer, int64_t C, int64_t H, bool qkv_bias, float eps, float lora_scale = 0.0f);
  bool any_trainable() const;

  void forward(const float* x, float* out, float* tmp, const PassInfo& p);
  // dresid: on entry d(loss)/d(out), on exit d(loss)/d(x) (in place). Scratch buffers: tmp
  // (B*T*C), big (B*T*4C), qkv (B*T*3C). need_dx false skips the gradient to x (lowest block).
  void backward(float* dresid, const float* x, float* tmp, float* big, float* qkv_scratch, const PassInfo& p,
                bool need_dx);

  uint64_t drop_key(const PassInfo& p, int site) const;
};

}  // namespace slm
