// lora.cpp — the LoRA layer (appendix E) and adding / merging adapters (see lora.h).
#include "scratchlm/model/lora.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "scratchlm/model/gpt.h"
#include "scratchlm/model/params.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

namespace slm {

void LoraAdapter::bind(ParamStore& s, const std::string& name, int64_t i, int64_t o, int64_t g, float sc) {
  if (!s.find(name + ".lora_A")) {
    *this = LoraAdapter{};
    return;
  }
  in = i;
  out = o;
  groups = g;
  scale = sc;
  r = s.find(name + ".lora_A")->shape[1] / g;
  A = s.data(name + ".lora_A");
  B = s.data(name + ".lora_B");
  gA = s.grad(name + ".lora_A");
  gB = s.grad(name + ".lora_B");
}

void LoraAdapter::forward(const float* x, float* y, int64_t M) const {
  const int64_t gr = groups * r, og = out / groups;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, gr, in, 1.0f, x, in, A, gr, 0.0f, u, gr);
  for (int64_t g = 0; g < groups; ++g)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, og, r, scale, u + g * r, gr, B + g * r * og, og, 1.0f,
                y + g * og, out);
}

void LoraAdapter::backward(const float* dy, float* dx, const float* x, float* du, int64_t M) const {
  const int64_t gr = groups * r, og = out / groups;
  for (int64_t g = 0; g < groups; ++g) {
    // dB_g[r, og] += scale * u_g^T dy_g;  du_g[M, r] = scale * dy_g B_g^T
    if (gB)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, og, M, scale, u + g * r, gr, dy + g * og, out, 1.0f,
                  gB + g * r * og, og);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, r, og, scale, dy + g * og, out, B + g * r * og, og, 0.0f,
                du + g * r, gr);
  }
  if (gA) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, gr, M, 1.0f, x, in, du, gr, 1.0f, gA, gr);
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, in, gr, 1.0f, du, gr, A, gr, 1.0f, dx, in);
}

void LoraAdapter::apply_vec(const float* x, float* y, float* tmp) const {
  const int64_t gr = groups * r, og = out / groups;
  cblas_sgemv(CblasRowMajor, CblasTrans, in, gr, 1.0f, A, gr, x, 1, 0.0f, tmp, 1);
  for (int64_t g = 0; g < groups; ++g)
    cblas_sgemv(CblasRowMajor, CblasTrans, r, og, scale, B + g * r * og, og, tmp + g * r, 1, 1.0f, y + g * og, 1);
}

void LoraAdapter::merge_into(float* W) const {
  const int64_t gr = groups * r, og = out / groups;
  for (int64_t g = 0; g < groups; ++g)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in, og, r, scale, A + g * r, gr, B + g * r * og, og, 1.0f,
                W + g * og, out);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> lora_param_shapes(const GPTConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  if (!c.lora.enabled()) return out;
  const int64_t C = c.emb_dim, r = c.lora.rank;
  auto add = [&](const std::string& name, int64_t in, int64_t o, int64_t groups) {
    out.push_back({name + ".lora_A", {in, groups * r}});
    out.push_back({name + ".lora_B", {groups, r, o / groups}});
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    if (c.lora.attn) add(p + "attn.c_attn", C, 3 * C, 3), add(p + "attn.c_proj", C, C, 1);
    if (c.lora.mlp) add(p + "mlp.c_fc", C, 4 * C, 1), add(p + "mlp.c_proj", 4 * C, C, 1);
  }
  if (c.lora.head && c.is_classifier()) add("score", C, c.num_labels, 1);
  return out;
}

LoraConfig parse_lora_targets(std::string_view list, int64_t rank, float alpha) {
  if (rank <= 0) fail("--lora-rank must be positive, not {}", rank);
  if (!(alpha > 0.0f)) fail("--lora-alpha must be positive, not {}", alpha);
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.attn = c.mlp = c.head = false;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    const std::string_view t = list.substr(start, end - start);
    if (t == "attn")
      c.attn = true;
    else if (t == "mlp")
      c.mlp = true;
    else if (t == "head")
      c.head = true;
    else if (t == "all")
      c.attn = c.mlp = c.head = true;
    else
      fail("unknown LoRA target '{}' (known: attn, mlp, head, all)", t);
    start = end + 1;
  }
  return c;
}

std::unique_ptr<GPT> add_lora(const GPT& base, const LoraConfig& lora, uint64_t seed) {
  if (base.config().lora.enabled()) fail("the model already has LoRA adapters");
  if (!lora.enabled()) fail_internal("add_lora without a rank");
  GPTConfig c = base.config();
  c.lora = lora;
  if (lora.head && !c.is_classifier()) {
    if (!lora.attn && !lora.mlp)
      fail("LoRA target 'head' applies to a classifier's score head; this is a language model");
    c.lora.head = false;  // "all" on a language model: the vocabulary head stays as it is
  }
  auto m = std::make_unique<GPT>(c);
  for (const auto& p : m->params().params()) {
    float* d = m->params().data(p.name);
    if (p.name.find(".lora_") == std::string::npos) {
      std::copy_n(base.params().data(p.name), p.numel, d);
      m->params().set_trainable(p.name, false);
    } else if (p.name.ends_with(".lora_B")) {
      std::fill_n(d, p.numel, 0.0f);
    }
  }
  // A: kaiming_uniform_(a=sqrt(5)) on torch's [r, in] weight = U(-1/sqrt(in), 1/sqrt(in)).
  Rng rng(seed);
  for (const auto& p : m->params().params())
    if (p.name.ends_with(".lora_A")) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(p.shape[0]));
      float* d = m->params().data(p.name);
      for (size_t i = 0; i < p.numel; ++i) d[i] = (2.0f * rng.uniform() - 1.0f) * bound;
    }
  m->rebind();
  return m;
}

std::unique_ptr<GPT> merge_lora(const GPT& model) {
  const GPTConfig& src = model.config();
  GPTConfig c = src;
  c.lora = LoraConfig{};
  auto m = std::make_unique<GPT>(c);
  for (const auto& p : m->params().params())
    std::copy_n(model.params().data(p.name), p.numel, m->params().data(p.name));
  if (!src.lora.enabled()) return m;
  ParamStore& s = const_cast<ParamStore&>(model.params());  // bind() only reads data pointers here
  const int64_t C = c.emb_dim;
  auto merge = [&](const std::string& name, int64_t in, int64_t out, int64_t groups) {
    LoraAdapter a;
    a.bind(s, name, in, out, groups, src.lora.scale());
    if (a.on()) a.merge_into(m->params().data(name + ".weight"));
  };
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    merge(p + "attn.c_attn", C, 3 * C, 3), merge(p + "attn.c_proj", C, C, 1);
    merge(p + "mlp.c_fc", C, 4 * C, 1), merge(p + "mlp.c_proj", 4 * C, C, 1);
  }
  if (c.is_classifier() && s.find("score.lora_A")) {
    // score is [K, C] (torch Linear layout): W^T[C, K] += scale * A B.
    LoraAdapter a;
    a.bind(s, "score", C, c.num_labels, 1, src.lora.scale());
    std::vector<float> wt(static_cast<size_t>(C * c.num_labels), 0.0f);
    a.merge_into(wt.data());
    float* w = m->params().data("score.weight");
    for (int64_t k = 0; k < c.num_labels; ++k)
      for (int64_t i = 0; i < C; ++i) w[k * C + i] += wt[static_cast<size_t>(i * c.num_labels + k)];
  }
  m->rebind();
  return m;
}

}  // namespace slm
