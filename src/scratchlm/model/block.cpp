// block.cpp — MultiHeadAttention, FeedForward and TransformerBlock forward/backward (see block.h).
#include "scratchlm/model/block.h"

#include <algorithm>
#include <string>
#include <vector>

#include "scratchlm/kernels/attention.h"
#include "scratchlm/kernels/attention_bf16.h"
#include "scratchlm/kernels/dropout.h"
#include "scratchlm/kernels/gelu.h"
#include "scratchlm/kernels/layernorm.h"
#include "scratchlm/kernels/linear_dispatch.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/model/params.h"

namespace slm {

namespace {

// A linear layer on an input saved in fp32 (in) or only as its bf16 operand (in16, bf16 weights).
void linear_forward_on(float* out, const float* in, const bf16_t* in16, const float* W, const PackedLinear* packed,
                       const bf16_t* W16, const float* bias, int64_t M, int64_t K, int64_t N) {
  if (in16)
    matmul_forward_bf16_in16(out, in16, W16, bias, M, K, N);
  else
    linear_forward(out, in, W, packed, W16, bias, M, K, N);
}
void linear_backward_on(float* din, float* dW, float* dbias, const float* dout, const float* in, const bf16_t* in16,
                        const float* W, const bf16_t* W16, int64_t M, int64_t K, int64_t N) {
  if (in16)
    matmul_backward_bf16_in16(din, dW, dbias, dout, in16, W16, M, K, N);
  else
    linear_backward(din, dW, dbias, dout, in, W, W16, M, K, N);
}

}  // namespace

// ------------------------------------------------------------------ MultiHeadAttention

void MultiHeadAttention::forward(const float* in, const bf16_t* in16, float* out, const PassInfo& p,
                                 uint64_t att_drop_key) {
  const int64_t M = p.B * p.T;
  if (qkv16 && !p.caches) {  // a bf16 training run (no adapters): c_attn's output in bf16
    matmul_forward_bf16_in16_out16(qkv16, in16, w16_qkv, b_qkv, M, C, 3 * C);
    attention_forward_tiled_bf16(att16, lse, qkv16, p.B, p.T, C, H, p.drop_p, att_drop_key);
    linear_forward_on(out, att, att16, w_proj, packed_proj, w16_proj, b_proj, M, C, C);
    return;
  }
  linear_forward_on(qkv, in, in16, w_qkv, packed_qkv, w16_qkv, b_qkv, M, C, 3 * C);
  if (lora_qkv.on()) lora_qkv.forward(in, qkv, M);
  if (p.caches)
    attend_cached(p);
  else if (att16)
    attention_forward_tiled_bf16(att16, lse, qkv, p.B, p.T, C, H, p.drop_p, att_drop_key);
  else
    attention_forward(att, lse, qkv, p.B, p.T, C, H, p.drop_p, att_drop_key);
  linear_forward_on(out, att, att16, w_proj, packed_proj, w16_proj, b_proj, M, C, C);
  if (lora_proj.on()) lora_proj.forward(att, out, M);
}

void MultiHeadAttention::attend_cached(const PassInfo& p) {
  std::vector<float> row(att16 ? static_cast<size_t>(C) : 0);  // bf16 activations: a row in fp32, then rounded
  int64_t off = 0;                                             // the sequence's first row in the pass
  for (int64_t r = 0; r < p.n_caches; off += p.lens[r++]) {
    KVCache& c = *p.caches[r];
    const int64_t n = p.lens[r];
    const float* rows = qkv + off * 3 * C;
    for (int64_t t = 0; t < n; ++t) {
      std::copy_n(rows + t * 3 * C + C, C, c.k_at(layer, c.len + t));
      std::copy_n(rows + t * 3 * C + 2 * C, C, c.v_at(layer, c.len + t));
    }
    // A prompt that starts its sequence is the plain causal pass (the cache only keeps its keys).
    if (c.len == 0) {
      if (att16)
        attention_forward_bf16(att16 + off * C, lse + off * H, rows, 1, n, C, H, 0.0f, 0);
      else
        attention_forward(att + off * C, lse + off * H, rows, 1, n, C, H, 0.0f, 0);
      continue;
    }
    for (int64_t t = 0; t < n; ++t) {
      float* o = att16 ? row.data() : att + (off + t) * C;
      attention_decode(o, rows + t * 3 * C, c.k_at(layer, 0), c.v_at(layer, 0), c.len + t + 1, C, H, c.scores.data());
      if (att16) f32_to_bf16_row(o, att16 + (off + t) * C, static_cast<size_t>(C));
    }
  }
}

void MultiHeadAttention::backward(const float* dout, float* din, const float* in, const bf16_t* in16,
                                  float* scratch_qkv, float* scratch_att, const PassInfo& p, uint64_t att_drop_key) {
  const int64_t M = p.B * p.T;
  linear_backward_on(scratch_att, g_w_proj, g_b_proj, dout, att, att16, w_proj, w16_proj, M, C, C);
  if (lora_proj.on()) lora_proj.backward(dout, scratch_att, att, lora_du, M);
  if (qkv16)
    attention_backward_tiled_bf16(scratch_qkv, scratch_att, qkv16, lse, p.B, p.T, C, H, p.drop_p, att_drop_key);
  else if (att16)
    attention_backward_tiled_bf16(scratch_qkv, scratch_att, qkv, lse, p.B, p.T, C, H, p.drop_p, att_drop_key);
  else
    attention_backward(scratch_qkv, scratch_att, qkv, att, lse, p.B, p.T, C, H, p.drop_p, att_drop_key);
  linear_backward_on(din, g_w_qkv, g_b_qkv, scratch_qkv, in, in16, w_qkv, w16_qkv, M, C, 3 * C);
  if (lora_qkv.on()) lora_qkv.backward(scratch_qkv, din, in, lora_du, M);
}

// ------------------------------------------------------------------ FeedForward

void FeedForward::forward(const float* in, const bf16_t* in16, float* out, const PassInfo& p) {
  const int64_t M = p.B * p.T;
  if (fc16) {  // bf16 activations (no adapters): c_fc's output, GELU's input, in bf16
    matmul_forward_bf16_in16_out16(fc16, in16, w16_fc, b_fc, M, C, 4 * C);
    gelu_forward_bf16(act16, fc16, M * 4 * C);
  } else {
    linear_forward_on(fc, in, in16, w_fc, packed_fc, w16_fc, b_fc, M, C, 4 * C);
    if (lora_fc.on()) lora_fc.forward(in, fc, M);
    gelu_forward(act, fc, M * 4 * C);
  }
  linear_forward_on(out, act, act16, w_proj, packed_proj, w16_proj, b_proj, M, 4 * C, C);
  if (lora_proj.on()) lora_proj.forward(act, out, M);
}

void FeedForward::backward(const float* dout, float* din, const float* in, const bf16_t* in16, float* scratch,
                           const PassInfo& p) {
  const int64_t M = p.B * p.T;
  if (fc16) {
    // bf16 activations: c_proj's input gradient first; then one pass (gelu_backward_bf16) forms the
    // GELU output's operand again for c_proj's weight gradient, the GELU's gradient as c_fc's bf16
    // operand (in scratch, rows 8C bf16 values apart) and c_fc's bias gradient.
    matmul_backward_bf16_in16(scratch, nullptr, g_b_proj, dout, act16, w16_proj, M, 4 * C, C);
    gelu_backward_bf16(g_w_proj ? act16 : nullptr, scratch, g_b_fc, fc16, M, 4 * C);
    if (g_w_proj) matmul_backward_bf16_in16(nullptr, g_w_proj, nullptr, dout, act16, w16_proj, M, 4 * C, C);
    matmul_backward_bf16_rounded(din, g_w_fc, reinterpret_cast<const bf16_t*>(scratch), 8 * C, in16, w16_fc, M, C,
                                 4 * C);
    return;
  }
  linear_backward_on(scratch, g_w_proj, g_b_proj, dout, act, act16, w_proj, w16_proj, M, 4 * C, C);
  if (lora_proj.on()) lora_proj.backward(dout, scratch, act, lora_du, M);
  gelu_backward(scratch, fc, scratch, M * 4 * C);
  linear_backward_on(din, g_w_fc, g_b_fc, scratch, in, in16, w_fc, w16_fc, M, C, 4 * C);
  if (lora_fc.on()) lora_fc.backward(scratch, din, in, lora_du, M);
}

// ------------------------------------------------------------------ TransformerBlock

void TransformerBlock::bind(ParamStore& s, int l, int64_t c, int64_t h, bool qkv_bias, float e, float lora_scale) {
  layer = l;
  C = c;
  eps = e;
  const std::string pre = "h." + std::to_string(l) + ".";
  auto w = [&](const char* n) { return s.data(pre + n); };
  auto g = [&](const char* n) { return s.grad(pre + n); };
  ln1_w = w("ln_1.weight");
  ln1_b = w("ln_1.bias");
  ln2_w = w("ln_2.weight");
  ln2_b = w("ln_2.bias");
  g_ln1_w = g("ln_1.weight");
  g_ln1_b = g("ln_1.bias");
  g_ln2_w = g("ln_2.weight");
  g_ln2_b = g("ln_2.bias");
  attn.layer = l;
  attn.C = c;
  attn.H = h;
  attn.w_qkv = w("attn.c_attn.weight");
  attn.b_qkv = qkv_bias ? w("attn.c_attn.bias") : nullptr;
  attn.w_proj = w("attn.c_proj.weight");
  attn.b_proj = w("attn.c_proj.bias");
  attn.g_w_qkv = g("attn.c_attn.weight");
  attn.g_b_qkv = qkv_bias ? g("attn.c_attn.bias") : nullptr;
  attn.g_w_proj = g("attn.c_proj.weight");
  attn.g_b_proj = g("attn.c_proj.bias");
  ff.C = c;
  ff.w_fc = w("mlp.c_fc.weight");
  ff.b_fc = w("mlp.c_fc.bias");
  ff.w_proj = w("mlp.c_proj.weight");
  ff.b_proj = w("mlp.c_proj.bias");
  ff.g_w_fc = g("mlp.c_fc.weight");
  ff.g_b_fc = g("mlp.c_fc.bias");
  ff.g_w_proj = g("mlp.c_proj.weight");
  ff.g_b_proj = g("mlp.c_proj.bias");
  attn.lora_qkv.bind(s, pre + "attn.c_attn", c, 3 * c, 3, lora_scale);
  attn.lora_proj.bind(s, pre + "attn.c_proj", c, c, 1, lora_scale);
  ff.lora_fc.bind(s, pre + "mlp.c_fc", c, 4 * c, 1, lora_scale);
  ff.lora_proj.bind(s, pre + "mlp.c_proj", 4 * c, c, 1, lora_scale);
}

bool TransformerBlock::any_trainable() const {
  return g_ln1_w || g_ln1_b || g_ln2_w || g_ln2_b || attn.g_w_qkv || attn.g_b_qkv || attn.g_w_proj || attn.g_b_proj ||
         ff.g_w_fc || ff.g_b_fc || ff.g_w_proj || ff.g_b_proj || attn.lora_qkv.trainable() ||
         attn.lora_proj.trainable() || ff.lora_fc.trainable() || ff.lora_proj.trainable();
}

uint64_t TransformerBlock::drop_key(const PassInfo& p, int site) const {
  const uint64_t key = dropout_key(p.seed, p.step, static_cast<uint64_t>(layer) + 1, static_cast<uint64_t>(site));
  if (p.row0 == 0) return key;
  // A row holds H*T*T attention weights (site 0) or T*C activations (the residual branches).
  const uint64_t per_row = static_cast<uint64_t>(site == 0 ? attn.H * p.T * p.T : p.T * C);
  return dropout_key_from(key, p.row0 * per_row);
}

void TransformerBlock::forward(const float* x, float* out, float* tmp, const PassInfo& p) {
  const int64_t M = p.B * p.T, n = M * C;
  if (ln1_16)
    layernorm_forward_bf16(ln1_16, ln1_mean, ln1_rstd, x, ln1_w, ln1_b, M, C, eps);
  else
    layernorm_forward(ln1, ln1_mean, ln1_rstd, x, ln1_w, ln1_b, M, C, eps);
  attn.forward(ln1, ln1_16, tmp, p, drop_key(p, 0));
  residual_forward(resid2, x, tmp, n, p.drop_p, drop_key(p, 1));
  if (ln2_16)
    layernorm_forward_bf16(ln2_16, ln2_mean, ln2_rstd, resid2, ln2_w, ln2_b, M, C, eps);
  else
    layernorm_forward(ln2, ln2_mean, ln2_rstd, resid2, ln2_w, ln2_b, M, C, eps);
  ff.forward(ln2, ln2_16, tmp, p);
  residual_forward(out, resid2, tmp, n, p.drop_p, drop_key(p, 2));
}

void TransformerBlock::backward(float* dresid, const float* x, float* tmp, float* big, float* qkv_scratch,
                                const PassInfo& p, bool need_dx) {
  const int64_t M = p.B * p.T, n = M * C;
  // out = resid2 + drop(ff(ln2(resid2))): dresid is d(out); it also flows straight to resid2.
  residual_backward_branch(tmp, dresid, n, p.drop_p, drop_key(p, 2));
  if (ln2_16 && ff.g_w_fc)  // the operand of c_fc's dW again (not kept; mean and rstd are)
    layernorm_apply_bf16(ln2_16, resid2, ln2_mean, ln2_rstd, ln2_w, ln2_b, M, C);
  ff.backward(tmp, tmp, ln2, ln2_16, big, p);  // tmp: d(ff out) -> d(ln2 out)
  (ln2_16 ? layernorm_backward_bf16 : layernorm_backward)(dresid, g_ln2_w, g_ln2_b, tmp, resid2, ln2_w, ln2_mean,
                                                          ln2_rstd, M, C, true);
  // resid2 = x + drop(attn(ln1(x))): dresid is now d(resid2).
  residual_backward_branch(tmp, dresid, n, p.drop_p, drop_key(p, 1));
  if (ln1_16 && attn.g_w_qkv) layernorm_apply_bf16(ln1_16, x, ln1_mean, ln1_rstd, ln1_w, ln1_b, M, C);
  attn.backward(tmp, tmp, ln1, ln1_16, qkv_scratch, big, p, drop_key(p, 0));  // tmp -> d(ln1 out)
  if (need_dx || g_ln1_w || g_ln1_b)
    (ln1_16 ? layernorm_backward_bf16 : layernorm_backward)(need_dx ? dresid : nullptr, g_ln1_w, g_ln1_b, tmp, x, ln1_w,
                                                            ln1_mean, ln1_rstd, M, C, true);
}

}  // namespace slm
