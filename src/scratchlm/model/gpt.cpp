// gpt.cpp — GPTModel forward and backward over the activation arena (see gpt.h).
#include "scratchlm/model/gpt.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/kernels/dropout.h"
#include "scratchlm/kernels/embedding.h"
#include "scratchlm/kernels/layernorm.h"
#include "scratchlm/kernels/linear_dispatch.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/model/inference_weights.h"
#include "scratchlm/util/checked.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {
// The embedding dropout's key: rows of T*C activations, from the pass's first row on.
uint64_t embedding_drop_key(const PassInfo& p, int64_t C) {
  return dropout_key_from(dropout_key(p.seed, p.step, 0, 0), p.row0 * static_cast<uint64_t>(p.T * C));
}
}  // namespace

ParamShapes gpt_param_shapes(const GPTConfig& c) {
  const int64_t C = c.emb_dim, V = c.vocab_size;
  ParamShapes out = {{"wte.weight", {V, C}}, {"wpe.weight", {c.context_length, C}}};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    out.push_back({p + "ln_1.weight", {C}});
    out.push_back({p + "ln_1.bias", {C}});
    out.push_back({p + "attn.c_attn.weight", {C, 3 * C}});
    if (c.qkv_bias) out.push_back({p + "attn.c_attn.bias", {3 * C}});
    out.push_back({p + "attn.c_proj.weight", {C, C}});
    out.push_back({p + "attn.c_proj.bias", {C}});
    out.push_back({p + "ln_2.weight", {C}});
    out.push_back({p + "ln_2.bias", {C}});
    out.push_back({p + "mlp.c_fc.weight", {C, 4 * C}});
    out.push_back({p + "mlp.c_fc.bias", {4 * C}});
    out.push_back({p + "mlp.c_proj.weight", {4 * C, C}});
    out.push_back({p + "mlp.c_proj.bias", {C}});
  }
  out.push_back({"ln_f.weight", {C}});
  out.push_back({"ln_f.bias", {C}});
  if (c.is_classifier())
    out.push_back({"score.weight", {c.num_labels, C}});
  else if (!c.tie_word_embeddings)
    out.push_back({"lm_head.weight", {V, C}});
  for (auto& named : lora_param_shapes(c)) out.push_back(std::move(named));  // appendix E
  return out;
}

GPT::GPT(const GPTConfig& config) : cfg_(config) {
  cfg_.validate();
  for (auto& [name, shape] : gpt_param_shapes(cfg_)) store_.add(name, std::move(shape));
  store_.finalize();
  if (cfg_.lora.enabled())  // a model with adapters trains only the adapters
    for (auto& p : store_.params()) p.trainable = p.name.find(".lora_") != std::string::npos;
  // Sensible defaults before any init: LayerNorm scale 1.
  for (auto& p : store_.params())
    if (p.name.find("ln_") != std::string::npos && p.name.ends_with(".weight"))
      std::fill_n(store_.data(p.name), p.numel, 1.0f);
  bind();
}

GPT::~GPT() = default;

