// bpe.cpp — the GPT-2 byte-level BPE tokenizer (see bpe.h): loading vocabularies, encoding pieces
// (the merge loops are in bpe_merge.cpp), the piece cache, decoding.
#include "scratchlm/tokenizer/bpe.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scratchlm/tokenizer/bpe_long.h"
#include "scratchlm/tokenizer/byte_unicode.h"
#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/tokenizer/tokenizer_json.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/tokenizer/vocab_files.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

SpecialMode parse_special_mode(std::string_view s) {
  if (s == "text") return SpecialMode::Text;
  if (s == "allow") return SpecialMode::Allow;
  if (s == "error") return SpecialMode::Error;
  fail("unknown --special mode '{}' (expected error, text or allow)", s);
}

namespace {

std::atomic<uint64_t> g_serial{1};

// Per-thread cache of piece -> ids, tagged with the tokenizer it belongs to.
struct PieceCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> map;
  std::vector<uint32_t> arena;
  static constexpr size_t kMaxEntries = 1 << 17;
  void reset(uint64_t o) {
    owner = o;
    map.clear();
    arena.clear();
  }
};
thread_local PieceCache tl_cache;

}  // namespace

// ------------------------------------------------------------------ construction

Tokenizer Tokenizer::from_vocab(const std::vector<std::pair<std::string, uint32_t>>& vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges, SplitPattern pattern,
                                const std::string& source) {
  Tokenizer t;
  t.pattern_ = pattern;
  t.serial_ = g_serial.fetch_add(1);
  if (vocab.empty()) fail("{}: the vocabulary is empty", source);
  require_dense_ids(vocab, source);
  t.id_to_bytes_.assign(vocab.size(), std::string());
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> all;  // bytes -> id
  std::string bytes;
  for (const auto& [tok, id] : vocab) {
    if (tok == kEndOfText) {
      t.specials_.emplace_back(tok, id);
      t.id_to_bytes_[id] = tok;
      continue;
    }
    if (!vocab_string_to_bytes(tok, &bytes))
      fail("{}: token {} (id {}) is not in GPT-2's byte-to-unicode form", source, in_quotes(tok), id);
    if (!all.emplace(bytes, id).second) fail("{}: token {} appears twice", source, in_quotes(tok));
    t.id_to_bytes_[id] = bytes;
  }
  t.rank_.assign(vocab.size(), UINT32_MAX);
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    auto it = all.find(one);
    if (it == all.end()) fail("{}: the vocabulary lacks the single-byte token for byte 0x{:02X}", source, b);
    t.byte_id_[b] = it->second;
    t.rank_[it->second] = static_cast<uint32_t>(b);
    t.bytes_to_id_.emplace(one, it->second);
  }
  t.merges_.reserve(merges.size());
  std::string a, b;
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [sa, sb] = merges[i];
    if (!vocab_string_to_bytes(sa, &a) || !vocab_string_to_bytes(sb, &b))
      fail("{}: merge {} ({}) is not in GPT-2's byte-to-unicode form", source, i + 1, in_quotes(sa + " " + sb));
    auto ia = all.find(a), ib = all.find(b), iab = all.find(a + b);
    if (ia == all.end() || ib == all.end())
      fail("{}: merge {} ({}) uses a token missing from the vocabulary", source, i + 1, in_quotes(sa + " " + sb));
    if (iab == all.end())
      fail("{}: merge {} ({}) produces a token missing from the vocabulary", source, i + 1, in_quotes(sa + " " + sb));
    t.merges_.emplace_back(ia->second, ib->second);
    if (t.rank_[iab->second] == UINT32_MAX) {
      t.rank_[iab->second] = static_cast<uint32_t>(256 + i);
      t.bytes_to_id_.emplace(a + b, iab->second);
    }
  }
  for (const auto& [tok, id] : t.bytes_to_id_) t.max_token_bytes_ = std::max(t.max_token_bytes_, tok.size());
  // Every way to split a mergeable token into two mergeable tokens is a pair that merges into it
  // (tiktoken looks up the concatenated bytes, not the merge list).
  for (const auto& [tok, id] : t.bytes_to_id_) {
    if (tok.size() < 2) continue;
    for (size_t k = 1; k < tok.size(); ++k) {
      auto l = t.bytes_to_id_.find(std::string_view(tok).substr(0, k));
      if (l == t.bytes_to_id_.end()) continue;
      auto r = t.bytes_to_id_.find(std::string_view(tok).substr(k));
      if (r == t.bytes_to_id_.end()) continue;
      t.pair_to_id_.emplace((static_cast<uint64_t>(l->second) << 32) | r->second, id);
    }
  }
  return t;
}

