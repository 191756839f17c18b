// generator.h — autoregressive text generation (chapter 4.7 generate_text_simple and chapter 5.3's
// generate with temperature and top-k): feed the context, sample the next token, append, repeat.
// The context is cut from the left to the model's context length, as in the book.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "scratchlm/generate/sampler.h"

namespace slm {

class GPT;

struct GenerateOptions {
  int64_t max_new_tokens = 50;
  SamplerConfig sampler;    // temperature 0 = greedy
  bool stop_at_eos = true;  // stop when eos_id is generated (it is not emitted)
  int32_t eos_id = 50256;
  // Reuse keys/values of earlier positions (same tokens as without it). Once the sequence is longer
  // than the context, every step sees a new left-truncated window and is computed in full.
  bool use_kv_cache = true;
};

// Generate up to max_new_tokens after `prompt` (which must not be empty). on_token, if set, is
// called with each new token and may return false to stop early. Returns the new tokens.
std::vector<int32_t> generate(GPT& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                              const std::function<bool(int32_t)>& on_token = {});

}  // namespace slm
