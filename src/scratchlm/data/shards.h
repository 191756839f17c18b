// shards.h — token shards in llm.c's on-disk layout, memory-mapped token arrays, and the
// tokenized-corpus cache (the storage behind chapter 2.6's data loader and chapter 5's pretraining).
//
// Shard layout (llm.c, dev/data/data_common.py write_datafile), little-endian:
//   header: 256 int32 — [0] magic, [1] version, [2] token count, [3..255] zero;
//           llm.c's "gpt-2" header: magic 20240520, version 1, uint16 tokens;
//           llm.c's "llama-3" header: magic 20240801, version 7, uint32 tokens
//   body:   count tokens of 2 or 4 bytes.
// The writer picks the uint32 header exactly when vocab_size > 65536. Readers validate the
// (magic, version) pair — also accepting (20240520, 2), the uint32 header ScratchLM wrote before —
// and that the file size is 1024 + count * width; anything else is a BadInput error naming the file.
//
// Cache: tokenize_corpus_cached() keys a shard by SHA-256 over (kTokenCacheFormat, every
// document's path and bytes, the tokenizer identity, the lossy flag, the text column) and stores it as
// <cache_dir>/<64 hex>.bin. A present, valid file is mapped and returned as is; a missing or
// unreadable one is (re)built by tokenizing (corpus.h's encode_documents_to), streamed into the
// shard as the ids come (bounded memory for any corpus size) and renamed into place when complete.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace slm {

class Tokenizer;

inline constexpr int32_t kShardMagic = 20240520;    // uint16 tokens, version kShardVersion16
inline constexpr int32_t kShardMagic32 = 20240801;  // uint32 tokens, version kShardVersion32
inline constexpr int kShardVersion16 = 1;
inline constexpr int kShardVersion32 = 7;
inline constexpr size_t kShardHeaderInts = 256;
inline constexpr size_t kShardHeaderBytes = kShardHeaderInts * 4;
// Bump when anything that changes the cached tokens for the same inputs changes (the document
// joining rule, the encoding mode, the shard layout).
inline constexpr const char* kTokenCacheFormat = "scratchlm-token-cache/1";

// A read-only array of token ids, 16- or 32-bit wide, either mapped from a shard file or owned in
// memory. Copies and slices share the storage (and keep a mapping alive).
class TokenArray {
 public:
  TokenArray() = default;
  static TokenArray from_vector(std::vector<uint32_t> ids);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int width() const { return width_; }  // bytes per token: 2 or 4
  uint32_t operator[](size_t i) const {
    return width_ == 2 ? reinterpret_cast<const uint16_t*>(data_)[i] : reinterpret_cast<const uint32_t*>(data_)[i];
  }
  // tokens [begin, begin + n) into out, widened to int32 (the loader's batch format).
  void copy_to(size_t begin, size_t n, int32_t* out) const;
  std::vector<uint32_t> to_vector() const;
  // tokens [begin, end), sharing storage; BadInput error when out of range.
  TokenArray slice(size_t begin, size_t end) const;
  // The largest id, 0 when empty.
  uint32_t max_id() const;

 private:
  friend TokenArray read_token_shard(const std::string& path);
  std::shared_ptr<const void> keep_;  // the vector or the mapping
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
  int width_ = 4;
};

// kShardVersion16 (uint16) when vocab_size <= 65536, else kShardVersion32 (uint32); and its magic.
int shard_version_for(size_t vocab_size);
int32_t shard_magic_for(int version);

// Writes a shard as the tokens come (memory: a small buffer): a temp file next to `path`, the
// header's count filled in by commit(), then fsync + rename. Destroyed uncommitted (an error on the
// way), it removes the temp file and leaves `path` as it was.
class TokenShardWriter {
 public:
  TokenShardWriter(std::string path, size_t vocab_size);
  ~TokenShardWriter();
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;
  // Every id must be < vocab_size; at most INT32_MAX tokens in all (BadInput errors).
  void append(std::span<const uint32_t> tokens);
  void commit();
  size_t count() const { return count_; }

 private:
  void write_all(const void* data, size_t n, uint64_t at);
  void flush();
  std::string path_, tmp_;
  size_t vocab_size_;
  size_t width_;
  int fd_ = -1;
  size_t count_ = 0;
  uint64_t written_ = 0;  // bytes of the file written so far
  std::string buf_;
};

// Write tokens as a shard (temp file + fsync + rename). Every id must be < vocab_size
// (BadInput error otherwise); more than INT32_MAX tokens do not fit the header (BadInput).
void write_token_shard(const std::string& path, std::span<const uint32_t> tokens, size_t vocab_size);
// Map and validate a shard.
TokenArray read_token_shard(const std::string& path);

// Identity of a tokenizer directory for cache keys: SHA-256 (hex) over the names and bytes of
// whichever of encoder.json, vocab.bpe, vocab.json, merges.txt, tokenizer_config.json,
// tokenizer.json it holds.
std::string tokenizer_dir_id(const std::string& dir);

// <data>/cache/tokens
std::string default_token_cache_dir();

// The cache key (64 hex digits) of documents `paths` (already resolved, in order).
std::string token_cache_key(const std::vector<std::string>& paths, const std::string& tokenizer_id, bool lossy,
                            const std::string& text_column = "");

// Resolve `specs` (corpus.h); when they are llm.c token files (*.bin, token_files.h) read their ids
// as they are (checked against tok's vocabulary, no cache); else tokenize through the cache: a hit maps
// <cache_dir>/<key>.bin (printing nothing); a miss tokenizes with `threads` threads and writes it. `cache_dir` empty:
// default_token_cache_dir(). `tokenizer_id` identifies `tok` (e.g. tokenizer_dir_id(its dir)).
// *was_cached, when given, tells whether the cache answered. `text_column`: encode_documents'.
TokenArray tokenize_corpus_cached(const std::vector<std::string>& specs, const Tokenizer& tok,
                                  const std::string& tokenizer_id, const std::string& cache_dir, bool lossy,
                                  int threads, bool* was_cached = nullptr, const std::string& text_column = "");
// The same for an already resolved document list.
TokenArray tokenize_documents_cached(const std::vector<std::string>& paths, const Tokenizer& tok,
                                     const std::string& tokenizer_id, const std::string& cache_dir, bool lossy,
                                     int threads, bool* was_cached = nullptr, const std::string& text_column = "");

}  // namespace slm
