// instruct_data.cpp — instruction data for finetuning (chapter 7.2–7.3): loading Alpaca-style
// entries, the book's prompt templates (section 7.2 and exercise 7.1), the 85/10/5 split and the
// book's custom_collate_fn (section 7.3, with exercise 7.2's prompt masking). See instruct_data.h.
#include "scratchlm/data/instruct_data.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/lines.h"

namespace slm {

// ------------------------------------------------------------------ templates

std::string format_prompt(const InstructionEntry& e, PromptTemplate t) {
  std::string s;
  if (t == PromptTemplate::Phi3) {
    // exercise 7.1's format_input_phi
    s = "<|user|>\n" + e.instruction;
    if (!e.input.empty()) s += "\n" + e.input;
    return s;
  }
  // section 7.2's format_input
  s = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
      "\n\n### Instruction:\n" +
      e.instruction;
  if (!e.input.empty()) s += "\n\n### Input:\n" + e.input;
  return s;
}

std::string response_prefix(PromptTemplate t) {
  return t == PromptTemplate::Phi3 ? "\n<|assistant|>:\n" : "\n\n### Response:\n";
}

std::string response_marker(PromptTemplate t) { return t == PromptTemplate::Phi3 ? "<|assistant|>:" : "### Response:"; }

PromptTemplate parse_prompt_template(std::string_view name) {
  if (name == "alpaca") return PromptTemplate::Alpaca;
  if (name == "phi3") return PromptTemplate::Phi3;
  fail("unknown prompt template '{}' (expected alpaca or phi3)", name);
}

std::string_view prompt_template_name(PromptTemplate t) { return t == PromptTemplate::Phi3 ? "phi3" : "alpaca"; }

// ------------------------------------------------------------------ loading

namespace {

using nlohmann::json;

std::string where(const std::string& path, size_t index, size_t line) {
  if (line) return fmt::format("{}: entry {} (line {})", path, index, line);
  return fmt::format("{}: entry {}", path, index);
}

InstructionEntry entry_from_json(const json& j, const std::string& path, size_t index, size_t line) {
  if (!j.is_object()) fail("{}: expected a JSON object, got {}", where(path, index, line), j.type_name());
  InstructionEntry e;
  auto get = [&](const char* key, std::string& out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) fail("{}: missing \"{}\"", where(path, index, line), key);
      return;
    }
    if (!required && it->is_null()) return;  // "input": null reads as ""
    if (!it->is_string()) fail("{}: \"{}\" must be a string, got {}", where(path, index, line), key, it->type_name());
    out = it->get<std::string>();
  };
  get("instruction", e.instruction, true);
  get("input", e.input, false);
  get("output", e.output, true);
  return e;
}

// One line of a parse error, without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string parse_message(const json::parse_error& err) {
  std::string m = err.what();
  auto p = m.find("] ");
  if (p != std::string::npos) m = m.substr(p + 2);
  return m;
}

}  // namespace

std::vector<InstructionEntry> load_instruction_data(const std::string& path) {
  std::string bytes = read_file(path);
  std::string_view text = bytes;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte-order mark
  if (size_t bad = utf8_find_invalid(text); bad != std::string_view::npos)
    fail("{}: invalid UTF-8 at byte offset {}", path, bad + static_cast<size_t>(text.data() - bytes.data()));
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    fail("{}: the file is empty (expected a JSON array or JSON lines of entries)", path);

  std::vector<InstructionEntry> out;
  if (text[first] == '[') {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::parse_error& err) {
      fail("{}: malformed JSON: {}", path, parse_message(err));
    }
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) out.push_back(entry_from_json(j[i], path, i, 0));
  } else {
    // JSON lines: one object per non-blank line. A single JSON document spread over several lines
    // (a pretty-printed object) is neither.
    if (text.find('\n', first) < text.find_last_not_of(" \t\r\n") && json::accept(text))
      fail("{}: expected a JSON array of entries or one JSON object per line, got one multi-line JSON {}", path,
           json::parse(text).type_name());
    for_each_line(text, [&](std::string_view l, size_t line) {
      if (l.find_first_not_of(" \t\r") == std::string_view::npos) return;
      json j;
      try {
        j = json::parse(l);
      } catch (const json::parse_error& err) {
        fail("{}: malformed JSON: {}", where(path, out.size(), line), parse_message(err));
      }
      out.push_back(entry_from_json(j, path, out.size(), line));
    });
  }
  if (out.empty()) fail("{}: no entries", path);
  return out;
}

