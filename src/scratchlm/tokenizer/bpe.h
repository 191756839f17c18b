// bpe.h — GPT-2 byte-level byte-pair-encoding tokenizer, exact to OpenAI's tiktoken (chapter 2.5).
//
// Encoding: validate UTF-8 -> split out special tokens (per SpecialMode) -> pre-tokenize with the
// split pattern (pretokenize.h) -> for each piece: the piece's id if the whole piece is a token,
// else BPE over its bytes, repeatedly merging the adjacent pair whose concatenation has the lowest
// rank (leftmost on ties), exactly tiktoken's byte_pair_merge. Ranks are merge order: the 256
// byte tokens first, then line N of vocab.bpe / merges.txt has rank 256 + N.
// A per-thread cache maps frequent pieces to their ids; the hot path does not allocate per token.
// Pieces longer than kLongPieceBytes are encoded in bounded memory with the same result (bpe_long.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scratchlm/tokenizer/pretokenize.h"

namespace slm {

// What to do with special tokens such as <|endoftext|> found in the input text.
enum class SpecialMode {
  Text,   // treat as ordinary text (tiktoken's encode_ordinary)
  Allow,  // encode as the special id (tiktoken's encode(allowed_special="all"))
  Error,  // refuse: BadInput error naming the token and its offset (tiktoken's default encode)
};
SpecialMode parse_special_mode(std::string_view s);

inline constexpr const char* kEndOfText = "<|endoftext|>";

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Tokenizer {
 public:
  // A directory with encoder.json + vocab.bpe (OpenAI) or vocab.json + merges.txt (Hugging Face),
  // and optionally tokenizer_config.json with "split_pattern": "gpt2" | "gpt4".
  static Tokenizer load_dir(const std::string& dir);
  static Tokenizer load_files(const std::string& vocab_json_path, const std::string& merges_path,
                              SplitPattern pattern = SplitPattern::Gpt2);
  // Build from parsed parts: id -> token (vocabulary-string form), and merges as pairs of
  // vocabulary strings, in rank order. `source` names the origin in error messages.
  static Tokenizer from_vocab(const std::vector<std::pair<std::string, uint32_t>>& vocab,
                              const std::vector<std::pair<std::string, std::string>>& merges, SplitPattern pattern,
                              const std::string& source);

  // Write encoder.json + vocab.bpe (layout "openai") or vocab.json + merges.txt ("hf"), plus
  // tokenizer_config.json; each file atomically.
  void save_dir(const std::string& dir, std::string_view layout = "openai") const;

  std::vector<uint32_t> encode(std::string_view text, SpecialMode mode = SpecialMode::Error) const;
  std::vector<uint32_t> encode_ordinary(std::string_view text) const { return encode(text, SpecialMode::Text); }
  void encode_append(std::string_view text, SpecialMode mode, std::vector<uint32_t>& out) const;
  // Same result as encode(), split across `threads` OpenMP threads at safe cut points.
  std::vector<uint32_t> encode_parallel(std::string_view text, SpecialMode mode, int threads) const;

  // Bytes of an id sequence (not necessarily valid UTF-8). Out-of-range ids are BadInput errors.
  std::string decode(std::span<const uint32_t> ids) const;
  // Bytes of one token; BadInput error for an out-of-range id.
  const std::string& token_bytes(uint32_t id) const;

  size_t vocab_size() const { return id_to_bytes_.size(); }
  size_t num_merges() const { return merges_.size(); }
  // The merges in rank order, as (left id, right id) pairs.
  const std::vector<std::pair<uint32_t, uint32_t>>& merge_pairs() const { return merges_; }
  // Length in bytes of the longest token BPE can produce (bpe_long.h's M).
  size_t max_token_bytes() const { return max_token_bytes_; }
  SplitPattern pattern() const { return pattern_; }
  std::optional<uint32_t> special_id(std::string_view name) const;
  std::optional<uint32_t> eot_id() const { return special_id(kEndOfText); }
  // The one pad-id rule (chapters 6.3 and 7.3): batches are padded, and generation ends, with
  // <|endoftext|>; 50256 (GPT-2's) for a vocabulary without it.
  int32_t pad_id() const { return eot_id() ? static_cast<int32_t>(*eot_id()) : 50256; }
  const std::vector<std::pair<std::string, uint32_t>>& specials() const { return specials_; }
  // id of a token given its bytes (ordinary tokens only)
  std::optional<uint32_t> token_id(std::string_view bytes) const;

  // Forget every thread's cached pieces (benchmarks use it to measure a cold start).
  void reset_caches();

  // BPE over one piece's bytes (no whole-piece lookup, no cache), holding the whole piece: what
  // tiktoken's byte_pair_merge computes. Exposed for tests and bpe_long.h.
  void bpe_piece(std::string_view piece, std::vector<uint32_t>& out) const;
  // One pre-tokenizer piece as encode() does it: its id if it is a token, else BPE (cached when
  // short; pieces longer than `long_piece` bytes in bounded memory, bpe_long.h).
  void encode_piece(std::string_view piece, std::vector<uint32_t>& out, size_t long_piece = kLongPieceBytes) const;
  static constexpr size_t kLongPieceBytes = size_t{1} << 18;

 private:
  void encode_valid_append(std::string_view text, SpecialMode mode, std::vector<uint32_t>& out) const;
  std::pair<size_t, const std::pair<std::string, uint32_t>*> find_special(std::string_view text, size_t pos) const;
  [[noreturn]] static void fail_disallowed_special(const std::string& name, uint32_t id, size_t offset);
  void encode_ordinary_append(std::string_view text, std::vector<uint32_t>& out) const;
  void bpe_small(std::string_view piece, std::vector<uint32_t>& out) const;
  void bpe_large(std::string_view piece, std::vector<uint32_t>& out) const;
  // merged id for the adjacent pair (a, b), or UINT32_MAX
  uint32_t merge_of(uint32_t a, uint32_t b) const {
    auto it = pair_to_id_.find((static_cast<uint64_t>(a) << 32) | b);
    return it == pair_to_id_.end() ? UINT32_MAX : it->second;
  }

  SplitPattern pattern_ = SplitPattern::Gpt2;
  size_t max_token_bytes_ = 1;
  uint64_t serial_ = 0;                   // identifies this tokenizer to the per-thread caches
  std::vector<std::string> id_to_bytes_;  // raw bytes of every id
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> bytes_to_id_;  // rankable tokens
  std::vector<uint32_t> rank_;                         // rank of each id (UINT32_MAX: not mergeable)
  std::array<uint32_t, 256> byte_id_{};                // id of each single byte
  std::unordered_map<uint64_t, uint32_t> pair_to_id_;  // (a << 32 | b) -> id of bytes(a)+bytes(b)
  std::vector<std::pair<uint32_t, uint32_t>> merges_;  // in rank order
  std::vector<std::pair<std::string, uint32_t>> specials_;
};

}  // namespace slm
