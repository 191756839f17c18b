// token_files.cpp — llm.c token files as training data (see token_files.h).
#include "scratchlm/data/token_files.h"

#include "scratchlm/util/error.h"

namespace slm {

bool is_token_file_path(const std::string& path) { return path.size() > 4 && path.ends_with(".bin"); }

bool are_token_files(const std::vector<std::string>& paths) {
  size_t bins = 0;
  for (const auto& p : paths) bins += is_token_file_path(p);
  if (bins == 0) return false;
  if (bins != paths.size()) {
    for (const auto& p : paths)
      if (!is_token_file_path(p))
        fail("--data mixes llm.c token files (.bin) with text documents such as '{}': give one kind", p);
  }
  return true;
}

namespace {

void check_ids(const TokenArray& a, size_t vocab_size, const std::string& path) {
  if (a.empty() || a.max_id() < vocab_size) return;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] >= vocab_size)
      fail("token file '{}': token {} at position {} is outside the vocabulary of {} tokens (ids 0..{})", path, a[i], i,
           vocab_size, vocab_size - 1);
}

}  // namespace

TokenArray read_token_files(const std::vector<std::string>& paths, size_t vocab_size) {
  if (paths.empty()) fail("no token files given");
  std::vector<TokenArray> parts;
  size_t total = 0;
  for (const auto& p : paths) {
    parts.push_back(read_token_shard(p));
    check_ids(parts.back(), vocab_size, p);
    total += parts.back().size();
  }
  if (parts.size() == 1) return parts[0];
  std::vector<uint32_t> all;
  all.reserve(total);
  for (const auto& a : parts)
    for (size_t i = 0; i < a.size(); ++i) all.push_back(a[i]);
  return TokenArray::from_vector(std::move(all));
}

}  // namespace slm
