// sampler.h — next-token decoding strategies (book chapter 5.3: greedy, temperature scaling,
// top-k) plus the common extras: top-p (nucleus), min-p and the CTRL repetition penalty.
//
// Pipeline of Sampler::sample, one row of logits [V] at a time:
//   0. logit_bias (OpenAI): logit[t] += bias for each listed token (ids outside [0, V) are BadInput).
//   1. Repetition penalty (CTRL, Keskar et al. 2019, exactly as Hugging Face's
//      RepetitionPenaltyLogitsProcessor): for each DISTINCT token t in `context`,
//      logit[t] = logit[t] > 0 ? logit[t] / r : logit[t] * r   (r > 1 discourages repeats).
//      A token repeated in the context is penalized once. The caller decides which window of
//      tokens counts (HF: the whole prompt + generated ids; llama.cpp: the last 64).
//   1b. OpenAI's presence / frequency penalties over the generated tokens (see SamplerConfig).
//   2. temperature == 0: greedy — return argmax of the penalized logits (ties: lowest id). The
//      filters below cannot change the argmax and are skipped, and no random number is drawn.
//   3. Temperature: logits / T (computed as (logit - max) / T, which cannot overflow).
//   4. Top-k (the book's way: torch.topk, then logits < k-th largest value -> -inf): keeps the k
//      largest AND every token tied with the k-th value, so more than k may survive. Temperature
//      is monotone, so top-k commutes with it; the threshold is taken on the untempered logits,
//      as in the book's generate() (which applies top-k before temperature).
//   5. Softmax.
//   6. Top-p (nucleus, Holtzman et al. 2019): in descending probability (ties: lower id first),
//      keep the smallest prefix whose cumulative probability >= top_p — i.e. a token survives iff
//      the mass strictly before it is < top_p, the same rule as HF's TopPLogitsWarper. The top
//      token always survives. Ties at the cut are NOT all kept (unlike top-k). Renormalize.
//   7. Min-p (Nguyen et al. 2024): drop tokens with p < min_p * p_max. Renormalize.
//   8. Draw: one u = rng.uniform_double() in [0, 1), then inverse CDF over the surviving tokens in
//      increasing id order: the first id whose cumulative probability exceeds u * total.
// Order: this is Hugging Face generate()'s order (processors, then warpers temperature -> top-k
// -> top-p -> min-p). llama.cpp's default chain (penalties, top-k, typical, top-p, min-p, temp)
// differs: it applies temperature LAST, so there top-p / min-p see the untempered distribution;
// here (as in HF and the book) they see the tempered one. Top-p before min-p is the same in both.
//
// Input checks (BadInput): V > 0; no NaN or +inf logit (-inf is a valid mask); at least one
// finite logit; context ids in [0, V). A config is validated when the Sampler is built.
// Memory: buffers of O(V) are members, grown on the first call with a larger V and reused, so
// steady-state calls do not allocate. Cost: a few vectorized O(V) passes, no full sort. Top-k
// finds the k-th value with a k-entry heap (blocks of 16 that cannot enter it are skipped by a
// vector compare) or nth_element for large k, and exponentiates only the survivors. Top-p locates
// the cut with a mass histogram over the weights' float bits, then a quickselect on mass inside
// the one bucket holding the cut. exp is a branch-free polynomial (relative error < 3e-7; weights
// below e^-87 of the top token count as 0). About 15 us (greedy), 30 us (top-k 50 + top-p),
// 50 us (plain) and 140 us (top-p alone) per call at V = 50257 on one core.
// Determinism: the same seed, logits and build give the same tokens (and rng_state() resumes
// exactly); other compile flags (e.g. FMA contraction) may round weights differently by an ulp,
// which can change a draw that falls right at a CDF boundary.
// llama.cpp order quoted from its common sampler defaults ("penalties;dry;top_n_sigma;top_k;
// typ_p;top_p;min_p;xtc;temperature"); its repeat penalty uses the last 64 tokens by default.
// A Sampler holds the random stream of one generated sequence; it is not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "scratchlm/tensor/rng.h"

namespace slm {

struct SamplerConfig {
  float temperature = 1.0f;         // 0 = greedy; must be finite and >= 0
  int top_k = 0;                    // 0 = off; k >= V is also off
  float top_p = 1.0f;               // in (0, 1]; 1 = off
  float min_p = 0.0f;               // in [0, 1); 0 = off
  float repetition_penalty = 1.0f;  // > 0; 1 = off
  // OpenAI's penalties (step 1b): logit[t] -= c[t] * frequency_penalty + (c[t] > 0) * presence_penalty,
  // c[t] = how often t occurs among the generated tokens (context[generated_from..]); in [-2, 2], 0 = off.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // OpenAI's logit_bias (step 0): added to the logits of these token ids before anything else; each
  // bias in [-100, 100] (-100 in effect bans a token, 100 all but forces it).
  std::vector<std::pair<int32_t, float>> logit_bias;
  uint64_t seed = 0;  // seed of the sampler's Rng

  // Throws BadInput naming the first invalid field.
  void validate() const;
};

// Index of the largest logit; ties -> the lowest id. BadInput if V <= 0 or a logit is NaN.
int32_t argmax(const float* logits, int64_t V);

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config);  // validates config

  // The next token for logits[0..V) given the ids already in the sequence (for the penalty).
  // context[generated_from..] are the generated tokens that presence/frequency penalties count.
  int32_t sample(const float* logits, int64_t V, std::span<const int32_t> context, size_t generated_from = 0);

  // The exact distribution sample() draws from (after all filters, renormalized), written to
  // probs[0..V); one-hot at the argmax when temperature == 0. Uses no randomness. For tests,
  // diagnostics and "show the top candidates" displays; it resizes `probs`.
  void distribution(const float* logits, int64_t V, std::span<const int32_t> context, std::vector<float>& probs,
                    size_t generated_from = 0);

  // The random stream, for exact resume: save after a step, restore into a fresh Sampler.
  std::array<uint64_t, 4> rng_state() const { return rng_.state(); }
  void set_rng_state(const std::array<uint64_t, 4>& s) { rng_.set_state(s); }

  const SamplerConfig& config() const { return cfg_; }

 private:
  // Steps 1-7: fills buf_ (penalized logits, then weights for ids in idx_) and idx_[0..n) with
  // the surviving ids in increasing order; returns the sum of their weights. Greedy: returns
  // 0 with idx_ = {argmax}.
  double prepare(const float* logits, int64_t V, std::span<const int32_t> context, size_t generated_from);

  SamplerConfig cfg_;
  Rng rng_;
  std::vector<float> buf_;     // [V] logits, then unnormalized weights exp((l - max) / T)
  std::vector<float> tmp_;     // [V] scratch values for nth_element (top-k)
  std::vector<int32_t> idx_;   // [V] candidate ids, increasing
  std::vector<uint64_t> ord_;  // [V] top-p sort keys: weight bits << 32 | ~id
  std::vector<uint8_t> seen_;  // [V] all zero between calls (repetition penalty marks)
  int64_t n_ = 0;              // number of candidates in idx_
};

}  // namespace slm
