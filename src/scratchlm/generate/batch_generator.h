// batch_generator.h — continuous batching: chapter 5's generate for many sequences at once, the
// way a server runs it. Up to `slots` sequences generate together, each with its own KV cache;
// every step is one forward pass over all of them (GPT::forward_cached with rows of their own
// lengths), so the weights are read once per step for all, and that is where the throughput comes
// from. New sequences join between steps, first come first served; their prompts ride in the same
// pass as the others' decode steps (as llama.cpp batches them), in chunks of up to `prefill_chunk`
// tokens per step in all, so running sequences are not stalled for long by a long prompt.
//
// Each sequence gets the tokens `generate` (generator.h) would give it alone, up to float rounding:
// its own Sampler (seed, temperature, top-k/p, penalty), the same end-of-text stop and
// max_new_tokens, the same sliding window past the context length (the window is prefilled
// again). A batch of rows multiplies through sgemm instead of sgemv, which may round differently.
//
// Log-probabilities (TokenLogprob) are of the model's own distribution, as OpenAI's logprobs and
// lm-evaluation-harness's log-likelihoods need them; the prompt is scored by one whole forward
// pass when a job asks (echo), which holds up the other sequences for that pass.
//
// One thread owns the model: the callbacks of a job run on it and must be quick (queue the text
// for the thread that answers the client). A job is cancelled by its `cancelled` flag (a client
// that went away); its slot is free after the current step.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scratchlm/generate/generator.h"

namespace slm {

class GPT;

// A token's log-probability under the model (log-softmax of its raw logits: before logit_bias,
// penalties, temperature and filters) and the most likely alternatives at its position.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;                        // NaN: none (the first prompt token has no context to be scored on)
  std::vector<std::pair<int32_t, float>> top;  // (id, logprob), most likely first
};

struct GenerationJob {
  std::vector<int32_t> prompt;  // not empty, ids within the vocabulary
  GenerateOptions options;
  // -1: no log-probabilities; else each generated token's (on_logprob, before its on_token) with
  // this many alternatives (0..20).
  int logprobs = -1;
  // Score the prompt first (one full forward pass over it, at most the context length): each
  // prompt token's log-probability given the tokens before it, with `max(logprobs, 0)` alternatives.
  bool score_prompt = false;
  std::function<void(const TokenLogprob&)> on_logprob;
  std::function<void(std::vector<TokenLogprob>)> on_prompt_logprobs;
  // Each new token; returning false ends the sequence (e.g. a stop string was seen).
  std::function<bool(int32_t)> on_token;
  // Once, at the end: error is empty after a normal end (max_new_tokens, end of text, on_token
  // false, cancelled), else why the job failed (e.g. the server is shutting down).
  std::function<void(const std::string& error)> on_done;
  std::atomic<bool> cancelled{false};
};

struct BatchGeneratorStats {
  int64_t active = 0, queued = 0;  // now
  uint64_t steps = 0, tokens = 0;  // scheduler steps and tokens generated so far
  int64_t max_batch = 0;           // the most sequences one decode pass has carried
  double tokens_per_s = 0.0;       // tokens generated per second over the last 10 s
};

class BatchGenerator {
 public:
  BatchGenerator(GPT& model, int slots, int64_t max_queue, int64_t prefill_chunk = 256);
  ~BatchGenerator();  // shutdown() and join
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Queues a job; false (and nothing queued) when max_queue jobs are already waiting or the
  // generator is shutting down.
  bool submit(std::shared_ptr<GenerationJob> job);
  // Queues the jobs of one request together (its list of prompts): all or none, counted against
  // max_queue as one request, so that a batch of prompts is not refused by an idle server.
  bool submit_all(const std::vector<std::shared_ptr<GenerationJob>>& jobs);
  // Ends every running and waiting job (on_done with "the server is shutting down") and the thread.
  void shutdown();
  BatchGeneratorStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slm
