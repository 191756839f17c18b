// hf_gpt2.cpp — Hugging Face GPT-2 model directories (see hf_gpt2.h).
#include "scratchlm/io/hf_gpt2.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "scratchlm/io/gguf.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/peft_adapter.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/tensor/bf16.h"
#include "scratchlm/tensor/half.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/checked.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

GPTConfig load_hf_config(const std::string& dir) {
  if (GgufFile::is_gguf(dir)) return load_gguf_config(dir);
  if (fs::is_regular_file(dir)) fail("'{}' is neither a model directory nor a GGUF file", dir);
  if (!fs::is_directory(dir)) fail("model directory '{}' does not exist", dir);
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path)) fail("'{}' is not a model directory: config.json is missing", dir);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
  return GPTConfig::from_hf_json(j, path);
}

namespace {

// A parameter's tensor in a file: under its own name or with "transformer." in front (GPT2LMHeadModel
// state dicts).
const TensorInfo* find_param(const SafetensorsFile& f, const std::string& name) {
  if (const TensorInfo* t = f.find(name)) return t;
  return f.find("transformer." + name);
}

bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64; }

// Every tensor the config implies is in the file with its shape and a float dtype (the reader has
// already checked that each tensor's bytes lie inside the file): checked from the tensor table
// alone, before the model is allocated, so a config that does not match its weights costs nothing.
void check_weights_match(const SafetensorsFile& f, const GPTConfig& cfg) {
  const ParamShapes shapes = gpt_param_shapes(cfg);
  int64_t implied = 0, held = 0;
  for (const auto& [name, shape] : shapes)
    implied = checked_add(implied, static_cast<int64_t>(Tensor::numel_of(shape)), "the parameter count");
  for (const auto& t : f.tensors())
    held = checked_add(held, static_cast<int64_t>(t.numel()), "the file's element count");
  for (const auto& [name, shape] : shapes) {
    const TensorInfo* t = find_param(f, name);
    if (!t)
      fail("{}: tensor '{}' is missing (the config implies {} parameters in {} tensors; the file holds {} in {})",
           f.path(), name, implied, shapes.size(), held, f.tensors().size());
    if (t->shape != shape)
      fail("{}: tensor '{}' has shape {}, the config needs {}", f.path(), name, shape_to_string(t->shape),
           shape_to_string(shape));
    if (!is_float(t->dtype))
      fail("{}: tensor '{}' has dtype {}, expected a float type (F32, F16, BF16, F64)", f.path(), name,
           dtype_name(t->dtype));
  }
}

// DIR/model.safetensors opened and checked against cfg.
SafetensorsFile open_weights_for(const std::string& dir, const GPTConfig& cfg) {
  const std::string st = (fs::path(dir) / "model.safetensors").string();
  if (!fs::exists(st)) fail("'{}' has no model.safetensors", dir);
  SafetensorsFile f = SafetensorsFile::open(st);
  check_weights_match(f, cfg);
  return f;
}

// A model without qkv bias is saved with zero h.N.attn.c_attn.bias tensors (Hugging Face's GPT-2
// always has them). Reading such a file back, cfg.qkv_bias stays false when every one of them is
// zero (the same outputs, no extra parameters); a non-zero one (e.g. trained on in transformers,
// which keeps our config's qkv_bias key) turns the bias on so that nothing in the file is dropped.
void detect_qkv_bias(const SafetensorsFile& f, GPTConfig& cfg) {
  if (cfg.qkv_bias) return;
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const TensorInfo* t = find_param(f, "h." + std::to_string(l) + ".attn.c_attn.bias");
    if (!t || !is_float(t->dtype) || t->shape != std::vector<int64_t>{3 * cfg.emb_dim}) continue;
    std::vector<float> b(static_cast<size_t>(3 * cfg.emb_dim));
    f.read_f32(t->name, b);
    for (float v : b)
      if (v != 0.0f) {
        cfg.qkv_bias = true;
        return;
      }
  }
}

bool is_zero_qkv_bias(const SafetensorsFile& f, const GPTConfig& cfg, const std::string& name) {
  if (cfg.qkv_bias || !name.ends_with(".attn.c_attn.bias")) return false;
  std::vector<float> b(static_cast<size_t>(f.find(name)->numel()));
  f.read_f32(name, b);
  return std::all_of(b.begin(), b.end(), [](float v) { return v == 0.0f; });
}

// Copy the (checked) file's tensors into the model; warn about tensors it does not use.
void copy_weights(GPT& model, const SafetensorsFile& f, bool quiet) {
  std::set<std::string> used;
  for (const auto& p : model.params().params()) {
    const TensorInfo* t = find_param(f, p.name);
    f.read_f32(t->name, std::span<float>(model.params().data(p.name), p.numel));
    used.insert(t->name);
  }
  for (const auto& t : f.tensors()) {
    if (used.count(t.name)) continue;
    const std::string& n = t.name;
    if (n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias")) continue;  // causal-mask buffers
    if (is_zero_qkv_bias(f, model.config(), n)) continue;                         // detect_qkv_bias()
    if (model.config().tie_word_embeddings && (n == "lm_head.weight" || n == "transformer.lm_head.weight")) continue;
    if (!quiet)
      std::fprintf(stderr, "slm: warning: %s: ignoring unknown tensor %s\n", f.path().c_str(), in_quotes(n).c_str());
  }
}

}  // namespace

