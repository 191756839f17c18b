// classifier_task.h — chapter 6.7's train_classifier_simple as a task of the training engine
// (train/engine.h): batches of texts read as the classifier reads them, the loss and accuracy on
// the cadence, the accuracy after every epoch, and with --select best-val the weights of the best
// epoch (kept in memory and in the checkpoint, so a resumed run selects as a straight one would).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "scratchlm/data/epoch_order.h"
#include "scratchlm/finetune/classifier.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/train/engine.h"

namespace slm {

// evaluate_classifier (classifier.h) across data-parallel ranks: each predicts its part of the
// examples (max_batches counts batches of ranks x `batch`), and every rank gets the metrics of
// them all. In one process it is evaluate_classifier itself.
ClassMetrics evaluate_classifier_ranks(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id,
                                       int64_t max_batches = 0);

// Examples [e0, e1) of a ClassBatch with their rows (a data-parallel rank's slice).
void slice_class_batch(const ClassBatch& from, int64_t e0, int64_t e1, ClassBatch& to);

class ClassifierTask : public TrainingTask {
 public:
  struct Options {
    int64_t batch;
    int32_t pad;
    ClassifierToken token;
    int64_t max_len, ctx, eval_batches;
    uint64_t seed;
    bool select_best;
    std::string out_dir;
  };
  ClassifierTask(GPT& model, const std::vector<EncodedText>& train, const std::vector<EncodedText>& val, Options o);

  int64_t batches_per_epoch() const override { return batches_.batches_per_epoch(); }
  double train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) override;
  std::optional<double> recheck_last_batch() override;
  Evaluation evaluate() override;
  // The accuracy after each epoch (the book's, over --eval-batches batches), and --select best-val.
  void end_epoch(TrainingEngine& engine, uint64_t e) override;
  nlohmann::json checkpoint_fields() const override;
  std::vector<CheckpointTensor> checkpoint_tensors() const override;
  void restore(const std::string& dir, const nlohmann::json& state) override;
  std::string data_digest() const override;

  // loss.svg, and accuracy.svg: the training and validation accuracy of every evaluation and epoch
  // end (over --eval-batches batches) against steps.
  void plot(TrainingEngine& engine) const;
  // --select best-val: the weights of the best epoch back into the model.
  void restore_best();
  int64_t selected_epoch() const { return selected_epoch_; }
  double best_accuracy() const { return best_acc_; }

 private:
  // Loss and accuracy over the first `batches` batches of rows (NaN for an empty split).
  ClassMetrics metrics_of(const std::vector<EncodedText>& rows, int64_t batches);
  // The trainable weights after the best epoch so far (frozen ones never change).
  void keep_best(int64_t epoch, const ClassMetrics& m);

  GPT& model_;
  const std::vector<EncodedText>& train_;
  const std::vector<EncodedText>& val_;
  Options o_;
  EpochBatches<EncodedText> batches_;
  ClassBatch cb_, global_;
  std::vector<std::vector<float>> best_weights_;
  double best_acc_ = -1.0, best_loss_ = 0.0;
  int64_t selected_epoch_ = 0;
};

}  // namespace slm
