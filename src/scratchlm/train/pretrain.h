// pretrain.h — pretraining (chapter 5, with appendix D's warmup, cosine decay and gradient
// clipping): next-token prediction over the sliding-window loader of a corpus, as a task of the
// training engine (engine.h), which runs the steps, evaluations, samples, checkpoints and resume.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/config.h"
#include "scratchlm/train/loop_options.h"

namespace slm {

// The shared options (loop_options.h) with the book's chapter 5 / appendix D defaults, and
// pretraining's own.
struct PretrainArgs : LoopOptions {
  PretrainArgs() {
    schedule = ScheduleKind::Cosine;
    grad_clip = 1.0f;
    eval_batches = 10;
  }
  // Model: a named config (with overrides already applied) or a directory to start from.
  std::optional<GPTConfig> config;
  std::string init_from, resume, out_dir, tokenizer_dir;
  std::vector<std::string> data;
  std::string text_column;  // non-empty: table files give one document per row (corpus.h)
  bool lossy = false;
  double val_fraction = 0.1;
  int64_t seq = 0 /* 0: context length */, stride = 0 /* 0: seq */;
  int64_t sample_every = 0, sample_tokens = 50;  // 0: no samples
  std::string sample_prompt = "Every effort moves you";
  std::string init = "gpt2";  // gpt2 (N(0, 0.02), scaled residual projections) or torch (the book's PyTorch defaults)

  nlohmann::json to_json() const;
  // The settings of a checkpoint's trainer.json "args" (BadInput naming `source` when malformed).
  void read_json(const nlohmann::json& args, const std::string& source);
  // BadInput naming the first option out of its range (run_pretraining calls it first).
  void validate() const;
};

struct PretrainResult {
  int64_t steps_done = 0;  // total steps in the checkpoint
  double final_train_loss = 0, final_val_loss = 0;
  bool interrupted = false;
};

PretrainResult run_pretraining(const PretrainArgs& args);

}  // namespace slm
