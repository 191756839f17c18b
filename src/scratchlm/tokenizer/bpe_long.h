// bpe_long.h — exact BPE of an arbitrarily long pre-tokenizer piece in bounded memory (chapter 2.5).
//
// tiktoken runs byte_pair_merge over a whole piece; a 200 MB run of one letter is one piece, and
// the heap encoder needs ~40 bytes per byte for it. LongPieceEncoder takes the piece in any number
// of feeds and holds at most a window of it, with the SAME result, by these facts about the merge
// process (merge the adjacent pair of lowest rank, leftmost on ties; a pair's rank depends only on
// its two tokens). Write BPE(Y) for the pure merge result of bytes Y (no whole-piece lookup) and
// M for the longest mergeable token:
//   (S) if BPE(Y) has a token boundary at b, then BPE(Y) = BPE(Y[0,b)) ++ BPE(Y[b,n)): no merge
//       ever crossed b, and each side's merges happen in the order it would choose alone.
//   (J) if BPE(Y[0,b)) ends with a token l = Y[s,b) and BPE(Y[s,r)) starts with l, then
//       BPE(Y[0,r)) = BPE(Y[0,b)) ++ (the rest of BPE(Y[s,r))): the first merge of BPE(Y[0,r))
//       that crossed a boundary of that sequence would be the next merge of one of the two parts.
//   (B) tokens are at most M bytes, so when |Y| >= a, BPE(Y) has a boundary r in [a-M, a).
// Step, with Y the unencoded rest of the piece and |Y| >= a (the window): E = BPE(Y[0,a)); pick a
// token l = Y[s,b) of E with b <= a-2M; if BPE(Y[s,r)) starts with l for every r in [a-M, a), then
// by (S) on E, (J) and (B) every BPE(Y[0,r)) that can begin BPE(Y) has a boundary at b, so BPE(Y)
// does too, and its tokens before b are E's (S). Emit them and continue with Y[b,n). If no anchor
// among the last few tokens before a-2M passes, the window doubles (never seen in the tests'
// adversarial inputs; counted in fallbacks()). The last < a bytes are encoded directly.
// Memory: the window (~40 bytes per window byte for the heap encoder) plus the unencoded bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

class Tokenizer;

class LongPieceEncoder {
 public:
  static constexpr size_t kDefaultWindow = size_t{1} << 18;  // 256 KiB
  // `window` is raised to at least 8 * M so that a step always has anchors to try.
  explicit LongPieceEncoder(const Tokenizer& tok, size_t window = kDefaultWindow);

  // The next bytes of the piece; the tokens that are certain go to out.
  void feed(std::string_view bytes, std::vector<uint32_t>& out);
  // The piece ended: its remaining tokens go to out; the encoder is ready for another piece.
  void finish(std::vector<uint32_t>& out);

  size_t window() const { return window_; }
  // Steps that found no certified anchor and had to widen the window.
  size_t fallbacks() const { return fallbacks_; }

 private:
  // One step over rest(): emits a certified prefix and returns its byte length, or 0.
  size_t step(size_t a, std::vector<uint32_t>& out);
  std::string_view rest() const { return std::string_view(pending_).substr(begin_); }

  const Tokenizer& tok_;
  size_t max_token_;
  size_t window_;
  size_t fallbacks_ = 0;
  std::string pending_;  // pending_[begin_..] is the piece's unencoded rest
  size_t begin_ = 0;
  std::vector<uint32_t> ids_, probe_;
};

}  // namespace slm
