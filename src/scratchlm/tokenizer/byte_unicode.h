// byte_unicode.h — GPT-2's reversible map from bytes to printable Unicode characters.
//
// encoder.json / vocab.bpe / vocab.json / merges.txt store tokens as strings in which every byte
// is replaced by a printable code point (bytes_to_unicode() in OpenAI's encoder.py): the 188
// printable Latin-1 bytes map to themselves, the other 68 to U+0100.. in byte order
// (so a space is 'Ġ' U+0120 and a newline 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace slm {

// The code point that stands for byte b.
uint32_t byte_to_unicode(uint8_t b);

// Raw bytes -> the printable form used in vocabulary files.
std::string bytes_to_vocab_string(std::string_view bytes);

// Printable form -> raw bytes; returns false when a character is not in the map.
bool vocab_string_to_bytes(std::string_view s, std::string* out);

}  // namespace slm