void GPT::bind() {
  blocks_.resize(static_cast<size_t>(cfg_.n_layers));
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    TransformerBlock& blk = blocks_[l];
    blk.bind(store_, static_cast<int>(l), cfg_.emb_dim, cfg_.n_heads, cfg_.qkv_bias, cfg_.layer_norm_epsilon,
             cfg_.lora.scale());
    auto packed = [&](const char* n) { return packed_ ? packed_->find("h." + std::to_string(l) + "." + n) : nullptr; };
    blk.attn.packed_qkv = packed("attn.c_attn.weight");
    blk.attn.packed_proj = packed("attn.c_proj.weight");
    blk.ff.packed_fc = packed("mlp.c_fc.weight");
    blk.ff.packed_proj = packed("mlp.c_proj.weight");
  }
  packed_head_ = packed_ ? packed_->find(kPackedHead) : nullptr;
  score_lora_.bind(store_, "score", cfg_.emb_dim, cfg_.num_labels, 1, cfg_.lora.scale());
  lora_vec_.assign(static_cast<size_t>(3 * cfg_.lora.rank), 0.0f);
  wte_ = store_.data("wte.weight");
  wpe_ = store_.data("wpe.weight");
  lnf_w_ = store_.data("ln_f.weight");
  lnf_b_ = store_.data("ln_f.bias");
  const char* head = cfg_.is_classifier() ? "score.weight" : "lm_head.weight";
  const bool tied = cfg_.tie_word_embeddings && !cfg_.is_classifier();
  head_w_ = tied ? wte_ : store_.data(head);
  g_wte_ = store_.grad("wte.weight");
  g_wpe_ = store_.grad("wpe.weight");
  g_lnf_w_ = store_.grad("ln_f.weight");
  g_lnf_b_ = store_.grad("ln_f.bias");
  g_head_ = tied ? g_wte_ : store_.grad(head);
  if (bf16_) {
    for (int64_t l = 0; l < cfg_.n_layers; ++l) {
      TransformerBlock& b = blocks_[l];
      const std::string pre = "h." + std::to_string(l) + ".";
      b.attn.w16_qkv = bf16_->get(pre + "attn.c_attn.weight");
      b.attn.w16_proj = bf16_->get(pre + "attn.c_proj.weight");
      b.ff.w16_fc = bf16_->get(pre + "mlp.c_fc.weight");
      b.ff.w16_proj = bf16_->get(pre + "mlp.c_proj.weight");
    }
  }
}

void GPT::set_drop_rate(float p) {
  GPTConfig c = cfg_;
  c.drop_rate = p;
  c.validate();
  cfg_ = c;
}

void GPT::set_classifier_input(int64_t max_length, ClassifierToken token, Truncation truncate) {
  GPTConfig c = cfg_;
  c.classifier_max_length = max_length;
  c.classifier_token = token;
  c.classifier_truncate = truncate;
  c.validate();
  cfg_ = c;
}

void GPT::enable_grads() {
  if (fp32_released_) fail("this model's fp32 weights were released for inference; load it again to train it");
  packed_.reset();
  store_.enable_grads();
  bind();
  B_ = T_ = 0;  // training needs the full arena
}

namespace {

// The head's logits, 32 MiB of them at a time (kernels/cross_entropy.h): fp32, or bf16 where the
// head multiplies in bf16, then in chunks of equal size (fp32 keeps the chunks its recorded
// sums were made with).
int64_t logit_chunk_rows(int64_t M, int64_t V, bool bf16) {
  const int64_t most = std::clamp<int64_t>((int64_t{32} << 20) / ((bf16 ? 2 : 4) * V), 1, std::max<int64_t>(M, 1));
  if (!bf16) return most;
  const int64_t chunks = (M + most - 1) / most;
  return std::max<int64_t>((M + chunks - 1) / chunks, 1);
}
// The floats of arena those rows take.
int64_t logit_chunk_floats(int64_t rows, int64_t V, bool bf16) { return bf16 ? (rows * V + 1) / 2 : rows * V; }

}  // namespace

size_t GPT::activation_bytes_for(const GPTConfig& c, int64_t B, int64_t T, bool training, Precision precision) {
  // The same count as layout_arena, in checked arithmetic: B and T come from the command line.
  const std::string what = fmt::format("the activation memory for batch {}, sequence {}", B, T);
  auto mul = [&](int64_t a, int64_t b) { return checked_mul(a, b, what); };
  auto add = [&](int64_t a, int64_t b) { return checked_add(a, b, what); };
  const int64_t M = mul(B, T), C = c.emb_dim, L = c.n_layers, H = c.n_heads, V = c.vocab_size;
  const int64_t MC = mul(M, C);
  const int64_t stored = training ? L : 1;
  // bf16 activations (bf16_activations()): ln_1, ln_2 and the GELU output not kept (their bf16
  // operands in the backward scratch, or in two buffers of M x C and M x 4C bf16 values without
  // it), the attention output and the GELU's input kept in bf16 (MC / 2 and 2 MC floats), and in
  // training c_attn's output too (3 MC bf16 values).
  const bool act16 = precision == Precision::Bf16 && !c.lora.enabled();
  const int64_t qkv = act16 && training ? (mul(MC, 3) + 1) / 2 : mul(MC, 3);
  const int64_t per_block = add(add(act16 ? add(mul(MC, 5 + 8 - 7 - 4 + 2), (MC + 1) / 2) : mul(MC, 5 + 8), qkv),
                                add(mul(M, 4), mul(mul(B, H), T)));
  const bool head16 = precision == Precision::Bf16 && !c.is_classifier();
  const int64_t chunk = logit_chunk_floats(logit_chunk_rows(M, V, head16), V, head16);
  int64_t n = add(add(mul(training ? L + 1 : 2, MC), mul(stored, per_block)), add(add(MC, mul(2, M)), add(MC, chunk)));
  if (act16 && training) n = add(n, mul(MC, 3));  // the fp32 qkv of a cached pass, shared
  if (training) n = add(n, mul(MC, 4 + 3 + 2));
  if (act16 && !training) n = add(n, add((MC + 1) / 2, (mul(MC, 4) + 1) / 2));
  return static_cast<size_t>(mul(n, sizeof(float)));
}

