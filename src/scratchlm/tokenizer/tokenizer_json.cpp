// tokenizer_json.cpp — Hugging Face tokenizer.json, written and read (see tokenizer_json.h).
#include "scratchlm/tokenizer/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/byte_unicode.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace {

using ojson = nlohmann::ordered_json;

// The split patterns as regular expressions (pretokenize.h implements them by hand).
constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4Regex =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
// cl100k as older converters spell it (no possessive quantifiers): the same pieces.
constexpr const char* kGpt4RegexOld =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

ojson byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", trim_offsets},
          {"use_regex", use_regex}};
}

bool is_special(const Tokenizer& tok, uint32_t id) {
  for (const auto& s : tok.specials())
    if (s.second == id) return true;
  return false;
}

}  // namespace

std::string tokenizer_json_text(const Tokenizer& tok) {
  ojson added = ojson::array();
  for (const auto& [name, id] : tok.specials())
    added.push_back({{"id", id},
                     {"content", name},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  ojson pre;
  if (tok.pattern() == SplitPattern::Gpt2) {
    pre = byte_level(false, true, true);
  } else {
    pre = {{"type", "Sequence"},
           {"pretokenizers",
            {{{"type", "Split"}, {"pattern", {{"Regex", kGpt4Regex}}}, {"behavior", "Isolated"}, {"invert", false}},
             byte_level(false, true, false)}}};
  }
  ojson vocab = ojson::object();
  for (uint32_t id = 0; id < tok.vocab_size(); ++id)
    vocab[is_special(tok, id) ? tok.token_bytes(id) : bytes_to_vocab_string(tok.token_bytes(id))] = id;
  ojson merges = ojson::array();
  for (const auto& [a, b] : tok.merges())
    merges.push_back(bytes_to_vocab_string(tok.token_bytes(a)) + " " + bytes_to_vocab_string(tok.token_bytes(b)));
  ojson j = {{"version", "1.0"},
             {"truncation", nullptr},
             {"padding", nullptr},
             {"added_tokens", added},
             {"normalizer", nullptr},
             {"pre_tokenizer", pre},
             {"post_processor", byte_level(true, false, true)},
             {"decoder", byte_level(true, true, true)},
             {"model",
              {{"type", "BPE"},
               {"dropout", nullptr},
               {"unk_token", nullptr},
               {"continuing_subword_prefix", ""},
               {"end_of_word_suffix", ""},
               {"fuse_unk", false},
               {"byte_fallback", false},
               {"ignore_merges", true},
               {"vocab", vocab},
               {"merges", merges}}}};
  return j.dump() + "\n";
}

std::string special_tokens_map_text(const Tokenizer& tok) {
  ojson j = ojson::object();
  if (tok.eot_id())
    for (const char* k : {"bos_token", "eos_token", "unk_token"}) j[k] = kEndOfText;
  return j.dump(2) + "\n";
}

namespace {

// The split pattern a pre_tokenizer stands for; BadInput for any other.
SplitPattern pattern_of(const nlohmann::json& pre, const std::string& path) {
  auto bad = [&]() -> SplitPattern {
    fail(
        "{}: unsupported pre_tokenizer {} (ScratchLM reads byte-level BPE with GPT-2's ByteLevel regex, or a Split on "
        "the gpt2 or gpt4/cl100k pattern followed by ByteLevel without regex)",
        path, in_quotes(pre.dump().substr(0, 200)));
  };
  auto is_byte_level = [](const nlohmann::json& p, bool regex) {
    return p.is_object() && p.value("type", "") == "ByteLevel" && p.value("use_regex", true) == regex &&
           !p.value("add_prefix_space", false);
  };
  if (is_byte_level(pre, true)) return SplitPattern::Gpt2;
  if (!pre.is_object() || pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers") ||
      !pre["pretokenizers"].is_array() || pre["pretokenizers"].size() != 2)
    return bad();
  const nlohmann::json& split = pre["pretokenizers"][0];
  if (!is_byte_level(pre["pretokenizers"][1], false) || !split.is_object() || split.value("type", "") != "Split" ||
      split.value("behavior", "") != "Isolated" || split.value("invert", false) || !split.contains("pattern") ||
      !split["pattern"].is_object() || !split["pattern"].contains("Regex") || !split["pattern"]["Regex"].is_string())
    return bad();
  const std::string re = split["pattern"]["Regex"].get<std::string>();
  if (re == kGpt2Regex) return SplitPattern::Gpt2;
  if (re == kGpt4Regex || re == kGpt4RegexOld) return SplitPattern::Gpt4;
  return bad();
}

std::pair<std::string, std::string> merge_of(const nlohmann::json& m, size_t i, const std::string& path) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    if (sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos)
      return {s.substr(0, sp), s.substr(sp + 1)};
  } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  }
  fail("{}: model.merges[{}] is not a merge \"A B\" or [\"A\", \"B\"]: {}", path, i, in_quotes(m.dump()));
}

}  // namespace

Tokenizer load_tokenizer_json(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) fail("{}: no \"model\" object", path);
  const nlohmann::json& model = j["model"];
  if (model.value("type", "BPE") != "BPE") fail("{}: model type '{}' is not BPE", path, model.value("type", ""));
  if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: model.vocab is not an object", path);
  if (!model.contains("merges") || !model["merges"].is_array()) fail("{}: model.merges is not an array", path);
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    fail("{}: a normalizer is not supported (GPT-2's byte-level BPE has none)", path);
  const SplitPattern pattern = pattern_of(j.value("pre_tokenizer", nlohmann::json()), path);
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(model["vocab"].size());
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() > UINT32_MAX)
      fail("{}: the id of token {} is not a non-negative integer", path, in_quotes(it.key()));
    vocab.emplace_back(it.key(), it.value().get<uint32_t>());
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& t : j["added_tokens"]) {
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id") ||
          !t["id"].is_number_unsigned())
        fail("{}: an added token lacks its content or id", path);
      const std::string content = t["content"].get<std::string>();
      const uint32_t id = t["id"].get<uint32_t>();
      if (content != kEndOfText)
        fail("{}: added token {} is not supported (ScratchLM's only special token is {})", path, in_quotes(content),
             kEndOfText);
      bool present = false;
      for (const auto& [tok, vid] : vocab)
        if (tok == content) {
          if (vid != id) fail("{}: {} has id {} in added_tokens but {} in model.vocab", path, kEndOfText, id, vid);
          present = true;
        }
      if (!present) vocab.emplace_back(content, id);
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(model["merges"].size());
  for (size_t i = 0; i < model["merges"].size(); ++i) merges.push_back(merge_of(model["merges"][i], i, path));
  return Tokenizer::from_vocab(vocab, merges, pattern, path);
}

}  // namespace slm
