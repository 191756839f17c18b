// lines.h — walking a text line by line (JSONL files, one-text-per-line inputs): each line without
// its '\n', numbered from 1; a last line without a newline counts, a final newline adds no empty line.
#pragma once

#include <cstddef>
#include <string_view>

namespace slm {

template <typename Fn>  // fn(std::string_view line, size_t number)
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0, number = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    fn(text.substr(pos, end - pos), ++number);
    pos = end + 1;
  }
}

}  // namespace slm