Tokenizer Tokenizer::load_files(const std::string& vocab_json_path, const std::string& merges_path,
                                SplitPattern pattern) {
  auto vocab = parse_vocab_json(vocab_json_path);
  auto merges = parse_merges(merges_path);
  return from_vocab(vocab, merges, pattern, vocab_json_path);
}

Tokenizer Tokenizer::load_dir(const std::string& dir) {
  fs::path d(dir);
  if (!fs::is_directory(d))
    fail("tokenizer directory '{}' does not exist (run `make setup` to fetch the GPT-2 vocabulary)", dir);
  SplitPattern pattern = SplitPattern::Gpt2;
  fs::path cfg = d / "tokenizer_config.json";
  if (fs::exists(cfg)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(cfg.string()));
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}: malformed JSON at byte {}", cfg.string(), e.byte);
    }
    if (j.is_object() && j.contains("split_pattern") && j["split_pattern"].is_string())
      pattern = parse_split_pattern(j["split_pattern"].get<std::string>());
  }
  if (fs::exists(d / "encoder.json") && fs::exists(d / "vocab.bpe"))
    return load_files((d / "encoder.json").string(), (d / "vocab.bpe").string(), pattern);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt"))
    return load_files((d / "vocab.json").string(), (d / "merges.txt").string(), pattern);
  if (fs::exists(d / "tokenizer.json")) return load_tokenizer_json((d / "tokenizer.json").string());
  fail(
      "no tokenizer in '{}': expected encoder.json + vocab.bpe, vocab.json + merges.txt or tokenizer.json (run `make "
      "setup` to fetch the GPT-2 vocabulary)",
      dir);
}

void Tokenizer::save_dir(const std::string& dir, std::string_view layout) const {
  if (layout != "openai" && layout != "hf") fail("unknown tokenizer layout '{}' (expected openai or hf)", layout);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create directory '{}': {}", dir, ec.message());
  // Vocabulary in id order, keys in GPT-2's printable byte form.
  std::string js = "{";
  for (uint32_t id = 0; id < id_to_bytes_.size(); ++id) {
    bool special = false;
    for (const auto& s : specials_) special |= (s.second == id);
    std::string key = special ? id_to_bytes_[id] : bytes_to_vocab_string(id_to_bytes_[id]);
    if (id) js += ", ";
    js += nlohmann::json(key).dump() + ": " + std::to_string(id);
  }
  js += "}";
  std::string mg = "#version: 0.2\n";
  for (const auto& [a, b] : merges_)
    mg += bytes_to_vocab_string(id_to_bytes_[a]) + " " + bytes_to_vocab_string(id_to_bytes_[b]) + "\n";
  bool hf = layout == "hf";
  write_file_atomic((fs::path(dir) / (hf ? "vocab.json" : "encoder.json")).string(), js);
  write_file_atomic((fs::path(dir) / (hf ? "merges.txt" : "vocab.bpe")).string(), mg);
  if (hf) {
    write_file_atomic((fs::path(dir) / "tokenizer.json").string(), tokenizer_json_text(*this));
    write_file_atomic((fs::path(dir) / "special_tokens_map.json").string(), special_tokens_map_text(*this));
  }
  nlohmann::json cfg = {{"tokenizer_class", "GPT2Tokenizer"},
                        {"split_pattern", split_pattern_name(pattern_)},
                        {"bos_token", kEndOfText},
                        {"eos_token", kEndOfText},
                        {"unk_token", kEndOfText}};
  write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(), cfg.dump(2) + "\n");
}

void Tokenizer::reset_caches() { serial_ = g_serial.fetch_add(1); }

const std::string& Tokenizer::token_bytes(uint32_t id) const {
  if (id >= id_to_bytes_.size())
    fail("token id {} is out of range (the vocabulary has {} tokens, ids 0..{})", id, id_to_bytes_.size(),
         id_to_bytes_.size() - 1);
  return id_to_bytes_[id];
}

std::optional<uint32_t> Tokenizer::special_id(std::string_view name) const {
  for (const auto& [s, id] : specials_)
    if (s == name) return id;
  return std::nullopt;
}

std::optional<uint32_t> Tokenizer::token_id(std::string_view bytes) const {
  auto it = bytes_to_id_.find(bytes);
  if (it == bytes_to_id_.end()) return std::nullopt;
  return it->second;
}

// ------------------------------------------------------------------ encoding

