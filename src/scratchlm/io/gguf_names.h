// gguf_names.h — the one table between ScratchLM's parameter names (Hugging Face GPT-2's) and
// llama.cpp's gpt2 tensor names, shared by GGUF export and import (gguf_model.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scratchlm/model/config.h"

namespace slm::gguf_names {

struct Entry {
  std::string ours;            // parameter name; empty: not in the model (a qkv bias written as zeros)
  std::string theirs;          // llama.cpp's tensor name
  std::vector<int64_t> shape;  // our shape, row-major
  bool transpose = false;      // a Conv1D [in, out] matrix, stored [out, in]
  bool quantizable = false;    // a matrix that may be F16 / Q8_0 (not the position embedding)
  // GGUF dims (dims[0] the row length) of the stored tensor.
  std::vector<int64_t> dims() const {
    if (shape.size() == 1) return shape;
    return transpose ? shape : std::vector<int64_t>{shape[1], shape[0]};
  }
};

// Every tensor of a gpt2 file for config c, in file order.
inline std::vector<Entry> table(const GPTConfig& c) {
  const int64_t C = c.emb_dim, V = c.vocab_size;
  std::vector<Entry> out = {{"wte.weight", "token_embd.weight", {V, C}, false, true},
                            {"wpe.weight", "position_embd.weight", {c.context_length, C}, false, false}};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    out.push_back({h + "ln_1.weight", b + "attn_norm.weight", {C}});
    out.push_back({h + "ln_1.bias", b + "attn_norm.bias", {C}});
    out.push_back({h + "attn.c_attn.weight", b + "attn_qkv.weight", {C, 3 * C}, true, true});
    out.push_back({c.qkv_bias ? h + "attn.c_attn.bias" : "", b + "attn_qkv.bias", {3 * C}});
    out.push_back({h + "attn.c_proj.weight", b + "attn_output.weight", {C, C}, true, true});
    out.push_back({h + "attn.c_proj.bias", b + "attn_output.bias", {C}});
    out.push_back({h + "ln_2.weight", b + "ffn_norm.weight", {C}});
    out.push_back({h + "ln_2.bias", b + "ffn_norm.bias", {C}});
    out.push_back({h + "mlp.c_fc.weight", b + "ffn_up.weight", {C, 4 * C}, true, true});
    out.push_back({h + "mlp.c_fc.bias", b + "ffn_up.bias", {4 * C}});
    out.push_back({h + "mlp.c_proj.weight", b + "ffn_down.weight", {4 * C, C}, true, true});
    out.push_back({h + "mlp.c_proj.bias", b + "ffn_down.bias", {C}});
  }
  out.push_back({"ln_f.weight", "output_norm.weight", {C}});
  out.push_back({"ln_f.bias", "output_norm.bias", {C}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", "output.weight", {V, C}, false, true});
  return out;
}

}  // namespace slm::gguf_names
