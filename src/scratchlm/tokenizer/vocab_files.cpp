// vocab_files.cpp — reading vocabulary and merges files (see vocab_files.h).
#include "scratchlm/tokenizer/vocab_files.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string_view>

#include "scratchlm/tokenizer/printable.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

std::vector<std::pair<std::string, uint32_t>> parse_vocab_json(const std::string& path) {
  std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
  if (!j.is_object()) fail("{}: expected a JSON object mapping tokens to ids", path);
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() > UINT32_MAX)
      fail("{}: the id of token {} is not a non-negative integer", path, in_quotes(it.key()));
    vocab.emplace_back(it.key(), it.value().get<uint32_t>());
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> parse_merges(const std::string& path) {
  std::string text = read_file(path);
  utf8_require_valid(text, path, false);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line_no == 1 && line.starts_with("#version")) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos)
      fail("{}: line {} is not a merge of the form 'A B': {}", path, line_no, in_quotes(line));
    merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
  }
  return merges;
}

void require_dense_ids(const std::vector<std::pair<std::string, uint32_t>>& vocab, const std::string& source) {
  std::vector<size_t> order(vocab.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return vocab[a].second < vocab[b].second; });
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& [tok, id] = vocab[order[k]];
    if (k > 0 && id == vocab[order[k - 1]].second)
      fail("{}: token id {} is used twice ({} and {})", source, id, in_quotes(vocab[order[k - 1]].first),
           in_quotes(tok));
    if (id != k)
      fail("{}: no token has id {} (the ids go up to {}, but there are {} entries)", source, k,
           vocab[order.back()].second, vocab.size());
  }
}

}  // namespace slm