void Tokenizer::encode_piece(std::string_view piece, std::vector<uint32_t>& out, size_t long_piece) const {
  auto whole = bytes_to_id_.find(piece);
  if (whole != bytes_to_id_.end()) {
    out.push_back(whole->second);
    return;
  }
  if (piece.size() > long_piece) {
    LongPieceEncoder enc(*this, long_piece);
    enc.feed(piece, out);
    enc.finish(out);
    return;
  }
  PieceCache& cache = tl_cache;
  if (cache.owner != serial_) cache.reset(serial_);
  auto hit = cache.map.find(piece);
  if (hit != cache.map.end()) {
    const uint32_t* p = cache.arena.data() + hit->second.first;
    out.insert(out.end(), p, p + hit->second.second);
    return;
  }
  size_t before = out.size();
  bpe_piece(piece, out);
  if (piece.size() <= 64) {
    if (cache.map.size() >= PieceCache::kMaxEntries) cache.reset(serial_);
    uint32_t off = static_cast<uint32_t>(cache.arena.size());
    cache.arena.insert(cache.arena.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
    cache.map.emplace(std::string(piece), std::make_pair(off, static_cast<uint32_t>(out.size() - before)));
  }
}

void Tokenizer::encode_ordinary_append(std::string_view text, std::vector<uint32_t>& out) const {
  for_each_piece(pattern_, text, [&](std::string_view piece) { encode_piece(piece, out); });
}

void Tokenizer::encode_append(std::string_view text, SpecialMode mode, std::vector<uint32_t>& out) const {
  utf8_require_valid(text, "input text");
  encode_valid_append(text, mode, out);
}

// Earliest special token at or after pos: (offset, special) or (npos, nullptr).
std::pair<size_t, const std::pair<std::string, uint32_t>*> Tokenizer::find_special(std::string_view text,
                                                                                   size_t pos) const {
  size_t best = std::string_view::npos;
  const std::pair<std::string, uint32_t>* which = nullptr;
  for (const auto& s : specials_) {
    size_t f = text.find(s.first, pos);
    if (f < best) {
      best = f;
      which = &s;
    }
  }
  return {best, which};
}

void Tokenizer::encode_valid_append(std::string_view text, SpecialMode mode, std::vector<uint32_t>& out) const {
  if (mode == SpecialMode::Text || specials_.empty()) {
    encode_ordinary_append(text, out);
    return;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    auto [at, which] = find_special(text, pos);
    if (!which) {
      encode_ordinary_append(text.substr(pos), out);
      return;
    }
    if (mode == SpecialMode::Error) fail_disallowed_special(which->first, which->second, at);
    encode_ordinary_append(text.substr(pos, at - pos), out);
    out.push_back(which->second);
    pos = at + which->first.size();
  }
}

void Tokenizer::fail_disallowed_special(const std::string& name, uint32_t id, size_t offset) {
  fail(
      "input contains the special token '{}' at byte offset {} (use --special=allow to encode it as id {}, or "
      "--special=text to encode it as plain text)",
      name, offset, id);
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, SpecialMode mode) const {
  std::vector<uint32_t> out;
  out.reserve(text.size() / 3 + 16);
  encode_append(text, mode, out);
  return out;
}

std::vector<uint32_t> Tokenizer::encode_parallel(std::string_view text, SpecialMode mode, int threads) const {
  if (threads <= 1 || text.size() < (1u << 20)) return encode(text, mode);
  utf8_require_valid(text, "input text");
  if (mode == SpecialMode::Error) {
    auto [at, which] = find_special(text, 0);
    if (which) fail_disallowed_special(which->first, which->second, at);
    mode = SpecialMode::Text;  // no special token present
  }
  // Cut points: piece boundaries that never fall inside a special token (they need "x y").
  size_t nchunks = static_cast<size_t>(threads) * 8;
  std::vector<size_t> cuts{0};
  for (size_t c = 1; c < nchunks; ++c) {
    size_t at = find_safe_split(pattern_, text, std::max(cuts.back() + 1, text.size() * c / nchunks));
    if (at >= text.size()) break;
    cuts.push_back(at);
  }
  cuts.push_back(text.size());
  const int64_t nparts = static_cast<int64_t>(cuts.size()) - 1;
  std::vector<std::vector<uint32_t>> parts(static_cast<size_t>(nparts));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < nparts; ++c) encode_valid_append(text.substr(cuts[c], cuts[c + 1] - cuts[c]), mode, parts[c]);
  std::vector<uint32_t> out;
  size_t total = 0;
  for (auto& p : parts) total += p.size();
  out.reserve(total);
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string Tokenizer::decode(std::span<const uint32_t> ids) const {
  std::string out;
  for (uint32_t id : ids) out += token_bytes(id);
  return out;
}

}  // namespace slm
