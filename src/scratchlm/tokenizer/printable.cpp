// printable.cpp — escaping untrusted bytes for one-line messages (see printable.h).
#include "scratchlm/tokenizer/printable.h"

#include <fmt/format.h>

#include "scratchlm/tokenizer/utf8.h"

namespace slm {

std::string printable(std::string_view s, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c >= 0x80 ? utf8_seq_len(s, i) : 1;
    if (c < 0x20 || c == 0x7F || c == '\\' || len == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string in_quotes(std::string_view s, size_t max_bytes) {
  std::string out = printable(s, max_bytes);
  out.insert(out.begin(), '\'');  // (not "'" + ...: GCC 12 emits a bogus -Wrestrict for that)
  out.push_back('\'');
  return out;
}

}  // namespace slm
