// bpe_long.cpp — bounded-memory exact BPE of long pieces (see bpe_long.h for why it is exact;
// chapter 2.5).
#include "scratchlm/tokenizer/bpe_long.h"

#include <algorithm>

#include "scratchlm/tokenizer/bpe.h"

namespace slm {

namespace {
constexpr int kAnchorsTried = 4;  // anchors per step before the window widens
}

LongPieceEncoder::LongPieceEncoder(const Tokenizer& tok, size_t window)
    : tok_(tok), max_token_(std::max<size_t>(tok.max_token_bytes(), 1)), window_(std::max(window, 8 * max_token_)) {}

size_t LongPieceEncoder::step(size_t a, std::vector<uint32_t>& out) {
  const std::string_view y = rest();
  const size_t m = max_token_;
  ids_.clear();
  tok_.bpe_piece(y.substr(0, a), ids_);
  // ends[i]: byte offset where E's token i ends; anchors are tokens ending at or before a - 2M.
  std::vector<size_t> ends(ids_.size());
  size_t pos = 0, last = SIZE_MAX;
  for (size_t i = 0; i < ids_.size(); ++i) {
    pos += tok_.token_bytes(ids_[i]).size();
    ends[i] = pos;
    if (pos <= a - 2 * m) last = i;
  }
  if (last == SIZE_MAX) return 0;
  for (int k = 0; k < kAnchorsTried && k <= static_cast<int>(last); ++k) {
    const size_t i = last - static_cast<size_t>(k);
    const uint32_t l = ids_[i];
    const size_t b = ends[i], s = b - tok_.token_bytes(l).size();
    bool certified = true;
    for (size_t r = a - m; r < a && certified; ++r) {
      probe_.clear();
      tok_.bpe_piece(y.substr(s, r - s), probe_);
      certified = !probe_.empty() && probe_[0] == l;
    }
    if (!certified) continue;
    out.insert(out.end(), ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(i + 1));
    return b;
  }
  return 0;
}

void LongPieceEncoder::feed(std::string_view bytes, std::vector<uint32_t>& out) {
  pending_.append(bytes);
  size_t a = window_;
  while (rest().size() >= a) {
    size_t b = step(a, out);
    if (b == 0) {  // no certified anchor: widen (exactness over memory)
      ++fallbacks_;
      a *= 2;
      continue;
    }
    begin_ += b;
    a = window_;
  }
  if (begin_ >= window_) {  // drop the encoded bytes now and then, not on every step
    pending_.erase(0, begin_);
    begin_ = 0;
  }
}

void LongPieceEncoder::finish(std::vector<uint32_t>& out) {
  if (!rest().empty()) tok_.bpe_piece(rest(), out);  // by (S), the rest is encoded on its own
  pending_.clear();
  begin_ = 0;
}

}  // namespace slm
