// test_peft_layout.cpp — LoRA adapters made by Hugging Face PEFT for GPT-2 (appendix E's LoRA in
// PEFT's files): built here by hand in PEFT's exact layout and key names (one adapter on the fused
// c_attn, Conv1D: lora_A [r, in], lora_B [out, r] under base_model.model.transformer.h.N.<module>),
// loaded through adapter_config.json's target_modules, r, lora_alpha, rank_pattern, alpha_pattern,
// use_rslora, layers_to_transform and fan_in_fan_out; the logits equal those of the base model
// with W + scale (B A)^T put in by hand. ScratchLM's own adapter files read the same way too.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "scratchlm/finetune/lora.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/rng.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kC = 24;

slm::GPTConfig tiny() {
  slm::GPTConfig c = slm::config_by_name("gpt2-tiny");
  c.vocab_size = 101;
  c.context_length = 16;
  c.emb_dim = kC;
  c.n_heads = 2;
  c.n_layers = 2;
  c.drop_rate = 0.0f;
  return c;
}

std::pair<int64_t, int64_t> dims(const std::string& module) {
  if (module == "attn.c_attn") return {kC, 3 * kC};
  if (module == "mlp.c_fc") return {kC, 4 * kC};
  if (module == "mlp.c_proj") return {4 * kC, kC};
  return {kC, kC};
}

// One PEFT adapter pair: A [r, in], B [out, r], random.
struct Pair {
  int64_t r;
  std::vector<float> A, B;
};

class PeftFixture {
 public:
  explicit PeftFixture(const slm::test::TempDir& t) : t_(t), base_(tiny()) {
    base_.init_weights(1);
    slm::save_hf_model(base_, t.file("base"));
  }
  // Adapter of rank r for "h.N.<module>".
  void add(const std::string& name, int64_t r) {
    const auto [in, out] = dims(name.substr(name.find('.', 2) + 1));
    Pair p{r, std::vector<float>(static_cast<size_t>(r * in)), std::vector<float>(static_cast<size_t>(out * r))};
    for (auto& v : p.A) v = 0.3f * static_cast<float>(rng_.normal());
    for (auto& v : p.B) v = 0.3f * static_cast<float>(rng_.normal());
    pairs_[name] = std::move(p);
  }
  // Write DIR/adapter_config.json (config, base path filled in) + adapter_model.safetensors.
  std::string write(const std::string& dir, nlohmann::json config) const {
    fs::create_directories(t_.file(dir));
    config["base_model_name_or_path"] = "../base";  // relative to the adapter directory
    slm::test::write_text(t_.file(dir + "/adapter_config.json"), config.dump(2));
    slm::SafetensorsWriter w;
    for (const auto& [name, p] : pairs_) {
      const auto [in, out] = dims(name.substr(name.find('.', 2) + 1));
      w.add_f32("base_model.model.transformer." + name + ".lora_A.weight", {p.r, in}, p.A.data());
      w.add_f32("base_model.model.transformer." + name + ".lora_B.weight", {out, p.r}, p.B.data());
    }
    w.set_metadata("format", "pt");
    w.write(t_.file(dir + "/adapter_model.safetensors"));
    return t_.file(dir);
  }
  // The base model with W [in, out] += scale (B A)^T for each adapter: PEFT's merge, by hand.
  std::unique_ptr<slm::GPT> merged_by_hand(const std::map<std::string, float>& scales) const {
    auto m = slm::load_hf_model(t_.file("base"), true);
    for (const auto& [name, scale] : scales) {
      const Pair& p = pairs_.at(name);
      const auto [in, out] = dims(name.substr(name.find('.', 2) + 1));
      float* W = m->params().data(name + ".weight");
      for (int64_t i = 0; i < in; ++i)
        for (int64_t o = 0; o < out; ++o) {
          double d = 0;
          for (int64_t k = 0; k < p.r; ++k) d += static_cast<double>(p.B[o * p.r + k]) * p.A[k * in + i];
          W[i * out + o] += static_cast<float>(scale * d);
        }
    }
    return m;
  }
  const slm::GPT& base() const { return base_; }

