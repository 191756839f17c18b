// piece_counts.h — the unique pieces of a corpus and how often each occurs: step 1 of training a
// byte-level BPE vocabulary (chapter 2.5, bpe_trainer.h). The documents are split on
// <|endoftext|> (never part of a piece) and pre-tokenized with the split pattern.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "scratchlm/tokenizer/bpe.h"

namespace slm {

// (piece, count) for every unique piece, sorted by bytes (unsigned). The pieces point into
// `documents`. The result does not depend on `threads` (>= 1).
std::vector<std::pair<std::string_view, uint64_t>> count_pieces(const std::vector<std::string_view>& documents,
                                                                SplitPattern pattern, int threads);

}  // namespace slm