int64_t GPT::lowest_trainable_block() const {
  if (!store_.grads_enabled()) return cfg_.n_layers;
  if (g_wte_ || g_wpe_) return -1;
  for (int64_t l = 0; l < cfg_.n_layers; ++l)
    if (blocks_[l].any_trainable()) return l;
  return cfg_.n_layers;
}

// Lays the activations out from `base` (nullptr: only counts) and returns the floats needed.
// Training keeps the saved activations of every block the backward pass reaches; the frozen
// blocks below it (a finetuning run) share one set of buffers, as inference does.
int64_t GPT::layout_arena(float* base, int64_t B, int64_t T) {
  const bool training = store_.grads_enabled();
  const int64_t M = B * T, C = cfg_.emb_dim, L = cfg_.n_layers, H = cfg_.n_heads, V = cfg_.vocab_size;
  const int64_t first_saved = training ? std::max<int64_t>(lowest_trainable_block(), 0) : L;
  const bool act16 = bf16_activations();
  int64_t n = 0;
  auto take = [&](int64_t k) {
    float* r = base ? base + n : nullptr;
    n += k;
    return r;
  };
  auto take16 = [&](int64_t k) { return reinterpret_cast<bf16_t*>(take((k + 1) / 2)); };
  acts_.x.assign(static_cast<size_t>(L + 1), nullptr);
  float* a = nullptr;
  float* b = nullptr;
  if (first_saved > 0) {
    a = take(M * C);
    b = take(M * C);
  }
  for (int64_t l = 0; l <= L; ++l)
    acts_.x[l] = l > first_saved || (l == first_saved && training) ? take(M * C) : (l % 2) ? b : a;
  TransformerBlock shared;
  // A bf16 training run keeps c_attn's output in bf16 (qkv16); one fp32 qkv serves every block in a
  // pass with KV caches (the samples a run generates as it trains), which reads it within its layer.
  float* const qkv_cached = act16 && training ? take(M * 3 * C) : nullptr;
  auto take_block = [&](TransformerBlock& blk) {
    blk.ln1 = act16 ? nullptr : take(M * C);
    blk.ln1_mean = take(M);
    blk.ln1_rstd = take(M);
    blk.attn.qkv = act16 && training ? qkv_cached : take(M * 3 * C);
    blk.attn.qkv16 = act16 && training ? take16(M * 3 * C) : nullptr;
    blk.attn.att = act16 ? nullptr : take(M * C);
    blk.attn.att16 = act16 ? take16(M * C) : nullptr;
    blk.attn.lse = take(B * H * T);
    blk.resid2 = take(M * C);
    blk.ln2 = act16 ? nullptr : take(M * C);
    blk.ln2_mean = take(M);
    blk.ln2_rstd = take(M);
    blk.ff.fc = act16 ? nullptr : take(M * 4 * C);
    blk.ff.fc16 = act16 ? take16(M * 4 * C) : nullptr;
    blk.ff.act = act16 ? nullptr : take(M * 4 * C);
    for (LoraAdapter* a : {&blk.attn.lora_qkv, &blk.attn.lora_proj, &blk.ff.lora_fc, &blk.ff.lora_proj})
      a->u = a->on() ? take(M * a->groups * a->r) : nullptr;
  };
  if (first_saved > 0) {
    if (!blocks_.empty()) {
      shared.attn.lora_qkv = blocks_[0].attn.lora_qkv;
      shared.attn.lora_proj = blocks_[0].attn.lora_proj;
      shared.ff.lora_fc = blocks_[0].ff.lora_fc;
      shared.ff.lora_proj = blocks_[0].ff.lora_proj;
    }
    take_block(shared);
  }
  for (int64_t l = 0; l < L; ++l) {
    TransformerBlock& blk = blocks_[l];
    if (l >= first_saved) {
      take_block(blk);
    } else {  // not reached by backward: every such block reuses one set of buffers
      blk.ln1 = shared.ln1;
      blk.ln1_mean = shared.ln1_mean;
      blk.ln1_rstd = shared.ln1_rstd;
      blk.attn.qkv = shared.attn.qkv;
      blk.attn.qkv16 = shared.attn.qkv16;
      blk.attn.att = shared.attn.att;
      blk.attn.att16 = shared.attn.att16;
      blk.attn.lse = shared.attn.lse;
      blk.resid2 = shared.resid2;
      blk.ln2 = shared.ln2;
      blk.ln2_mean = shared.ln2_mean;
      blk.ln2_rstd = shared.ln2_rstd;
      blk.ff.fc = shared.ff.fc;
      blk.ff.fc16 = shared.ff.fc16;
      blk.ff.act = shared.ff.act;
      blk.attn.lora_qkv.u = shared.attn.lora_qkv.u;
      blk.attn.lora_proj.u = shared.attn.lora_proj.u;
      blk.ff.lora_fc.u = shared.ff.lora_fc.u;
      blk.ff.lora_proj.u = shared.ff.lora_proj.u;
    }
  }
  float* lora_du = cfg_.lora.enabled() && training ? take(M * 3 * cfg_.lora.rank) : nullptr;
  for (auto& blk : blocks_) blk.attn.lora_du = blk.ff.lora_du = lora_du;
  acts_.lnf = take(M * C);
  acts_.lnf_mean = take(M);
  acts_.lnf_rstd = take(M);
  acts_.tmp = take(M * C);
  const bool head16 = bf16_ && !cfg_.is_classifier();
  chunk_rows_ = logit_chunk_rows(M, V, head16);
  // (a classifier has no vocabulary head)
  acts_.logits_chunk = take(cfg_.is_classifier() ? 0 : logit_chunk_floats(chunk_rows_, V, head16));
  if (training) {
    acts_.big = take(M * 4 * C);
    acts_.qkv_scratch = take(M * 3 * C);
    acts_.dresid = take(M * C);
    acts_.dlnf = take(M * C);
  } else {
    acts_.big = acts_.qkv_scratch = acts_.dresid = acts_.dlnf = nullptr;
  }
  // bf16 activations: the LayerNorm and GELU outputs' bf16 operands, shared by every block (the
  // backward pass forms them again: TransformerBlock::ln1_16). Training puts them in the backward
  // scratch, free whenever they are live: ln1_16 in big after its first M x C floats (attention's
  // backward holds d(att) there when c_attn's backward reads ln1_16; the feed-forward backward,
  // which fills big, does not read it), act16 and ln2_16 side by side in qkv_scratch (which only the
  // attention backward fills).
  bf16_t *ln1_16 = nullptr, *ln2_16 = nullptr, *gelu16 = nullptr;
  if (act16 && training) {
    ln1_16 = base ? reinterpret_cast<bf16_t*>(acts_.big + M * C) : nullptr;
    gelu16 = base ? reinterpret_cast<bf16_t*>(acts_.qkv_scratch) : nullptr;  // M x 4C values: 2MC floats
    ln2_16 = base ? reinterpret_cast<bf16_t*>(acts_.qkv_scratch + 2 * M * C) : nullptr;
  } else if (act16) {
    ln1_16 = ln2_16 = take16(M * C);
    gelu16 = take16(M * 4 * C);
  }
  for (auto& blk : blocks_) {
    blk.ln1_16 = ln1_16;
    blk.ln2_16 = ln2_16;
    blk.ff.act16 = gelu16;
  }
  return n;
}