 private:
  const slm::test::TempDir& t_;
  slm::GPT base_;
  slm::Rng rng_{11};
  std::map<std::string, Pair> pairs_;
};

// As PEFT writes adapter_config.json for GPT-2 (the fields it always writes).
nlohmann::json peft_config(int64_t r, double alpha, nlohmann::json targets) {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"r", r},
          {"lora_alpha", alpha},
          {"lora_dropout", 0.05},
          {"target_modules", targets},
          {"fan_in_fan_out", true},
          {"bias", "none"},
          {"use_rslora", false},
          {"use_dora", false},
          {"modules_to_save", nullptr},
          {"init_lora_weights", true},
          {"layers_to_transform", nullptr},
          {"layers_pattern", nullptr},
          {"rank_pattern", nlohmann::json::object()},
          {"alpha_pattern", nlohmann::json::object()},
          {"inference_mode", true},
          {"revision", nullptr}};
}

std::vector<float> logits(slm::GPT& m) {
  const std::vector<int32_t> ids = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38};
  std::vector<float> out(ids.size() * static_cast<size_t>(m.config().vocab_size));
  m.logits(ids.data(), 1, static_cast<int64_t>(ids.size()), out.data(), false);
  return out;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

void expect_same_logits(slm::GPT& got, slm::GPT& want, const slm::GPT& base) {
  const auto g = logits(got), w = logits(want), b = logits(const_cast<slm::GPT&>(base));
  EXPECT_GT(max_diff(w, b), 1e-2f);  // the adapters matter
  EXPECT_LT(max_diff(g, w), 2e-5f);
}

}  // namespace

// PEFT's default GPT-2 targets (c_attn, fused) plus c_fc; a rank_pattern and an alpha_pattern entry.
TEST(PeftLayout, FusedCattnAdapterWithRankAndAlphaPatterns) {
  slm::test::TempDir t;
  PeftFixture fx(t);
  fx.add("h.0.attn.c_attn", 4);
  fx.add("h.1.attn.c_attn", 2);  // rank_pattern
  fx.add("h.0.mlp.c_fc", 4);
  fx.add("h.1.mlp.c_fc", 4);
  auto cfg = peft_config(4, 8, {"c_attn", "c_fc"});
  cfg["rank_pattern"] = {{"h.1.attn.c_attn", 2}};
  cfg["alpha_pattern"] = {{"c_fc", 3}};
  auto got = slm::load_hf_model(fx.write("adapter", cfg), true);
  EXPECT_FALSE(got->config().lora.enabled());  // merged, as PEFT's merge_and_unload
  auto want = fx.merged_by_hand({{"h.0.attn.c_attn", 8.0f / 4},
                                 {"h.1.attn.c_attn", 8.0f / 2},
                                 {"h.0.mlp.c_fc", 3.0f / 4},
                                 {"h.1.mlp.c_fc", 3.0f / 4}});
  expect_same_logits(*got, *want, fx.base());
  // fan_in_fan_out false: PEFT forces it to true for Conv1D, so the same model.
  cfg["fan_in_fan_out"] = false;
  auto same = slm::load_hf_model(fx.write("adapter-ff", cfg), true);
  EXPECT_EQ(logits(*same), logits(*got));
  // The CLI opens the directory like any model.
  auto r = slm::test::run_slm("logits --model " + t.file("adapter") + " --tokens 3,14,15 --json");
  EXPECT_EQ(r.rc, 0) << r.err;
}

// target_modules as a regular expression (fullmatch), use_rslora, and layers_to_transform.
TEST(PeftLayout, RegexTargetsRsloraAndLayersToTransform) {
  slm::test::TempDir t;
  PeftFixture fx(t);
  fx.add("h.1.attn.c_proj", 4);
  fx.add("h.1.mlp.c_proj", 4);
  auto cfg = peft_config(4, 16, R"(.*\.h\.1\.(attn|mlp)\.c_proj)");
  cfg["use_rslora"] = true;
  auto got = slm::load_hf_model(fx.write("regex", cfg), true);
  auto want = fx.merged_by_hand({{"h.1.attn.c_proj", 16.0f / 2}, {"h.1.mlp.c_proj", 16.0f / 2}});  // alpha / sqrt(r)
  expect_same_logits(*got, *want, fx.base());

  cfg = peft_config(4, 16, {"c_proj"});
  cfg["layers_to_transform"] = {1};
  cfg["layers_pattern"] = "h";
  got = slm::load_hf_model(fx.write("layers", cfg), true);
  want = fx.merged_by_hand({{"h.1.attn.c_proj", 4.0f}, {"h.1.mlp.c_proj", 4.0f}});
  expect_same_logits(*got, *want, fx.base());
}

