// vocab_files.h — a BPE vocabulary's files (chapter 2.5): vocab.json / encoder.json (token -> id)
// and merges.txt / vocab.bpe (one "A B" merge a line, in rank order), and the rule that a
// vocabulary's ids are exactly 0..n-1, each once. Messages quote file content escaped (printable.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace slm {

// Tokens and ids of a JSON object {"token": id, ...}; BadInput error naming the file otherwise.
std::vector<std::pair<std::string, uint32_t>> parse_vocab_json(const std::string& path);

// The merges of a merges file (an optional "#version" first line, blank lines skipped).
std::vector<std::pair<std::string, std::string>> parse_merges(const std::string& path);

// BadInput error naming the first id used twice, or the lowest id no token has.
void require_dense_ids(const std::vector<std::pair<std::string, uint32_t>>& vocab, const std::string& source);

}  // namespace slm
