// test_model_io.cpp — model directories (HF GPT-2 layout) and the model CLI: save/load round
// trips, "transformer." prefixes and causal-mask buffers, bad checkpoints, `slm info` and
// `slm logits`, and bad inputs to the model.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using slm::test::run_slm;

namespace {

const std::string kFixture = std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias";

std::vector<float> all_logits(slm::GPT& m, const std::vector<int32_t>& ids) {
  std::vector<float> out(ids.size() * static_cast<size_t>(m.config().vocab_size));
  m.logits(ids.data(), 1, static_cast<int64_t>(ids.size()), out.data(), false);
  return out;
}

// Copy the fixture's model with tensors renamed/dropped/added by `edit`.
void write_edited(const std::string& dir, const std::function<void(slm::SafetensorsWriter&, slm::GPT&)>& edit) {
  auto m = slm::load_hf_model(kFixture, true);
  fs::create_directories(dir);
  fs::copy_file(kFixture + "/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
  slm::SafetensorsWriter w;
  edit(w, *m);
  w.write(dir + "/model.safetensors");
}

std::string expect_bad_input(const std::function<void()>& f) {
  try {
    f();
  } catch (const slm::Error& e) {
    EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected a BadInput error";
  return "";
}

}  // namespace

TEST(ModelIo, SaveLoadRoundTripIsExact) {
  auto m = slm::load_hf_model(kFixture, true);
  slm::test::TempDir t;
  slm::save_hf_model(*m, t.path());
  auto m2 = slm::load_hf_model(t.path(), true);
  std::vector<int32_t> ids{1, 5, 9, 200, 17};
  EXPECT_EQ(all_logits(*m, ids), all_logits(*m2, ids));
  auto cfg = nlohmann::json::parse(slm::test::read_text(t.file("config.json")));
  EXPECT_EQ(cfg["n_embd"], 64);
  EXPECT_EQ(cfg["model_type"], "gpt2");
  EXPECT_EQ(cfg["qkv_bias"], true);
  auto st = slm::SafetensorsFile::open(t.file("model.safetensors"));
  EXPECT_TRUE(st.contains("h.1.attn.c_attn.weight"));
  EXPECT_EQ(st.find("h.1.attn.c_attn.weight")->shape, (std::vector<int64_t>{64, 192}));
  EXPECT_TRUE(st.contains("lm_head.weight"));
}

TEST(ModelIo, AcceptsTransformerPrefixAndIgnoresMaskBuffers) {
  slm::test::TempDir t;
  std::vector<float> mask(64 * 64, 1.0f);
  write_edited(t.path(), [&](slm::SafetensorsWriter& w, slm::GPT& m) {
    for (const auto& p : m.params().params()) {
      std::string name = p.name == "lm_head.weight" ? p.name : "transformer." + p.name;
      w.add_f32(name, p.shape, m.params().data(p.name));
    }
    w.add_f32("transformer.h.0.attn.bias", {1, 1, 64, 64}, mask.data());
    w.add_f32("transformer.h.0.attn.masked_bias", {}, mask.data());
  });
  auto a = slm::load_hf_model(kFixture, true);
  auto b = slm::load_hf_model(t.path(), false);
  std::vector<int32_t> ids{3, 4, 5};
  EXPECT_EQ(all_logits(*a, ids), all_logits(*b, ids));
}

TEST(ModelIo, BadCheckpointsGiveClearErrors) {
  slm::test::TempDir t;
  // Missing tensor.
  write_edited(t.path(), [](slm::SafetensorsWriter& w, slm::GPT& m) {
    for (const auto& p : m.params().params())
      if (p.name != "h.1.mlp.c_fc.bias") w.add_f32(p.name, p.shape, m.params().data(p.name));
  });
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t.path(), true); }).find("'h.1.mlp.c_fc.bias' is missing"),
            std::string::npos);
  // Shape mismatch (transposed Conv1D weight).
  write_edited(t.path(), [](slm::SafetensorsWriter& w, slm::GPT& m) {
    for (const auto& p : m.params().params()) {
      auto shape = p.shape;
      if (p.name == "h.0.attn.c_attn.weight") std::swap(shape[0], shape[1]);
      w.add_f32(p.name, shape, m.params().data(p.name));
    }
  });
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t.path(), true); }).find("[192, 64]"), std::string::npos);
  // Config and weights disagree.
  slm::test::TempDir t2;
  fs::copy(kFixture, t2.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto cfg = nlohmann::json::parse(slm::test::read_text(t2.file("config.json")));
  cfg["n_layer"] = 3;
  slm::test::write_text(t2.file("config.json"), cfg.dump());
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t2.path(), true); }).find("h.2."), std::string::npos);
  // Broken config.json and missing directory.
  slm::test::write_text(t2.file("config.json"), "{\"n_embd\": 64,");
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t2.path(), true); }).find("malformed JSON"), std::string::npos);
  slm::test::write_text(t2.file("config.json"),
                        "{\"n_embd\": 64, \"n_head\": 5, \"n_layer\": 1, \"vocab_size\": 10, \"n_positions\": 8}");
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t2.path(), true); }).find("not divisible"), std::string::npos);
  EXPECT_NE(expect_bad_input([&] { slm::load_hf_model(t.file("nope"), true); }).find("does not exist"),
            std::string::npos);
}

TEST(ModelIo, ExtraTensorsWarn) {
  slm::test::TempDir t;
  float x = 1.0f;
  write_edited(t.path(), [&](slm::SafetensorsWriter& w, slm::GPT& m) {
    for (const auto& p : m.params().params()) w.add_f32(p.name, p.shape, m.params().data(p.name));
    w.add_f32("score.weight", {1}, &x);
  });
  auto r = run_slm("logits --model " + t.path() + " --tokens 1");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos);
  EXPECT_NE(r.err.find("score.weight"), std::string::npos);
}

