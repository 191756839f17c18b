// token_files.h — llm.c token files as training data (chapter 5's pretraining on a pre-tokenized
// corpus): `--data FILE.bin` (or a directory or glob of them, llm.c's fineweb_train_*.bin shards)
// holds token ids, not text. Layout: shards.h (llm.c's dev/data/data_common.py write_datafile).
// A corpus spec resolving to paths ending in ".bin" is read as token files, concatenated in path
// order, each validated (magic, version, size) and every id checked against the vocabulary; text
// documents and token files cannot be mixed in one --data list.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "scratchlm/data/shards.h"

namespace slm {

// A path named like a token file (ends in ".bin").
bool is_token_file_path(const std::string& path);

// True when the resolved corpus `paths` are token files; false when none is; BadInput when mixed.
bool are_token_files(const std::vector<std::string>& paths);

// Read and concatenate token files (one file is mapped as is). BadInput error naming the file for a
// bad header or size (read_token_shard), and for an id >= vocab_size (naming it and its position).
TokenArray read_token_files(const std::vector<std::string>& paths, size_t vocab_size);

}  // namespace slm
