// gguf_model.h — ScratchLM's GPT as a GGUF file of llama.cpp's "gpt2" architecture, both ways
// (chapter 5.5 in reverse: our weights in the tools people run models with — llama.cpp, Ollama,
// LM Studio — and their files back in).
//
// Names and layouts are llama.cpp's gpt2 loader's: token_embd / position_embd [n_ctx rows],
// blk.N.attn_norm, blk.N.attn_qkv (fused q|k|v, a missing bias written as zeros), blk.N.attn_output,
// blk.N.ffn_norm, blk.N.ffn_up, blk.N.ffn_down, output_norm, output.weight only when the head is
// not tied. Matrices are stored [out, in] (Hugging Face's Conv1D [in, out] transposed). The
// tokenizer travels in the metadata (tokenizer.ggml.*: "gpt2" BPE, the pre-tokenizer "gpt-2" or,
// for the cl100k-style split pattern, "llama-bpe"; tokens in GPT-2's byte-to-unicode form).
// Norms, biases and position embeddings stay F32; the other matrices are F32, F16 or Q8_0.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"

namespace slm {

enum class GgufWeightType { F32, F16, Q8_0 };
// "f32" | "f16" | "q8_0"; BadInput error otherwise.
GgufWeightType parse_gguf_weight_type(std::string_view s);

// Write `model` with `tokenizer` (whose vocabulary must not be larger than the model's; a smaller
// one is padded with unused "[PADn]" tokens as llama.cpp's converter does) to `path`, atomically.
// `name` goes to general.name. Classifiers and models with unmerged LoRA adapters are refused.
void save_gguf_model(const GPT& model, const Tokenizer& tokenizer, const std::string& path, GgufWeightType type,
                     const std::string& name);

// The config a GGUF gpt2 file implies; its tensor table is checked against it (names, shapes, and
// that every tensor is there), before anything is allocated. BadInput errors name the file.
GPTConfig load_gguf_config(const std::string& path);
// Load a GGUF gpt2 model, every tensor converted to float32 (F16, BF16, Q8_0 dequantized). The
// Q8_0 linear weights and head are also kept as they are (GPT::set_inference_weights), so that
// generation and eval run them natively with int8 dot products (kernels/q8_0_matmul.h).
std::unique_ptr<GPT> load_gguf_model(const std::string& path, bool quiet = false);
// The tokenizer in a GGUF file's metadata.
Tokenizer load_gguf_tokenizer(const std::string& path);

// The tokenizer of a --model path: `explicit_path` (a tokenizer directory or a GGUF file) when
// given, else the model's own (a GGUF file's metadata, a directory's vocab files, else data/gpt2).
Tokenizer load_model_tokenizer(const std::string& model, const std::string& explicit_path = "");

// The path is a GGUF file (starts with its magic).
bool is_gguf_path(const std::string& path);
// A SHA-256 of a tokenizer's content (tokens, merges, split pattern): the token cache's key for a
// tokenizer that has no files of its own (one read from a GGUF file).
std::string tokenizer_content_id(const Tokenizer& tok);

}  // namespace slm
