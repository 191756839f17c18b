// utf8.cpp — UTF-8 validation and lossy repair (see utf8.h).
#include "scratchlm/tokenizer/utf8.h"

#include "scratchlm/util/error.h"

namespace slm {

namespace {
// Valid range of the second byte for a given lead byte (Unicode Table 3-7).
inline bool second_ok(unsigned char lead, unsigned char b) {
  switch (lead) {
    case 0xE0:
      return b >= 0xA0 && b <= 0xBF;
    case 0xED:
      return b >= 0x80 && b <= 0x9F;
    case 0xF0:
      return b >= 0x90 && b <= 0xBF;
    case 0xF4:
      return b >= 0x80 && b <= 0x8F;
    default:
      return b >= 0x80 && b <= 0xBF;
  }
}
inline size_t expected_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // 0x80..0xC1, 0xF5..0xFF never start a sequence
}
// Number of bytes of the maximal well-formed prefix of the sequence starting at i (>= 1 even
// when the lead byte alone is invalid), and whether the full sequence is complete.
inline size_t maximal_subpart(std::string_view s, size_t i, bool* complete) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  unsigned char lead = p[i];
  size_t need = expected_len(lead);
  if (need == 0) {
    *complete = false;
    return 1;
  }
  if (need == 1) {
    *complete = true;
    return 1;
  }
  if (i + 1 >= n || !second_ok(lead, p[i + 1])) {
    *complete = false;
    return 1;
  }
  size_t k = 2;
  while (k < need) {
    if (i + k >= n || (p[i + k] & 0xC0) != 0x80) {
      *complete = false;
      return k;
    }
    ++k;
  }
  *complete = true;
  return need;
}
}  // namespace

size_t utf8_seq_len(std::string_view s, size_t i) {
  bool complete = false;
  size_t k = maximal_subpart(s, i, &complete);
  return complete ? k : 0;
}

size_t utf8_find_invalid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t k = utf8_seq_len(s, i);
    if (k == 0) return i;
    i += k;
  }
  return std::string_view::npos;
}

void utf8_require_valid(std::string_view s, std::string_view what, bool suggest_lossy, uint64_t base) {
  size_t bad = utf8_find_invalid(s);
  if (bad != std::string_view::npos)
    fail("{} is not valid UTF-8: invalid byte 0x{:02X} at byte offset {}{}", what, static_cast<unsigned char>(s[bad]),
         base + bad, suggest_lossy ? " (use --lossy to replace invalid sequences with U+FFFD)" : "");
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    bool complete = false;
    size_t k = maximal_subpart(s, i, &complete);
    if (complete)
      out.append(s.substr(i, k));
    else
      out.append("\xEF\xBF\xBD");
    i += k;
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t complete_utf8_prefix(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

}  // namespace slm
