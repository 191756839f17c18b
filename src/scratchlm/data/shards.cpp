// shards.cpp — llm.c-layout token shards, mmap'd token arrays and the tokenized-corpus cache
// (see shards.h; chapters 2.6 and 5).
#include "scratchlm/data/shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <random>

#include "scratchlm/data/corpus.h"
#include "scratchlm/data/token_files.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"
#include "scratchlm/util/sha256.h"

namespace slm {

static_assert(std::endian::native == std::endian::little, "token shards are little-endian");

namespace fs = std::filesystem;

namespace {}  // namespace

// ------------------------------------------------------------------ TokenArray

TokenArray TokenArray::from_vector(std::vector<uint32_t> ids) {
  auto v = std::make_shared<std::vector<uint32_t>>(std::move(ids));
  TokenArray a;
  a.data_ = reinterpret_cast<const unsigned char*>(v->data());
  a.size_ = v->size();
  a.width_ = 4;
  a.keep_ = std::move(v);
  return a;
}

void TokenArray::copy_to(size_t begin, size_t n, int32_t* out) const {
  if (begin > size_ || n > size_ - begin)
    fail_internal("token range [{}, {}) is outside an array of {} tokens", begin, begin + n, size_);
  if (width_ == 2) {
    const auto* p = reinterpret_cast<const uint16_t*>(data_) + begin;
    for (size_t i = 0; i < n; ++i) out[i] = p[i];
  } else {
    const auto* p = reinterpret_cast<const uint32_t*>(data_) + begin;
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(p[i]);
  }
}

std::vector<uint32_t> TokenArray::to_vector() const {
  std::vector<uint32_t> v(size_);
  for (size_t i = 0; i < size_; ++i) v[i] = (*this)[i];
  return v;
}

TokenArray TokenArray::slice(size_t begin, size_t end) const {
  if (begin > end || end > size_) fail("token slice [{}, {}) is outside an array of {} tokens", begin, end, size_);
  TokenArray a = *this;
  a.data_ = data_ + begin * static_cast<size_t>(width_);
  a.size_ = end - begin;
  return a;
}

uint32_t TokenArray::max_id() const {
  uint32_t m = 0;
  if (width_ == 2) {
    const auto* p = reinterpret_cast<const uint16_t*>(data_);
    for (size_t i = 0; i < size_; ++i) m = std::max<uint32_t>(m, p[i]);
  } else {
    const auto* p = reinterpret_cast<const uint32_t*>(data_);
    for (size_t i = 0; i < size_; ++i) m = std::max(m, p[i]);
  }
  return m;
}

// ------------------------------------------------------------------ shard files

int shard_version_for(size_t vocab_size) { return vocab_size > 65536 ? kShardVersion32 : kShardVersion16; }
int32_t shard_magic_for(int version) { return version == kShardVersion32 ? kShardMagic32 : kShardMagic; }

TokenShardWriter::TokenShardWriter(std::string path, size_t vocab_size)
    : path_(std::move(path)),
      vocab_size_(vocab_size),
      width_(shard_version_for(vocab_size) == kShardVersion16 ? 2 : 4) {
  std::random_device rd;
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot write '{}': {}", path_, std::strerror(errno));
  buf_.assign(kShardHeaderBytes, '\0');  // the header, count 0 until commit()
}

TokenShardWriter::~TokenShardWriter() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(tmp_.c_str());
}

void TokenShardWriter::write_all(const void* data, size_t n, uint64_t at) {
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd_, p + done, n - done, static_cast<off_t>(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail_internal("cannot write '{}': {}", path_, std::strerror(errno));
    done += static_cast<size_t>(w);
  }
}

void TokenShardWriter::flush() {
  write_all(buf_.data(), buf_.size(), written_);
  written_ += buf_.size();
  buf_.clear();
}

void TokenShardWriter::append(std::span<const uint32_t> tokens) {
  if (tokens.size() > static_cast<size_t>(INT32_MAX) - count_)
    fail("cannot write '{}': {} tokens do not fit one shard (at most {})", path_, count_ + tokens.size(), INT32_MAX);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const uint32_t t = tokens[i];
    if (t >= vocab_size_)
      fail("cannot write '{}': token id {} at position {} is outside the vocabulary of {} tokens", path_, t, count_ + i,
           vocab_size_);
    if (width_ == 2) {
      const auto v = static_cast<uint16_t>(t);
      buf_.append(reinterpret_cast<const char*>(&v), 2);
    } else {
      buf_.append(reinterpret_cast<const char*>(&t), 4);
    }
  }
  count_ += tokens.size();
  if (buf_.size() >= (size_t{1} << 20)) flush();
}

void TokenShardWriter::commit() {
  flush();
  const int version = shard_version_for(vocab_size_);
  const int32_t header[3] = {shard_magic_for(version), version, static_cast<int32_t>(count_)};
  write_all(header, sizeof(header), 0);
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) fail_internal("cannot write '{}': {}", path_, std::strerror(errno));
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    fail_internal("cannot rename temp file onto '{}': {}", path_, std::strerror(e));
  }
}

void write_token_shard(const std::string& path, std::span<const uint32_t> tokens, size_t vocab_size) {
  TokenShardWriter w(path, vocab_size);
  w.append(tokens);
  w.commit();
}

