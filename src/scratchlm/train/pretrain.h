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
#include "scratchlm/train/adamw.h"
#include "scratchlm/train/schedule.h"

namespace slm {

struct PretrainArgs {
  // Model: a named config (with overrides already applied) or a directory to start from.
  std::optional<GPTConfig> config;
  std::string init_from, resume, out_dir, tokenizer_dir;
  std::vector<std::string> data;
  std::string text_column;  // non-empty: table files give one document per row (corpus.h)
  bool lossy = false;
  double val_fraction = 0.1;
  // Length of the run: the first that is reached ends it (0 = not set). `steps` counts the
  // whole run, also across resumes.
  int64_t epochs = 0, steps = 0;
  double max_time_s = 0.0;
  // End this run after step `stop_at` as Ctrl-C does (a resumable checkpoint) while the schedule
  // still plans the whole run (0: off; not saved, so a resume runs on).
  int64_t stop_at = 0;
  int64_t batch = 8, grad_accum = 1, seq = 0 /* 0: context length */, stride = 0 /* 0: seq */;
  float lr = 4e-4f, min_lr = -1.0f /* <0: lr/10 */;
  int64_t warmup = 0;
  ScheduleKind schedule = ScheduleKind::Cosine;
  float weight_decay = 0.1f, beta1 = 0.9f, beta2 = 0.999f, grad_clip = 1.0f;
  DecayMode decay = DecayMode::All;
  float dropout = -1.0f;                                                        // <0: the config's drop_rate
  int64_t eval_every = 0, eval_batches = 10, sample_every = 0, save_every = 0;  // 0: only at the end
  int64_t sample_tokens = 50;
  std::string sample_prompt = "Every effort moves you";
  uint64_t seed = 123;
  std::string init = "gpt2";  // gpt2 (N(0, 0.02), scaled residual projections) or torch (the book's PyTorch defaults)
  int threads = 0;            // per rank (distributed.h's threads_per_rank)
  int zero = 0;               // ZeRO stage across mpirun's ranks: 0 or 1 (engine.h)
  Precision precision = Precision::Fp32;  // --precision: the matmuls' (engine.h); saved, kept on resume
  DType save_dtype = DType::F32;  // --save-dtype: BF16/F16 also write OUT/model-bf16|f16/ at the end
  bool quiet = false;
  bool force = false;  // write into a non-empty --out that holds other files (check_output_dir)

  nlohmann::json to_json() const;
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
