// checkpoint.h — training checkpoints (chapter 5.4, saving and loading for resumption): a
// Hugging Face model directory (config.json, model.safetensors, vocab.json + merges.txt) plus
// optimizer.safetensors (AdamW's m and v for each trainable parameter, and its step count) and
// trainer.json (step, epoch, data position, RNG states, config, arguments).
//
// A checkpoint owns only those files (checkpoint_files()); everything else in DIR — metrics,
// plots, the user's own files, subdirectories, symlinks, DIR's mode — is never touched.
// Saving is atomic for the checkpoint as a whole, with a redo log:
//   1. the new files are written into DIR/.slm-save-PID (staging) and fsynced;
//   2. staging is renamed to DIR/.slm-commit (the commit point: one atomic rename);
//   3. the files are renamed from .slm-commit into DIR one by one (trainer.json last) and the
//      owned files the new checkpoint lacks are removed; then .slm-commit is removed.
// A crash before 2 leaves the old checkpoint (the staging folder is removed at the next save or
// load); a crash after 2 is rolled forward by the next save or load_trainer_state.
// Before anything is written, the weights and AdamW state must be finite: a non-finite state
// never replaces a good checkpoint.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "scratchlm/model/params.h"

namespace slm {

class GPT;
class Tokenizer;

// A tensor a training task keeps in its checkpoint (e.g. the classifier's best weights so far).
struct CheckpointTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// An optimizer's state as a checkpoint stores it: m and v laid out like the store's gradient
// buffer (entries of non-trainable parameters are absent) and the step count; plus the task's own
// tensors (saved as "extra.NAME" beside m and v, so they commit with the rest).
struct OptimizerState {
  const float* m = nullptr;
  const float* v = nullptr;
  size_t n = 0;  // entries of m and of v
  int64_t steps = 0;
  std::vector<CheckpointTensor> extra;
  // Instead of m and v (both null): the state produced piece by piece while it is written — for
  // `which` 0 (m) or 1 (v), elements [first, first + count) of the gradient-buffer layout into dst
  // (a data-parallel run's shards, gathered on rank 0 without the whole state in memory).
  std::function<void(int which, size_t first, size_t count, float* dst)> gather;
};

// Save model (+ optimizer state when non-null, + tokenizer when non-null) and trainer_state to
// dir. BadInput error, writing nothing, when a weight or moment is NaN or infinite.
void save_checkpoint(const std::string& dir, const GPT& model, const OptimizerState* optimizer,
                     const Tokenizer* tokenizer, const nlohmann::json& trainer_state);

// The names of the files a checkpoint owns in its directory, trainer.json last (the order a save
// moves them in).
const std::vector<std::string>& checkpoint_files();

// Before a training run starts: `dir` (--out) is created if missing, must be a directory this
// process can write to, and must be empty or hold only what ScratchLM's trainers write
// (run_output_names(): a checkpoint, metrics, plots, splits, adapters...), unless `force`. Each
// failure is a one-line BadInput error naming the directory, so nothing is trained for nothing.
void check_output_dir(const std::string& dir, bool force);
const std::vector<std::string>& run_output_names();

// Read DIR/trainer.json (BadInput error naming the file if missing or malformed), after finishing
// an interrupted save.
nlohmann::json load_trainer_state(const std::string& dir);

// Restore m, v (laid out like store's gradient buffer) and the step count from
// DIR/optimizer.safetensors; the store must have the same trainable parameters.
void load_optimizer_state(const std::string& dir, const ParamStore& store, float* m, float* v, int64_t& steps);

// Read the task tensor `name` (CheckpointTensor) of checkpoint DIR into out (BadInput when absent or
// of another size).
void load_checkpoint_tensor(const std::string& dir, const std::string& name, std::span<float> out);

// Finish (roll forward) or discard an interrupted save in dir.
void recover_checkpoint(const std::string& dir);

}  // namespace slm
