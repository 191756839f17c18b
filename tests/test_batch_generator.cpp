// test_batch_generator.cpp — continuous batching: every sequence of a batch gets the tokens it gets
// alone (greedy and seeded sampling, prompts longer than one prefill chunk and past the context),
// jobs join and leave between steps, cancellation frees the slot, the queue bound and shutdown.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>

#include "scratchlm/generate/batch_generator.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/gpt.h"

namespace {

const std::string kFixture = std::string(SLM_SOURCE_DIR) + "/tests/fixtures/torch/tiny_qkvbias";

struct Outcome {
  std::vector<int32_t> tokens;
  std::string error;
};

// Submit a job and return a future of its outcome.
std::future<Outcome> submit(slm::BatchGenerator& g, std::vector<int32_t> prompt, slm::GenerateOptions o,
                            std::shared_ptr<slm::GenerationJob>* keep = nullptr) {
  auto job = std::make_shared<slm::GenerationJob>();
  auto out = std::make_shared<Outcome>();
  auto done = std::make_shared<std::promise<Outcome>>();
  job->prompt = std::move(prompt);
  job->options = o;
  job->on_token = [out](int32_t t) {
    out->tokens.push_back(t);
    return true;
  };
  job->on_done = [out, done](const std::string& e) {
    out->error = e;
    done->set_value(*out);
  };
  if (keep) *keep = job;
  EXPECT_TRUE(g.submit(job));
  return done->get_future();
}

}  // namespace

TEST(BatchGenerator, EverySequenceGetsWhatItGetsAlone) {
  auto m = slm::load_hf_model(kFixture, true);
  const int64_t ctx = m->config().context_length;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<slm::GenerateOptions> opts;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p;
    const int len = i == 4 ? static_cast<int>(ctx) - 5 : 1 + 7 * i;  // one runs past the context
    for (int k = 0; k < len; ++k) p.push_back((k * 37 + i * 11 + 5) % 256);
    prompts.push_back(p);
    slm::GenerateOptions o;
    o.max_new_tokens = 12 + 3 * i;
    o.stop_at_eos = false;
    if (i % 2) {
      o.sampler.temperature = 0.9f;
      o.sampler.top_k = 20;
      o.sampler.seed = 100 + static_cast<uint64_t>(i);
    } else {
      o.sampler.temperature = 0.0f;
    }
    opts.push_back(o);
  }
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < prompts.size(); ++i) alone.push_back(slm::generate(*m, prompts[i], opts[i]));
  for (int slots : {1, 3}) {
    slm::BatchGenerator g(*m, slots, 16, /*prefill_chunk=*/8);  // long prompts go in several chunks
    std::vector<std::future<Outcome>> got;
    for (size_t i = 0; i < prompts.size(); ++i) got.push_back(submit(g, prompts[i], opts[i]));
    for (size_t i = 0; i < prompts.size(); ++i) {
      const Outcome o = got[i].get();
      EXPECT_EQ(o.error, "");
      EXPECT_EQ(o.tokens, alone[i]) << "sequence " << i << " with " << slots << " slots";
    }
    const auto st = g.stats();
    EXPECT_EQ(st.active, 0);
    EXPECT_EQ(st.queued, 0);
    size_t total = 0;
    for (const auto& a : alone) total += a.size();
    EXPECT_EQ(st.tokens, total);
    EXPECT_EQ(st.max_batch, slots);  // the sequences decoded together
  }
}

TEST(BatchGenerator, CancelQueueBoundAndShutdown) {
  auto m = slm::load_hf_model(kFixture, true);
  slm::GenerateOptions o;
  o.max_new_tokens = 1000000;  // runs until cancelled
  o.stop_at_eos = false;
  o.sampler.temperature = 0.0f;
  slm::BatchGenerator g(*m, 1, 1);
  // The first job holds the only slot; wait until it generates.
  std::shared_ptr<slm::GenerationJob> first;
  std::mutex mu;
  std::condition_variable cv;
  int seen = 0;
  auto job = std::make_shared<slm::GenerationJob>();
  job->prompt = {1, 2, 3};
  job->options = o;
  std::promise<std::string> first_done;
  job->on_token = [&](int32_t) {
    std::lock_guard lock(mu);
    ++seen;
    cv.notify_all();
    return true;
  };
  job->on_done = [&](const std::string& e) { first_done.set_value(e); };
  ASSERT_TRUE(g.submit(job));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return seen > 0; });
  }
  // One may wait; the next is refused (the server answers 429).
  std::shared_ptr<slm::GenerationJob> second;
  auto second_out = submit(g, {4, 5}, o, &second);
  auto third = std::make_shared<slm::GenerationJob>();
  third->prompt = {6};
  third->options = o;
  EXPECT_FALSE(g.submit(third));
  EXPECT_EQ(g.stats().queued, 1);
  // Cancelling the first frees its slot for the second.
  job->cancelled = true;
  EXPECT_EQ(first_done.get_future().get(), "");
  while (g.stats().queued > 0) std::this_thread::yield();
  EXPECT_EQ(g.stats().active, 1);
  // Shutdown ends the running job with a reason.
  g.shutdown();
  const Outcome o2 = second_out.get();
  EXPECT_EQ(o2.error, "the server is shutting down");
  EXPECT_FALSE(g.submit(third));
}

