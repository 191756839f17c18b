// classifier_task.cpp — chapter 6.7's training as an engine task (see classifier_task.h).
#include "scratchlm/finetune/classifier_task.h"

#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <map>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/train/plot.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

ClassMetrics evaluate_classifier_ranks(GPT& model, const std::vector<EncodedText>& rows, int64_t batch, int32_t pad_id,
                                       int64_t max_batches) {
  Communicator& comm = Communicator::world();
  if (!comm.distributed()) return evaluate_classifier(model, rows, batch, pad_id, max_batches);
  int64_t n = static_cast<int64_t>(rows.size());
  if (max_batches > 0) n = std::min(n, max_batches * global_batch(batch));
  const int64_t K = model.config().num_labels;
  std::vector<int> counts;
  for (int r = 0; r < comm.size(); ++r) {
    const auto [lo, hi] = even_part(n, r, comm.size());
    counts.push_back(static_cast<int>((hi - lo) * K));
  }
  const auto [lo, hi] = even_part(n, comm.rank(), comm.size());
  const std::vector<EncodedText> mine(rows.begin() + lo, rows.begin() + hi);
  const std::vector<float> p = predict_proba(model, mine, batch, pad_id);
  const std::vector<EncodedText> all(rows.begin(), rows.begin() + n);
  return classification_metrics(comm.allgatherv(p.data(), counts), all, K);
}

void slice_class_batch(const ClassBatch& from, int64_t e0, int64_t e1, ClassBatch& to) {
  const int64_t r0 = from.row_start[static_cast<size_t>(e0)], r1 = from.row_start[static_cast<size_t>(e1)];
  to.B = r1 - r0;
  to.T = from.T;
  to.E = e1 - e0;
  to.tokens.assign(from.tokens.begin() + r0 * from.T, from.tokens.begin() + r1 * from.T);
  to.row_start.clear();
  for (int64_t e = e0; e <= e1; ++e) to.row_start.push_back(static_cast<int32_t>(from.row_start[e] - r0));
  to.read_from.assign(from.read_from.begin() + r0, from.read_from.begin() + r1);
  to.read_to.assign(from.read_to.begin() + r0, from.read_to.begin() + r1);
  to.labels.assign(from.labels.begin() + e0, from.labels.begin() + e1);
}

ClassifierTask::ClassifierTask(GPT& model, const std::vector<EncodedText>& train, const std::vector<EncodedText>& val,
                               Options o)
    : model_(model), train_(train), val_(val), o_(std::move(o)), batches_(train, global_batch(o_.batch), o_.seed) {}

double ClassifierTask::train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) {
  double share = 1.0;  // of the global micro-batch's loss (a mean over its examples): this rank's examples
  if (global_batch(o_.batch) == o_.batch) {
    make_class_batch(batches_.rows(epoch, index), o_.pad, o_.token, o_.max_len, o_.ctx, cb_);
    model_.next_dropout_rows(0, cb_.B);
  } else {  // the global batch, padded as one process pads it, and this rank's examples of it
    make_class_batch(batches_.rows(epoch, index), o_.pad, o_.token, o_.max_len, o_.ctx, global_);
    const auto [e0, e1] = rank_rows(global_.E, o_.batch);
    slice_class_batch(global_, e0, e1, cb_);
    model_.next_dropout_rows(global_.row_start[static_cast<size_t>(e0)], global_.B);
    share = static_cast<double>(e1 - e0) / static_cast<double>(global_.E);
  }
  const double loss = model_.classify(cb_, nullptr, true, true, grad_scale * static_cast<float>(share));
  model_.backward();
  seen += cb_.E;
  return loss * share;
}

std::optional<double> ClassifierTask::recheck_last_batch() {
  if (cb_.E == 0) return std::nullopt;
  return model_.classify(cb_, nullptr, true, false);
}

Evaluation ClassifierTask::evaluate() {
  Evaluation ev;
  const ClassMetrics t = metrics_of(train_, o_.eval_batches), v = metrics_of(val_, o_.eval_batches);
  ev.train_loss = t.loss;
  ev.val_loss = v.loss;
  ev.has_val = !val_.empty();
  ev.extra["train_accuracy"] = t.accuracy;
  if (ev.has_val) ev.extra["val_accuracy"] = v.accuracy;
  ev.note = ev.has_val ? fmt::format(" | accuracy {:.2f}% / {:.2f}%", 100 * t.accuracy, 100 * v.accuracy)
                       : fmt::format(" | accuracy {:.2f}%", 100 * t.accuracy);
  return ev;
}

