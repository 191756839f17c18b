// instruct_trainer.h — instruction finetuning (chapter 7.5–7.7 of "Build a Large Language Model
// (From Scratch)"): split the entries as the book (85/10/5), tokenize them once, train with AdamW
// on the book's collated batches (pad with <|endoftext|>, -100 targets, optional prompt masking),
// evaluate train/val loss every few steps and print a sample answer after each epoch, with
// metrics.jsonl + loss.svg, atomic checkpoints, exact resume, SIGINT/SIGTERM handling; optionally
// with LoRA adapters (appendix E); finally save the model and answer the test split
// (instruction-data-with-response.json, section 7.7).
//
// Output directory (--out):
//   full finetuning: the model is the checkpoint (config.json, model.safetensors, tokenizer,
//     optimizer.safetensors, trainer.json), as `slm pretrain` writes it;
//   LoRA: the training checkpoint (base + adapters, optimizer, trainer.json) in OUT/checkpoint, and
//     in OUT the merged plain model (default) or, with merge = false, the adapter (PEFT layout:
//     adapter_config.json + adapter_model.safetensors naming the base) + the tokenizer;
//   always: metrics.jsonl, loss.svg and instruction-data-with-response.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "scratchlm/train/loop_options.h"

namespace slm {

// The shared options (train/loop_options.h) with chapter 7's defaults, and instruction
// finetuning's own.
struct InstructArgs : LoopOptions {
  InstructArgs() {
    epochs = 2;
    lr = 5e-5f;
    dropout = 0.0f;
    eval_every = 5;
  }
  std::string init_from, data, out_dir, resume, tokenizer_dir;
  std::string prompt_template = "alpaca";
  bool mask_prompt = false;
  int64_t max_length = 1024;  // also capped at the model's context length
  double train_frac = 0.85, test_frac = 0.10;
  int64_t sample_tokens = 50;  // the book's generate_and_print_sample
  // LoRA (appendix E): rank 0 = full finetuning; alpha unset = rank; targets empty = "attn,mlp".
  int64_t lora_rank = 0;
  std::optional<float> lora_alpha;
  std::string lora_targets;
  bool merge = true;  // LoRA: save the merged model (true) or only the adapter
  bool responses = true;
  int64_t max_new_tokens = 256;

  nlohmann::json to_json() const;
  // BadInput naming the first option out of its range (before any work starts).
  void validate() const;
  // The settings saved in the trainer.json of checkpoint `dir` ("args"); BadInput naming the
  // file when malformed.
  static InstructArgs from_json(const nlohmann::json& j, const std::string& dir);
};

struct InstructResult {
  int64_t steps_done = 0;
  double train_loss = 0, val_loss = 0, test_loss = 0;  // the final losses over whole splits (NaN: empty split)
  int64_t trainable_params = 0, total_params = 0;
  bool interrupted = false;  // stopped by a signal: checkpoint saved, no final model or responses
};

// `data` is a JSON/JSONL file, or the built-in name "instruction-data" (DATA_DIR/instruction-data.json,
// fetched by `slm download-data instruction-data`). Returns the file path; BadInput when missing.
std::string resolve_instruction_data(const std::string& spec, const std::string& data_dir = "");

// Where a run's checkpoint lives given the directory passed to --resume (OUT or OUT/checkpoint).
std::string instruct_checkpoint_dir(const std::string& dir);
// Its trainer.json; BadInput when missing or not an instruction-finetuning checkpoint.
nlohmann::json load_instruct_state(const std::string& dir);

InstructResult run_instruction_finetuning(const InstructArgs& args);

}  // namespace slm
