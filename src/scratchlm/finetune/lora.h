// lora.h — low-rank adaptation (appendix E): beside a frozen Linear W, a trainable pair A (in x r,
// Kaiming-uniform as torch's kaiming_uniform_(a=sqrt(5))) and B (r x out, zeros), so that
//   y = x W + b + (alpha / r) (x A) B
// starts equal to the base model and trains only r (in + out) numbers per layer. The base weights
// get no gradients and no optimizer state.
//
// Targets: attn (the query/key/value projection and the attention output projection), mlp (both
// feed-forward layers), head (a classifier's score head; a language model's vocabulary head is
// not adapted). The book's appendix E wraps W_query, W_key and W_value in separate LoRA layers;
// GPT-2 fuses them in one c_attn [C, 3C] matrix, so ScratchLM gives c_attn three adapters of rank
// r, one per C-wide slice: the book's count, 2,666,528 trainable parameters for its 124M
// classifier at r = 16, comes out the same.
//
// The pieces: the layer itself and add_lora / merge_lora are in model/lora.h (the model floor);
// the PEFT files (save_lora_adapter, load_lora_adapter_dir) in io/peft_adapter.h. merge_lora folds
// (alpha / r) A B into W and gives a plain model (the default save); load_hf_model opens an adapter
// directory (adapter_config.json without config.json) as base model + adapters. A training
// checkpoint of a LoRA run keeps the adapters beside the frozen weights in model.safetensors under
// ScratchLM's own names (h.N.attn.c_attn.lora_A ...) with "scratchlm_lora" in config.json, so
// --resume works; such a checkpoint is not a plain Hugging Face model.
#pragma once

#include "scratchlm/io/peft_adapter.h"
#include "scratchlm/model/lora.h"
