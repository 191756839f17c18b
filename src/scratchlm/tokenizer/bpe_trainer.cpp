// bpe_trainer.cpp — byte-level BPE training (see bpe_trainer.h).
//
// 1. Split every document on <|endoftext|>, pre-tokenize the parts with the split pattern and
//    count the unique pieces (piece_counts.cpp: nothing depends on the thread count).
// 2. Each unique piece becomes a "word": a sequence of symbol ids (initially its bytes) with a
//    weight (how often the piece occurs).
// 3. Merge loop with incremental pair counting:
//      count[pair]  — occurrences of the adjacent pair over all words, weighted by word weight
//      where[pair]  — indices of the words that contain (or once contained) the pair
//      heap         — (count, pair) entries, lazily invalidated: an entry whose count is stale
//                     is re-pushed with the current count (counts of existing pairs only go down,
//                     except in the rare "token already exists" case below, where the increased
//                     pairs are pushed afresh).
//    A merge rewrites only the words listed in where[pair] and adjusts the counts of the pairs
//    around each occurrence (the way Hugging Face tokenizers' Word::merge does).
#include "scratchlm/tokenizer/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "scratchlm/tokenizer/byte_unicode.h"
#include "scratchlm/tokenizer/piece_counts.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// GPT-2's byte order: the 188 printable bytes first (in increasing order), then the other 68.
struct ByteIds {
  std::array<uint32_t, 256> id{};
  std::array<uint8_t, 256> byte{};
  ByteIds() {
    uint32_t next = 0;
    auto printable = [](uint32_t b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    for (uint32_t b = 0; b < 256; ++b)
      if (printable(b)) id[b] = next++;
    for (uint32_t b = 0; b < 256; ++b)
      if (!printable(b)) id[b] = next++;
    for (uint32_t b = 0; b < 256; ++b) byte[id[b]] = static_cast<uint8_t>(b);
  }
};
const ByteIds kByteIds;

struct U64Hash {
  size_t operator()(uint64_t x) const {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<size_t>(x);
  }
};

inline uint64_t pair_key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }
inline uint32_t key_left(uint64_t k) { return static_cast<uint32_t>(k >> 32); }
inline uint32_t key_right(uint64_t k) { return static_cast<uint32_t>(k); }

// Compare x1+x2 with y1+y2 as unsigned byte strings without building them.
int compare_concat(std::string_view x1, std::string_view x2, std::string_view y1, std::string_view y2) {
  size_t nx = x1.size() + x2.size(), ny = y1.size() + y2.size();
  size_t n = std::min(nx, ny);
  for (size_t i = 0; i < n; ++i) {
    auto cx = static_cast<uint8_t>(i < x1.size() ? x1[i] : x2[i - x1.size()]);
    auto cy = static_cast<uint8_t>(i < y1.size() ? y1[i] : y2[i - y1.size()]);
    if (cx != cy) return cx < cy ? -1 : 1;
  }
  return nx < ny ? -1 : (nx > ny ? 1 : 0);
}

struct HeapEntry {
  int64_t count;
  uint64_t pair;
};

// std::push_heap / pop_heap ordering: "a < b" means a is merged after b.
struct HeapLess {
  const std::vector<std::string>* bytes;
  bool operator()(const HeapEntry& x, const HeapEntry& y) const {
    if (x.count != y.count) return x.count < y.count;
    const std::string& xa = (*bytes)[key_left(x.pair)];
    const std::string& xb = (*bytes)[key_right(x.pair)];
    const std::string& ya = (*bytes)[key_left(y.pair)];
    const std::string& yb = (*bytes)[key_right(y.pair)];
    int c = compare_concat(xa, xb, ya, yb);
    if (c != 0) return c > 0;
    return xa.size() > ya.size();
  }
};

}  // namespace