TEST(Model, RejectsBadTokensAndLongSequences) {
  auto m = slm::load_hf_model(kFixture, true);
  std::vector<float> out(256 * 70);
  std::vector<int32_t> bad{1, 256};
  EXPECT_NE(expect_bad_input([&] { m->logits(bad.data(), 1, 2, out.data(), true); }).find("out of range"),
            std::string::npos);
  std::vector<int32_t> neg{-1};
  expect_bad_input([&] { m->logits(neg.data(), 1, 1, out.data(), true); });
  std::vector<int32_t> longseq(65, 1);
  EXPECT_NE(expect_bad_input([&] { m->logits(longseq.data(), 1, 65, out.data(), true); }).find("context length 64"),
            std::string::npos);
  std::vector<int32_t> ids{1, 2}, targets{-100, -100};
  expect_bad_input([&] { m->forward(ids.data(), targets.data(), 1, 2); });
  std::vector<int32_t> bad_t{1, 999};
  expect_bad_input([&] { m->forward(ids.data(), bad_t.data(), 1, 2); });
}

TEST(CliInfo, BookParameterCounts) {
  auto r = run_slm("info --config gpt2-124M --qkv-bias false --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"]["total_untied"], 163009536);
  EXPECT_EQ(j["params"]["total_tied"], 124412160);
  r = run_slm("info --config gpt2-124M --json");
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"]["total_tied"], 124439808);  // OpenAI GPT-2 small
  EXPECT_NEAR(j["memory_bytes"]["weights_fp32"].get<double>() / 1048576.0, 621.94, 0.01);
  r = run_slm("info --config gpt2-124M --qkv-bias false");
  EXPECT_NE(r.out.find("621.83 MB"), std::string::npos) << r.out;  // the book's "Total size of the model"
  r = run_slm("info --model " + kFixture + " --json");
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["n_layer"], 2);
  r = run_slm("info --config gpt2-mini --emb-dim 120 --n-heads 7");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not divisible"), std::string::npos);
  r = run_slm("info --config gpt2-huge");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown config"), std::string::npos);
  r = run_slm("info --model " + kFixture + " --emb-dim 32");
  EXPECT_EQ(r.rc, 2);
  for (const char* name : {"gpt2-355M", "gpt2-774M", "gpt2-1558M", "gpt2-mini", "gpt2-tiny"}) {
    r = run_slm(std::string("info --json --config ") + name);
    EXPECT_EQ(r.rc, 0) << name;
  }
}

TEST(CliLogits, MatchesLibraryAndFormats) {
  auto m = slm::load_hf_model(kFixture, true);
  std::vector<int32_t> ids{10, 20, 30};
  auto want = all_logits(*m, ids);
  auto r = run_slm("logits --model " + kFixture + " --tokens '10 20 30' --json --all");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["logits"].size(), 3u);
  for (size_t t = 0; t < 3; ++t)
    for (size_t v = 0; v < 256; ++v) ASSERT_EQ(j["logits"][t][v].get<float>(), want[t * 256 + v]);
  r = run_slm("logits --model " + kFixture + " --tokens 10,20,30 --json");
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["logits"].size(), 256u);
  EXPECT_NEAR(j["logits"][7].get<float>(), want[2 * 256 + 7], 1e-5f);
  r = run_slm("logits --model " + kFixture + " --tokens '10 20 30'");
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  r = run_slm("logits --model " + kFixture + " --tokens '10 abc'");
  EXPECT_EQ(r.rc, 2);
  r = run_slm("logits --model /nonexistent --tokens 1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos);
}

TEST(Model, TorchDefaultInitializationMatchesPyTorchsRules) {
  slm::GPTConfig c = slm::config_by_name("gpt2-tiny");
  c.vocab_size = 300;
  slm::GPT m(c);
  m.init_weights_torch_default(9);
  auto stats = [&](const std::string& name, float* mx) {
    const auto* p = m.params().find(name);
    const float* d = m.params().data(name);
    double s = 0, s2 = 0;
    *mx = 0;
    for (size_t i = 0; i < p->numel; ++i) s += d[i], s2 += double(d[i]) * d[i], *mx = std::max(*mx, std::fabs(d[i]));
    return std::sqrt(s2 / p->numel - (s / p->numel) * (s / p->numel));
  };
  float mx;
  EXPECT_NEAR(stats("wte.weight", &mx), 1.0, 0.02);  // nn.Embedding: N(0, 1)
  EXPECT_NEAR(stats("wpe.weight", &mx), 1.0, 0.03);
  const float b128 = 1.0f / std::sqrt(128.0f), b512 = 1.0f / std::sqrt(512.0f);
  EXPECT_NEAR(stats("h.0.attn.c_attn.weight", &mx), b128 / std::sqrt(3.0), 0.003);  // U(-b, b): std b/sqrt(3)
  EXPECT_LE(mx, b128);
  stats("h.1.mlp.c_proj.weight", &mx);  // fan_in 4C
  EXPECT_LE(mx, b512);
  EXPECT_GT(mx, 0.9f * b512);
  stats("h.1.mlp.c_proj.bias", &mx);
  EXPECT_LE(mx, b512);
  stats("lm_head.weight", &mx);  // [V, C]: fan_in C
  EXPECT_LE(mx, b128);
  EXPECT_GT(mx, 0.9f * b128);
  stats("h.0.ln_1.weight", &mx);
  EXPECT_EQ(mx, 1.0f);
}
