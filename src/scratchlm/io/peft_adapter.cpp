// peft_adapter.cpp — LoRA adapters in PEFT's file layout (appendix E; see peft_adapter.h).
#include "scratchlm/io/peft_adapter.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/peft_config.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/model/lora.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// The adapted modules of a config: (ScratchLM name, PEFT name, groups).
struct Site {
  std::string name, peft;
  int64_t groups;
};
std::vector<Site> sites(const GPTConfig& c) {
  std::vector<Site> out;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    auto add = [&](const std::string& m, int64_t g) {
      out.push_back({p + m, "base_model.model.transformer." + p + m, g});
    };
    if (c.lora.attn) add("attn.c_attn", 3), add("attn.c_proj", 1);
    if (c.lora.mlp) add("mlp.c_fc", 1), add("mlp.c_proj", 1);
  }
  return out;
}

std::string targets_of(const LoraConfig& l) {
  std::string t;
  if (l.attn) t += "attn";
  if (l.mlp) t += std::string(t.empty() ? "" : ",") + "mlp";
  return t;
}

// Every adapter tensor the config (with its LoRA settings) implies is in the file with PEFT's
// shapes (A [groups r, in], B [out, groups r]): checked before the adapters are allocated.
void check_adapter_tensors(const SafetensorsFile& f, const GPTConfig& c) {
  std::map<std::string, std::vector<int64_t>> shape;
  for (auto& [name, sh] : lora_param_shapes(c)) shape[name] = std::move(sh);
  for (const Site& s : sites(c)) {
    const auto& a = shape.at(s.name + ".lora_A");
    const auto& b = shape.at(s.name + ".lora_B");
    const int64_t in = a[0], gr = a[1], out = b[2] * s.groups;
    const TensorInfo* ta = f.find(s.peft + ".lora_A.weight");
    const TensorInfo* tb = f.find(s.peft + ".lora_B.weight");
    if (!ta || !tb) fail("{}: tensor '{}.lora_A/B.weight' is missing", f.path(), s.peft);
    if (ta->shape != std::vector<int64_t>{gr, in} || tb->shape != std::vector<int64_t>{out, gr})
      fail("{}: '{}' has shapes {} / {}, expected [{}, {}] / [{}, {}]", f.path(), s.peft, shape_to_string(ta->shape),
           shape_to_string(tb->shape), gr, in, out, gr);
  }
}

}  // namespace

void save_lora_adapter(const GPT& model, const std::string& dir, const std::string& base_dir,
                       const Tokenizer* tokenizer) {
  const GPTConfig& c = model.config();
  if (!c.lora.enabled()) fail("the model has no LoRA adapters to save");
  if (c.is_classifier()) fail("a LoRA classifier's new head is in no base model directory; save it merged");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory '{}': {}", dir, ec.message());
  SafetensorsWriter w;
  std::deque<std::vector<float>> keep;  // the writer holds pointers until write()
  const int64_t r = c.lora.rank;
  for (const Site& s : sites(c)) {
    const Param* pa = model.params().find(s.name + ".lora_A");
    const Param* pb = model.params().find(s.name + ".lora_B");
    const float* A = model.params().data(s.name + ".lora_A");
    const float* B = model.params().data(s.name + ".lora_B");
    const int64_t in = pa->shape[0], gr = pa->shape[1], og = pb->shape[2], out = og * s.groups;
    std::vector<float>& at = keep.emplace_back(static_cast<size_t>(gr * in));
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < gr; ++j) at[static_cast<size_t>(j * in + i)] = A[i * gr + j];
    std::vector<float>& bt = keep.emplace_back(static_cast<size_t>(out * gr), 0.0f);  // block diagonal [out, gr]
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t j = 0; j < r; ++j)
        for (int64_t o = 0; o < og; ++o)
          bt[static_cast<size_t>((g * og + o) * gr + g * r + j)] = B[(g * r + j) * og + o];
    w.add_f32(s.peft + ".lora_A.weight", {gr, in}, at.data());
    w.add_f32(s.peft + ".lora_B.weight", {out, gr}, bt.data());
  }
  w.set_metadata("format", "pt");
  w.write((fs::path(dir) / "adapter_model.safetensors").string());
  std::string modules;
  if (c.lora.attn) modules += "attn\\.c_attn|attn\\.c_proj";
  if (c.lora.mlp) modules += std::string(modules.empty() ? "" : "|") + "mlp\\.c_fc|mlp\\.c_proj";
  nlohmann::json cfg = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", base_dir},
      {"r", r},
      {"lora_alpha", c.lora.alpha},
      {"lora_dropout", 0.0},
      {"bias", "none"},
      {"fan_in_fan_out", true},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"modules_to_save", nullptr},
      {"target_modules", ".*\\.(" + modules + ")"},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"scratchlm",
       {{"targets", targets_of(c.lora)}, {"c_attn", "three slice adapters of rank r as one rank-3r pair"}}}};
  if (c.lora.attn) {
    cfg["rank_pattern"]["attn.c_attn"] = 3 * r;
    cfg["alpha_pattern"]["attn.c_attn"] = 3 * c.lora.alpha;
  }
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), cfg.dump(2) + "\n");
  if (tokenizer) tokenizer->save_dir(dir, "hf");
}

