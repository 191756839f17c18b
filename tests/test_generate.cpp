// test_generate.cpp — generation with and without the KV cache: same logits, same greedy tokens,
// also past the context length (where the window slides and every step is recomputed).
#include <gtest/gtest.h>

#include <cmath>

#include "scratchlm/generate/generator.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/util/error.h"
#include "test_util.h"

namespace {
const std::string kFixture = std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias";
}

TEST(KVCache, DecodeStepLogitsEqualFullForward) {
  auto m = slm::load_hf_model(kFixture, true);
  const int64_t V = m->config().vocab_size;
  std::vector<int32_t> ids{5, 17, 200, 3, 99, 42, 7, 128, 64, 1};
  slm::KVCache cache(m->config());
  std::vector<float> got(V), want(V);
  m->prefill(ids.data(), 4, cache, got.data());
  m->logits(ids.data(), 1, 4, want.data(), true);
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(got[v], want[v], 1e-4f);
  for (size_t t = 4; t < ids.size(); ++t) {
    m->decode_step(ids[t], cache, got.data());
    m->logits(ids.data(), 1, static_cast<int64_t>(t + 1), want.data(), true);
    float err = 0;
    for (int64_t v = 0; v < V; ++v) err = std::max(err, std::fabs(got[v] - want[v]));
    ASSERT_LE(err, 1e-4f) << "position " << t;
  }
  EXPECT_EQ(cache.len, static_cast<int64_t>(ids.size()));
  std::vector<int32_t> too_long(65, 1);
  slm::KVCache c2(m->config());
  m->prefill(too_long.data(), 64, c2, got.data());
  EXPECT_THROW(m->decode_step(1, c2, got.data()), slm::Error);
  EXPECT_THROW(m->decode_step(256, cache, got.data()), slm::Error);
}

TEST(KVCache, GreedyGenerationIsIdenticalWithAndWithoutCache) {
  auto m = slm::load_hf_model(kFixture, true);
  for (int prompt_len : {1, 5, 30}) {
    std::vector<int32_t> prompt;
    for (int i = 0; i < prompt_len; ++i) prompt.push_back((i * 37 + 11) % 256);
    slm::GenerateOptions g;
    g.max_new_tokens = 60;  // 30 + 60 > context 64: the window slides
    g.sampler.temperature = 0.0f;
    g.stop_at_eos = false;
    g.use_kv_cache = true;
    auto a = slm::generate(*m, prompt, g);
    g.use_kv_cache = false;
    auto b = slm::generate(*m, prompt, g);
    EXPECT_EQ(a, b) << "prompt length " << prompt_len;
    EXPECT_EQ(a.size(), 60u);
  }
}

TEST(KVCache, SampledGenerationIsReproducible) {
  auto m = slm::load_hf_model(kFixture, true);
  std::vector<int32_t> prompt{1, 2, 3};
  slm::GenerateOptions g;
  g.max_new_tokens = 20;
  g.sampler.temperature = 1.0f;
  g.sampler.top_k = 20;
  g.sampler.seed = 7;
  g.stop_at_eos = false;
  EXPECT_EQ(slm::generate(*m, prompt, g), slm::generate(*m, prompt, g));
  std::vector<int32_t> empty;
  EXPECT_THROW(slm::generate(*m, empty, g), slm::Error);
}
