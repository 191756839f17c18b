// engine.h — the one training loop of ScratchLM: chapter 5.2's train_model_simple, which chapter
// 6 (the classifier) and chapter 7 (instruction finetuning, full or LoRA) reuse with their own
// batches and evaluations. The engine knows nothing about what is trained; a TrainingTask says
// how to train on one micro-batch and how to evaluate. The engine owns everything else:
//   steps of --grad-accum micro-batches, dropout seeded by (seed, step, row), global-norm
//   clipping, AdamW with the learning-rate schedule, the NaN stop, evaluation before the first
//   step and every --eval-every steps, samples every --sample-every steps, the progress line,
//   metrics.jsonl and loss.svg, atomic checkpoints every --save-every steps with exact resume,
//   --steps / --epochs / --max-time / --stop-at, and SIGINT/SIGTERM.
// A run reads the epochs' micro-batches in order: (epoch, index) with index < batches_per_epoch;
// the data order of an epoch is the task's (data/epoch_order.h's rule).
//
// Data-parallel (mpirun -np R, distributed.h): a global micro-batch is the single-process batch of
// R x --batch rows, and rank r trains rows [r*batch, (r+1)*batch) of it (rank_rows()), with the
// dropout masks the single process gives those rows (GPT::next_dropout_rows). Each rank scales its
// gradients by its slice's share of the global micro-batch's loss, so their sum (grad_sync.h,
// started while the backward pass runs) is the single-process gradient: R ranks x batch B train
// as one process with batch R*B does, to float rounding. Every rank runs the same steps, agrees
// on when to stop, evaluates its part of each evaluation batch; rank 0 alone prints, logs, samples
// and writes files. With --zero 1 each rank keeps AdamW's m and v only for its shard of the
// parameters; a checkpoint holds the whole state (gathered on rank 0), so a run resumes under any
// number of ranks.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/grad_sync.h"
#include "scratchlm/train/loop_options.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/train/schedule.h"
#include "scratchlm/util/progress.h"

namespace slm {

class GPT;
class Tokenizer;
class TrainingEngine;

// What a run counts as its progress through the data.
enum class SeenUnit { Tokens, Examples };

// An evaluation's numbers: the engine logs {"type": "eval", "step", "<unit>_seen", "train_loss",
// "val_loss" (when has_val), ...extra} and prints one line.
struct Evaluation {
  double train_loss = 0.0, val_loss = 0.0;
  bool has_val = true;
  nlohmann::json extra = nlohmann::json::object();
  std::string note;  // appended to the printed line, e.g. " (perplexity 31.2)"
};

// What differs between pretraining, the classifier and instruction finetuning.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  // Micro-batches in one epoch (a last partial batch is dropped); at least 1.
  virtual int64_t batches_per_epoch() const = 0;
  // Forward and backward pass of micro-batch `index` of `epoch` (0-based), the gradients scaled by
  // `grad_scale`; returns the batch's loss and adds what it trained on (tokens or examples) to seen.
  // Data-parallel: of this rank's slice of the global micro-batch (rank_rows()), the gradients
  // scaled by grad_scale times the slice's share of the global batch's loss (rows or tokens over
  // the batch's), and the loss returned times that share (the engine sums the ranks').
  virtual double train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) = 0;
  // The loss of the last trained micro-batch (this rank's slice) under the current weights, in
  // eval mode (nullopt when none was trained yet in this process): a checkpoint is saved only when
  // it is finite.
  virtual std::optional<double> recheck_last_batch() = 0;
  // Losses on the cadence (the model is in eval mode; the engine restores training mode). Called on
  // every rank: each evaluates its part and the results are summed.
  virtual Evaluation evaluate() = 0;
  // A text sample for the log (empty: none); rank 0 only.
  virtual std::string sample() { return {}; }
  // After the last micro-batch of `epoch` (0-based) was trained, before a save (on every rank).
  virtual void end_epoch(TrainingEngine& engine, uint64_t epoch) {}
  // The task's own fields in trainer.json and tensors in the checkpoint, and restoring them from
  // a checkpoint being resumed (called by the engine before training).
  virtual nlohmann::json checkpoint_fields() const { return nlohmann::json::object(); }
  virtual std::vector<CheckpointTensor> checkpoint_tensors() const { return {}; }
  virtual void restore(const std::string& dir, const nlohmann::json& state) {}
  // A digest of the task's data (digest_values): every rank of a data-parallel run must read the
  // same, which the engine checks before the first step, with the model's weights.
  virtual std::string data_digest() const { return {}; }
};

