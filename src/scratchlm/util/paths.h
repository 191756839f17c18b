// paths.h — where ScratchLM looks for its data assets by default.
#pragma once

#include <string>

namespace slm {

// The data directory: $SLM_DATA_DIR if set, else ./data when it exists, else <binary>/../data.
std::string default_data_dir();
// The GPT-2 tokenizer files fetched by scripts/setup: <data>/gpt2.
std::string default_tokenizer_dir();
// The tokenizer for a model: `explicit_dir` when given, else the model directory when it holds
// vocab.json + merges.txt, else default_tokenizer_dir().
std::string tokenizer_dir_for_model(const std::string& model_dir, const std::string& explicit_dir = "");

}  // namespace slm
