// encode_stream.h — encoding a text that arrives in chunks, in bounded memory, with exactly the
// ids encode(whole text, SpecialMode::Text) gives (chapter 2.6: a corpus of any size becomes ids).
//
// Chunks may be cut anywhere, even inside a UTF-8 character. The encoder keeps the text since the
// last safe cut (find_safe_split: a point the split pattern cannot join across, the ones
// encode_parallel uses) and encodes up to the newest safe cut once it holds `chunk` bytes. Text
// without safe cuts (one long run, e.g. 200 MB of one letter) is split into its pre-tokenizer
// pieces instead: a piece is final once a non-space character follows it and 8 more bytes are
// known (no alternative of either pattern looks further), and a long open run of letters, digits
// or punctuation (gpt2; letters for gpt4) streams through a LongPieceEncoder (bpe_long.h) until a
// character of another class ends it. Memory: about `chunk` bytes of text plus its ids and one
// long-piece window. (A run of whitespace longer than that, having no final piece, is held whole.)
// Validation: invalid UTF-8 is a BadInput error naming `what` and the byte offset in the stream;
// with `lossy` it is replaced by U+FFFD exactly as utf8_lossy does on the whole text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/tokenizer/pretokenize.h"

namespace slm {

class Tokenizer;
class LongPieceEncoder;

using TokenSink = std::function<void(std::span<const uint32_t>)>;

class TextStreamEncoder {
 public:
  static constexpr size_t kDefaultChunk = size_t{16} << 20;
  TextStreamEncoder(const Tokenizer& tok, TokenSink sink, std::string what, bool lossy = false, int threads = 1,
                    size_t chunk = kDefaultChunk, size_t long_window = 0);
  ~TextStreamEncoder();

  void feed(std::string_view bytes);
  // End of the text: everything left is encoded and sent.
  void finish();

 private:
  void encode_through_safe_cut(bool all);
  void encode_final_pieces();
  void continue_run(std::string_view text);
  void emit();

  const Tokenizer& tok_;
  TokenSink sink_;
  std::string what_;
  bool lossy_;
  int threads_;
  size_t chunk_;
  std::string carry_;                      // an incomplete UTF-8 sequence at the end of the last feed
  uint64_t offset_ = 0;                    // stream offset of carry_ (for error messages)
  std::string text_;                       // valid text not yet encoded
  size_t no_cut_before_ = 0;               // text_[0, no_cut_before_) holds no safe cut
  size_t pieces_tried_at_ = 0;             // text_'s size when its pieces last left an open tail
  std::unique_ptr<LongPieceEncoder> run_;  // set while inside a long open run
  CharClass run_class_ = CharClass::Letter;
  bool in_run_ = false;
  std::vector<uint32_t> ids_;
};

}  // namespace slm
