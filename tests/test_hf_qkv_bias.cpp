// test_hf_qkv_bias.cpp — a model without qkv bias in Hugging Face's GPT-2 layout (chapter 5.5):
// saved with zero attn.c_attn.bias tensors (transformers' GPT2Model always has them), loaded back as
// the same model; a non-zero bias in such a file turns the bias on instead of being dropped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "test_util.h"

namespace {

std::unique_ptr<slm::GPT> model_without_bias(bool classifier = false) {
  slm::GPTConfig c = slm::config_by_name("gpt2-tiny");
  c.vocab_size = 300;
  c.emb_dim = 32;
  c.n_heads = 2;
  c.qkv_bias = false;
  if (classifier) {
    c.num_labels = 2;
    c.id2label = {"ham", "spam"};
  }
  auto m = std::make_unique<slm::GPT>(c);
  m->init_weights(7);
  return m;
}

std::vector<float> logits_of(slm::GPT& m) {
  const std::vector<int32_t> ids{1, 5, 9, 200, 17, 3};
  std::vector<float> out(ids.size() * static_cast<size_t>(m.config().vocab_size));
  m.logits(ids.data(), 1, static_cast<int64_t>(ids.size()), out.data(), false);
  return out;
}

}  // namespace

TEST(HfQkvBias, SavedAsZerosAndLoadedBackAsTheSameModel) {
  auto m = model_without_bias();
  slm::test::TempDir t;
  slm::save_hf_model(*m, t.path());
  auto cfg = nlohmann::json::parse(slm::test::read_text(t.file("config.json")));
  EXPECT_EQ(cfg["qkv_bias"], false);
  auto st = slm::SafetensorsFile::open(t.file("model.safetensors"));
  for (int l = 0; l < 2; ++l) {
    const std::string name = "h." + std::to_string(l) + ".attn.c_attn.bias";
    ASSERT_TRUE(st.contains(name)) << name;
    EXPECT_EQ(st.find(name)->shape, (std::vector<int64_t>{96}));
    EXPECT_EQ(st.find(name)->dtype, slm::DType::F32);
    const slm::Tensor b = st.load_f32(name);
    for (size_t i = 0; i < b.numel(); ++i) ASSERT_EQ(b[i], 0.0f);
  }
  // Loading keeps the model bias-free (no warning about the zeros), with the same outputs.
  testing::internal::CaptureStderr();
  auto back = slm::load_hf_model(t.path());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_FALSE(back->config().qkv_bias);
  EXPECT_EQ(back->params().find("h.0.attn.c_attn.bias"), nullptr);
  EXPECT_EQ(back->params().numel(), m->params().numel());
  EXPECT_EQ(logits_of(*back), logits_of(*m));
  // Saved again: the same file.
  slm::test::TempDir t2;
  slm::save_hf_model(*back, t2.path());
  EXPECT_EQ(slm::test::read_text(t2.file("model.safetensors")), slm::test::read_text(t.file("model.safetensors")));
}

TEST(HfQkvBias, NonZeroBiasInTheFileTurnsTheBiasOn) {
  auto m = model_without_bias();
  slm::test::TempDir t;
  slm::save_hf_model(*m, t.path());
  // As transformers would save it after training the bias: every tensor the same, one bias non-zero.
  auto st = slm::SafetensorsFile::open(t.file("model.safetensors"));
  std::vector<slm::Tensor> keep;
  slm::SafetensorsWriter w;
  for (const auto& info : st.tensors()) {
    keep.push_back(st.load_f32(info.name));
    if (info.name == "h.1.attn.c_attn.bias") keep.back().data()[5] = 0.25f;
    w.add_f32(info.name, info.shape, keep.back().data());
  }
  slm::test::TempDir t2;
  std::filesystem::copy_file(t.file("config.json"), t2.file("config.json"));
  w.write(t2.file("model.safetensors"));
  auto back = slm::load_hf_model(t2.path(), true);
  ASSERT_TRUE(back->config().qkv_bias);
  EXPECT_EQ(back->params().data("h.1.attn.c_attn.bias")[5], 0.25f);
  EXPECT_EQ(back->params().data("h.0.attn.c_attn.bias")[5], 0.0f);
  EXPECT_NE(logits_of(*back), logits_of(*m));
  back->params().data("h.1.attn.c_attn.bias")[5] = 0.0f;  // the bias is all that differs
  EXPECT_EQ(logits_of(*back), logits_of(*m));
}

TEST(HfQkvBias, ClassifierBodyGetsPrefixedZeroBias) {
  auto m = model_without_bias(true);
  slm::test::TempDir t;
  slm::save_hf_model(*m, t.path());
  auto st = slm::SafetensorsFile::open(t.file("model.safetensors"));
  EXPECT_TRUE(st.contains("transformer.h.0.attn.c_attn.bias"));
  EXPECT_FALSE(st.contains("h.0.attn.c_attn.bias"));
  testing::internal::CaptureStderr();
  auto back = slm::load_hf_model(t.path());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_FALSE(back->config().qkv_bias);
}
