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

#include "scratchlm/io/safetensors.h"
#include "scratchlm/kernels/matmul_bf16.h"

namespace slm {

struct InstructArgs {
  std::string init_from, data, out_dir, resume, tokenizer_dir;
  std::string prompt_template = "alpaca";
  bool mask_prompt = false;
  int64_t max_length = 1024;  // also capped at the model's context length
  double train_frac = 0.85, test_frac = 0.10;
  // Run length: epochs, cut by max_steps (> 0; counted across resumes) or max_time_s (> 0).
  int64_t epochs = 2, max_steps = 0;
  double max_time_s = 0.0;
  // End this run after step `stop_at` as Ctrl-C does (a resumable checkpoint); not saved.
  int64_t stop_at = 0;
  int64_t batch = 8, grad_accum = 1;
  float lr = 5e-5f, weight_decay = 0.1f, grad_clip = 0.0f /* 0: off, as the book */, dropout = 0.0f;
  int64_t eval_every = 5, eval_batches = 5, save_every = 0 /* 0: only at the end */;
  int64_t sample_tokens = 50;  // the book's generate_and_print_sample
  uint64_t seed = 123;
  // LoRA (appendix E): rank 0 = full finetuning; alpha unset = rank; targets empty = "attn,mlp".
  int64_t lora_rank = 0;
  std::optional<float> lora_alpha;
  std::string lora_targets;
  bool merge = true;  // LoRA: save the merged model (true) or only the adapter
  bool responses = true;
  int64_t max_new_tokens = 256;
  int threads = 0;  // per rank (distributed.h's threads_per_rank)
  int zero = 0;     // ZeRO stage across mpirun's ranks: 0 or 1 (engine.h)
  Precision precision = Precision::Fp32;  // --precision: the matmuls' (engine.h); saved, kept on resume
  DType save_dtype = DType::F32;          // --save-dtype: the final model's weights (not the checkpoint's)
  bool quiet = false;
  bool force = false;  // write into a non-empty --out that holds other files (check_output_dir)

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
