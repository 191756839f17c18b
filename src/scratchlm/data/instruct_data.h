// instruct_data.h — instruction data for finetuning (chapter 7.2–7.3): Alpaca-style entries
// {"instruction", "input", "output"}, the book's prompt templates, the book's 85/10/5 split and the
// book's collate function (pad with <|endoftext|>, shift targets, -100 masking).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/kernels/cross_entropy.h"

namespace slm {

class Tokenizer;

struct InstructionEntry {
  std::string instruction, input, output;
};

// A JSON array of objects, or JSONL (one object per line). "instruction" and "output" are required
// strings, "input" is optional (missing or null = ""); other keys are ignored. BadInput errors name
// the file and the entry index, 0-based (and the line for JSONL): missing key, wrong type, malformed
// JSON; invalid UTF-8 (with its byte offset), an empty file and zero entries ("[]") are errors too.
std::vector<InstructionEntry> load_instruction_data(const std::string& path);

enum class PromptTemplate { Alpaca, Phi3 };
// "alpaca" | "phi3"; BadInput otherwise.
PromptTemplate parse_prompt_template(std::string_view name);
// The inverse: "alpaca" | "phi3".
std::string_view prompt_template_name(PromptTemplate t);

// The prompt without the answer (the book's format_input):
//   Alpaca: "Below is an instruction that describes a task. Write a response that appropriately
//            completes the request.\n\n### Instruction:\n" + instruction
//            + ("\n\n### Input:\n" + input, only when input is non-empty)
//   Phi3:   "<|user|>\n" + instruction + ("\n" + input, only when non-empty)
// (Alpaca: section 7.2's format_input; Phi3: exercise 7.1's format_input_phi, byte for byte.)
std::string format_prompt(const InstructionEntry& e, PromptTemplate t);
// What follows the prompt before the answer: Alpaca "\n\n### Response:\n", Phi3 "\n<|assistant|>:\n".
std::string response_prefix(PromptTemplate t);
// The marker the book removes from a generated answer (.replace(marker, "").strip()):
// Alpaca "### Response:", Phi3 "<|assistant|>:".
std::string response_marker(PromptTemplate t);
// format_prompt + response_prefix + output: one whole training example.
inline std::string format_example(const InstructionEntry& e, PromptTemplate t) {
  return format_prompt(e, t) + response_prefix(t) + e.output;
}

// The book's split, without shuffling: train = first int(n*0.85), test = next int(n*0.10),
// validation = the rest (935 / 110 / 55 for 1,100 entries). Fractions are options.
struct InstructionSplit {
  std::vector<InstructionEntry> train, test, val;
};
InstructionSplit split_instruction_data(const std::vector<InstructionEntry>& all, double train_frac = 0.85,
                                        double test_frac = 0.10);

// One tokenized example: the ids of format_example(...) and how many of them are the prompt
// (format_prompt + response_prefix), for --mask-prompt. The text is encoded with SpecialMode::Text:
// entries are data, so a literal "<|endoftext|>" in them stays ordinary text. prompt_len counts the
// leading ids whose bytes lie within the prompt. (The book's exercise 7.2 masks only format_input's
// tokens, leaving the response prefix as targets; here the prefix is masked too.)
struct TokenizedExample {
  std::vector<int32_t> ids;
  int64_t prompt_len = 0;
};
TokenizedExample tokenize_example(const Tokenizer& tok, const InstructionEntry& e, PromptTemplate t);

// The book's custom_collate_fn for a batch: append one pad (50256) to each example, pad to the
// longest (+1) with pad_id, inputs = seq[:-1], targets = seq[1:]; in the targets, the first pad
// of each row stays and every later pad becomes ignore_index; with mask_prompt the targets that
// predict prompt tokens (target positions < prompt_len - 1) are ignore_index too; finally both are
// truncated to max_length (0 = no limit). Row-major [B, T] with T = the batch's length.
struct CollatedBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> inputs, targets;
};
CollatedBatch collate_instruction_batch(const std::vector<const TokenizedExample*>& batch, int32_t pad_id = 50256,
                                        int32_t ignore_index = kIgnoreIndex, int64_t max_length = 0,
                                        bool mask_prompt = false);

}  // namespace slm
