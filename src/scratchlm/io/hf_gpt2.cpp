// hf_gpt2.cpp — Hugging Face GPT-2 model directories (see hf_gpt2.h).
#include "scratchlm/io/hf_gpt2.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "scratchlm/io/peft_adapter.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

GPTConfig load_hf_config(const std::string& dir) {
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

void load_hf_weights(GPT& model, const std::string& path, bool quiet) {
  SafetensorsFile f = SafetensorsFile::open(path);
  // Accept "transformer." prefixed names (GPT2LMHeadModel state dicts) as well as bare ones.
  auto lookup = [&](const std::string& name) -> const TensorInfo* {
    if (const TensorInfo* t = f.find(name)) return t;
    return f.find("transformer." + name);
  };
  std::set<std::string> used;
  for (const auto& p : model.params().params()) {
    const TensorInfo* t = lookup(p.name);
    if (!t) fail("{}: tensor '{}' is missing", path, p.name);
    if (t->shape != p.shape)
      fail("{}: tensor '{}' has shape {}, the config needs {}", path, p.name, shape_to_string(t->shape), shape_to_string(p.shape));
    f.read_f32(t->name, std::span<float>(model.params().data(p.name), p.numel));
    used.insert(t->name);
  }
  for (const auto& t : f.tensors()) {
    if (used.count(t.name)) continue;
    const std::string& n = t.name;
    if (n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias")) continue;  // causal-mask buffers
    if (model.config().tie_word_embeddings && (n == "lm_head.weight" || n == "transformer.lm_head.weight")) continue;
    if (!quiet) std::fprintf(stderr, "slm: warning: %s: ignoring unknown tensor '%s'\n", path.c_str(), n.c_str());
  }
}

std::unique_ptr<GPT> load_hf_model(const std::string& dir, bool quiet) {
  // A PEFT LoRA adapter directory: its base model plus the adapters.
  if (fs::is_directory(dir) && !fs::exists(fs::path(dir) / "config.json") && fs::exists(fs::path(dir) / "adapter_config.json"))
    return load_lora_adapter_dir(dir, quiet);
  GPTConfig cfg = load_hf_config(dir);
  const std::string st = (fs::path(dir) / "model.safetensors").string();
  if (!fs::exists(st)) fail("'{}' has no model.safetensors", dir);
  auto model = std::make_unique<GPT>(cfg);
  load_hf_weights(*model, st, quiet);
  return model;
}

void save_hf_model(const GPT& model, const std::string& dir, const Tokenizer* tokenizer) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory '{}': {}", dir, ec.message());
  SafetensorsWriter w;
  // GPT2ForSequenceClassification state dicts name the body "transformer.*" beside "score.weight";
  // Hugging Face refuses a classifier file whose body names lack the prefix.
  const bool classifier = model.config().is_classifier();
  for (const auto& p : model.params().params()) {
    const std::string name = classifier && p.name != "score.weight" ? "transformer." + p.name : p.name;
    w.add_f32(name, p.shape, model.params().data(p.name));
  }
  w.set_metadata("format", "pt");
  w.write((fs::path(dir) / "model.safetensors").string());
  write_file_atomic((fs::path(dir) / "config.json").string(), model.config().to_hf_json().dump(2) + "\n");
  if (tokenizer) tokenizer->save_dir(dir, "hf");
}

}  // namespace slm