TokenArray read_token_shard(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open token shard '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("token shard '{}' is not a regular file", path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kShardHeaderBytes) {
    ::close(fd);
    fail("token shard '{}' is truncated: {} bytes, shorter than its {}-byte header", path, size, kShardHeaderBytes);
  }
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int map_errno = errno;
  ::close(fd);
  if (base == MAP_FAILED) fail("cannot map token shard '{}': {}", path, std::strerror(map_errno));
  std::shared_ptr<const void> keep(base, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });

  int32_t header[3];
  std::memcpy(header, base, sizeof(header));
  if (header[0] != kShardMagic && header[0] != kShardMagic32)
    fail("'{}' is not a token shard: magic number {} (expected llm.c's {} or {})", path, header[0], kShardMagic,
         kShardMagic32);
  // llm.c's pairs, and (20240520, 2): the uint32 header ScratchLM wrote before it used llm.c's.
  const bool v16 = header[0] == kShardMagic && header[1] == kShardVersion16;
  const bool v32 =
      (header[0] == kShardMagic32 && header[1] == kShardVersion32) || (header[0] == kShardMagic && header[1] == 2);
  if (!v16 && !v32)
    fail(
        "token shard '{}' has unsupported version {} for magic {} (expected {}: uint16 tokens with magic {}, or {}: "
        "uint32 tokens with magic {})",
        path, header[1], header[0], kShardVersion16, kShardMagic, kShardVersion32, kShardMagic32);
  if (header[2] < 0) fail("token shard '{}' is corrupt: negative token count {}", path, header[2]);
  const size_t width = v16 ? 2 : 4;
  const size_t count = static_cast<size_t>(header[2]);
  const size_t expect = kShardHeaderBytes + count * width;
  if (size != expect)
    fail("token shard '{}' is {}: {} bytes, but its header says {} tokens of {} bytes ({} bytes)", path,
         size < expect ? "truncated" : "corrupt (trailing bytes)", size, count, width, expect);

  TokenArray a;
  a.keep_ = std::move(keep);
  a.data_ = static_cast<const unsigned char*>(base) + kShardHeaderBytes;
  a.size_ = count;
  a.width_ = static_cast<int>(width);
  return a;
}

// ------------------------------------------------------------------ cache

std::string tokenizer_dir_id(const std::string& dir) {
  Sha256 h;
  h.update_field("scratchlm-tokenizer-id/1");
  int found = 0;
  for (const char* name :
       {"encoder.json", "vocab.bpe", "vocab.json", "merges.txt", "tokenizer_config.json", "tokenizer.json"}) {
    std::string path = (fs::path(dir) / name).string();
    if (!file_exists(path)) continue;
    ++found;
    h.update_field(name);
    h.update_field(read_file(path));
  }
  if (found == 0) fail("'{}' holds no tokenizer files (encoder.json + vocab.bpe or vocab.json + merges.txt)", dir);
  return h.hex();
}

std::string default_token_cache_dir() { return (fs::path(default_data_dir()) / "cache" / "tokens").string(); }

std::string token_cache_key(const std::vector<std::string>& paths, const std::string& tokenizer_id, bool lossy,
                            const std::string& text_column) {
  Sha256 h;
  h.update_field(kTokenCacheFormat);
  h.update_field(tokenizer_id);
  h.update_u64(lossy ? 1 : 0);
  h.update_field(text_column);
  h.update_u64(paths.size());
  for (const auto& p : paths) {
    h.update_field(p);
    // The raw bytes as update_field would hash them (length, then bytes), read in chunks; lossy
    // repair is a function of them and the flag.
    std::error_code ec;
    const uint64_t size = fs::file_size(p, ec);
    if (ec) fail("cannot open '{}': {}", p, ec.message());
    h.update_u64(size);
    if (read_file_chunks(p, size_t{1} << 20, [&](std::string_view part) { h.update(part); }) != size)
      fail("'{}' changed while it was being read", p);
  }
  return h.hex();
}

TokenArray tokenize_documents_cached(const std::vector<std::string>& paths, const Tokenizer& tok,
                                     const std::string& tokenizer_id, const std::string& cache_dir, bool lossy,
                                     int threads, bool* was_cached, const std::string& text_column) {
  const std::string dir = cache_dir.empty() ? default_token_cache_dir() : cache_dir;
  const std::string file =
      (fs::path(dir) / (token_cache_key(paths, tokenizer_id, lossy, text_column) + ".bin")).string();
  if (was_cached) *was_cached = false;
  if (file_exists(file)) {
    // A valid shard that fits this tokenizer is a hit; anything else (a torn or foreign file) is
    // rebuilt below, since the cache is only ever a copy.
    try {
      TokenArray a = read_token_shard(file);
      if (a.width() == (shard_version_for(tok.vocab_size()) == kShardVersion16 ? 2 : 4) &&
          (a.empty() || a.max_id() < tok.vocab_size())) {
        if (was_cached) *was_cached = true;
        return a;
      }
    } catch (const Error&) {}
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create the token cache directory '{}': {}", dir, ec.message());
  TokenShardWriter shard(file, tok.vocab_size());
  encode_documents_to(paths, tok, lossy, threads, text_column,
                      [&](std::span<const uint32_t> ids) { shard.append(ids); });
  shard.commit();
  return read_token_shard(file);
}

TokenArray tokenize_corpus_cached(const std::vector<std::string>& specs, const Tokenizer& tok,
                                  const std::string& tokenizer_id, const std::string& cache_dir, bool lossy,
                                  int threads, bool* was_cached, const std::string& text_column) {
  const std::vector<std::string> paths = resolve_corpus(specs);
  if (are_token_files(paths)) {  // llm.c token files: already ids (token_files.h)
    if (was_cached) *was_cached = false;
    return read_token_files(paths, tok.vocab_size());
  }
  return tokenize_documents_cached(paths, tok, tokenizer_id, cache_dir, lossy, threads, was_cached, text_column);
}

}  // namespace slm
