// responses.h — the finetuned model's answers to instruction entries (chapter 7.7 of "Build a Large
// Language Model (From Scratch)", "Extracting and saving responses"), written as the book's
// instruction-data-with-response.json, plus the prompt of a chat turn with memory (`slm chat`).
//
// The book's loop, per entry: input_text = format_input(entry); generate greedily up to 256 new
// tokens, stopping at <|endoftext|> (50256); generated_text[len(input_text):]
// .replace("### Response:", "").strip(). Here the prompt already ends with the template's response
// prefix ("\n\n### Response:\n"), so the model starts right at the answer; the marker is still
// removed from the answer as in the book. Prompts longer than the context keep their last
// context_length tokens, as in the book's generate (the generator left-truncates every step).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/data/instruct_data.h"
#include "scratchlm/generate/generator.h"

namespace slm {

class GPT;
class Tokenizer;

// The book's settings: greedy (temperature 0), up to 256 new tokens, stop at 50256.
GenerateOptions book_response_options();

// Python's str.strip() / lstrip() / rstrip() without arguments on UTF-8 text: Unicode whitespace
// (str.isspace: \t \n \v \f \r \x1c-\x1f space U+0085 U+00A0 U+1680 U+2000-U+200A U+2028 U+2029
// U+202F U+205F U+3000).
std::string_view strip_whitespace(std::string_view s);
std::string_view lstrip_whitespace(std::string_view s);
std::string_view rstrip_whitespace(std::string_view s);

// A generated answer cleaned as the book does: every occurrence of response_marker(t) removed,
// then strip_whitespace.
std::string clean_response(std::string_view generated, PromptTemplate t);

// The prompt ids of one entry: format_prompt + response_prefix, encoded with SpecialMode::Text
// (entries are data: a literal "<|endoftext|>" in them is ordinary text).
std::vector<int32_t> response_prompt_ids(const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t);

// The model's answer to one entry: generate after response_prompt_ids, decode only the new tokens
// (invalid UTF-8 repaired as tiktoken's errors="replace"), clean_response.
std::string generate_response(GPT& model, const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t,
                              const GenerateOptions& options);

// The book's instruction-data-with-response.json for entries[i] + responses[i] (same sizes): a JSON
// array of {"instruction", "input", "output", "model_response"} in that key order, indented by 4,
// non-ASCII escaped as \uXXXX, no final newline — the bytes of Python's json.dump(data, f, indent=4).
std::string responses_json(const std::vector<InstructionEntry>& entries, const std::vector<std::string>& responses);

// Answer every entry in order (generate_response) and write responses_json to out_path atomically,
// with a progress bar on stderr when `progress` is set. Returns the responses.
std::vector<std::string> generate_responses(GPT& model, const Tokenizer& tok,
                                            const std::vector<InstructionEntry>& entries, PromptTemplate t,
                                            const GenerateOptions& options, const std::string& out_path,
                                            bool progress = true);

// The prompt of a chat turn with memory: the earlier turns, oldest first, each as format_example
// (its message as the instruction, empty input, its answer as the output), joined by "\n\n", then
// "\n\n" + format_prompt + response_prefix of the new message; encoded as a whole with
// SpecialMode::Text. While it has more than max_tokens tokens and earlier turns remain, the oldest
// turn is dropped from `turns`. (The new message alone may still be longer than max_tokens.)
std::vector<int32_t> chat_prompt_ids(const Tokenizer& tok, std::vector<InstructionEntry>& turns,
                                     const InstructionEntry& next, PromptTemplate t, int64_t max_tokens);

// The prompt of a chat answer of up to max_new_tokens from a model with context_length tokens (slm
// chat, slm serve): chat_prompt_ids with max_tokens = context_length - min(max_new_tokens,
// context_length / 2) — room for the answer, but at most half the context so that a small context
// still holds some memory — then cut to its last context_length tokens when the new message alone
// is longer. *full_tokens, if set, gets the length before that cut.
std::vector<int32_t> chat_answer_prompt_ids(const Tokenizer& tok, std::vector<InstructionEntry>& turns,
                                            const InstructionEntry& next, PromptTemplate t, int64_t context_length,
                                            int64_t max_new_tokens, size_t* full_tokens = nullptr);

}  // namespace slm
