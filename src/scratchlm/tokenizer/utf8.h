// utf8.h — UTF-8 validation, decoding and Python-compatible lossy repair (chapter 2: text is bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace slm {

// Length in bytes of the well-formed UTF-8 sequence at s[i], or 0 if it is ill-formed
// (overlong, surrogate, > U+10FFFF, truncated, stray continuation byte).
size_t utf8_seq_len(std::string_view s, size_t i);

// Offset of the first ill-formed byte, or npos when the whole string is valid UTF-8.
size_t utf8_find_invalid(std::string_view s);

// Throws a BadInput error "invalid UTF-8 at byte offset N (...)" naming `what` when s is invalid;
// the message suggests --lossy when `suggest_lossy` (the command must then accept --lossy); `base`
// is added to N (s is a part of a longer stream starting at that offset).
void utf8_require_valid(std::string_view s, std::string_view what = "input", bool suggest_lossy = true,
                        uint64_t base = 0);

// Replace every ill-formed sequence with U+FFFD the way Python's bytes.decode("utf-8",
// errors="replace") does: one U+FFFD per maximal subpart of an ill-formed sequence (Unicode §3.9,
// "substitution of maximal subparts").
std::string utf8_lossy(std::string_view s);

// Length of the prefix of s that ends on a complete UTF-8 sequence: when text is streamed token by
// token, a character may be split across tokens, and its first bytes wait for the rest. (Only an
// incomplete lead sequence at the very end is held back; ill-formed bytes elsewhere count as done.)
size_t complete_utf8_prefix(std::string_view s);

// Decode the (valid) code point at s[i]; writes its byte length to *len.
inline uint32_t utf8_decode(std::string_view s, size_t i, size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  unsigned char c = p[0];
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c < 0xE0) {
    *len = 2;
    return ((c & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  }
  if (c < 0xF0) {
    *len = 3;
    return ((c & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  }
  *len = 4;
  return ((c & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

// Append the UTF-8 encoding of code point cp.
void utf8_append(std::string& out, uint32_t cp);

}  // namespace slm
