// peft_config.cpp — PEFT's adapter_config.json rules (see peft_config.h).
#include "scratchlm/io/peft_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>

#include "scratchlm/model/config.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// Python's re and ECMAScript agree on the patterns adapters use (names, dots, alternations, .*).
std::regex compile(const std::string& re, const std::string& path, const std::string& field) {
  try {
    return std::regex(re, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    fail("{}: {} '{}' is not a regular expression ScratchLM can read", path, field, re);
  }
}

bool full_match(const std::string& re, const std::string& key, const std::string& path, const std::string& field) {
  return std::regex_match(key, compile(re, path, field));
}

// A name list or a regular expression (a JSON string), as target_modules / exclude_modules are.
void names_or_regex(const nlohmann::ordered_json& j, const char* field, std::optional<std::string>& regex,
                    std::vector<std::string>& names, const std::string& path) {
  if (!j.contains(field) || j[field].is_null()) return;
  const nlohmann::ordered_json& v = j[field];
  if (v.is_string()) {
    regex = v.get<std::string>();
    compile(*regex, path, field);
    return;
  }
  if (!v.is_array()) fail("{}: {} must be a string or a list of names", path, field);
  for (const auto& n : v) {
    if (!n.is_string()) fail("{}: {} must list names (strings)", path, field);
    names.push_back(n.get<std::string>());
  }
}

bool name_match(const std::vector<std::string>& names, const std::string& key) {
  for (const auto& n : names)
    if (key == n || key.ends_with("." + n)) return true;
  return false;
}

template <typename T>
const std::pair<std::string, T>* pattern_for(const std::vector<std::pair<std::string, T>>& patterns,
                                             const std::string& key, const std::string& path, const char* field) {
  for (const auto& p : patterns)
    if (full_match("(.*\\.)?(" + p.first + ")", key, path, field)) return &p;
  return nullptr;
}

void require_rank(int64_t r, const std::string& path, const std::string& what) {
  if (r <= 0 || r > ConfigLimits::lora_rank) fail("{}: {} {} is outside 1..{}", path, what, r, ConfigLimits::lora_rank);
}

void require_alpha(double a, const std::string& path, const std::string& what) {
  if (!(a > 0.0 && a <= std::numeric_limits<float>::max()))
    fail("{}: {} {} is not a positive 32-bit float", path, what, a);
}

}  // namespace

bool PeftLoraConfig::targets(const std::string& key) const {
  if (exclude_regex ? full_match(*exclude_regex, key, path, "exclude_modules") : name_match(exclude_names, key))
    return false;
  if (target_regex) return full_match(*target_regex, key, path, "target_modules");
  if (std::find(target_names.begin(), target_names.end(), key) != target_names.end()) return true;
  if (!name_match(target_names, key)) return false;
  if (layers.empty()) return true;
  // The layer index: the number after one of layers_pattern's names, or after the first dotted name.
  std::smatch m;
  bool found = false;
  if (layers_pattern.empty()) {
    found = std::regex_search(key, m, std::regex(R"(^.*?\.[^.]*\.(\d+)\.)"));
  } else {
    for (const auto& p : layers_pattern)
      if ((found = std::regex_search(key, m, compile("^.*?\\." + p + "\\.(\\d+)\\.", path, "layers_pattern")))) break;
  }
  if (!found) return false;
  const int64_t layer = std::stoll(m[1].str());
  return std::find(layers.begin(), layers.end(), layer) != layers.end();
}

int64_t PeftLoraConfig::rank_for(const std::string& key) const {
  const auto* p = pattern_for(rank_pattern, key, path, "rank_pattern");
  return p ? p->second : r;
}

double PeftLoraConfig::alpha_for(const std::string& key) const {
  const auto* p = pattern_for(alpha_pattern, key, path, "alpha_pattern");
  return p ? p->second : alpha;
}

double PeftLoraConfig::scale_for(const std::string& key) const {
  const double rk = static_cast<double>(rank_for(key));
  return alpha_for(key) / (use_rslora ? std::sqrt(rk) : rk);
}

