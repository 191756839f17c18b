// peft_adapter.h — LoRA adapters on disk in Hugging Face PEFT's layout (appendix E; see
// finetune/lora.h): DIR/adapter_config.json + DIR/adapter_model.safetensors, tensors named
// base_model.model.transformer.h.N.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r]
// (GPT-2's Conv1D modules: fan_in_fan_out true). c_attn's three slice adapters are stored as one
// rank-3r pair with a block-diagonal lora_B, declared through rank_pattern / alpha_pattern so
// that PEFT's scale (alpha / r) is the same: PEFT loads ScratchLM's adapters, and ScratchLM PEFT's.
#pragma once

#include <memory>
#include <string>

namespace slm {

class GPT;
class Tokenizer;

// Write the adapters of a language model with LoRA (atomically, each file), referring to its base
// model directory base_dir; the tokenizer files too when tokenizer is non-null. BadInput for a
// model without adapters or a classifier (whose new head is not in any base directory: merge it).
void save_lora_adapter(const GPT& model, const std::string& dir, const std::string& base_dir,
                       const Tokenizer* tokenizer = nullptr);

// Load the base model named by DIR/adapter_config.json (absolute, relative to the current
// directory, or relative to DIR) and put the adapters on it: an adapter ScratchLM wrote (its config
// has a "scratchlm" entry) as live adapters; any other, as PEFT writes it (one adapter per targeted
// module, c_attn's included, with target_modules, r, lora_alpha, rank_pattern, alpha_pattern,
// use_rslora, layers_to_transform read as PEFT reads them, peft_config.h), merged into the base
// weights: a plain model with PEFT's merged outputs.
std::unique_ptr<GPT> load_lora_adapter_dir(const std::string& dir, bool quiet = false);

}  // namespace slm
