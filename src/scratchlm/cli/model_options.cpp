// model_options.cpp — `--config NAME | --model DIR` plus overrides (see model_options.h).
#include "scratchlm/cli/model_options.h"

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void ModelOptions::add(CLI::App* cmd, bool allow_config) {
  auto* m =
      cmd->add_option("--model", model_dir,
                      "Model directory (Hugging Face GPT-2 layout: config.json + model.safetensors) or GGUF file");
  if (allow_config) {
    auto* c = cmd->add_option("--config", config_name,
                              "Named config: gpt2-124M, gpt2-355M, gpt2-774M, gpt2-1558M, gpt2-mini, gpt2-tiny");
    c->excludes(m);
    m->excludes(c);
    cmd->add_option("--vocab-size", vocab_size, "Override the config's vocabulary size");
    cmd->add_option("--context-length", context_length, "Override the context length (n_positions)");
    cmd->add_option("--emb-dim", emb_dim, "Override the embedding width (n_embd)");
    cmd->add_option("--n-heads", n_heads, "Override the number of attention heads");
    cmd->add_option("--n-layers", n_layers, "Override the number of transformer blocks");
    cmd->add_option("--qkv-bias", qkv_bias, "Override: bias in the query/key/value projections (true/false)");
    cmd->add_option("--tie-word-embeddings", tie_word_embeddings,
                    "Override: share the output head with the token embedding (true/false)");
  }
  cmd->add_option("--drop-rate", drop_rate, "Override the dropout rate");
}

void ModelOptions::check_overrides_for_model() const {
  if (vocab_size || context_length || emb_dim || n_heads || n_layers || qkv_bias || tie_word_embeddings)
    fail(
        "architecture overrides (--vocab-size, --emb-dim, ...) cannot be combined with --model: the weights fix the "
        "architecture");
}

GPTConfig ModelOptions::resolve() const {
  GPTConfig c;
  if (!model_dir.empty()) {
    check_overrides_for_model();
    c = load_hf_config(model_dir);
  } else if (!config_name.empty()) {
    c = config_by_name(config_name);
  } else {
    fail("give --config NAME or --model DIR");
  }
  if (vocab_size) c.vocab_size = *vocab_size;
  if (context_length) c.context_length = *context_length;
  if (emb_dim) c.emb_dim = *emb_dim;
  if (n_heads) c.n_heads = *n_heads;
  if (n_layers) c.n_layers = *n_layers;
  if (drop_rate) c.drop_rate = *drop_rate;
  if (qkv_bias) c.qkv_bias = *qkv_bias;
  if (tie_word_embeddings) c.tie_word_embeddings = *tie_word_embeddings;
  c.validate();
  return c;
}

std::unique_ptr<GPT> ModelOptions::load_or_init(uint64_t seed) const {
  if (!model_dir.empty()) {
    auto m = load_hf_model(model_dir);
    if (drop_rate) {
      GPTConfig c = m->config();
      c.drop_rate = *drop_rate;
      c.validate();
      auto m2 = std::make_unique<GPT>(c);
      std::copy_n(m->params().data_all(), m->params().numel(), m2->params().data_all());
      return m2;
    }
    return m;
  }
  auto m = std::make_unique<GPT>(resolve());
  m->init_weights(seed);
  return m;
}

}  // namespace slm::cli
