// classifier_trainer.h — classification finetuning (chapter 6.3 data set-up and 6.7
// train_classifier_simple): load labeled texts, balance and split them as the book, turn a
// pretrained model into a classifier, train the chosen layers with AdamW, evaluate loss every few
// steps and accuracy every epoch, write metrics.jsonl + loss.svg + accuracy.svg, and save the
// result as a Hugging Face GPT2ForSequenceClassification directory with the splits beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scratchlm/data/labeled_data.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/config.h"
#include "scratchlm/train/loop_options.h"

namespace slm {

// The shared options (train/loop_options.h) with chapter 6's defaults, and the classifier's own.
struct ClassifierArgs : LoopOptions {
  ClassifierArgs() {
    epochs = 5;
    lr = 5e-5f;
    dropout = 0.0f;
    eval_every = 50;
  }
  std::string init_from, out_dir, tokenizer_dir;
  std::string resume;  // the checkpoint (OUT/checkpoint) this run continues
  // Data: one source that is balanced and split (data), or ready splits (train/val/test files).
  std::string data, train_file, val_file, test_file;
  LoadOptions load;
  bool balance = true;
  double train_frac = 0.7, val_frac = 0.1;
  std::vector<std::string> labels;  // class order; default: the sorted distinct training labels
  std::string trainable = "last-block";
  ClassifierToken token = ClassifierToken::Last;
  int64_t max_length = 0;                  // 0: the longest training text (as the book), at most the context length
  Truncation truncate = Truncation::Head;  // which tokens of a longer text to keep: head (the book), tail, head+tail
  // LoRA (appendix E): rank > 0 freezes the whole model and trains adapters on lora_targets
  // (default: every Linear layer including the new head, as the book); saved merged.
  int64_t lora_rank = 0;
  float lora_alpha = 0.0f;
  std::string lora_targets = "all";
  // Which weights to keep: "last" (the book: those after the final step) or "best-val" (after the
  // epoch with the highest accuracy on the whole validation split, lower validation loss on a tie;
  // measured at every epoch end, needs a validation split).
  std::string select = "last";
  // Only balance, split and write train/validation/test.csv to out_dir (needs data, not
  // init_from): e.g. to pretrain on the training texts first (slm pretrain --text-column).
  bool split_only = false;

  // The run's settings as trainer.json keeps them, and back (BadInput naming `source`).
  nlohmann::json to_json() const;
  static ClassifierArgs from_json(const nlohmann::json& j, const std::string& source);
};

struct ClassifierResult {
  int64_t steps = 0;
  bool interrupted = false;    // a signal or --stop-at: checkpoint saved, no final model
  int64_t selected_epoch = 0;  // the epoch whose weights were saved (the last one with select "last")
  double seconds = 0.0;
  double train_accuracy = 0.0, val_accuracy = 0.0, test_accuracy = 0.0;  // NaN for an empty split
  int64_t trainable_params = 0, total_params = 0;
};

ClassifierResult run_classifier_finetuning(const ClassifierArgs& args);

}  // namespace slm
