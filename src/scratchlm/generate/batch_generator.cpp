// batch_generator.cpp — continuous batching over GPT::forward_cached (see batch_generator.h).
#include "scratchlm/generate/batch_generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <numeric>
#include <thread>

#include "scratchlm/model/gpt.h"
#include "scratchlm/model/kv_cache.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// One running sequence and the KV cache it owns.
struct Slot {
  std::shared_ptr<GenerationJob> job;
  std::unique_ptr<KVCache> cache;
  std::unique_ptr<Sampler> sampler;
  std::vector<int32_t> seq;      // prompt + generated
  std::vector<int32_t> pending;  // tokens still to feed before the next sample
  int64_t generated = 0;
  bool scored = false;  // the prompt's log-probabilities were sent (score_prompt)
};

// Log-softmax of one row of logits: the log-probability of `id` and the `top` most likely ids.
TokenLogprob token_logprob(const float* logits, int64_t V, int32_t id, int top, std::vector<int32_t>& order) {
  float m = logits[0];
  for (int64_t i = 1; i < V; ++i) m = std::max(m, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(logits[i] - m));
  const double lse = static_cast<double>(m) + std::log(sum);
  TokenLogprob t;
  t.id = id;
  t.logprob = static_cast<float>(logits[id] - lse);
  if (top > 0) {
    const auto k = std::min<int64_t>(top, V);
    order.resize(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (int64_t j = 0; j < k; ++j) t.top.emplace_back(order[j], static_cast<float>(logits[order[j]] - lse));
  }
  return t;
}

// A step's pass: its tokens, the sequences they continue, and their logits (reused every step).
struct Scratch {
  std::vector<float> logits;  // [slots, V]
  std::vector<int32_t> tokens;
  std::vector<int64_t> lens;
  std::vector<KVCache*> caches;
  std::vector<Slot*> rows;
};

}  // namespace

struct BatchGenerator::Impl {
  GPT& model;
  int64_t max_queue, prefill_chunk;
  std::vector<Slot> slots;
  std::deque<std::shared_ptr<GenerationJob>> queue;
  mutable std::mutex mu;  // queue, stop, stats
  std::condition_variable wake;
  bool stop = false;
  BatchGeneratorStats counts;
  std::vector<int32_t> order;                                                     // scratch of token_logprob
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> recent;  // (step end, tokens so far)
  std::thread thread;
  // OpenMP's thread count is per thread: the creator's (--threads) is set again on the model's thread.
  int omp_threads = num_threads();

  Impl(GPT& m, int n, int64_t q, int64_t chunk) : model(m), max_queue(q), prefill_chunk(chunk) {
    slots.resize(static_cast<size_t>(n));
    for (Slot& s : slots) s.cache = std::make_unique<KVCache>(model.config());
  }

  void finish(Slot& s, const std::string& error) {
    auto job = std::move(s.job);
    s.job.reset();
    s.sampler.reset();
    {
      std::lock_guard lock(mu);
      --counts.active;
    }
    if (job->on_done) job->on_done(error);
  }

  // The tokens to feed next: the new token, or the whole left-cut window once the sequence no
  // longer fits the context (the cache starts over, as generate() recomputes the window).
  void plan_next(Slot& s) {
    const int64_t ctx = model.config().context_length;
    const auto n = static_cast<int64_t>(s.seq.size());
    if (n <= ctx && s.cache->len == n - 1) {
      s.pending.assign(1, s.seq.back());
      return;
    }
    s.cache->clear();
    s.pending.assign(s.seq.end() - std::min(n, ctx), s.seq.end());
  }

  // Sample the next token of a slot from its logits; false when the sequence ended.
  bool advance(Slot& s, const float* logits) {
    const GenerateOptions& o = s.job->options;
    const int64_t V = model.config().vocab_size;
    const int32_t next = s.sampler->sample(logits, V, std::span<const int32_t>(s.seq), s.job->prompt.size());
    if (o.stop_at_eos && next == o.eos_id) return false;
    if (s.job->logprobs >= 0 && s.job->on_logprob)
      s.job->on_logprob(token_logprob(logits, V, next, s.job->logprobs, order));
    s.seq.push_back(next);
    ++s.generated;
    {
      std::lock_guard lock(mu);
      ++counts.tokens;
    }
    if (s.job->on_token && !s.job->on_token(next)) return false;
    if (s.generated >= o.max_new_tokens) return false;
    plan_next(s);
    return true;
  }

  void admit() {
    std::lock_guard lock(mu);
    for (Slot& s : slots) {
      if (s.job || queue.empty()) continue;
      s.job = std::move(queue.front());
      queue.pop_front();
      ++counts.active;
      s.sampler = std::make_unique<Sampler>(s.job->options.sampler);
      s.seq = s.job->prompt;
      s.generated = 0;
      s.scored = false;
      s.cache->clear();
      s.pending.clear();
    }
  }

  // The prompt's log-probabilities, from one forward pass over it (it fits the context: the
  // server checks or cuts prompts first).
  void score_prompt(Slot& s) {
    s.scored = true;
    const int64_t V = model.config().vocab_size;
    const auto T = std::min<int64_t>(static_cast<int64_t>(s.seq.size()), model.config().context_length);
    const int top = std::max(s.job->logprobs, 0);
    std::vector<TokenLogprob> out(static_cast<size_t>(T));
    out[0].id = s.seq[0];
    out[0].logprob = std::nanf("");
    if (T > 1) {
      std::vector<float> all(static_cast<size_t>(T * V));
      model.logits(s.seq.data(), 1, T, all.data(), false);
      for (int64_t i = 1; i < T; ++i) out[i] = token_logprob(all.data() + (i - 1) * V, V, s.seq[i], top, order);
    }
    if (s.job->on_prompt_logprobs) s.job->on_prompt_logprobs(std::move(out));
  }

