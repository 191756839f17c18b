// config.h — GPT model configurations (chapter 4.1: GPT_CONFIG_124M and friends).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace slm {

struct GPTConfig {
  int64_t vocab_size = 50257;
  int64_t context_length = 1024;  // n_positions
  int64_t emb_dim = 768;          // n_embd
  int64_t n_heads = 12;
  int64_t n_layers = 12;
  float drop_rate = 0.1f;         // embedding, attention-weight and shortcut dropout
  bool qkv_bias = true;
  bool tie_word_embeddings = false;  // the book's GPTModel has its own out_head
  float layer_norm_epsilon = 1e-5f;

  int64_t head_dim() const { return emb_dim / n_heads; }
  // BadInput error when fields are inconsistent (emb_dim % n_heads, non-positive sizes...).
  void validate() const;

  // Hugging Face GPT2Config keys (n_embd, n_head, n_layer, n_positions, vocab_size,
  // layer_norm_epsilon, *_pdrop) plus ScratchLM's qkv_bias and tie_word_embeddings.
  nlohmann::json to_hf_json() const;
  static GPTConfig from_hf_json(const nlohmann::json& j, const std::string& source);
};

// gpt2-124M, gpt2-355M, gpt2-774M, gpt2-1558M (the book's configs, qkv_bias as OpenAI's),
// gpt2-mini (ctx 256, emb 384, 6 heads, 6 layers), gpt2-tiny (ctx 128, emb 128, 4 heads, 2 layers).
GPTConfig config_by_name(const std::string& name);
std::vector<std::string> config_names();

// Parameter counts, per module, as the book reports them.
struct ParamCounts {
  int64_t tok_emb = 0, pos_emb = 0, per_block = 0, attention_per_block = 0, ff_per_block = 0,
          norms_per_block = 0, blocks = 0, final_norm = 0, out_head = 0;
  int64_t total = 0;           // as stored (out_head counted only when untied)
  int64_t total_untied = 0;    // with a separate out_head
  int64_t total_tied = 0;      // with out_head shared with tok_emb
};
ParamCounts count_params(const GPTConfig& c);

}  // namespace slm