namespace {

// The base model directory named by an adapter (absolute, relative to the current directory or to DIR).
std::string base_dir_of(const std::string& dir, const PeftLoraConfig& pc) {
  std::string base = pc.base;
  if (!fs::exists(base) && fs::exists(fs::path(dir) / base)) base = (fs::path(dir) / base).string();
  if (!fs::exists(base)) fail("{}: the base model '{}' does not exist", pc.path, pc.base);
  return base;
}

// An adapter made by PEFT: merged into the base weights as PEFT's merge_and_unload does, module by
// module with its own rank and scale (peft_config.h): W [in, out] += scale (B A)^T.
std::unique_ptr<GPT> merge_peft_adapter(const std::string& dir, const PeftLoraConfig& pc, bool quiet) {
  std::unique_ptr<GPT> model = load_hf_model(base_dir_of(dir, pc), quiet);
  if (model->config().lora.enabled()) fail("{}: the base model is itself an adapter", pc.path);
  const GPTConfig& c = model->config();
  const SafetensorsFile f = SafetensorsFile::open((fs::path(dir) / "adapter_model.safetensors").string());
  const std::string prefix = "base_model.model.";
  // GPT2LMHeadModel's modules are "transformer.h.N...", a bare GPT2Model's "h.N...".
  std::string root = "transformer.";
  if (!f.tensors().empty() && std::none_of(f.tensors().begin(), f.tensors().end(),
                                           [&](const TensorInfo& t) { return t.name.starts_with(prefix + root); }))
    root.clear();
  for (const char* other : {"transformer.wte", "transformer.wpe", "lm_head", "score", "wte", "wpe"})
    if (pc.targets(other))
      fail("{}: target_modules selects '{}'; ScratchLM adapts GPT-2's Conv1D layers (c_attn, c_proj, c_fc) only",
           pc.path, other);
  const int64_t C = c.emb_dim;
  const std::pair<const char*, std::pair<int64_t, int64_t>> modules[] = {
      {"attn.c_attn", {C, 3 * C}}, {"attn.c_proj", {C, C}}, {"mlp.c_fc", {C, 4 * C}}, {"mlp.c_proj", {4 * C, C}}};
  std::set<std::string> used;
  for (int64_t l = 0; l < c.n_layers; ++l)
    for (const auto& [module, dims] : modules) {
      const std::string name = "h." + std::to_string(l) + "." + module, key = root + name;
      if (!pc.targets(key)) continue;
      const auto [in, out] = dims;
      const int64_t r = pc.rank_for(key);
      const std::string a_name = prefix + key + ".lora_A.weight", b_name = prefix + key + ".lora_B.weight";
      const TensorInfo* ta = f.find(a_name);
      const TensorInfo* tb = f.find(b_name);
      if (!ta || !tb)
        fail("{}: tensor '{}' is missing (adapter_config.json targets '{}')", f.path(), ta ? b_name : a_name, key);
      if (ta->shape != std::vector<int64_t>{r, in} || tb->shape != std::vector<int64_t>{out, r})
        fail("{}: '{}' has lora_A {} and lora_B {}, PEFT's layout for r = {} is [{}, {}] and [{}, {}]", f.path(), key,
             shape_to_string(ta->shape), shape_to_string(tb->shape), r, r, in, out, r);
      const Tensor A = f.load_f32(a_name), B = f.load_f32(b_name);
      const float scale = static_cast<float>(pc.scale_for(key));
      std::vector<float> bt(static_cast<size_t>(r * out));  // B^T [r, out], rows contiguous
      for (int64_t o = 0; o < out; ++o)
        for (int64_t k = 0; k < r; ++k) bt[static_cast<size_t>(k * out + o)] = B.data()[o * r + k];
      float* W = model->params().data(name + ".weight");
      for (int64_t i = 0; i < in; ++i)
        for (int64_t k = 0; k < r; ++k) {
          const float aik = scale * A.data()[k * in + i];
          const float* brow = bt.data() + k * out;
          float* wrow = W + i * out;
          for (int64_t o = 0; o < out; ++o) wrow[o] += aik * brow[o];
        }
      used.insert(a_name);
      used.insert(b_name);
    }
  if (used.empty()) fail("{}: target_modules selects none of the model's c_attn, c_proj and c_fc layers", pc.path);
  for (const auto& t : f.tensors())
    if (!used.count(t.name))
      fail("{}: tensor '{}' is not an adapter of a module adapter_config.json targets", f.path(), t.name);
  return model;
}

}  // namespace

