// generator.cpp — autoregressive generation (see generator.h).
#include "scratchlm/generate/generator.h"

#include <algorithm>
#include <memory>

#include "scratchlm/model/gpt.h"
#include "scratchlm/util/error.h"

namespace slm {

std::vector<int32_t> generate(GPT& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                              const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) fail("the prompt is empty: nothing to continue");
  if (options.max_new_tokens < 0) fail("max_new_tokens must not be negative");
  const bool was_training = model.training();
  model.set_training(false);
  Sampler sampler(options.sampler);
  const int64_t ctx = model.config().context_length, V = model.config().vocab_size;
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  std::vector<int32_t> out;
  std::vector<float> logits(static_cast<size_t>(V));
  std::unique_ptr<KVCache> cache;
  if (options.use_kv_cache) cache = std::make_unique<KVCache>(model.config());
  for (int64_t n = 0; n < options.max_new_tokens; ++n) {
    const int64_t T = std::min<int64_t>(static_cast<int64_t>(seq.size()), ctx);
    const int32_t* window = seq.data() + (seq.size() - static_cast<size_t>(T));
    if (cache && n > 0 && static_cast<int64_t>(seq.size()) <= ctx && cache->len == T - 1)
      model.decode_step(seq.back(), *cache, logits.data());
    else if (cache)
      model.prefill(window, T, *cache, logits.data());
    else
      model.logits(window, 1, T, logits.data(), true);
    const int32_t next = sampler.sample(logits.data(), V, std::span<const int32_t>(seq), prompt.size());
    if (options.stop_at_eos && next == options.eos_id) break;
    seq.push_back(next);
    out.push_back(next);
    if (on_token && !on_token(next)) break;
  }
  model.set_training(was_training);
  return out;
}

}  // namespace slm
