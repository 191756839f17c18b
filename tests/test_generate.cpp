// test_generate.cpp — generation with and without the KV cache: same logits, same greedy tokens,
// also past the context length (where the window slides and every step is recomputed).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

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

// One forward pass serves every cached shape: a prompt continued in chunks, and several sequences
// of different lengths decoding together (continuous batching), each row against its own cache.
TEST(KVCache, ChunkedPrefillAndBatchedSequencesEqualFullForward) {
  auto m = slm::load_hf_model(kFixture, true);
  const int64_t V = m->config().vocab_size;
  const std::vector<int32_t> a{5, 17, 200, 3, 99, 42, 7, 128, 64, 1}, b{250, 4, 8, 15, 16, 23, 42};
  auto max_err = [&](const float* got, const std::vector<int32_t>& ids, size_t n) {
    std::vector<float> want(V);
    m->logits(ids.data(), 1, static_cast<int64_t>(n), want.data(), true);
    float err = 0;
    for (int64_t v = 0; v < V; ++v) err = std::max(err, std::fabs(got[v] - want[v]));
    return err;
  };
  slm::KVCache ca(m->config()), cb(m->config());
  std::vector<float> out(2 * V);
  // a: 3 tokens, then a chunk of 4 continuing at position 3; b: a prompt of 2.
  m->prefill(a.data(), 3, ca, out.data());
  slm::KVCache* one = &ca;
  m->forward_cached(a.data() + 3, 1, 4, &one, out.data());
  EXPECT_EQ(ca.len, 7);
  EXPECT_LE(max_err(out.data(), a, 7), 1e-4f);
  m->prefill(b.data(), 2, cb, out.data());
  // Both decode together, one token each per step, at positions 7.. and 2..
  slm::KVCache* both[2] = {&ca, &cb};
  for (size_t s = 0; s < 3; ++s) {
    const int32_t step[2] = {a[7 + s], b[2 + s]};
    m->forward_cached(step, 2, 1, both, out.data());
    EXPECT_LE(max_err(out.data(), a, 8 + s), 1e-4f) << "sequence a, step " << s;
    EXPECT_LE(max_err(out.data() + V, b, 3 + s), 1e-4f) << "sequence b, step " << s;
  }
  EXPECT_EQ(ca.len, 10);
  EXPECT_EQ(cb.len, 5);
  // A batch in which one row would overflow its cache is refused before anything changes.
  slm::KVCache full(m->config());
  std::vector<int32_t> ctx(static_cast<size_t>(m->config().context_length), 1);
  m->prefill(ctx.data(), m->config().context_length, full, out.data());
  slm::KVCache* mixed[2] = {&cb, &full};
  EXPECT_THROW(m->forward_cached(std::vector<int32_t>{1, 1}.data(), 2, 1, mixed, out.data()), slm::Error);
  EXPECT_EQ(cb.len, 5);
}

// Continuous batching's one pass a step: a prompt that starts its sequence, a chunk that continues
// one and two decode steps in one forward_cached call with rows of their own lengths give each
// sequence the logits it gets alone and those of the full forward, within float rounding.
TEST(KVCache, RowsOfTheirOwnLengthsInOnePassEqualEachAlone) {
  auto m = slm::load_hf_model(kFixture, true);
  const int64_t V = m->config().vocab_size;
  struct Seq {
    std::vector<int32_t> ids;
    int64_t before;  // tokens cached before the shared pass
  };
  const std::vector<Seq> seqs = {
      {{5, 17, 200, 3, 99, 42, 7}, 0}, {{250, 4, 8, 15, 16, 23, 42}, 3}, {{1, 2, 3, 4, 5}, 4}, {{9, 8}, 1}};
  const auto B = static_cast<int64_t>(seqs.size());
  std::vector<std::unique_ptr<slm::KVCache>> alone, shared;
  std::vector<float> want(static_cast<size_t>(B * V)), got(static_cast<size_t>(B * V)), full(V);
  std::vector<int32_t> tokens;
  std::vector<int64_t> lens;
  std::vector<slm::KVCache*> caches;
  for (int64_t b = 0; b < B; ++b) {
    const Seq& s = seqs[b];
    const auto n = static_cast<int64_t>(s.ids.size()) - s.before;
    alone.push_back(std::make_unique<slm::KVCache>(m->config()));
    shared.push_back(std::make_unique<slm::KVCache>(m->config()));
    if (s.before > 0) {
      m->prefill(s.ids.data(), s.before, *alone.back(), full.data());
      m->prefill(s.ids.data(), s.before, *shared.back(), full.data());
    }
    slm::KVCache* one = alone.back().get();
    m->forward_cached(s.ids.data() + s.before, 1, n, &one, want.data() + b * V);
    tokens.insert(tokens.end(), s.ids.begin() + s.before, s.ids.end());
    lens.push_back(n);
    caches.push_back(shared.back().get());
  }
  m->forward_cached(tokens.data(), lens.data(), B, caches.data(), got.data());
  for (int64_t b = 0; b < B; ++b) {
    EXPECT_EQ(shared[b]->len, static_cast<int64_t>(seqs[b].ids.size()));
    m->logits(seqs[b].ids.data(), 1, static_cast<int64_t>(seqs[b].ids.size()), full.data(), true);
    float err = 0, err_full = 0;
    for (int64_t v = 0; v < V; ++v) {
      err = std::max(err, std::fabs(got[b * V + v] - want[b * V + v]));
      err_full = std::max(err_full, std::fabs(got[b * V + v] - full[v]));
    }
    EXPECT_LE(err_full, 1e-4f) << "sequence " << b;
    EXPECT_LE(err, 1e-4f) << "sequence " << b;
  }
  // An empty row, or one that would overflow its cache, is refused before any cache changes.
  const std::vector<int64_t> empty_row = {1, 0};
  EXPECT_THROW(m->forward_cached(tokens.data(), empty_row.data(), 2, caches.data(), got.data()), slm::Error);
  slm::KVCache full_cache(m->config());
  std::vector<int32_t> ctx(static_cast<size_t>(m->config().context_length), 1);
  m->prefill(ctx.data(), m->config().context_length, full_cache, got.data());
  slm::KVCache* mixed[2] = {caches[0], &full_cache};
  const std::vector<int64_t> ones = {2, 1};
  EXPECT_THROW(m->forward_cached(tokens.data(), ones.data(), 2, mixed, got.data()), slm::Error);
  EXPECT_EQ(caches[0]->len, 7);
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