void GPT::ensure_arena(int64_t B, int64_t T) {
  if (B == B_ && T == T_) return;
  // Finetuning batches change shape every step (padded to their longest row): the arena only grows,
  // and a smaller shape is laid out inside it, without allocating or touching fresh pages.
  const int64_t need = layout_arena(nullptr, B, T);
  if (need > static_cast<int64_t>(arena_.numel())) arena_ = Tensor({need});
  layout_arena(arena_.data(), B, T);
  B_ = B;
  T_ = T;
}

void GPT::check_inputs(const int32_t* tokens, int64_t n) const {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
      fail("token id {} at position {} is out of range for a vocabulary of {}", tokens[i], i, cfg_.vocab_size);
}

void GPT::require_lm(const char* what) const {
  if (cfg_.is_classifier())
    fail("{} needs a language model, but this model is a classifier ({} labels, no language-model head)", what,
         cfg_.num_labels);
}

PassInfo GPT::pass_info(int64_t B, int64_t T) const {
  PassInfo p;
  p.B = B;
  p.T = T;
  p.drop_p = training_ ? cfg_.drop_rate : 0.0f;
  p.seed = drop_seed_;
  p.step = drop_step_;
  p.row0 = drop_row0_;
  return p;
}

void GPT::forward_hidden(const int32_t* tokens, int64_t B, int64_t T, KVCache* const* caches, const int64_t* lens) {
  const int64_t C = cfg_.emb_dim, L = cfg_.n_layers;
  const int64_t M = caches ? std::accumulate(lens, lens + B, int64_t{0}) : B * T;
  if (!caches) {
    if (B <= 0 || T <= 0) fail("empty batch: B={} T={}", B, T);
    if (T > cfg_.context_length)
      fail("sequence length {} exceeds the model's context length {}", T, cfg_.context_length);
  }
  check_inputs(tokens, M);
  // A cached pass is one row of all its tokens, cut into its sequences by attention (PassInfo).
  const int64_t rows = caches ? 1 : B, cols = caches ? M : T;
  ensure_arena(rows, cols);
  PassInfo p = pass_info(rows, cols);
  p.caches = caches;
  p.lens = lens;
  p.n_caches = caches ? B : 0;
  if (caches) {
    for (int64_t b = 0, off = 0; b < B; off += lens[b++])
      embedding_forward(acts_.x[0] + off * C, tokens + off, wte_, wpe_, 1, lens[b], C, &caches[b]->len);
  } else {
    embedding_forward(acts_.x[0], tokens, wte_, wpe_, B, T, C);
  }
  dropout_forward(acts_.x[0], M * C, p.drop_p, embedding_drop_key(p, C));
  for (int64_t l = 0; l < L; ++l) blocks_[l].forward(acts_.x[l], acts_.x[l + 1], acts_.tmp, p);
  layernorm_forward(acts_.lnf, acts_.lnf_mean, acts_.lnf_rstd, acts_.x[L], lnf_w_, lnf_b_, M, C,
                    cfg_.layer_norm_epsilon);
}