void check_hf_weights(const std::string& dir, const GPTConfig& cfg) {
  if (GgufFile::is_gguf(dir)) {  // load_gguf_config checks the file's tensors against its own config
    const GPTConfig g = load_gguf_config(dir);
    if (g.vocab_size != cfg.vocab_size || g.context_length != cfg.context_length || g.emb_dim != cfg.emb_dim ||
        g.n_heads != cfg.n_heads || g.n_layers != cfg.n_layers || g.qkv_bias != cfg.qkv_bias ||
        g.tie_word_embeddings != cfg.tie_word_embeddings)
      fail("{}: the file's architecture does not match the config", dir);
    return;
  }
  open_weights_for(dir, cfg);
}

void load_hf_weights(GPT& model, const std::string& path, bool quiet) {
  SafetensorsFile f = SafetensorsFile::open(path);
  check_weights_match(f, model.config());
  copy_weights(model, f, quiet);
}

std::unique_ptr<GPT> load_hf_model(const std::string& dir, bool quiet) {
  if (GgufFile::is_gguf(dir)) return load_gguf_model(dir, quiet);  // llama.cpp's format (io/gguf_model.h)
  // A PEFT LoRA adapter directory: its base model plus the adapters.
  if (fs::is_directory(dir) && !fs::exists(fs::path(dir) / "config.json") &&
      fs::exists(fs::path(dir) / "adapter_config.json"))
    return load_lora_adapter_dir(dir, quiet);
  GPTConfig cfg = load_hf_config(dir);
  const std::string st = (fs::path(dir) / "model.safetensors").string();
  if (!fs::exists(st)) fail("'{}' has no model.safetensors", dir);
  const SafetensorsFile f = SafetensorsFile::open(st);
  detect_qkv_bias(f, cfg);
  check_weights_match(f, cfg);  // before the model is allocated
  auto model = std::make_unique<GPT>(cfg);
  copy_weights(*model, f, quiet);
  return model;
}

DType parse_save_dtype(const std::string& s) {
  if (s == "f32" || s == "fp32" || s == "float32") return DType::F32;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f16" || s == "fp16" || s == "float16") return DType::F16;
  fail("unknown --save-dtype '{}' (expected f32, bf16 or f16)", s);
}

std::string save_model_copy(const GPT& model, const std::string& dir, const Tokenizer* tokenizer, DType dtype) {
  if (dtype == DType::F32) return "";
  const std::string sub = (fs::path(dir) / (dtype == DType::BF16 ? "model-bf16" : "model-f16")).string();
  save_hf_model(model, sub, tokenizer, dtype);
  return sub;
}

const char* torch_dtype_name(DType d) {
  return d == DType::BF16 ? "bfloat16" : d == DType::F16 ? "float16" : "float32";
}

void save_hf_model(const GPT& model, const std::string& dir, const Tokenizer* tokenizer, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::F16)
    fail("a model is saved as F32, BF16 or F16, not {}", dtype_name(dtype));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory '{}': {}", dir, ec.message());
  SafetensorsWriter w;
  std::vector<std::vector<uint16_t>> halves;  // the rounded copies (BF16 / F16), alive until write()
  halves.reserve(model.params().params().size() + static_cast<size_t>(model.config().n_layers));
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, const float* data, size_t n) {
    if (dtype == DType::F32) {
      w.add_f32(name, shape, data);
      return;
    }
    std::vector<uint16_t>& h = halves.emplace_back(n);
    for (size_t i = 0; i < n; ++i) h[i] = dtype == DType::BF16 ? f32_to_bf16(data[i]) : f32_to_f16(data[i]);
    w.add(name, dtype, shape, h.data());
  };
  // GPT2ForSequenceClassification state dicts name the body "transformer.*" beside "score.weight";
  // Hugging Face refuses a classifier file whose body names lack the prefix.
  const bool classifier = model.config().is_classifier();
  for (const auto& p : model.params().params()) {
    const std::string name = classifier && p.name != "score.weight" ? "transformer." + p.name : p.name;
    add(name, p.shape, model.params().data(p.name), p.numel);
  }
  // Hugging Face's GPT-2 always has a qkv bias (a missing one would be initialized at random): zeros.
  const GPTConfig& c = model.config();
  const std::vector<float> zeros(c.qkv_bias ? 0 : static_cast<size_t>(3 * c.emb_dim), 0.0f);
  if (!c.qkv_bias)
    for (int64_t l = 0; l < c.n_layers; ++l)
      add((classifier ? "transformer.h." : "h.") + std::to_string(l) + ".attn.c_attn.bias", {3 * c.emb_dim},
          zeros.data(), zeros.size());
  w.set_metadata("format", "pt");
  w.write((fs::path(dir) / "model.safetensors").string());
  nlohmann::json config = model.config().to_hf_json();
  config["torch_dtype"] = torch_dtype_name(dtype);
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  if (!classifier) {  // what transformers' generate() reads: generation ends at <|endoftext|>
    const int64_t eot = tokenizer && tokenizer->eot_id() ? *tokenizer->eot_id() : 50256;  // config.json's otherwise
    const nlohmann::json g = {{"_from_model_config", true}, {"bos_token_id", eot}, {"eos_token_id", eot}};
    write_file_atomic((fs::path(dir) / "generation_config.json").string(), g.dump(2) + "\n");
  }
  if (tokenizer) tokenizer->save_dir(dir, "hf");
}

}  // namespace slm
