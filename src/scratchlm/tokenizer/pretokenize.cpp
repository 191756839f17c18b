// pretokenize.cpp — hand-written matchers for the GPT-2 and GPT-4 split patterns (see
// pretokenize.h). Each function answers: at byte `pos`, which alternative of the regex matches
// first (leftmost-first, as Rust's regex and fancy-regex do), and how long is its match?
#include "scratchlm/tokenizer/pretokenize.h"

#include <utf8proc.h>

#include <array>

#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"

namespace slm {

SplitPattern parse_split_pattern(std::string_view name) {
  if (name == "gpt2") return SplitPattern::Gpt2;
  if (name == "gpt4" || name == "cl100k") return SplitPattern::Gpt4;
  fail("unknown split pattern '{}' (expected gpt2 or gpt4)", name);
}

const char* split_pattern_name(SplitPattern p) { return p == SplitPattern::Gpt2 ? "gpt2" : "gpt4"; }

namespace {

// Unicode White_Space (PropList.txt): what Rust regex's \s matches.
inline bool is_white_space(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

CharClass classify_slow(uint32_t cp) {
  if (is_white_space(cp)) return CharClass::Space;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::Letter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::Number;
    default:
      return CharClass::Other;
  }
}

struct AsciiTable {
  std::array<CharClass, 128> cls{};
  AsciiTable() {
    for (uint32_t c = 0; c < 128; ++c) cls[c] = classify_slow(c);
  }
};
const AsciiTable kAscii;

// Class and byte length of the code point at pos.
inline CharClass class_at(std::string_view t, size_t pos, size_t* len) {
  auto c = static_cast<unsigned char>(t[pos]);
  if (c < 0x80) {
    *len = 1;
    return kAscii.cls[c];
  }
  uint32_t cp = utf8_decode(t, pos, len);
  return classify_slow(cp);
}

// End of the run of class `k` starting at pos.
inline size_t run_end(std::string_view t, size_t pos, CharClass k) {
  size_t n = t.size();
  while (pos < n) {
    auto c = static_cast<unsigned char>(t[pos]);
    if (c < 0x80) {
      if (kAscii.cls[c] != k) break;
      ++pos;
      continue;
    }
    size_t len;
    if (class_at(t, pos, &len) != k) break;
    pos += len;
  }
  return pos;
}

// \s+(?!\S)|\s+ at a whitespace position: the whole run if it reaches the end of the text,
// otherwise the run minus its last code point, or the single code point when the run has one.
inline size_t whitespace_piece(std::string_view t, size_t pos) {
  size_t n = t.size();
  size_t i = pos, last_start = pos;
  while (i < n) {
    size_t len;
    if (class_at(t, i, &len) != CharClass::Space) break;
    last_start = i;
    i += len;
  }
  if (i == n) return i - pos;
  if (last_start > pos) return last_start - pos;
  return i - pos;
}

inline bool ascii_at(std::string_view t, size_t pos, char c) { return pos < t.size() && t[pos] == c; }

}  // namespace

CharClass char_class(uint32_t cp) { return cp < 128 ? kAscii.cls[cp] : classify_slow(cp); }

size_t next_piece_gpt2(std::string_view t, size_t pos) {
  const size_t n = t.size();
  char c0 = t[pos];
  // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
  if (c0 == '\'' && pos + 1 < n) {
    char c1 = t[pos + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if ((c1 == 'r' || c1 == 'v') && ascii_at(t, pos + 2, 'e')) return 3;
    if (c1 == 'l' && ascii_at(t, pos + 2, 'l')) return 3;
  }
  size_t len0;
  CharClass k0 = class_at(t, pos, &len0);
  // ' ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+' with a leading ASCII space
  if (c0 == ' ' && pos + 1 < n) {
    size_t len1;
    CharClass k1 = class_at(t, pos + 1, &len1);
    if (k1 != CharClass::Space) return run_end(t, pos + 1 + len1, k1) - pos;
  }
  if (k0 != CharClass::Space) return run_end(t, pos + len0, k0) - pos;
  return whitespace_piece(t, pos);
}

size_t next_piece_gpt4(std::string_view t, size_t pos) {
  const size_t n = t.size();
  char c0 = t[pos];
  // '(?i:[sdmt]|ll|ve|re)
  if (c0 == '\'' && pos + 1 < n) {
    size_t l1;
    uint32_t u1 = utf8_decode(t, pos + 1, &l1);
    if (u1 == 0x17F) return 1 + l1;  // LATIN SMALL LETTER LONG S folds to 's'
    char c1 = static_cast<char>(u1 < 128 ? (u1 | 0x20) : 0);
    if (c1 == 's' || c1 == 'd' || c1 == 'm' || c1 == 't') return 2;
    if (pos + 2 < n) {
      char c2 = static_cast<char>(static_cast<unsigned char>(t[pos + 2]) < 128 ? (t[pos + 2] | 0x20) : 0);
      if ((c1 == 'l' && c2 == 'l') || (c1 == 'v' && c2 == 'e') || (c1 == 'r' && c2 == 'e')) return 3;
    }
  }
  size_t len0;
  CharClass k0 = class_at(t, pos, &len0);
  // [^\r\n\p{L}\p{N}]?+\p{L}+
  if (k0 == CharClass::Letter) return run_end(t, pos + len0, CharClass::Letter) - pos;
  if (k0 != CharClass::Number && c0 != '\r' && c0 != '\n' && pos + len0 < n) {
    size_t len1;
    if (class_at(t, pos + len0, &len1) == CharClass::Letter)
      return run_end(t, pos + len0 + len1, CharClass::Letter) - pos;
  }
  // \p{N}{1,3}
  if (k0 == CharClass::Number) {
    size_t i = pos + len0;
    for (int k = 1; k < 3 && i < n; ++k) {
      size_t l;
      if (class_at(t, i, &l) != CharClass::Number) break;
      i += l;
    }
    return i - pos;
  }
  // ' ?[^\s\p{L}\p{N}]++[\r\n]*'
  size_t start = pos;
  bool other = (k0 == CharClass::Other);
  if (c0 == ' ' && pos + 1 < n) {
    size_t len1;
    if (class_at(t, pos + 1, &len1) == CharClass::Other) {
      other = true;
      start = pos + 1;
    }
  }
  if (other) {
    size_t i = run_end(t, start, CharClass::Other);
    while (i < n && (t[i] == '\r' || t[i] == '\n')) ++i;
    return i - pos;
  }
  // \s*[\r\n] : through the last CR/LF of the whitespace run
  size_t i = pos, last_crlf = std::string_view::npos;
  while (i < n) {
    size_t l;
    if (class_at(t, i, &l) != CharClass::Space) break;
    if (t[i] == '\r' || t[i] == '\n') last_crlf = i;
    i += l;
  }
  if (last_crlf != std::string_view::npos) return last_crlf + 1 - pos;
  return whitespace_piece(t, pos);
}

size_t find_safe_split(SplitPattern p, std::string_view t, size_t from) {
  // Two kinds of cut points, valid under both patterns:
  //  * before " x" where the byte before the space is an ASCII letter and x an ASCII letter: the
  //    letter run ends before the space and " x..." starts a new piece;
  //  * after a single "\n" between two printable ASCII characters: the piece before ends at or
  //    just after the newline (gpt4's punctuation alternative may swallow it) and the next piece
  //    starts at the printable character, which no alternative joins to a preceding newline.
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto is_graph = [](char c) { return c >= 0x21 && c <= 0x7E; };
  (void)p;
  for (size_t i = from < 2 ? 2 : from; i + 1 < t.size(); ++i) {
    if (t[i] == ' ' && is_alpha(t[i - 1]) && is_alpha(t[i + 1])) return i;
    if (t[i - 1] == '\n' && is_graph(t[i - 2]) && is_graph(t[i])) return i;
  }
  return t.size();
}

}  // namespace slm
