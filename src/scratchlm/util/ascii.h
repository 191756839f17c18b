// ascii.h — ASCII-only case folding for protocol text (MIME headers, charset labels, HTML tag
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

}  // namespace slm