BpeTrainResult train_bpe(const std::vector<std::string_view>& documents, const BpeTrainOptions& opts) {
  if (opts.vocab_size < 257)
    fail(
        "vocabulary size {} is too small: a byte-level BPE vocabulary needs at least 257 entries (256 bytes + "
        "<|endoftext|>)",
        opts.vocab_size);
  if (documents.empty()) fail("cannot train a tokenizer on an empty corpus: no documents given");
  size_t input_bytes = 0;
  for (size_t i = 0; i < documents.size(); ++i) {
    utf8_require_valid(documents[i], fmt::format("document {}", i));
    input_bytes += documents[i].size();
  }
  if (input_bytes == 0)
    fail("cannot train a tokenizer on an empty corpus: all {} documents are empty", documents.size());
  const int threads = opts.threads > 0 ? opts.threads : omp_get_max_threads();
  const size_t wanted = opts.vocab_size - 257;

  // ---------------------------------------------------------------- 1. count unique pieces
  std::vector<std::pair<std::string_view, uint64_t>> pieces = count_pieces(documents, opts.pattern, threads);

  // ---------------------------------------------------------------- 2. words
  std::vector<std::vector<uint32_t>> words(pieces.size());
  std::vector<int64_t> weight(pieces.size());
  for (size_t w = 0; w < pieces.size(); ++w) {
    auto& s = words[w];
    s.reserve(pieces[w].first.size());
    for (char c : pieces[w].first) s.push_back(kByteIds.id[static_cast<uint8_t>(c)]);
    weight[w] = static_cast<int64_t>(pieces[w].second);
  }

  std::vector<std::string> tok_bytes(256);  // bytes of each id
  for (uint32_t id = 0; id < 256; ++id) tok_bytes[id] = std::string(1, static_cast<char>(kByteIds.byte[id]));
  std::unordered_map<std::string, uint32_t> bytes_to_id;
  for (uint32_t id = 0; id < 256; ++id) bytes_to_id.emplace(tok_bytes[id], id);

  std::unordered_map<uint64_t, int64_t, U64Hash> count;
  std::unordered_map<uint64_t, std::vector<uint32_t>, U64Hash> where;
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      uint64_t k = pair_key(s[i], s[i + 1]);
      count[k] += weight[w];
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  HeapLess less{&tok_bytes};
  std::vector<HeapEntry> heap;
  heap.reserve(count.size());
  for (const auto& [k, n] : count) heap.push_back({n, k});
  std::make_heap(heap.begin(), heap.end(), less);

  // ---------------------------------------------------------------- 3. merges
  std::vector<std::pair<uint32_t, uint32_t>> merges;  // (left id, right id), id = 256 + index
  merges.reserve(wanted);
  std::vector<uint64_t> increased;
  auto report = [&] {
    if (opts.progress) opts.progress(merges.size(), wanted);
  };
  while (merges.size() < wanted && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), less);
    HeapEntry top = heap.back();
    heap.pop_back();
    auto cit = count.find(top.pair);
    int64_t cur = cit == count.end() ? 0 : cit->second;
    if (cur != top.count) {
      // Stale. A higher stored count means the pair lost occurrences since: re-queue it with the
      // true count. A lower one means a fresher entry was pushed when the count went up.
      if (cur > 0 && top.count > cur) {
        heap.push_back({cur, top.pair});
        std::push_heap(heap.begin(), heap.end(), less);
      }
      continue;
    }
    const uint32_t a = key_left(top.pair), b = key_right(top.pair);
    std::string merged = tok_bytes[a] + tok_bytes[b];
    uint32_t n;
    auto existing = bytes_to_id.find(merged);
    const bool is_new = existing == bytes_to_id.end();
    if (!is_new) {
      // Another split of the same bytes was merged earlier (e.g. "ab"+"c" before "a"+"bc"):
      // rewrite the words to the existing token but add no token and no merge line — the
      // encoder already merges every split of a token into it (tiktoken looks up bytes).
      n = existing->second;
    } else {
      n = static_cast<uint32_t>(tok_bytes.size());
      tok_bytes.push_back(merged);
      bytes_to_id.emplace(std::move(merged), n);
      merges.emplace_back(a, b);
    }

    std::vector<uint32_t> list = std::move(where[top.pair]);
    where.erase(top.pair);
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    increased.clear();
    for (uint32_t w : list) {
      auto& s = words[w];
      const int64_t wt = weight[w];
      auto add = [&](uint32_t x, uint32_t y, int64_t d) {
        uint64_t k = pair_key(x, y);
        count[k] += d * wt;
        if (d > 0) {
          auto& l = where[k];
          if (l.empty() || l.back() != w) l.push_back(w);
          increased.push_back(k);
        }
      };
      // Replace every (a, b) left to right, non-overlapping. s[o-1] is the already-rewritten
      // left neighbour, s[i+2] the not-yet-visited right neighbour.
      size_t o = 0, i = 0, len = s.size();
      while (i < len) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
          if (o > 0) {
            add(s[o - 1], a, -1);
            add(s[o - 1], n, +1);
          }
          if (i + 2 < len) {
            add(b, s[i + 2], -1);
            add(n, s[i + 2], +1);
          }
          count[top.pair] -= wt;
          s[o++] = n;
          i += 2;
        } else {
          s[o++] = s[i++];
        }
      }
      s.resize(o);
    }
    count.erase(top.pair);
    std::sort(increased.begin(), increased.end());
    increased.erase(std::unique(increased.begin(), increased.end()), increased.end());
    for (uint64_t k : increased) {
      auto it = count.find(k);
      if (it == count.end()) continue;
      if (it->second <= 0) {
        count.erase(it);
        continue;
      }
      heap.push_back({it->second, k});
      std::push_heap(heap.begin(), heap.end(), less);
    }
    if (is_new && merges.size() % 100 == 0) report();
  }
  report();

  // ---------------------------------------------------------------- 4. the tokenizer
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(tok_bytes.size() + 1);
  for (uint32_t id = 0; id < tok_bytes.size(); ++id) vocab.emplace_back(bytes_to_vocab_string(tok_bytes[id]), id);
  vocab.emplace_back(kEndOfText, static_cast<uint32_t>(tok_bytes.size()));
  std::vector<std::pair<std::string, std::string>> merge_strings;
  merge_strings.reserve(merges.size());
  for (const auto& [a, b] : merges)
    merge_strings.emplace_back(bytes_to_vocab_string(tok_bytes[a]), bytes_to_vocab_string(tok_bytes[b]));

  BpeTrainResult r{Tokenizer::from_vocab(vocab, merge_strings, opts.pattern, "trained vocabulary"), merges.size(),
                   pieces.size(), input_bytes};
  return r;
}

}  // namespace slm