// Log-probabilities: each generated token's (with its alternatives) and the prompt's (score_prompt,
// the first prompt token none) are the model's log-softmax; the jobs of one request queue together.
TEST(BatchGenerator, LogprobsAndPromptScores) {
  auto m = slm::load_hf_model(kFixture, true);
  auto ref = slm::load_hf_model(kFixture, true);
  const int64_t V = m->config().vocab_size;
  const std::vector<int32_t> prompt = {5, 17, 3, 42, 8};
  auto log_softmax = [&](const std::vector<int32_t>& ids) {  // [T][V]
    const auto T = static_cast<int64_t>(ids.size());
    std::vector<float> all(static_cast<size_t>(T * V));
    ref->logits(ids.data(), 1, T, all.data(), false);
    std::vector<std::vector<double>> out(static_cast<size_t>(T), std::vector<double>(static_cast<size_t>(V)));
    for (int64_t t = 0; t < T; ++t) {
      double mx = -1e30, sum = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max(mx, static_cast<double>(all[t * V + i]));
      for (int64_t i = 0; i < V; ++i) sum += std::exp(all[t * V + i] - mx);
      for (int64_t i = 0; i < V; ++i) out[t][i] = all[t * V + i] - mx - std::log(sum);
    }
    return out;
  };
  slm::BatchGenerator g(*m, 2, 0);
  auto job = std::make_shared<slm::GenerationJob>();
  job->prompt = prompt;
  job->options.max_new_tokens = 4;
  job->options.sampler.temperature = 0.0f;
  job->options.stop_at_eos = false;
  job->logprobs = 3;
  job->score_prompt = true;
  std::vector<slm::TokenLogprob> gen_lps, prompt_lps;
  std::vector<int32_t> tokens;
  std::promise<void> done;
  job->on_token = [&](int32_t t) {
    tokens.push_back(t);
    return true;
  };
  job->on_logprob = [&](const slm::TokenLogprob& t) { gen_lps.push_back(t); };
  job->on_prompt_logprobs = [&](std::vector<slm::TokenLogprob> v) { prompt_lps = std::move(v); };
  job->on_done = [&](const std::string&) { done.set_value(); };
  ASSERT_TRUE(g.submit_all({job}));
  done.get_future().wait();
  ASSERT_EQ(prompt_lps.size(), prompt.size());
  EXPECT_TRUE(std::isnan(prompt_lps[0].logprob));
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), tokens.begin(), tokens.end());
  const auto lp = log_softmax(seq);
  for (size_t i = 1; i < prompt.size(); ++i) {
    EXPECT_NEAR(prompt_lps[i].logprob, lp[i - 1][prompt[i]], 1e-4) << i;
    ASSERT_EQ(prompt_lps[i].top.size(), 3u);
  }
  ASSERT_EQ(gen_lps.size(), tokens.size());
  for (size_t k = 0; k < tokens.size(); ++k) {
    const size_t pos = prompt.size() - 1 + k;
    EXPECT_EQ(gen_lps[k].id, tokens[k]);
    EXPECT_NEAR(gen_lps[k].logprob, lp[pos][tokens[k]], 1e-3) << k;
    ASSERT_EQ(gen_lps[k].top.size(), 3u);
    EXPECT_EQ(gen_lps[k].top[0].first, tokens[k]);  // greedy: the likeliest
    EXPECT_GE(gen_lps[k].top[0].second, gen_lps[k].top[1].second);
  }
}
