// config.cpp — named GPT configurations, HF config.json mapping and parameter counts (ch. 4).
#include "scratchlm/model/config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/checked.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

void check_range(std::string_view field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) fail("invalid model config: {} {} is outside {}..{}", field, v, lo, hi);
}

// A JSON number as a finite float (a double beyond float's range would be undefined behavior to convert).
float finite_float(const nlohmann::json& v, std::string_view source, std::string_view key) {
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max())
    fail("{}: '{}' is {}, not a finite 32-bit float", source, key, v.dump());
  return static_cast<float>(d);
}

}  // namespace

void GPTConfig::validate() const {
  check_range("vocab_size", vocab_size, 1, ConfigLimits::vocab_size);
  check_range("context_length", context_length, 1, ConfigLimits::context_length);
  check_range("emb_dim", emb_dim, 1, ConfigLimits::emb_dim);
  check_range("n_heads", n_heads, 1, emb_dim);
  check_range("n_layers", n_layers, 1, ConfigLimits::n_layers);
  check_range("num_labels", num_labels, 0, ConfigLimits::num_labels);
  check_range("lora rank", lora.rank, 0, ConfigLimits::lora_rank);
  if (emb_dim % n_heads != 0) fail("invalid model config: emb_dim {} is not divisible by n_heads {}", emb_dim, n_heads);
  if (!(drop_rate >= 0.0f && drop_rate < 1.0f)) fail("invalid model config: drop_rate {} must be in [0, 1)", drop_rate);
  if (!(layer_norm_epsilon > 0.0f) || !std::isfinite(layer_norm_epsilon))
    fail("invalid model config: layer_norm_epsilon {} must be positive and finite", layer_norm_epsilon);
  if (lora.enabled() && (!(lora.alpha > 0.0f) || !std::isfinite(lora.alpha)))
    fail("invalid model config: lora alpha {} must be positive and finite", lora.alpha);
  if (num_labels > 0 && static_cast<int64_t>(id2label.size()) != num_labels)
    fail("invalid model config: {} labels named for num_labels {}", id2label.size(), num_labels);
  if (classifier_max_length < 0 || classifier_max_length > classifier_length_limit(context_length, classifier_token))
    fail("invalid model config: classifier max length {} is outside 0..{} (only the mean reading reads longer texts)",
         classifier_max_length, context_length);
  const ParamCounts pc = count_params(*this);
  const int64_t total = checked_add(pc.total_untied, pc.lora, "the parameter count");
  if (total > ConfigLimits::params)
    fail("invalid model config: {} parameters (vocab_size {}, emb_dim {}, n_layers {}) exceed the limit of {}", total,
         vocab_size, emb_dim, n_layers, ConfigLimits::params);
}

const char* classifier_token_name(ClassifierToken t) {
  return t == ClassifierToken::Last ? "last" : t == ClassifierToken::LastPosition ? "last-position" : "mean";
}
std::optional<ClassifierToken> classifier_token_from(std::string_view name) {
  for (ClassifierToken t : {ClassifierToken::Last, ClassifierToken::LastPosition, ClassifierToken::Mean})
    if (name == classifier_token_name(t)) return t;
  return std::nullopt;
}
const char* truncation_name(Truncation t) {
  return t == Truncation::Head ? "head" : t == Truncation::Tail ? "tail" : "head+tail";
}
std::optional<Truncation> truncation_from(std::string_view name) {
  for (Truncation t : {Truncation::Head, Truncation::Tail, Truncation::HeadTail})
    if (name == truncation_name(t)) return t;
  return std::nullopt;
}
int64_t classifier_length_limit(int64_t context_length, ClassifierToken token) {
  return token == ClassifierToken::Mean ? std::numeric_limits<int64_t>::max() : context_length;
}

std::vector<std::string> config_names() {
  return {"gpt2-124M", "gpt2-355M", "gpt2-774M", "gpt2-1558M", "gpt2-mini", "gpt2-tiny"};
}

GPTConfig config_by_name(const std::string& name) {
  GPTConfig c;
  if (name == "gpt2-124M" || name == "gpt2") {
  } else if (name == "gpt2-355M" || name == "gpt2-medium") {
    c.emb_dim = 1024;
    c.n_heads = 16;
    c.n_layers = 24;
  } else if (name == "gpt2-774M" || name == "gpt2-large") {
    c.emb_dim = 1280;
    c.n_heads = 20;
    c.n_layers = 36;
  } else if (name == "gpt2-1558M" || name == "gpt2-xl") {
    c.emb_dim = 1600;
    c.n_heads = 25;
    c.n_layers = 48;
  } else if (name == "gpt2-mini") {
    c.context_length = 256;
    c.emb_dim = 384;
    c.n_heads = 6;
    c.n_layers = 6;
  } else if (name == "gpt2-tiny") {
    c.context_length = 128;
    c.emb_dim = 128;
    c.n_heads = 4;
    c.n_layers = 2;
  } else {
    std::string names;
    for (const auto& n : config_names()) names += (names.empty() ? "" : ", ") + n;
    fail("unknown config '{}' (known: {})", name, names);
  }
  return c;
}

