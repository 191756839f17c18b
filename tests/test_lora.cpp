// test_lora.cpp — appendix E's LoRA: the book's trainable-parameter count, adapters start as a
// no-op, gradients (finite differences) reach only the adapters, merged and unmerged models agree
// (also with the KV cache), and the PEFT adapter files and LoRA checkpoints load back.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "scratchlm/finetune/classifier.h"
#include "scratchlm/finetune/lora.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "test_util.h"

namespace {

slm::GPTConfig tiny() {
  slm::GPTConfig c = slm::config_by_name("gpt2-tiny");
  c.vocab_size = 101, c.context_length = 16, c.emb_dim = 24, c.n_heads = 2, c.n_layers = 2, c.drop_rate = 0.0f;
  return c;
}

// Adapters with random B too, so that they change the outputs.
std::unique_ptr<slm::GPT> lora_model(const slm::GPT& base, const std::string& targets = "attn,mlp") {
  auto m = slm::add_lora(base, slm::parse_lora_targets(targets, 3, 6.0f), 9);
  slm::Rng rng(4);
  for (const auto& p : m->params().params())
    if (p.name.ends_with(".lora_B"))
      for (size_t i = 0; i < p.numel; ++i) m->params().data(p.name)[i] = 0.2f * static_cast<float>(rng.normal());
  return m;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

std::vector<float> all_logits(slm::GPT& m, const std::vector<int32_t>& tok) {
  std::vector<float> out(tok.size() * static_cast<size_t>(m.config().vocab_size));
  m.logits(tok.data(), 1, static_cast<int64_t>(tok.size()), out.data(), false);
  return out;
}

const std::vector<int32_t> kTokens = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38};

}  // namespace

TEST(Lora, TheBooksTrainableCountForThe124MClassifier) {
  slm::GPTConfig c = slm::config_by_name("gpt2-124M");
  c.num_labels = 2, c.id2label = {"0", "1"};
  c.lora = slm::parse_lora_targets("attn,mlp,head", 16, 16.0f);
  int64_t n = 0;
  for (const auto& [name, shape] : slm::lora_param_shapes(c)) n += slm::Tensor::numel_of(shape);
  EXPECT_EQ(n, 2666528);
  EXPECT_THROW(slm::parse_lora_targets("attn,ffn", 16, 16.0f), slm::Error);
  EXPECT_THROW(slm::parse_lora_targets("attn", 0, 16.0f), slm::Error);
}

TEST(Lora, StartsAsTheBaseModelAndTrainsOnlyAdapters) {
  slm::GPT base(tiny());
  base.init_weights(1);
  auto m = slm::add_lora(base, slm::parse_lora_targets("attn,mlp", 4, 8.0f), 2);
  EXPECT_EQ(all_logits(*m, kTokens), all_logits(base, kTokens));  // B = 0
  m->enable_grads();
  size_t adapters = 0;
  for (const auto& p : m->params().params()) {
    if (p.name.find(".lora_") != std::string::npos)
      adapters += p.numel;
    else
      EXPECT_EQ(m->params().grad(p.name), nullptr) << p.name;
  }
  EXPECT_EQ(m->params().trainable_numel(), adapters);
}

TEST(Lora, GradientsMatchFiniteDifferences) {
  slm::GPT base(tiny());
  base.init_weights(1);
  auto m = lora_model(base);
  m->enable_grads();
  const std::vector<int32_t> tok = {1, 7, 33, 2, 99, 5, 8, 13}, tgt = {7, 33, 2, 99, 5, 8, 13, -100};
  auto loss = [&] { return static_cast<double>(m->forward(tok.data(), tgt.data(), 2, 4)); };
  m->zero_grad();
  m->forward(tok.data(), tgt.data(), 2, 4, true);
  m->backward();
  for (const char* name : {"h.0.attn.c_attn.lora_A", "h.0.attn.c_attn.lora_B", "h.1.attn.c_proj.lora_A",
                           "h.0.mlp.c_fc.lora_B", "h.1.mlp.c_proj.lora_A", "h.1.mlp.c_proj.lora_B"}) {
    float* w = m->params().data(name);
    const float* g = m->params().grad(name);
    ASSERT_NE(g, nullptr) << name;
    EXPECT_LT(slm::test::finite_difference_error(w, g, m->params().find(name)->numel, loss, 1e-2f, 17), 2e-2) << name;
  }
}