std::unique_ptr<GPT> load_lora_adapter_dir(const std::string& dir, bool quiet) {
  const std::string cfg_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string text = read_file(cfg_path);
  const PeftLoraConfig pc = parse_peft_lora_config(text, cfg_path);
  const nlohmann::json j = nlohmann::json::parse(text);
  // An adapter ScratchLM wrote keeps its adapters live (trainable, three slices for c_attn).
  if (!j.contains("scratchlm")) return merge_peft_adapter(dir, pc, quiet);
  std::unique_ptr<GPT> base_model = load_hf_model(base_dir_of(dir, pc), quiet);
  std::string targets = "attn,mlp";
  if (j["scratchlm"].is_object()) targets = j["scratchlm"].value("targets", targets);
  const LoraConfig lc = parse_lora_targets(targets, pc.r, static_cast<float>(pc.alpha));
  GPTConfig with_lora = base_model->config();
  with_lora.lora = lc;
  with_lora.validate();  // the parameter cap, before anything is allocated
  const std::string st_path = (fs::path(dir) / "adapter_model.safetensors").string();
  SafetensorsFile f = SafetensorsFile::open(st_path);
  check_adapter_tensors(f, with_lora);
  auto model = add_lora(*base_model, lc, 0);
  base_model.reset();
  const int64_t r = lc.rank;
  for (const Site& s : sites(model->config())) {
    const Param* pa = model->params().find(s.name + ".lora_A");
    const Param* pb = model->params().find(s.name + ".lora_B");
    const int64_t in = pa->shape[0], gr = pa->shape[1], og = pb->shape[2];
    const TensorInfo* ta = f.find(s.peft + ".lora_A.weight");
    const TensorInfo* tb = f.find(s.peft + ".lora_B.weight");
    Tensor at = f.load_f32(ta->name), bt = f.load_f32(tb->name);
    float* A = model->params().data(s.name + ".lora_A");
    float* B = model->params().data(s.name + ".lora_B");
    for (int64_t i = 0; i < in; ++i)
      for (int64_t k = 0; k < gr; ++k) A[i * gr + k] = at.data()[k * in + i];
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t k = 0; k < r; ++k)
        for (int64_t o = 0; o < og; ++o) B[(g * r + k) * og + o] = bt.data()[(g * og + o) * gr + g * r + k];
  }
  model->rebind();
  return model;
}

}  // namespace slm