nlohmann::json GPTConfig::to_hf_json() const {
  nlohmann::json j = {{"model_type", "gpt2"},
                      {"architectures", {is_classifier() ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"}},
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
  if (lora.enabled())  // a training checkpoint of a LoRA run (finished runs save merged or PEFT files)
    j["scratchlm_lora"] = {
        {"r", lora.rank}, {"lora_alpha", lora.alpha}, {"attn", lora.attn}, {"mlp", lora.mlp}, {"head", lora.head}};
  if (is_classifier()) {
    nlohmann::json id2l = nlohmann::json::object(), l2id = nlohmann::json::object();
    for (size_t i = 0; i < id2label.size(); ++i) {
      id2l[std::to_string(i)] = id2label[i];
      l2id[id2label[i]] = i;
    }
    j["num_labels"] = num_labels;
    j["id2label"] = id2l;
    j["label2id"] = l2id;
    j["pad_token_id"] = 50256;
    j["scratchlm_max_length"] = classifier_max_length;
    j["scratchlm_classifier_token"] = classifier_token_name(classifier_token);
    j["scratchlm_truncate"] = truncation_name(classifier_truncate);
  }
  return j;
}

GPTConfig GPTConfig::from_hf_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object", source);
  GPTConfig c;
  // An integer field, in lo..hi before it is used for anything.
  auto get_int = [&](const char* key, int64_t& dst, bool required, int64_t lo, int64_t hi) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) fail("{}: missing key '{}'", source, key);
      return;
    }
    const nlohmann::json& v = j[key];
    if (!v.is_number_integer()) fail("{}: '{}' must be an integer", source, key);
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                       static_cast<int64_t>(v.get<uint64_t>()) >= lo
                                                 : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    if (!in_range) fail("{}: '{}' is {}, outside {}..{}", source, key, v.dump(), lo, hi);
    dst = v.get<int64_t>();
  };
  get_int("vocab_size", c.vocab_size, true, 1, ConfigLimits::vocab_size);
  get_int("n_embd", c.emb_dim, true, 1, ConfigLimits::emb_dim);
  get_int("n_head", c.n_heads, true, 1, ConfigLimits::emb_dim);
  get_int("n_layer", c.n_layers, true, 1, ConfigLimits::n_layers);
  if (j.contains("n_positions"))
    get_int("n_positions", c.context_length, true, 1, ConfigLimits::context_length);
  else
    get_int("n_ctx", c.context_length, true, 1, ConfigLimits::context_length);
  if (j.contains("n_inner") && !j["n_inner"].is_null() && j["n_inner"] != 4 * c.emb_dim)
    fail("{}: n_inner other than 4*n_embd is not supported", source);
  if (j.contains("activation_function") && j["activation_function"].is_string()) {
    std::string act = j["activation_function"];
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu")
      fail("{}: activation_function {} is not supported (ScratchLM uses GELU, tanh approximation)", source,
           in_quotes(act));
  }
  auto get_float = [&](const char* key, float& dst) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number()) fail("{}: '{}' must be a number", source, key);
    dst = finite_float(j[key], source, key);
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
  // A classifier only when the architecture says so: Hugging Face writes num_labels/id2label into
  // every config (default 2), also for language models.
  bool classifier = false;
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"])
      if (a == "GPT2ForSequenceClassification") classifier = true;
  if (classifier) {
    if (j.contains("num_labels")) get_int("num_labels", c.num_labels, true, 0, ConfigLimits::num_labels);
    const auto it = j.find("id2label");
    if (it != j.end() && it->is_object()) {
      if (c.num_labels == 0) c.num_labels = static_cast<int64_t>(it->size());
      if (c.num_labels > ConfigLimits::num_labels)
        fail("{}: id2label has {} entries, more than {}", source, c.num_labels, ConfigLimits::num_labels);
      c.id2label.assign(static_cast<size_t>(std::max<int64_t>(c.num_labels, 0)), "");
      for (const auto& [k, v] : it->items()) {
        size_t pos = 0;
        long id = -1;
        try {
          id = std::stol(k, &pos);
        } catch (const std::exception&) {}
        if (pos != k.size() || id < 0 || id >= c.num_labels || !v.is_string())
          fail("{}: id2label entry {} is not a class id below num_labels {} with a string name", source, in_quotes(k),
               c.num_labels);
        c.id2label[static_cast<size_t>(id)] = v.get<std::string>();
      }
    } else {
      if (c.num_labels <= 0) fail("{}: a GPT2ForSequenceClassification config needs num_labels", source);
      for (int64_t i = 0; i < c.num_labels; ++i) c.id2label.push_back("LABEL_" + std::to_string(i));
    }
    if (c.num_labels <= 0) fail("{}: num_labels must be positive for a classifier", source);
    get_int("scratchlm_max_length", c.classifier_max_length, false, 0, std::numeric_limits<int64_t>::max());
    if (const auto t = j.find("scratchlm_classifier_token"); t != j.end()) {  // absent in older classifiers: last
      const auto token = t->is_string() ? classifier_token_from(t->get<std::string>()) : std::nullopt;
      if (!token) fail("{}: scratchlm_classifier_token must be \"last\", \"last-position\" or \"mean\"", source);
      c.classifier_token = *token;
    }
    if (c.classifier_max_length < 0 ||
        c.classifier_max_length > classifier_length_limit(c.context_length, c.classifier_token))
      fail("{}: scratchlm_max_length {} is outside 0..n_positions", source, c.classifier_max_length);
    if (const auto t = j.find("scratchlm_truncate"); t != j.end()) {  // absent in older classifiers: head
      const auto cut = t->is_string() ? truncation_from(t->get<std::string>()) : std::nullopt;
      if (!cut) fail("{}: scratchlm_truncate must be \"head\", \"tail\" or \"head+tail\"", source);
      c.classifier_truncate = *cut;
    }
  }
  if (const auto it = j.find("scratchlm_lora"); it != j.end() && it->is_object()) {
    const auto r = it->find("r"), alpha = it->find("lora_alpha");
    if (r == it->end() || !r->is_number_integer() || alpha == it->end() || !alpha->is_number())
      fail("{}: malformed scratchlm_lora entry", source);
    if ((r->get<int64_t>() <= 0 || r->get<uint64_t>() > static_cast<uint64_t>(ConfigLimits::lora_rank)))
      fail("{}: scratchlm_lora r {} is outside 1..{}", source, r->dump(), ConfigLimits::lora_rank);
    c.lora.rank = r->get<int64_t>();
    c.lora.alpha = finite_float(*alpha, source, "lora_alpha");
    try {
      c.lora.attn = it->value("attn", true);
      c.lora.mlp = it->value("mlp", true);
      c.lora.head = it->value("head", false);
    } catch (const nlohmann::json::exception&) {
      fail("{}: malformed scratchlm_lora entry", source);
    }
    if (!(c.lora.alpha > 0.0f)) fail("{}: scratchlm_lora needs a positive lora_alpha", source);
  }
  c.validate();
  return c;
}

