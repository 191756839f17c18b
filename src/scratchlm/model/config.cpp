// config.cpp — named GPT configurations, HF config.json mapping and parameter counts (ch. 4).
#include "scratchlm/model/config.h"

#include <nlohmann/json.hpp>

#include "scratchlm/util/error.h"

namespace slm {

void GPTConfig::validate() const {
  if (vocab_size <= 0 || context_length <= 0 || emb_dim <= 0 || n_heads <= 0 || n_layers <= 0)
    fail("invalid model config: vocab_size, context_length, emb_dim, n_heads and n_layers must be positive");
  if (emb_dim % n_heads != 0)
    fail("invalid model config: emb_dim {} is not divisible by n_heads {}", emb_dim, n_heads);
  if (!(drop_rate >= 0.0f && drop_rate < 1.0f)) fail("invalid model config: drop_rate {} must be in [0, 1)", drop_rate);
  if (!(layer_norm_epsilon > 0.0f)) fail("invalid model config: layer_norm_epsilon must be positive");
  if (vocab_size > (int64_t{1} << 31) || context_length > (int64_t{1} << 24))
    fail("invalid model config: vocab_size or context_length is unreasonably large");
}

std::vector<std::string> config_names() {
  return {"gpt2-124M", "gpt2-355M", "gpt2-774M", "gpt2-1558M", "gpt2-mini", "gpt2-tiny"};
}

GPTConfig config_by_name(const std::string& name) {
  GPTConfig c;
  if (name == "gpt2-124M" || name == "gpt2") {
  } else if (name == "gpt2-355M" || name == "gpt2-medium") {
    c.emb_dim = 1024, c.n_heads = 16, c.n_layers = 24;
  } else if (name == "gpt2-774M" || name == "gpt2-large") {
    c.emb_dim = 1280, c.n_heads = 20, c.n_layers = 36;
  } else if (name == "gpt2-1558M" || name == "gpt2-xl") {
    c.emb_dim = 1600, c.n_heads = 25, c.n_layers = 48;
  } else if (name == "gpt2-mini") {
    c.context_length = 256, c.emb_dim = 384, c.n_heads = 6, c.n_layers = 6;
  } else if (name == "gpt2-tiny") {
    c.context_length = 128, c.emb_dim = 128, c.n_heads = 4, c.n_layers = 2;
  } else {
    std::string names;
    for (const auto& n : config_names()) names += (names.empty() ? "" : ", ") + n;
    fail("unknown config '{}' (known: {})", name, names);
  }
  return c;
}

nlohmann::json GPTConfig::to_hf_json() const {
  return {{"model_type", "gpt2"},
          {"architectures", {"GPT2LMHeadModel"}},
          {"vocab_size", vocab_size},
          {"n_positions", context_length},
          {"n_ctx", context_length},
          {"n_embd", emb_dim},
          {"n_head", n_heads},
          {"n_layer", n_layers},
          {"n_inner", nullptr},
          {"layer_norm_epsilon", layer_norm_epsilon},
          {"activation_function", "gelu_new"},
          {"resid_pdrop", drop_rate},
          {"embd_pdrop", drop_rate},
          {"attn_pdrop", drop_rate},
          {"bos_token_id", 50256},
          {"eos_token_id", 50256},
          {"tie_word_embeddings", tie_word_embeddings},
          {"qkv_bias", qkv_bias}};
}

GPTConfig GPTConfig::from_hf_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object", source);
  GPTConfig c;
  auto get_int = [&](const char* key, int64_t& dst, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) fail("{}: missing key '{}'", source, key);
      return;
    }
    if (!j[key].is_number_integer()) fail("{}: '{}' must be an integer", source, key);
    dst = j[key].get<int64_t>();
  };
  get_int("vocab_size", c.vocab_size, true);
  get_int("n_embd", c.emb_dim, true);
  get_int("n_head", c.n_heads, true);
  get_int("n_layer", c.n_layers, true);
  if (j.contains("n_positions")) get_int("n_positions", c.context_length, true);
  else get_int("n_ctx", c.context_length, true);
  if (j.contains("n_inner") && !j["n_inner"].is_null() && j["n_inner"] != 4 * c.emb_dim)
    fail("{}: n_inner other than 4*n_embd is not supported", source);
  if (j.contains("activation_function") && j["activation_function"].is_string()) {
    std::string act = j["activation_function"];
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu")
      fail("{}: activation_function '{}' is not supported (ScratchLM uses GELU, tanh approximation)", source, act);
  }
  auto get_float = [&](const char* key, float& dst) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number()) fail("{}: '{}' must be a number", source, key);
    dst = j[key].get<float>();
  };
  get_float("layer_norm_epsilon", c.layer_norm_epsilon);
  c.drop_rate = 0.0f;
  get_float("resid_pdrop", c.drop_rate);
  auto get_bool = [&](const char* key, bool& dst) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_boolean()) fail("{}: '{}' must be true or false", source, key);
    dst = j[key].get<bool>();
  };
  // Hugging Face's GPT-2 always has a qkv bias and ties the head unless told otherwise.
  c.qkv_bias = true;
  c.tie_word_embeddings = true;
  get_bool("qkv_bias", c.qkv_bias);
  get_bool("tie_word_embeddings", c.tie_word_embeddings);
  c.validate();
  return c;
}

ParamCounts count_params(const GPTConfig& c) {
  ParamCounts p;
  const int64_t C = c.emb_dim;
  p.tok_emb = c.vocab_size * C;
  p.pos_emb = c.context_length * C;
  p.attention_per_block = C * 3 * C + (c.qkv_bias ? 3 * C : 0) + C * C + C;
  p.ff_per_block = C * 4 * C + 4 * C + 4 * C * C + C;
  p.norms_per_block = 4 * C;
  p.per_block = p.attention_per_block + p.ff_per_block + p.norms_per_block;
  p.blocks = p.per_block * c.n_layers;
  p.final_norm = 2 * C;
  p.out_head = c.vocab_size * C;
  p.total_tied = p.tok_emb + p.pos_emb + p.blocks + p.final_norm;
  p.total_untied = p.total_tied + p.out_head;
  p.total = c.tie_word_embeddings ? p.total_tied : p.total_untied;
  return p;
}

}  // namespace slm