PeftLoraConfig parse_peft_lora_config(const std::string& text, const std::string& path) {
  // Ordered: PEFT takes the first matching rank_pattern / alpha_pattern key in the file's order.
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
  PeftLoraConfig c;
  c.path = path;
  if (!j.is_object() || !j.contains("base_model_name_or_path") || !j["base_model_name_or_path"].is_string() ||
      !j.contains("r") || !j["r"].is_number_integer() || !j.contains("lora_alpha") || !j["lora_alpha"].is_number())
    fail("{}: needs base_model_name_or_path, r and lora_alpha", path);
  if (j.value("peft_type", "LORA") != "LORA") fail("{}: peft_type '{}' is not LORA", path, j.value("peft_type", ""));
  c.base = j["base_model_name_or_path"].get<std::string>();
  c.r = j["r"].get<int64_t>();
  require_rank(c.r, path, "r");
  c.alpha = j["lora_alpha"].get<double>();
  require_alpha(c.alpha, path, "lora_alpha");
  auto flag = [&](const char* k) { return j.contains(k) && j[k].is_boolean() && j[k].get<bool>(); };
  c.use_rslora = flag("use_rslora");
  if (flag("use_dora")) fail("{}: use_dora (DoRA) is not supported", path);
  if (flag("lora_bias")) fail("{}: lora_bias is not supported", path);
  if (j.contains("bias") && j["bias"].is_string() && j["bias"] != "none")
    fail("{}: bias '{}' is not supported (only \"none\": the base model's biases unchanged)", path,
         j["bias"].get<std::string>());
  if (j.contains("modules_to_save") && !j["modules_to_save"].is_null() && !j["modules_to_save"].empty())
    fail("{}: modules_to_save is not supported", path);
  names_or_regex(j, "target_modules", c.target_regex, c.target_names, path);
  // PEFT's default for GPT-2 (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["gpt2"]).
  if (!c.target_regex && c.target_names.empty()) c.target_names = {"c_attn"};
  names_or_regex(j, "exclude_modules", c.exclude_regex, c.exclude_names, path);
  if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
    const auto& v = j["layers_to_transform"];
    if (v.is_number_integer()) {
      c.layers.push_back(v.get<int64_t>());
    } else if (v.is_array()) {
      for (const auto& x : v) {
        if (!x.is_number_integer()) fail("{}: layers_to_transform must list layer indices", path);
        c.layers.push_back(x.get<int64_t>());
      }
    } else {
      fail("{}: layers_to_transform must be a layer index or a list of them", path);
    }
  }
  if (j.contains("layers_pattern") && !j["layers_pattern"].is_null()) {
    const auto& v = j["layers_pattern"];
    if (v.is_string())
      c.layers_pattern.push_back(v.get<std::string>());
    else if (v.is_array())
      for (const auto& x : v)
        if (x.is_string()) c.layers_pattern.push_back(x.get<std::string>());
  }
  for (const char* field : {"rank_pattern", "alpha_pattern"})
    if (j.contains(field) && !j[field].is_null() && !j[field].is_object())
      fail("{}: {} must be an object", path, field);
  const nlohmann::ordered_json& ordered = j;
  if (ordered.contains("rank_pattern") && ordered["rank_pattern"].is_object())
    for (auto it = ordered["rank_pattern"].begin(); it != ordered["rank_pattern"].end(); ++it) {
      if (!it.value().is_number_integer()) fail("{}: rank_pattern[{}] is not an integer", path, it.key());
      if (it.value().get<int64_t>() <= 0 || it.value().get<int64_t>() > 3 * ConfigLimits::lora_rank)
        fail("{}: rank_pattern[{}] {} is out of range", path, it.key(), it.value().get<int64_t>());
      compile(it.key(), path, "rank_pattern");
      c.rank_pattern.emplace_back(it.key(), it.value().get<int64_t>());
    }
  if (ordered.contains("alpha_pattern") && ordered["alpha_pattern"].is_object())
    for (auto it = ordered["alpha_pattern"].begin(); it != ordered["alpha_pattern"].end(); ++it) {
      if (!it.value().is_number()) fail("{}: alpha_pattern[{}] is not a number", path, it.key());
      require_alpha(it.value().get<double>(), path, "alpha_pattern[" + it.key() + "]");
      compile(it.key(), path, "alpha_pattern");
      c.alpha_pattern.emplace_back(it.key(), it.value().get<double>());
    }
  return c;
}

}  // namespace slm
