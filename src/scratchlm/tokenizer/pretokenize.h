// pretokenize.h — the GPT-2 (and GPT-4/cl100k) pre-tokenization split patterns, by hand.
//
// Chapter 2 / byte-pair encoding: before BPE, text is split into pieces by a regular expression.
// tiktoken's patterns, with Rust regex semantics (\s is Unicode White_Space, \p{L} letters,
// \p{N} numbers), are implemented here as small matchers without a regex engine:
//   gpt2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   gpt4: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|
//         \s*[\r\n]|\s+(?!\S)|\s+
// The input must be valid UTF-8 (the tokenizer validates before splitting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace slm {

enum class SplitPattern { Gpt2, Gpt4 };

// Parse "gpt2" / "gpt4" (also "cl100k"); BadInput error otherwise.
SplitPattern parse_split_pattern(std::string_view name);
const char* split_pattern_name(SplitPattern p);

// Character classes as the patterns see them.
enum class CharClass : uint8_t { Letter, Number, Space, Other };
CharClass char_class(uint32_t cp);

// Byte length of the piece that starts at byte offset pos (pos < text.size()).
size_t next_piece_gpt2(std::string_view text, size_t pos);
size_t next_piece_gpt4(std::string_view text, size_t pos);

inline size_t next_piece(SplitPattern p, std::string_view text, size_t pos) {
  return p == SplitPattern::Gpt2 ? next_piece_gpt2(text, pos) : next_piece_gpt4(text, pos);
}

// Call fn(std::string_view piece) for every piece of text, in order.
template <typename F>
void for_each_piece(SplitPattern p, std::string_view text, F&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t n = next_piece(p, text, pos);
    fn(text.substr(pos, n));
    pos += n;
  }
}

// A byte offset at or after `from` where the text can be cut without changing the pieces on
// either side (used to split big inputs across threads), or text.size() if none is found.
size_t find_safe_split(SplitPattern p, std::string_view text, size_t from);

}  // namespace slm