void ClassifierTask::end_epoch(TrainingEngine& engine, uint64_t e) {
  const int64_t epoch = static_cast<int64_t>(e) + 1;
  const double ta = metrics_of(train_, o_.eval_batches).accuracy, va = metrics_of(val_, o_.eval_batches).accuracy;
  model_.set_training(true);
  nlohmann::json rec = {{"type", "epoch"}, {"step", engine.step()}, {engine.seen_key(), engine.seen()},
                        {"epoch", epoch},  {"train_accuracy", ta},  {"val_accuracy", va}};
  std::string msg = fmt::format("epoch {}: training accuracy {:.2f}% | validation accuracy {:.2f}% (first {} batches)",
                                epoch, 100 * ta, 100 * va, o_.eval_batches);
  if (o_.select_best) {
    const ClassMetrics full = evaluate_classifier_ranks(model_, val_, o_.batch, o_.pad);
    model_.set_training(true);
    const bool better = full.accuracy > best_acc_ || (full.accuracy == best_acc_ && full.loss < best_loss_);
    if (better) keep_best(epoch, full);
    rec["full_val_accuracy"] = full.accuracy;
    rec["full_val_loss"] = full.loss;
    rec["selected"] = better;
    msg += fmt::format(" | whole validation split {:.2f}%, loss {:.4f}{}", 100 * full.accuracy, full.loss,
                       better ? " (best so far, kept)" : "");
  }
  engine.metrics().write(rec);
  engine.message(msg);
  plot(engine);
}

nlohmann::json ClassifierTask::checkpoint_fields() const {
  return {{"best_val_accuracy", best_acc_}, {"best_val_loss", best_loss_}, {"selected_epoch", selected_epoch_}};
}

std::vector<CheckpointTensor> ClassifierTask::checkpoint_tensors() const {
  std::vector<CheckpointTensor> out;
  size_t k = 0;
  for (const auto& p : model_.params().params()) {
    if (!p.trainable || k >= best_weights_.size()) continue;
    out.push_back({"best." + p.name, p.shape, best_weights_[k].data()});
    ++k;
  }
  return out;
}

void ClassifierTask::restore(const std::string& dir, const nlohmann::json& state) {
  try {
    best_acc_ = state.value("best_val_accuracy", -1.0);
    best_loss_ = state.value("best_val_loss", 0.0);
    selected_epoch_ = state.value("selected_epoch", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    fail("{}/trainer.json: malformed best-epoch fields ({})", dir, e.what());
  }
  best_weights_.clear();
  if (!o_.select_best || selected_epoch_ == 0) return;
  for (const auto& p : model_.params().params()) {
    if (!p.trainable) continue;
    best_weights_.emplace_back(p.numel);
    load_checkpoint_tensor(dir, "best." + p.name, best_weights_.back());
  }
}

std::string ClassifierTask::data_digest() const {
  std::string out;
  for (const auto* xs : {&train_, &val_}) {
    std::vector<int32_t> flat;
    for (const auto& e : *xs)
      flat.push_back(e.label), flat.push_back(-2), flat.insert(flat.end(), e.ids.begin(), e.ids.end());
    out +=
        fmt::format("{:016x}/", digest_values(flat.size(), [&](size_t i) { return static_cast<uint32_t>(flat[i]); }));
  }
  return out;
}

void ClassifierTask::plot(TrainingEngine& engine) const {
  if (!engine.root()) return;
  engine.plot();
  write_file_atomic((fs::path(o_.out_dir) / "accuracy.svg").string(), plot_accuracy_svg(engine.metrics().records()));
}

void ClassifierTask::restore_best() {
  if (best_weights_.empty()) fail_internal("--select best-val: no best epoch was kept");
  size_t k = 0;
  for (const auto& p : model_.params().params()) {
    if (!p.trainable) continue;
    std::copy(best_weights_[k].begin(), best_weights_[k].end(), model_.params().data_all() + p.offset);
    ++k;
  }
  model_.refresh_bf16();  // --precision bf16: the copies of the restored weights
}

ClassMetrics ClassifierTask::metrics_of(const std::vector<EncodedText>& rows, int64_t batches) {
  if (rows.empty()) {
    ClassMetrics none;
    none.loss = none.accuracy = std::nan("");
    return none;
  }
  return evaluate_classifier_ranks(model_, rows, o_.batch, o_.pad, batches);
}

void ClassifierTask::keep_best(int64_t epoch, const ClassMetrics& m) {
  best_acc_ = m.accuracy;
  best_loss_ = m.loss;
  selected_epoch_ = epoch;
  best_weights_.clear();
  for (const auto& p : model_.params().params()) {
    const float* w = model_.params().data_all() + p.offset;
    if (p.trainable) best_weights_.emplace_back(w, w + p.numel);
  }
}

}  // namespace slm
