// byte_unicode.cpp — GPT-2's bytes_to_unicode() map (see byte_unicode.h).
#include "scratchlm/tokenizer/byte_unicode.h"

#include <array>

#include "scratchlm/tokenizer/utf8.h"

namespace slm {

namespace {
struct Maps {
  std::array<uint32_t, 256> b2u{};
  std::array<int16_t, 512> u2b{};  // code points < 512 cover the whole image
  Maps() {
    u2b.fill(-1);
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      b2u[b] = printable ? b : 256 + extra++;
      u2b[b2u[b]] = static_cast<int16_t>(b);
    }
  }
};
const Maps kMaps;
}  // namespace

uint32_t byte_to_unicode(uint8_t b) { return kMaps.b2u[b]; }

std::string bytes_to_vocab_string(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) utf8_append(out, kMaps.b2u[static_cast<uint8_t>(c)]);
  return out;
}

bool vocab_string_to_bytes(std::string_view s, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_seq_len(s, i);
    if (len == 0) return false;
    uint32_t cp = utf8_decode(s, i, &len);
    if (cp >= kMaps.u2b.size() || kMaps.u2b[cp] < 0) return false;
    out->push_back(static_cast<char>(kMaps.u2b[cp]));
    i += len;
  }
  return true;
}

}  // namespace slm