// ScratchLM's own adapter files, read as PEFT reads them (without the "scratchlm" entry), give the
// same model as ScratchLM's merge: the files are PEFT's layout.
TEST(PeftLayout, ScratchLMsAdapterFilesReadAsPeftDoes) {
  slm::test::TempDir t;
  slm::GPT base(tiny());
  base.init_weights(1);
  slm::save_hf_model(base, t.file("base"));
  auto m = slm::add_lora(base, slm::parse_lora_targets("attn,mlp", 3, 6.0f), 9);
  slm::Rng rng(4);
  for (const auto& p : m->params().params())
    if (p.name.ends_with(".lora_B"))
      for (size_t i = 0; i < p.numel; ++i) m->params().data(p.name)[i] = 0.2f * static_cast<float>(rng.normal());
  slm::save_lora_adapter(*m, t.file("adapter"), t.file("base"));
  auto cfg = nlohmann::json::parse(slm::test::read_text(t.file("adapter/adapter_config.json")));
  cfg.erase("scratchlm");
  slm::test::write_text(t.file("adapter/adapter_config.json"), cfg.dump());
  auto as_peft = slm::load_hf_model(t.file("adapter"), true);
  EXPECT_FALSE(as_peft->config().lora.enabled());
  auto merged = slm::merge_lora(*m);
  EXPECT_LT(max_diff(logits(*as_peft), logits(*merged)), 2e-5f);
  EXPECT_GT(max_diff(logits(*merged), logits(base)), 1e-2f);
}

TEST(PeftLayout, MismatchesAreClearErrors) {
  slm::test::TempDir t;
  PeftFixture fx(t);
  fx.add("h.0.attn.c_attn", 4);
  fx.add("h.1.attn.c_attn", 4);
  auto err = [&](const std::string& dir, const nlohmann::json& cfg) {
    return slm::test::error_of([&] { slm::load_hf_model(fx.write(dir, cfg), true); });
  };
  EXPECT_HAS(err("more", peft_config(4, 8, {"c_attn", "c_proj"})), "h.0.attn.c_proj.lora_A.weight' is missing");
  EXPECT_HAS(err("rank", peft_config(2, 8, {"c_attn"})), "PEFT's layout for r = 2");
  auto cfg = peft_config(4, 8, {"c_attn"});
  cfg["layers_to_transform"] = 0;
  EXPECT_HAS(err("fewer", cfg), "h.1.attn.c_attn.lora_A.weight' is not an adapter of a module");
  cfg = peft_config(4, 8, {"c_attn"});
  cfg["use_dora"] = true;
  EXPECT_HAS(err("dora", cfg), "use_dora");
  cfg = peft_config(4, 8, {"c_attn"});
  cfg["bias"] = "all";
  EXPECT_HAS(err("bias", cfg), "bias 'all'");
  EXPECT_HAS(err("head", peft_config(4, 8, {"c_attn", "lm_head"})), "lm_head");
  EXPECT_HAS(err("none", peft_config(4, 8, {"q_proj"})), "selects none");
  EXPECT_HAS(err("regex", peft_config(4, 8, "(?P<x>c_attn)")), "not a regular expression");
  // No target_modules: PEFT's default for GPT-2, c_attn.
  auto cfg_default = peft_config(4, 8, nullptr);
  cfg_default.erase("target_modules");
  auto got = slm::load_hf_model(fx.write("default", cfg_default), true);
  auto want = fx.merged_by_hand({{"h.0.attn.c_attn", 2.0f}, {"h.1.attn.c_attn", 2.0f}});
  expect_same_logits(*got, *want, fx.base());
}