ParamCounts count_params(const GPTConfig& c) {
  auto mul = [](int64_t a, int64_t b) { return checked_mul(a, b, "the parameter count"); };
  auto add = [](int64_t a, int64_t b) { return checked_add(a, b, "the parameter count"); };
  ParamCounts p;
  const int64_t C = c.emb_dim, C2 = mul(C, C);
  p.tok_emb = mul(c.vocab_size, C);
  p.pos_emb = mul(c.context_length, C);
  p.attention_per_block = add(add(mul(4, C2), c.qkv_bias ? mul(3, C) : 0), C);
  p.ff_per_block = add(mul(8, C2), mul(5, C));
  p.norms_per_block = mul(4, C);
  p.per_block = add(add(p.attention_per_block, p.ff_per_block), p.norms_per_block);
  p.blocks = mul(p.per_block, c.n_layers);
  p.final_norm = mul(2, C);
  p.out_head = mul(c.is_classifier() ? c.num_labels : c.vocab_size, C);
  p.total_tied = add(add(add(p.tok_emb, p.pos_emb), p.blocks), p.final_norm);
  p.total_untied = add(p.total_tied, p.out_head);
  p.total = c.tie_word_embeddings && !c.is_classifier() ? p.total_tied : p.total_untied;
  if (c.lora.enabled()) {  // model/lora.cpp's adapters: A [in, groups r] and B [groups, r, out / groups] per site
    const int64_t rC = mul(c.lora.rank, C);
    const int64_t per_block = add(c.lora.attn ? mul(8, rC) : 0, c.lora.mlp ? mul(10, rC) : 0);
    p.lora = mul(per_block, c.n_layers);
    if (c.lora.head && c.is_classifier()) p.lora = add(p.lora, add(rC, mul(c.lora.rank, c.num_labels)));
  }
  return p;
}

}  // namespace slm