  // One step: one forward pass over every slot that has exactly its next token to feed and over
  // prompt chunks (up to prefill_chunk tokens in all, slots in order), so that a joining prompt
  // does not cost a pass of its own.
  void step(Scratch& sc) {
    const int64_t V = model.config().vocab_size;
    for (Slot& s : slots) {
      if (!s.job) continue;
      if (s.job->cancelled.load()) {
        finish(s, "");
        continue;
      }
      if (s.generated == 0 && s.pending.empty() && s.cache->len == 0) {
        if (s.job->score_prompt && !s.scored && !s.seq.empty()) score_prompt(s);
        if (s.job->options.max_new_tokens <= 0 || s.seq.empty()) {
          finish(s, s.seq.empty() ? "the prompt is empty: nothing to continue" : "");
          continue;
        }
        plan_next(s);
      }
    }
    sc.tokens.clear();
    sc.lens.clear();
    sc.caches.clear();
    sc.rows.clear();
    int64_t budget = prefill_chunk;
    for (Slot& s : slots) {
      if (!s.job || s.pending.empty() || (s.pending.size() > 1 && budget == 0)) continue;
      int64_t n = 1;
      if (s.pending.size() > 1) {
        n = std::min<int64_t>(budget, static_cast<int64_t>(s.pending.size()));
        budget -= n;
      }
      sc.tokens.insert(sc.tokens.end(), s.pending.begin(), s.pending.begin() + n);
      sc.lens.push_back(n);
      sc.caches.push_back(s.cache.get());
      sc.rows.push_back(&s);
    }
    if (!sc.rows.empty()) {
      const auto B = static_cast<int64_t>(sc.rows.size());
      model.forward_cached(sc.tokens.data(), sc.lens.data(), B, sc.caches.data(), sc.logits.data());
      {
        std::lock_guard lock(mu);
        counts.max_batch = std::max(counts.max_batch, B);
      }
      for (int64_t b = 0; b < B; ++b) {
        Slot& s = *sc.rows[b];
        s.pending.erase(s.pending.begin(), s.pending.begin() + sc.lens[b]);
        if (s.pending.empty() && !advance(s, sc.logits.data() + b * V)) finish(s, "");
      }
    }
    std::lock_guard lock(mu);
    ++counts.steps;
    const auto now = std::chrono::steady_clock::now();
    recent.emplace_back(now, counts.tokens);
    while (recent.size() > 1 && now - recent.front().first > std::chrono::seconds(10)) recent.pop_front();
  }

  // Tokens per second over the last 10 s (mu held).
  double rate() const {
    const auto now = std::chrono::steady_clock::now();
    if (recent.empty() || now - recent.back().first > std::chrono::seconds(10)) return 0.0;
    const auto& [t0, n0] = recent.front();
    const double span = std::max(1.0, std::chrono::duration<double>(now - t0).count());
    return static_cast<double>(counts.tokens - n0) / span;
  }

  bool busy() const {
    for (const Slot& s : slots)
      if (s.job) return true;
    return false;
  }

  void loop() {
    set_num_threads(omp_threads);
    model.set_training(false);
    Scratch sc;
    sc.logits.resize(slots.size() * static_cast<size_t>(model.config().vocab_size));
    for (;;) {
      {
        std::unique_lock lock(mu);
        wake.wait(lock, [&] { return stop || !queue.empty() || busy(); });
        if (stop) break;
      }
      admit();
      try {
        step(sc);
      } catch (const std::exception& e) {  // a model error ends the jobs of this step, not the server
        for (Slot& s : slots)
          if (s.job) finish(s, e.what());
      }
    }
    for (Slot& s : slots)
      if (s.job) finish(s, "the server is shutting down");
    std::deque<std::shared_ptr<GenerationJob>> left;
    {
      std::lock_guard lock(mu);
      left.swap(queue);
    }
    for (auto& job : left)
      if (job->on_done) job->on_done("the server is shutting down");
  }
};

BatchGenerator::BatchGenerator(GPT& model, int slots, int64_t max_queue, int64_t prefill_chunk) {
  if (slots < 1) fail("--parallel must be at least 1, got {}", slots);
  if (max_queue < 0) fail("--max-queue must not be negative, got {}", max_queue);
  if (prefill_chunk < 1) fail_internal("prefill chunk {} < 1", prefill_chunk);
  impl_ = std::make_unique<Impl>(model, slots, max_queue, prefill_chunk);
  impl_->thread = std::thread([this] { impl_->loop(); });
}

BatchGenerator::~BatchGenerator() {
  shutdown();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool BatchGenerator::submit(std::shared_ptr<GenerationJob> job) { return submit_all({std::move(job)}); }

bool BatchGenerator::submit_all(const std::vector<std::shared_ptr<GenerationJob>>& jobs) {
  {
    std::lock_guard lock(impl_->mu);
    // Waiting means beyond the free slots (a queued job takes a free slot at the next step).
    const auto free_slots = static_cast<int64_t>(impl_->slots.size()) - impl_->counts.active;
    if (impl_->stop || static_cast<int64_t>(impl_->queue.size()) - free_slots >= impl_->max_queue) return false;
    for (const auto& job : jobs) impl_->queue.push_back(job);
  }
  impl_->wake.notify_one();
  return true;
}

void BatchGenerator::shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->wake.notify_one();
}

BatchGeneratorStats BatchGenerator::stats() const {
  std::lock_guard lock(impl_->mu);
  BatchGeneratorStats s = impl_->counts;
  s.queued = static_cast<int64_t>(impl_->queue.size());
  s.tokens_per_s = impl_->rate();
  return s;
}

}  // namespace slm
