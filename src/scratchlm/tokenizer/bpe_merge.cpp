// bpe_merge.cpp — the BPE merge loop over one piece, tiktoken's byte_pair_merge (chapter 2.5): the
// quadratic scan for short pieces, a heap for long ones; both merge the leftmost pair of lowest rank.
#include <algorithm>
#include <functional>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

thread_local std::vector<uint32_t> tl_parts;
thread_local std::vector<uint32_t> tl_merged;

// Pieces up to this many bytes use the quadratic scan (tiktoken's loop); longer ones a heap.
constexpr size_t kSmallPiece = 96;

}  // namespace

void Tokenizer::bpe_piece(std::string_view piece, std::vector<uint32_t>& out) const {
  if (piece.size() <= kSmallPiece)
    bpe_small(piece, out);
  else
    bpe_large(piece, out);
}

// tiktoken's loop: find the leftmost adjacent pair of lowest rank, merge it, repeat.
void Tokenizer::bpe_small(std::string_view piece, std::vector<uint32_t>& out) const {
  auto& parts = tl_parts;
  auto& merged = tl_merged;  // merged[i] = id that parts[i], parts[i+1] merge into
  size_t m = piece.size();
  parts.resize(m);
  for (size_t i = 0; i < m; ++i) parts[i] = byte_id_[static_cast<uint8_t>(piece[i])];
  merged.resize(m);
  for (size_t i = 0; i + 1 < m; ++i) merged[i] = merge_of(parts[i], parts[i + 1]);
  while (m > 1) {
    uint32_t best_rank = UINT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < m; ++i) {
      if (merged[i] == UINT32_MAX) continue;
      uint32_t r = rank_[merged[i]];
      if (r < best_rank) {
        best_rank = r;
        best = i;
      }
    }
    if (best_rank == UINT32_MAX) break;
    parts[best] = merged[best];
    for (size_t i = best + 1; i + 1 < m; ++i) parts[i] = parts[i + 1];
    for (size_t i = best + 1; i + 2 < m; ++i) merged[i] = merged[i + 1];
    --m;
    if (best > 0) merged[best - 1] = merge_of(parts[best - 1], parts[best]);
    if (best + 1 < m) merged[best] = merge_of(parts[best], parts[best + 1]);
  }
  out.insert(out.end(), parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(m));
}

// Same rule with a heap and a linked list: O(n log n) for long pieces (digit runs, bpe_long.h's
// windows), in about 12 bytes per byte plus 8 per heap entry (at most 3 entries per byte). A heap
// entry is (rank << 32 | position); it is current when the pair at that position still merges with
// that rank (a replaced pair of equal rank is just as good a choice: the heap holds an entry for
// every current pair, so the smallest current entry is the leftmost pair of lowest rank).
void Tokenizer::bpe_large(std::string_view piece, std::vector<uint32_t>& out) const {
  const size_t m = piece.size();
  if (m >= UINT32_MAX) fail_internal("a BPE piece of {} bytes is too long for the heap encoder", m);
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> id(m), next(m), prev(m);  // id kNone: merged into its left neighbour
  for (size_t i = 0; i < m; ++i) {
    id[i] = byte_id_[static_cast<uint8_t>(piece[i])];
    prev[i] = i == 0 ? kNone : static_cast<uint32_t>(i - 1);
    next[i] = i + 1 < m ? static_cast<uint32_t>(i + 1) : kNone;
  }
  auto rank_at = [&](uint32_t i) -> uint32_t {  // rank of the pair starting at node i, or kNone
    if (i == kNone || next[i] == kNone) return kNone;
    uint32_t mg = merge_of(id[i], id[next[i]]);
    return mg == kNone ? kNone : rank_[mg];
  };
  std::vector<uint64_t> heap;
  heap.reserve(m);
  auto push = [&](uint32_t i) {
    uint32_t r = rank_at(i);
    if (r == kNone) return;
    heap.push_back((static_cast<uint64_t>(r) << 32) | i);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (size_t i = 0; i + 1 < m; ++i) push(static_cast<uint32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto i = static_cast<uint32_t>(top);
    if (id[i] == kNone || rank_at(i) != static_cast<uint32_t>(top >> 32)) continue;  // stale
    const uint32_t j = next[i];
    id[i] = merge_of(id[i], id[j]);
    id[j] = kNone;
    next[i] = next[j];
    if (next[j] != kNone) prev[next[j]] = i;
    push(prev[i]);
    push(i);
  }
  for (uint32_t i = 0; i != kNone; i = next[i]) out.push_back(id[i]);
}

}  // namespace slm