// ------------------------------------------------------------------ split

InstructionSplit split_instruction_data(const std::vector<InstructionEntry>& all, double train_frac, double test_frac) {
  if (!(train_frac >= 0 && test_frac >= 0 && train_frac + test_frac <= 1))
    fail("invalid split fractions: train {} + test {} must be within [0, 1]", train_frac, test_frac);
  // Python's int(len(data) * 0.85): truncation of the double product.
  const size_t n = all.size();
  const size_t n_train = std::min(n, static_cast<size_t>(static_cast<double>(n) * train_frac));
  const size_t n_test = std::min(n - n_train, static_cast<size_t>(static_cast<double>(n) * test_frac));
  InstructionSplit s;
  s.train.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_train));
  s.test.assign(all.begin() + static_cast<std::ptrdiff_t>(n_train),
                all.begin() + static_cast<std::ptrdiff_t>(n_train + n_test));
  s.val.assign(all.begin() + static_cast<std::ptrdiff_t>(n_train + n_test), all.end());
  return s;
}

// ------------------------------------------------------------------ tokenize + collate

TokenizedExample tokenize_example(const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t) {
  // Instruction texts are data, not control: a literal "<|endoftext|>" inside an entry is encoded
  // as ordinary text (SpecialMode::Text, tiktoken's encode_ordinary), so the only 50256 in a
  // training sequence is the pad/end token that the collate function appends.
  const std::string prompt = format_prompt(e, t) + response_prefix(t);
  const std::string full = prompt + e.output;
  TokenizedExample ex;
  for (uint32_t id : tok.encode(full, SpecialMode::Text)) ex.ids.push_back(static_cast<int32_t>(id));
  // The prompt's length in tokens of the whole example: the leading tokens whose bytes lie within
  // the prompt. Equals len(encode(prompt)) whenever the prompt ends on a token boundary (always
  // for these templates unless the output starts with a newline that merges with the prefix's).
  size_t bytes = 0;
  for (int32_t id : ex.ids) {
    bytes += tok.token_bytes(static_cast<uint32_t>(id)).size();
    if (bytes > prompt.size()) break;
    ++ex.prompt_len;
  }
  return ex;
}

CollatedBatch collate_instruction_batch(const std::vector<const TokenizedExample*>& batch, int32_t pad_id,
                                        int32_t ignore_index, int64_t max_length, bool mask_prompt) {
  if (batch.empty()) fail("collate: the batch is empty");
  if (max_length < 0) fail("collate: max_length must not be negative, got {}", max_length);
  size_t longest = 0;  // batch_max_length = max(len(item) + 1)
  for (const auto* ex : batch) longest = std::max(longest, ex->ids.size() + 1);
  const int64_t full_T = static_cast<int64_t>(longest) - 1;
  CollatedBatch b;
  b.B = static_cast<int64_t>(batch.size());
  b.T = max_length > 0 ? std::min(full_T, max_length) : full_T;
  b.inputs.resize(static_cast<size_t>(b.B * b.T));
  b.targets.resize(static_cast<size_t>(b.B * b.T));
  std::vector<int32_t> padded(longest), targets(static_cast<size_t>(full_T));
  for (int64_t r = 0; r < b.B; ++r) {
    const auto& ids = batch[static_cast<size_t>(r)]->ids;
    std::fill(padded.begin(), padded.end(), pad_id);  // item + [pad] + pads up to the longest
    std::copy(ids.begin(), ids.end(), padded.begin());
    for (int64_t j = 0; j < full_T; ++j) targets[static_cast<size_t>(j)] = padded[static_cast<size_t>(j + 1)];
    // all but the first pad in the targets -> ignore_index
    bool seen_pad = false;
    for (auto& t : targets) {
      if (t != pad_id) continue;
      if (seen_pad) t = ignore_index;
      seen_pad = true;
    }
    if (mask_prompt) {  // exercise 7.2: targets[:prompt_len - 1] = ignore_index
      const int64_t n = std::min<int64_t>(full_T, batch[static_cast<size_t>(r)]->prompt_len - 1);
      for (int64_t j = 0; j < n; ++j) targets[static_cast<size_t>(j)] = ignore_index;
    }
    std::copy_n(padded.begin(), b.T, b.inputs.begin() + r * b.T);
    std::copy_n(targets.begin(), b.T, b.targets.begin() + r * b.T);
  }
  return b;
}

}  // namespace slm
