// model_options.h — the shared `--config NAME | --model DIR` options and config-field overrides
// of the model subcommands (info, logits, and later pretrain/generate).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"

namespace slm::cli {

struct ModelOptions {
  std::string config_name, model_dir;
  std::optional<int64_t> vocab_size, context_length, emb_dim, n_heads, n_layers;
  std::optional<float> drop_rate;
  std::optional<bool> qkv_bias, tie_word_embeddings;

  // --config and --model (exactly one is required when `require` is set), plus the overrides.
  void add(CLI::App* cmd, bool allow_config = true);
  // The config: from --model DIR's config.json or --config NAME, then the overrides.
  GPTConfig resolve() const;
  // Load --model DIR (weights from its model.safetensors), or build --config NAME with
  // GPT-2 initialization from `seed`.
  std::unique_ptr<GPT> load_or_init(uint64_t seed = 0) const;
  // A --model directory cannot take architecture overrides (the weights fix them).
  void check_overrides_for_model() const;
};

}  // namespace slm::cli
