// responses.cpp — the finetuned model's answers to instruction entries (chapter 7.7) and chat
// prompts with memory; see responses.h.
#include "scratchlm/finetune/responses.h"

#include <algorithm>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/progress.h"

namespace slm {

GenerateOptions book_response_options() {
  GenerateOptions g;
  g.max_new_tokens = 256;
  g.sampler.temperature = 0.0f;
  g.stop_at_eos = true;
  g.eos_id = 50256;
  return g;
}

// ------------------------------------------------------------------ whitespace

namespace {

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Byte length of the whitespace character at s[i], or 0 when s[i] starts anything else.
size_t space_len_at(std::string_view s, size_t i) {
  const size_t n = utf8_seq_len(s, i);
  if (n == 0) return 0;
  size_t len = 0;
  return is_python_space(utf8_decode(s, i, &len)) ? n : 0;
}

}  // namespace

std::string_view lstrip_whitespace(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = space_len_at(s, i);
    if (!n) break;
    i += n;
  }
  return s.substr(i);
}

std::string_view rstrip_whitespace(std::string_view s) {
  // Walk forward (UTF-8 is not safely walked backwards through ill-formed bytes), remembering the
  // end of the last character that is not whitespace.
  size_t i = 0, keep = 0;
  while (i < s.size()) {
    const size_t sp = space_len_at(s, i);
    if (sp) {
      i += sp;
      continue;
    }
    const size_t n = utf8_seq_len(s, i);
    i += n ? n : 1;
    keep = i;
  }
  return s.substr(0, keep);
}

std::string_view strip_whitespace(std::string_view s) { return rstrip_whitespace(lstrip_whitespace(s)); }

std::string clean_response(std::string_view generated, PromptTemplate t) {
  const std::string marker = response_marker(t);
  std::string text;
  size_t pos = 0;
  for (size_t hit; (hit = generated.find(marker, pos)) != std::string_view::npos; pos = hit + marker.size())
    text.append(generated.substr(pos, hit - pos));
  text.append(generated.substr(pos));
  return std::string(strip_whitespace(text));
}

// ------------------------------------------------------------------ responses

std::vector<int32_t> response_prompt_ids(const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t) {
  std::vector<int32_t> ids;
  for (uint32_t id : tok.encode(format_prompt(e, t) + response_prefix(t), SpecialMode::Text))
    ids.push_back(static_cast<int32_t>(id));
  return ids;
}

std::string generate_response(GPT& model, const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t,
                              const GenerateOptions& options) {
  const std::vector<int32_t> prompt = response_prompt_ids(tok, e, t);
  const std::vector<int32_t> out = generate(model, prompt, options);
  const std::vector<uint32_t> ids(out.begin(), out.end());
  return clean_response(utf8_lossy(tok.decode(ids)), t);
}

std::string responses_json(const std::vector<InstructionEntry>& entries, const std::vector<std::string>& responses) {
  if (entries.size() != responses.size())
    fail_internal("responses_json: {} entries but {} responses", entries.size(), responses.size());
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    nlohmann::ordered_json o;
    o["instruction"] = entries[i].instruction;
    o["input"] = entries[i].input;
    o["output"] = entries[i].output;
    o["model_response"] = responses[i];
    arr.push_back(std::move(o));
  }
  // ensure_ascii as Python's default; ill-formed UTF-8 (only possible in entries built in code)
  // becomes U+FFFD rather than an exception.
  return arr.dump(4, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<std::string> generate_responses(GPT& model, const Tokenizer& tok,
                                            const std::vector<InstructionEntry>& entries, PromptTemplate t,
                                            const GenerateOptions& options, const std::string& out_path,
                                            bool progress) {
  std::vector<std::string> responses;
  responses.reserve(entries.size());
  std::unique_ptr<Progress> bar;
  if (progress) {
    bar = std::make_unique<Progress>(static_cast<int64_t>(entries.size()));
    bar->set_label("response");
    bar->set_min_interval(5.0);  // off a terminal: a log line every 5 s, not one per entry
  }
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (const auto& e : entries) {
    const std::vector<int32_t> prompt = response_prompt_ids(tok, e, t);
    const std::vector<int32_t> out = generate(model, prompt, options);
    tokens += static_cast<int64_t>(out.size());
    const std::vector<uint32_t> ids(out.begin(), out.end());
    responses.push_back(clean_response(utf8_lossy(tok.decode(ids)), t));
    if (bar) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      bar->update(static_cast<int64_t>(responses.size()), fmt::format("{:.0f} tok/s", s > 0 ? tokens / s : 0.0));
    }
  }
  if (bar) bar->finish();
  write_file_atomic(out_path, responses_json(entries, responses));
  return responses;
}

// ------------------------------------------------------------------ chat

std::vector<int32_t> chat_prompt_ids(const Tokenizer& tok, std::vector<InstructionEntry>& turns,
                                     const InstructionEntry& next, PromptTemplate t, int64_t max_tokens) {
  const std::string tail = format_prompt(next, t) + response_prefix(t);
  for (;;) {
    std::string text;
    for (const auto& turn : turns) text += format_example(turn, t) + "\n\n";
    text += tail;
    std::vector<int32_t> ids;
    for (uint32_t id : tok.encode(text, SpecialMode::Text)) ids.push_back(static_cast<int32_t>(id));
    if (static_cast<int64_t>(ids.size()) <= max_tokens || turns.empty()) return ids;
    turns.erase(turns.begin());
  }
}

std::vector<int32_t> chat_answer_prompt_ids(const Tokenizer& tok, std::vector<InstructionEntry>& turns,
                                            const InstructionEntry& next, PromptTemplate t, int64_t context_length,
                                            int64_t max_new_tokens, size_t* full_tokens) {
  const int64_t budget = context_length - std::min<int64_t>(max_new_tokens, context_length / 2);
  std::vector<int32_t> ids = chat_prompt_ids(tok, turns, next, t, budget);
  if (full_tokens) *full_tokens = ids.size();
  if (static_cast<int64_t>(ids.size()) > context_length) ids.erase(ids.begin(), ids.end() - context_length);
  return ids;
}

}  // namespace slm