// The last positions' hidden states side by side (in the blocks' scratch, free by now), then one
// product for all rows.
void GPT::last_position_logits(int64_t B, int64_t T, const int64_t* lens, float* out) {
  const int64_t C = cfg_.emb_dim, V = cfg_.vocab_size;
  const float* last = acts_.lnf;
  if (lens ? std::any_of(lens, lens + B, [](int64_t n) { return n != 1; }) : T != 1) {
    for (int64_t b = 0, end = 0; b < B; ++b) {
      end += lens ? lens[b] : T;
      std::copy_n(acts_.lnf + (end - 1) * C, C, acts_.tmp + b * C);
    }
    last = acts_.tmp;
  }
  linear_forward_wt(out, last, head_w_, packed_head_, B, C, V);
}

float GPT::forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T, bool with_grad,
                   float grad_scale) {
  if (with_grad && !store_.grads_enabled()) fail_internal("forward(with_grad) before enable_grads()");
  require_lm("next-token loss");
  const int64_t M = B * T, C = cfg_.emb_dim, V = cfg_.vocab_size;
  const int64_t count = count_targets(targets, M, V);
  if (count == 0) fail("the batch has no target tokens (all are -100)");
  forward_hidden(tokens, B, T);
  last_tokens_.assign(tokens, tokens + M);
  last_count_ = count;
  const float dscale = grad_scale / static_cast<float>(count);
  float* dx = with_grad ? acts_.dlnf : nullptr;
  float* dW = with_grad ? g_head_ : nullptr;
  CrossEntropyResult r = head_cross_entropy(acts_.lnf, head_w_, targets, M, C, V, dx, dW, dscale, acts_.logits_chunk,
                                            chunk_rows_, nullptr, precision());
  have_head_grad_ = with_grad;
  return static_cast<float>(r.loss_sum / static_cast<double>(r.count));
}