// A run: the shared options (loop_options.h; dropout, batch, threads and force are the task's and
// the trainer's business) and where and how the engine writes.
struct TrainingRun : LoopOptions {
  TrainingRun() = default;
  explicit TrainingRun(const LoopOptions& options) : LoopOptions(options) {}
  std::string out_dir;         // metrics.jsonl and loss.svg
  std::string checkpoint_dir;  // the checkpoint (out_dir, or a folder in it)
  std::string format;          // trainer.json "format", e.g. "scratchlm-trainer/1"
  std::string title;           // of loss.svg
  std::string resume;          // a checkpoint to continue ("": a new run)
  int64_t sample_every = 0;    // a sample every N steps (0: never)
  SeenUnit unit = SeenUnit::Tokens;
  nlohmann::json args;  // the run's arguments, saved in trainer.json
};

struct TrainingResult {
  int64_t steps = 0;
  bool interrupted = false;  // SIGINT/SIGTERM or --stop-at
  double elapsed_s = 0.0;
};

// Rows [begin, end) of a global batch of `rows` rows that this rank trains or evaluates, `per_rank`
// (--batch) rows per rank: [min(r*per_rank, rows), min((r+1)*per_rank, rows)); all rows alone.
std::pair<int64_t, int64_t> rank_rows(int64_t rows, int64_t per_rank);
// The global micro-batch of a run: ranks x --batch.
int64_t global_batch(int64_t batch);

class TrainingEngine {
 public:
  // A new run, or one continued from run.resume (its optimizer state, data position, counters;
  // the model must already hold the checkpoint's weights).
  TrainingEngine(GPT& model, const Tokenizer& tok, TrainingTask& task, TrainingRun run);
  ~TrainingEngine();
  TrainingEngine(const TrainingEngine&) = delete;
  TrainingEngine& operator=(const TrainingEngine&) = delete;

  // Steps until the run's end, --max-time, --stop-at or a signal.
  TrainingResult train();

  // Evaluates now: logs, prints, plots; the losses.
  Evaluation evaluate();
  // Samples now: logs and prints the text (newlines shown as ↵).
  void sample();
  // Saves a checkpoint now (after checking that the weights give a finite loss).
  void save();
  void plot();
  // Prints a line without breaking the progress bar (nothing when quiet, or on a rank but 0).
  void message(const std::string& line);
  // Whether this process writes the run's files and prints (rank 0).
  bool root() const { return comm_.root(); }

  MetricsLog& metrics() { return metrics_; }
  const TrainingRun& run() const { return run_; }
  int64_t step() const { return step_; }
  int64_t seen() const { return seen_; }
  int64_t total_steps() const { return total_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  uint64_t epoch() const { return epoch_; }       // of the next micro-batch (0-based)
  uint64_t next_batch() const { return index_; }  // its index in that epoch
  bool evaluated_last_step() const { return evaluated_step_ == step_; }
  double elapsed() const;
  const char* seen_key() const { return run_.unit == SeenUnit::Tokens ? "tokens_seen" : "examples_seen"; }

 private:
  float lr_at(double elapsed) const;
  void train_step();
  nlohmann::json trainer_state() const;
  // elapsed() as every rank sees it: rank 0's at the last step (so the ranks stop together).
  double clock() const { return comm_.distributed() ? agreed_elapsed_ : elapsed(); }

  GPT& model_;
  const Tokenizer& tok_;
  TrainingTask& task_;
  TrainingRun run_;
  Communicator& comm_;
  std::unique_ptr<GradientSync> sync_;  // data-parallel runs only
  AdamW opt_;
  LrSchedule sched_;
  MetricsLog metrics_;
  std::unique_ptr<Progress> progress_;
  int64_t total_ = 0, steps_per_epoch_ = 1, step_ = 0, seen_ = 0, evaluated_step_ = -1;
  uint64_t epoch_ = 0, index_ = 0;  // the next micro-batch
  uint64_t step_epoch_ = 0;         // the epoch the last step's batches came from
  bool time_based_ = false, stop_agreed_ = false;
  double elapsed_before_ = 0.0, t0_ = 0.0, agreed_elapsed_ = 0.0;
};

}  // namespace slm
