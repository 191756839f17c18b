// loop_options.h — the options every trainer shares (chapter 5.2's train_model_simple and its
// chapter 6/7 finetuning variants, with appendix D's warmup, cosine decay and clipping): run
// length, batches, AdamW and its schedule, dropout, the evaluation / checkpoint cadence, seed,
// threads, ZeRO. PretrainArgs, ClassifierArgs and InstructArgs derive from it, each setting its
// own defaults (the book's for each chapter); the engine's TrainingRun does too, so one struct
// carries them from the command line to the loop and into trainer.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/train/schedule.h"

namespace slm {

struct LoopOptions {
  // Run length: the first of `steps` (counted across resumes) and `epochs` that is reached ends
  // it; with neither, `max_time_s`; `max_time_s` and `stop_at` (end after that step as Ctrl-C does:
  // a resumable checkpoint; not saved, so a resume runs on) also end it early. 0: unset.
  int64_t epochs = 0, steps = 0, stop_at = 0;
  double max_time_s = 0.0;
  int64_t batch = 8, grad_accum = 1;  // a step: grad_accum micro-batches of batch rows (per rank)
  // AdamW (adamw.h) and the learning-rate schedule (schedule.h).
  float lr = 4e-4f, min_lr = -1.0f /* < 0: lr / 10 */, weight_decay = 0.1f, beta1 = 0.9f, beta2 = 0.999f;
  float grad_clip = 0.0f;  // clip the global gradient norm (0: off)
  DecayMode decay = DecayMode::All;
  int64_t warmup = 0;
  ScheduleKind schedule = ScheduleKind::Constant;
  float dropout = -1.0f;  // < 0: the model's own rate
  int64_t eval_every = 0, eval_batches = 5 /* 0: all */, save_every = 0;
  uint64_t seed = 123;  // data order, dropout masks, new weights
  int threads = 0;      // per rank (distributed.h's threads_per_rank)
  int zero = 0;         // ZeRO stage across mpirun's ranks: 0 or 1 (engine.h)
  // The matmuls' precision (kernels/matmul_bf16.h): Bf16 runs them on bf16 copies of the weights,
  // refreshed after every optimizer step; master weights, gradients and AdamW state stay fp32, so a
  // checkpoint is the same either way and a bf16 run resumes exactly (same precision and threads).
  Precision precision = Precision::Fp32;
  DType save_dtype = DType::F32;  // the final model's weights (the checkpoint stays fp32)
  bool quiet = false;
  bool force = false;  // write into a non-empty --out that holds other files (check_output_dir)
  // The trainer.json of the checkpoint being resumed as the command read it (for its "args"), so
  // that the trainer and the engine do not read it again; null: they read it. Not in to_json.
  nlohmann::json resumed_state;

  // BadInput naming the first option out of its range.
  void validate() const;
  AdamWConfig adamw() const;
  // The settings a checkpoint fixes, as trainer.json's "args" keeps them (batch: the global
  // micro-batch, so that a run resumes under any number of ranks), and back: read_json takes the
  // keys it finds (a checkpoint of an older version may lack some: they keep this struct's values)
  // and throws nlohmann::json's exceptions on wrong types (the caller names the file).
  nlohmann::json to_json() const;
  void read_json(const nlohmann::json& args, const std::string& source);
};

}  // namespace slm