void GPT::backward() {
  if (!have_head_grad_) fail_internal("backward() without a forward(with_grad=true)");
  have_head_grad_ = false;
  const int64_t B = B_, T = T_, M = B * T, C = cfg_.emb_dim, L = cfg_.n_layers;
  const PassInfo p = pass_info(B, T);
  const bool emb_trainable = g_wte_ || g_wpe_;
  // Lowest block whose parameters train; below it the backward pass stops.
  const int64_t lowest = lowest_trainable_block();
  const bool need_below_head = lowest < L || g_lnf_w_ || g_lnf_b_;
  if (!need_below_head) return;
  layernorm_backward(lowest < L ? acts_.dresid : nullptr, g_lnf_w_, g_lnf_b_, acts_.dlnf, acts_.x[L], lnf_w_,
                     acts_.lnf_mean, acts_.lnf_rstd, M, C, false);
  if (backward_hook_) backward_hook_(L);
  for (int64_t l = L - 1; l >= 0 && l >= lowest; --l) {
    blocks_[l].backward(acts_.dresid, acts_.x[l], acts_.tmp, acts_.big, acts_.qkv_scratch, p, l > lowest);
    if (backward_hook_) backward_hook_(l);
  }
  if (emb_trainable) {
    dropout_backward(acts_.dresid, acts_.dresid, M * C, p.drop_p, embedding_drop_key(p, C));
    embedding_backward(g_wte_, g_wpe_, acts_.dresid, last_tokens_.data(), B, T, C);
  }
}

void GPT::forward_cached(const int32_t* tokens, int64_t B, int64_t T, KVCache* const* caches, float* out) {
  if (B <= 0 || T <= 0) fail("empty batch: B={} T={}", B, T);
  lens_.assign(static_cast<size_t>(B), T);
  forward_cached(tokens, lens_.data(), B, caches, out);
}

void GPT::forward_cached(const int32_t* tokens, const int64_t* lens, int64_t B, KVCache* const* caches, float* out) {
  require_lm("text generation");
  if (B <= 0) fail("empty batch: no sequences");
  for (int64_t b = 0; b < B; ++b) {
    const KVCache& c = *caches[b];
    if (c.n_layers != cfg_.n_layers || c.C != cfg_.emb_dim || c.ctx != cfg_.context_length)
      fail_internal("the KV cache was made for another model");
    if (lens[b] <= 0) fail("empty batch: sequence {} has {} tokens", b, lens[b]);
    if (c.len + lens[b] > cfg_.context_length)
      fail("the KV cache is full: {} + {} positions exceed the context length {}", c.len, lens[b], cfg_.context_length);
  }
  forward_hidden(tokens, B, 0, caches, lens);
  for (int64_t b = 0; b < B; ++b) caches[b]->len += lens[b];
  last_position_logits(B, 0, lens, out);
}

void GPT::prefill(const int32_t* tokens, int64_t T, KVCache& cache, float* out) {
  cache.clear();
  KVCache* one = &cache;
  forward_cached(tokens, 1, T, &one, out);
}

void GPT::decode_step(int32_t token, KVCache& cache, float* out) {
  KVCache* one = &cache;
  forward_cached(&token, 1, 1, &one, out);
}

void GPT::logits(const int32_t* tokens, int64_t B, int64_t T, float* out, bool last_only) {
  require_lm("next-token logits");
  forward_hidden(tokens, B, T);
  if (last_only)
    last_position_logits(B, T, nullptr, out);
  else
    linear_forward_wt(out, acts_.lnf, head_w_, packed_head_, B * T, cfg_.emb_dim, cfg_.vocab_size);
}

}  // namespace slm
