// peft_config.h — a PEFT LoRA adapter_config.json read as PEFT reads it (appendix E's LoRA, in
// Hugging Face PEFT's files), for adapters made by PEFT itself: which modules are adapted and each
// one's rank and scale. The rules, from peft (tuners_utils.check_target_module_exists,
// utils.other.get_pattern_key, tuners/lora/layer.py), applied to a module key such as
// "transformer.h.3.attn.c_attn":
//   target_modules  a string: a regular expression the whole key must match (re.fullmatch); a list:
//                   a name equal to the key or to its last dotted parts ("c_attn" adapts every
//                   c_attn), then filtered by layers_to_transform (an int or a list of layer indices,
//                   found after layers_pattern, e.g. "h", or after the first dotted name);
//                   absent or empty: ["c_attn"], PEFT's default for GPT-2;
//   exclude_modules the same, removing modules;
//   rank_pattern, alpha_pattern  the first key K (in file order) that the module key matches as
//                   (.*\.)?(K)$ gives its r / lora_alpha, else r / lora_alpha;
//   scale           lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora;
//   fan_in_fan_out  GPT-2's modules are Conv1D, for which PEFT forces it to true (W [in, out] +=
//                   scale (B A)^T whatever the file says).
// Unsupported features (DoRA, lora_bias, bias other than "none", modules_to_save) are BadInput
// errors naming the file and the field, so an adapter is never applied differently than PEFT would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace slm {

struct PeftLoraConfig {
  std::string path;  // adapter_config.json, for messages
  std::string base;  // base_model_name_or_path
  int64_t r = 0;
  double alpha = 0.0;
  bool use_rslora = false;
  std::optional<std::string> target_regex, exclude_regex;
  std::vector<std::string> target_names, exclude_names;
  std::vector<int64_t> layers;  // layers_to_transform; empty: every layer
  std::vector<std::string> layers_pattern;
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;

  // Whether PEFT adapts the module `key` (e.g. "transformer.h.0.attn.c_attn").
  bool targets(const std::string& key) const;
  int64_t rank_for(const std::string& key) const;
  double alpha_for(const std::string& key) const;
  double scale_for(const std::string& key) const;
};

// Parse adapter_config.json's text (BadInput naming `path` for malformed JSON, a missing or
// ill-typed field, an unsupported feature or a pattern that is not a regular expression ECMAScript
// also reads).
PeftLoraConfig parse_peft_lora_config(const std::string& text, const std::string& path);

}  // namespace slm
