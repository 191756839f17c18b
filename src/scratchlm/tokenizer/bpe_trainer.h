// bpe_trainer.h — training a byte-level BPE vocabulary from text (chapter 2.5, the algorithm
// behind GPT-2's vocab.bpe).
//
// Byte-level: the 256 byte tokens come first (ids in GPT-2's order), then each merge adds one
// token (id 256 + merge index), and <|endoftext|> is reserved as the last id, so vocab_size =
// 256 + merges + 1. Text is first split with the chosen pattern (pieces never merge across
// each other) and on <|endoftext|> (never merged into anything). Pair counts are maintained
// incrementally: each merge only touches the words that contain the merged pair.
// Tie-breaking is deterministic: highest count first, then the pair whose concatenated bytes
// are lexicographically smallest (then the shorter left part).
//
// Details of the rule (as in minbpe / Hugging Face's BpeTrainer):
// - A pair's count is the number of adjacent positions where it occurs, weighted by how often
//   the piece occurs in the corpus ("aaa" holds (a, a) twice). A merge rewrites a word left to
//   right without overlaps ("aaa" -> "aa" "a").
// - "Lexicographically smallest" compares raw bytes as unsigned values (not ids, not vocabulary
//   strings): " \xC3" < "zz" < "\xC3\xA9".
// - Training stops after vocab_size - 257 merges, or earlier when no adjacent pair is left (every
//   piece is a single token); a pair that occurs only once is still merged.
// - Should a pair's concatenation already be a token (another split of the same bytes merged
//   earlier; never seen on real corpora), the words are rewritten to that token, but no token
//   and no merge line are added: the encoder merges every split of a token into it anyway.
// - The result does not depend on `threads` (pieces are counted per thread, then summed and
//   sorted by bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/tokenizer/bpe.h"

namespace slm {

struct BpeTrainOptions {
  size_t vocab_size = 4096;  // including the 256 byte tokens and <|endoftext|>
  SplitPattern pattern = SplitPattern::Gpt2;
  int threads = 0;  // <= 0: all cores
  // Called every so often with (merges done, merges wanted); may be empty.
  std::function<void(size_t, size_t)> progress;
};

struct BpeTrainResult {
  Tokenizer tokenizer;
  size_t merges_done = 0;  // fewer than asked when the corpus runs out of pairs
  size_t unique_pieces = 0;
  size_t input_bytes = 0;
};

// Train on the given documents (each must be valid UTF-8; BadInput error otherwise).
BpeTrainResult train_bpe(const std::vector<std::string_view>& documents, const BpeTrainOptions& opts);

}  // namespace slm
