// encode_stream.cpp — chunked, bounded-memory encoding with encode()'s exact result (see
// encode_stream.h; chapter 2.6).
#include "scratchlm/tokenizer/encode_stream.h"

#include <algorithm>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/bpe_long.h"
#include "scratchlm/tokenizer/utf8.h"

namespace slm {

namespace {

constexpr size_t kFeedBytes = size_t{1} << 20;

// Class of the code point starting at t[i].
CharClass class_at(std::string_view t, size_t i, size_t* len) { return char_class(utf8_decode(t, i, len)); }

// Start of the last non-whitespace code point of t, or npos.
size_t last_non_space(std::string_view t) {
  size_t i = t.size();
  while (i > 0) {
    size_t start = i - 1;
    while (start > 0 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) --start;
    size_t len;
    if (class_at(t, start, &len) != CharClass::Space) return start;
    i = start;
  }
  return std::string_view::npos;
}

}  // namespace

TextStreamEncoder::TextStreamEncoder(const Tokenizer& tok, TokenSink sink, std::string what, bool lossy, int threads,
                                     size_t chunk, size_t long_window)
    : tok_(tok),
      sink_(std::move(sink)),
      what_(std::move(what)),
      lossy_(lossy),
      threads_(threads),
      chunk_(std::max<size_t>(chunk, 1)),
      run_(std::make_unique<LongPieceEncoder>(tok, long_window ? long_window : LongPieceEncoder::kDefaultWindow)) {
  text_.reserve(std::min(chunk_, size_t{1} << 30) + kFeedBytes);  // no reallocation copies (pages are touched as used)
}

TextStreamEncoder::~TextStreamEncoder() = default;

void TextStreamEncoder::emit() {
  if (!ids_.empty()) sink_(ids_);
  ids_.clear();
}

void TextStreamEncoder::feed(std::string_view bytes) {
  carry_.append(bytes);
  const size_t k = complete_utf8_prefix(carry_);
  std::string_view done(carry_.data(), k);
  std::string repaired;
  if (lossy_)
    repaired = utf8_lossy(done);
  else
    utf8_require_valid(done, what_, true, offset_);
  std::string_view text = lossy_ ? std::string_view(repaired) : done;
  if (in_run_)
    continue_run(text);
  else
    text_.append(text);
  offset_ += k;
  carry_.erase(0, k);
  if (text_.size() >= chunk_) encode_through_safe_cut(false);
}

// Inside a long open run: its next characters of the same class go to the long-piece encoder; the
// first other character ends the piece, and what follows is ordinary text again.
void TextStreamEncoder::continue_run(std::string_view text) {
  size_t i = 0, len = 0;
  while (i < text.size() && class_at(text, i, &len) == run_class_) i += len;
  run_->feed(text.substr(0, i), ids_);
  if (i < text.size()) {
    run_->finish(ids_);
    in_run_ = false;
    text_.append(text.substr(i));
  }
  emit();
}

void TextStreamEncoder::encode_through_safe_cut(bool all) {
  const SplitPattern p = tok_.pattern();
  const size_t n = text_.size();
  size_t cut = n;
  if (!all) {
    size_t from = std::max(no_cut_before_, n > 65536 ? n - 65536 : size_t{0});
    cut = find_safe_split(p, text_, from);
    if (cut >= n && from > no_cut_before_) cut = find_safe_split(p, text_, no_cut_before_);
    for (size_t next; cut < n && (next = find_safe_split(p, text_, cut + 1)) < n;) cut = next;
    if (cut >= n) {
      no_cut_before_ = n > 2 ? n - 2 : 0;
      if (n >= 2 * pieces_tried_at_) encode_final_pieces();  // geometric: a long space run is not rescanned per feed
      return;
    }
  }
  std::vector<uint32_t> ids = tok_.encode_parallel(std::string_view(text_).substr(0, cut), SpecialMode::Text, threads_);
  if (!ids.empty()) sink_(ids);
  text_.erase(0, cut);
  no_cut_before_ = 0;
  pieces_tried_at_ = 0;
}

// No safe cut in text_: encode its final pieces; a long open run at its end becomes a streamed piece.
void TextStreamEncoder::encode_final_pieces() {
  const SplitPattern p = tok_.pattern();
  const size_t n = text_.size(), solid = last_non_space(text_);
  size_t pos = 0;
  while (pos < n) {
    const size_t len = next_piece(p, text_, pos);
    if (pos + len + 8 > n || solid == std::string_view::npos || pos + len > solid) break;
    tok_.encode_piece(std::string_view(text_).substr(pos, len), ids_);
    pos += len;
  }
  emit();
  text_.erase(0, pos);
  no_cut_before_ = 0;
  const size_t open = text_.size();
  pieces_tried_at_ = open;
  if (open <= std::max(chunk_ / 2, tok_.max_token_bytes()) || next_piece(p, text_, 0) != open) return;
  size_t start = open - 1, len;
  while (start > 0 && (static_cast<unsigned char>(text_[start]) & 0xC0) == 0x80) --start;
  const CharClass k = class_at(text_, start, &len);
  if (k == CharClass::Space || (p == SplitPattern::Gpt4 && k != CharClass::Letter)) return;
  in_run_ = true;
  run_class_ = k;
  for (size_t i = 0; i < open; i += kFeedBytes) {  // in slices, so the encoder's buffer stays small
    run_->feed(std::string_view(text_).substr(i, kFeedBytes), ids_);
    emit();
  }
  text_.clear();
  pieces_tried_at_ = 0;
  emit();
}

void TextStreamEncoder::finish() {
  if (!carry_.empty()) {  // an incomplete character at the very end
    if (!lossy_) utf8_require_valid(carry_, what_, true, offset_);
    std::string tail = lossy_ ? utf8_lossy(carry_) : carry_;
    carry_.clear();
    if (in_run_)
      continue_run(tail);
    else
      text_.append(tail);
  }
  if (in_run_) {
    run_->finish(ids_);
    in_run_ = false;
    emit();
  }
  encode_through_safe_cut(true);
}

}  // namespace slm