TEST(Lora, MergedAndUnmergedGiveTheSameOutputs) {
  slm::GPT base(tiny());
  base.init_weights(1);
  auto m = lora_model(base);
  const auto with_adapters = all_logits(*m, kTokens);
  EXPECT_GT(max_diff(with_adapters, all_logits(base, kTokens)), 1e-3f);  // the adapters do something
  auto merged = slm::merge_lora(*m);
  EXPECT_FALSE(merged->config().lora.enabled());
  EXPECT_LT(max_diff(with_adapters, all_logits(*merged, kTokens)), 1e-4f);
  // Generation's single-row path (KV cache) applies the adapters too.
  slm::KVCache cache(m->config());
  std::vector<float> step(101);
  m->prefill(kTokens.data(), 5, cache, step.data());
  for (size_t t = 5; t < kTokens.size(); ++t) m->decode_step(kTokens[t], cache, step.data());
  const std::vector<float> last(with_adapters.end() - 101, with_adapters.end());
  EXPECT_LT(max_diff(step, last), 1e-4f);
}

TEST(Lora, ClassifierHeadAdapterMergesToo) {
  slm::GPT lm(tiny());
  lm.init_weights(1);
  auto cls = slm::make_classifier(lm, {"a", "b", "c"}, 3);
  auto m = lora_model(*cls, "all");
  ASSERT_NE(m->params().find("score.lora_A"), nullptr);
  slm::EncodedText x{{5, 6, 7, 8}, -1};
  const auto p1 = slm::predict_proba(*m, {x}, 1, 100);
  const auto p0 = slm::predict_proba(*cls, {x}, 1, 100);
  EXPECT_GT(max_diff(p1, p0), 1e-4f);
  EXPECT_LT(max_diff(p1, slm::predict_proba(*slm::merge_lora(*m), {x}, 1, 100)), 1e-5f);
}

TEST(Lora, PeftAdapterDirectoryAndCheckpointLoadBack) {
  slm::test::TempDir t;
  slm::GPT base(tiny());
  base.init_weights(1);
  slm::save_hf_model(base, t.file("base"));
  auto m = lora_model(base);
  slm::save_lora_adapter(*m, t.file("adapter"), t.file("base"));
  auto cfg = nlohmann::json::parse(slm::read_file(t.file("adapter/adapter_config.json")));
  EXPECT_EQ(cfg["r"], 3);
  EXPECT_EQ(cfg["rank_pattern"]["attn.c_attn"], 9);
  EXPECT_EQ(cfg["fan_in_fan_out"], true);
  auto st = slm::SafetensorsFile::open(t.file("adapter/adapter_model.safetensors"));
  const auto* b = st.find("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{72, 9}));
  EXPECT_EQ(st.find("base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight")->shape, (std::vector<int64_t>{3, 96}));
  auto back = slm::load_hf_model(t.file("adapter"));  // adapter dir -> base + adapters
  ASSERT_TRUE(back->config().lora.enabled());
  EXPECT_LT(max_diff(all_logits(*back, kTokens), all_logits(*m, kTokens)), 1e-6f);
  // A training checkpoint keeps the adapters under ScratchLM's names and loads as a LoRA model.
  slm::save_hf_model(*m, t.file("ckpt"));
  auto ck = slm::load_hf_model(t.file("ckpt"));
  ASSERT_TRUE(ck->config().lora.enabled());
  EXPECT_EQ(all_logits(*ck, kTokens), all_logits(*m, kTokens));
}
