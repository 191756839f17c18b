// hf_gpt2.h — model directories in the Hugging Face GPT-2 layout (chapter 5.5: loading OpenAI's
// weights): config.json (GPT2Config keys + ScratchLM's qkv_bias / tie_word_embeddings),
// model.safetensors with HF names (wte.weight, h.N.attn.c_attn.weight [C, 3C], ...; with or without
// a "transformer." prefix; attn.bias / attn.masked_bias buffers ignored; lm_head.weight only when
// untied) and the tokenizer (vocab.json + merges.txt). ScratchLM writes exactly this layout.
// A classifier (chapter 6) is written as GPT2ForSequenceClassification: "transformer."-prefixed
// body names plus score.weight [num_labels, n_embd], and num_labels/id2label in config.json.
#pragma once

#include <memory>
#include <string>

#include "scratchlm/io/safetensors.h"

#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"

namespace slm {

class Tokenizer;

// Every model path ScratchLM takes (--model, --init-from ...) may also be a GGUF file of llama.cpp's
// gpt2 architecture (io/gguf_model.h): the functions below dispatch to it, here and nowhere else.

// Read DIR/config.json (or a GGUF file's hyperparameters).
GPTConfig load_hf_config(const std::string& dir);

// Load a model directory (or a PEFT LoRA adapter directory, io/peft_adapter.h, or a GGUF file). Missing tensors and
// shape mismatches are BadInput errors naming the tensor; unknown extra tensors produce one warning line on stderr each
// (suppressed when quiet).
std::unique_ptr<GPT> load_hf_model(const std::string& dir, bool quiet = false);

// Check DIR/model.safetensors against cfg without loading it: every tensor the config implies is
// present with its shape and a float dtype, and its bytes lie inside the file. BadInput error
// naming the file and the first mismatch. (load_hf_model does this before allocating the model.)
void check_hf_weights(const std::string& dir, const GPTConfig& cfg);

// Copy the weights of a safetensors file into an existing model (same checks as above).
void load_hf_weights(GPT& model, const std::string& safetensors_path, bool quiet = false);

// Write DIR/config.json, DIR/model.safetensors (a model without qkv bias gets zero
// h.N.attn.c_attn.bias tensors, as transformers' GPT-2 always has them) and, for a language model,
// generation_config.json (bos/eos: the tokenizer's <|endoftext|>), each atomically; plus the
// tokenizer's files (vocab.json, merges.txt, tokenizer.json, special_tokens_map.json,
// tokenizer_config.json) when tokenizer is non-null. Creates DIR.
// dtype (--save-dtype): the weights' dtype in model.safetensors, F32 (the default), BF16 or F16
// (rounded to nearest even: half the bytes, for distribution); config.json's torch_dtype says
// which. Every loader here reads all three back (as fp32).
void save_hf_model(const GPT& model, const std::string& dir, const Tokenizer* tokenizer = nullptr,
                   DType dtype = DType::F32);
// A run whose --out is its fp32 checkpoint (pretraining, full instruction finetuning) and asks for
// --save-dtype bf16|f16: the model also in DIR/model-bf16 or DIR/model-f16 (nothing for F32).
// Returns the directory written ("" for F32).
std::string save_model_copy(const GPT& model, const std::string& dir, const Tokenizer* tokenizer, DType dtype);
// "f32" / "bf16" / "f16" (also float32, bfloat16, float16) -> F32 / BF16 / F16; BadInput otherwise.
DType parse_save_dtype(const std::string& s);
// HF's torch_dtype of F32 / BF16 / F16: "float32" / "bfloat16" / "float16".
const char* torch_dtype_name(DType d);

}  // namespace slm
