// ascii.h — ASCII-only case folding and trimming for protocol text (MIME headers, charset labels, HTML tag
// names), where locale-dependent std::tolower would be wrong and bytes >= 0x80 must pass unchanged.
#pragma once

#include <string>
#include <string_view>

namespace slm {

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

inline bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// s without leading and trailing ASCII whitespace (space, tab, CR, LF, FF, VT).
inline std::string_view ascii_trim(std::string_view s) {
  while (!s.empty() && ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace slm
