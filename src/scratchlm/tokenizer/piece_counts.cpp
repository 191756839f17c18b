// piece_counts.cpp — step 1 of BPE training (chapter 2.5; see piece_counts.h): split the corpus
// on <|endoftext|>, pre-tokenize it and count each unique piece. OpenMP over chunks of the
// documents; each thread counts into open-addressing tables split into shards by hash; the shards
// are merged across threads and sorted by bytes one by one, in parallel, so the result does not
// depend on the thread count.
#include "scratchlm/tokenizer/piece_counts.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "scratchlm/tokenizer/pretokenize.h"

namespace slm {

namespace {

// A fast hash of a short byte string (pieces average a few bytes).
inline uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ULL;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 29;
  return h;
}

// Open-addressing map piece -> count; the pieces point into the caller's documents.
class PieceCounts {
 public:
  struct Slot {
    uint64_t hash = 0;
    uint64_t prefix = 0;  // the first 8 bytes (zero-padded): most pieces compare without a memcmp
    const char* data = nullptr;
    uint32_t size = 0;  // 0: empty (pieces are never empty)
    uint64_t count = 0;
  };
  static uint64_t prefix_of(std::string_view piece) {
    uint64_t v = 0;
    std::memcpy(&v, piece.data(), std::min<size_t>(8, piece.size()));
    return v;
  }
  void add(std::string_view piece, uint64_t hash, uint64_t n) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const uint64_t prefix = prefix_of(piece);
    size_t i = static_cast<size_t>(hash) & mask_;
    while (true) {
      Slot& s = slots_[i];
      if (s.size == 0) {
        s = {hash, prefix, piece.data(), static_cast<uint32_t>(piece.size()), n};
        ++used_;
        return;
      }
      if (s.hash == hash && s.prefix == prefix && s.size == piece.size() &&
          (piece.size() <= 8 || std::memcmp(s.data + 8, piece.data() + 8, piece.size() - 8) == 0)) {
        s.count += n;
        return;
      }
      i = (i + 1) & mask_;
    }
  }
  template <typename F>
  void for_each(F&& fn) const {
    for (const Slot& s : slots_)
      if (s.size) fn(s);
  }
  size_t size() const { return used_; }
  void clear() {
    std::vector<Slot>().swap(slots_);
    mask_ = used_ = 0;
  }

 private:
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(1024, old.size() * 2), Slot{});
    mask_ = slots_.size() - 1;
    used_ = 0;
    for (const Slot& s : old)
      if (s.size) add(std::string_view(s.data, s.size), s.hash, s.count);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, used_ = 0;
};

// Pieces are spread over this many shards by hash (top bits), so that merging the per-thread
// tables and sorting the result can run in parallel, shard by shard.
constexpr size_t kShards = 64;
inline size_t shard_of(uint64_t hash) { return static_cast<size_t>(hash >> 58); }
static_assert(kShards == 64);

struct Chunk {
  std::string_view text;
};

// Cut the documents into chunks at <|endoftext|> and, for long parts, at safe split points.
std::vector<Chunk> make_chunks(const std::vector<std::string_view>& documents, SplitPattern pattern) {
  constexpr size_t kChunk = 1 << 16;
  const std::string_view eot = kEndOfText;
  std::vector<Chunk> chunks;
  for (std::string_view doc : documents) {
    size_t pos = 0;
    while (pos <= doc.size()) {
      size_t f = doc.find(eot, pos);
      size_t end = f == std::string_view::npos ? doc.size() : f;
      std::string_view part = doc.substr(pos, end - pos);
      size_t p = 0;
      while (p < part.size()) {
        size_t cut = part.size();
        if (part.size() - p > 2 * kChunk) cut = find_safe_split(pattern, part, p + kChunk);
        chunks.push_back({part.substr(p, cut - p)});
        p = cut;
      }
      if (f == std::string_view::npos) break;
      pos = f + eot.size();
    }
  }
  return chunks;
}

}  // namespace

std::vector<std::pair<std::string_view, uint64_t>> count_pieces(const std::vector<std::string_view>& documents,
                                                                SplitPattern pattern, int threads) {
  std::vector<Chunk> chunks = make_chunks(documents, pattern);
  int nthreads = std::max(1, std::min<int>(threads, static_cast<int>(chunks.size())));
  // local[t * kShards + s]: thread t's counts of the pieces in shard s.
  std::vector<PieceCounts> local(static_cast<size_t>(nthreads) * kShards);
#pragma omp parallel num_threads(nthreads)
  {
    PieceCounts* m = &local[static_cast<size_t>(omp_get_thread_num()) * kShards];
#pragma omp for schedule(dynamic, 1)
    for (size_t c = 0; c < chunks.size(); ++c)
      for_each_piece(pattern, chunks[c].text, [&](std::string_view piece) {
        uint64_t h = hash_bytes(piece);
        m[shard_of(h)].add(piece, h, 1);
      });
  }
  // Merge each shard across threads and sort it by bytes; the shards in order give a word
  // order that does not depend on the thread count.
  std::vector<std::vector<std::pair<std::string_view, uint64_t>>> shard_pieces(kShards);
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
  for (size_t sh = 0; sh < kShards; ++sh) {
    PieceCounts& all = local[sh];
    for (int t = 1; t < nthreads; ++t) {
      local[static_cast<size_t>(t) * kShards + sh].for_each(
          [&](const PieceCounts::Slot& x) { all.add(std::string_view(x.data, x.size), x.hash, x.count); });
      local[static_cast<size_t>(t) * kShards + sh].clear();
    }
    auto& out = shard_pieces[sh];
    out.reserve(all.size());
    all.for_each([&](const PieceCounts::Slot& x) { out.emplace_back(std::string_view(x.data, x.size), x.count); });
    all.clear();
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
      return std::lexicographical_compare(
          x.first.begin(), x.first.end(), y.first.begin(), y.first.end(),
          [](char a, char b) { return static_cast<uint8_t>(a) < static_cast<uint8_t>(b); });
    });
  }
  std::vector<std::pair<std::string_view, uint64_t>> pieces;
  {
    size_t total = 0;
    for (const auto& v : shard_pieces) total += v.size();
    pieces.reserve(total);
    for (auto& v : shard_pieces) {
      pieces.insert(pieces.end(), v.begin(), v.end());
      std::vector<std::pair<std::string_view, uint64_t>>().swap(v);
    }
  }
  return pieces;
}

}  // namespace slm
