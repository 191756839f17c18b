// engine.cpp — the one training loop, chapter 5.2's train_model_simple (see engine.h).
#include "scratchlm/train/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// metrics.jsonl of a run: a new run starts it afresh, a resumed one appends (see the constructor).
MetricsLog open_metrics(const TrainingRun& run) {
  fs::create_directories(run.out_dir);
  const std::string path = (fs::path(run.out_dir) / "metrics.jsonl").string();
  std::error_code ec;
  if (run.resume.empty()) fs::remove(path, ec);
  return MetricsLog(path);
}

// One line of a log: newlines shown as ↵, so a sample never prints a wall of blank lines.
std::string one_line(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += "\u21b5";
    else if (c != '\r')
      out += c;
  }
  return out;
}

// The model's parameters, with gradients enabled for AdamW.
ParamStore& trainable_params(GPT& model) {
  model.enable_grads();
  return model.params();
}

}  // namespace

TrainingEngine::TrainingEngine(GPT& model, const Tokenizer& tok, TrainingTask& task, TrainingRun run)
    : model_(model),
      tok_(tok),
      task_(task),
      run_(std::move(run)),
      opt_(trainable_params(model), run_.adamw),
      metrics_(open_metrics(run_)),
      progress_(std::make_unique<Progress>(0)) {
  const int64_t per_epoch = task_.batches_per_epoch();
  if (per_epoch <= 0) fail_internal("a training task with no batches");
  steps_per_epoch_ = std::max<int64_t>(1, per_epoch / run_.grad_accum);
  total_ = run_.steps;
  if (run_.epochs > 0)
    total_ = total_ > 0 ? std::min(total_, run_.epochs * steps_per_epoch_) : run_.epochs * steps_per_epoch_;
  time_based_ = total_ == 0 && run_.max_time_s > 0;
  if (total_ == 0 && !time_based_) total_ = steps_per_epoch_;  // one epoch by default
  sched_ = LrSchedule{run_.adamw.lr, run_.min_lr >= 0 ? run_.min_lr : run_.adamw.lr / 10.0f, run_.warmup,
                      time_based_ ? run_.warmup + 1000000 : total_, run_.schedule};
  if (!run_.resume.empty()) {
    const nlohmann::json state = load_trainer_state(run_.resume);
    opt_.load_checkpoint_state(run_.resume);
    try {
      step_ = state.at("step").get<int64_t>();
      seen_ = state.value(seen_key(), int64_t{0});
      elapsed_before_ = state.value("elapsed_s", 0.0);
      const nlohmann::json& pos = state.contains("loader") ? state.at("loader") : state;  // older: top-level fields
      epoch_ = pos.at("epoch").get<uint64_t>();
      index_ = pos.at("batch").get<uint64_t>();
    } catch (const nlohmann::json::exception& e) {
      fail("{}/trainer.json: malformed trainer state ({})", run_.resume, e.what());
    }
    if (index_ >= static_cast<uint64_t>(per_epoch))
      fail(
          "{}/trainer.json: data position batch {} of epoch {} does not exist: an epoch has {} batches (was it saved "
          "with other data or options?)",
          run_.resume, index_, epoch_, per_epoch);
    step_epoch_ = epoch_;
    task_.restore(run_.resume, state);
    metrics_.truncate_after_step(step_);  // a run that went on past its last save redoes those steps
  }
}

double TrainingEngine::elapsed() const { return elapsed_before_ + (now_s() - t0_); }

float TrainingEngine::lr_at(double elapsed) const {
  if (time_based_ && step_ > run_.warmup)
    return sched_.at(run_.warmup + 1 + static_cast<int64_t>((elapsed / run_.max_time_s) * 1000000.0));
  return sched_.at(step_);
}

nlohmann::json TrainingEngine::trainer_state() const {
  nlohmann::json j = {
      {"format", run_.format},
      {"step", step_},
      {seen_key(), seen_},
      {"epoch", epoch_},
      {"loader", {{"epoch", epoch_}, {"batch", index_}}},
      {"steps_per_epoch", steps_per_epoch_},
      {"elapsed_s", elapsed()},
      {"rng",
       {{"seed", run_.seed}, {"order", "epoch_order(seed, epoch)"}, {"dropout", "counter-based: (seed, micro-step)"}}},
      {"config", model_.config().to_hf_json()},
      {"args", run_.args}};
  j.update(task_.checkpoint_fields());
  return j;
}

void TrainingEngine::message(const std::string& line) {
  if (!run_.quiet) progress_->message(line);
}

void TrainingEngine::plot() {
  write_loss_plot(metrics_.records(), (fs::path(run_.out_dir) / "loss.svg").string(), run_.title);
}

Evaluation TrainingEngine::evaluate() {
  model_.set_training(false);
  Evaluation ev = task_.evaluate();
  model_.set_training(true);
  nlohmann::json rec = {{"type", "eval"}, {"step", step_}, {seen_key(), seen_}, {"train_loss", ev.train_loss}};
  if (ev.has_val) rec["val_loss"] = ev.val_loss;
  rec.update(ev.extra);
  metrics_.write(rec);
  plot();
  evaluated_step_ = step_;
  message(fmt::format("step {} (epoch {}): train loss {:.3f}, {}{}", step_, step_epoch_ + 1, ev.train_loss,
                      ev.has_val ? fmt::format("val loss {:.3f}", ev.val_loss) : std::string("no validation split"),
                      ev.note));
  return ev;
}

void TrainingEngine::sample() {
  model_.set_training(false);
  const std::string text = task_.sample();
  model_.set_training(true);
  if (text.empty()) return;
  metrics_.write({{"type", "sample"}, {"step", step_}, {"epoch", step_epoch_ + 1}, {"text", text}});
  message("sample: " + one_line(text));
}

void TrainingEngine::save() {
  // The weights must give a finite loss before they replace the last good checkpoint: a huge
  // learning rate can leave finite weights that overflow at the next forward pass.
  model_.set_training(false);
  const std::optional<double> check = task_.recheck_last_batch();
  model_.set_training(true);
  if (check && !std::isfinite(*check))
    fail_non_finite(fmt::format("the weights after step {} give a loss of {}", step_, unsigned_nan(*check)),
                    run_.checkpoint_dir);
  OptimizerState os = opt_.checkpoint_state();
  os.extra = task_.checkpoint_tensors();
  save_checkpoint(run_.checkpoint_dir, model_, &os, &tok_, trainer_state());
}

void TrainingEngine::train_step() {
  ++step_;
  const double ts = now_s();
  const float lr = lr_at(elapsed());
  step_epoch_ = epoch_;
  model_.zero_grad();
  double loss = 0.0;
  int64_t step_seen = 0;
  const int64_t per_epoch = task_.batches_per_epoch();
  for (int64_t k = 0; k < run_.grad_accum; ++k) {
    model_.set_dropout_seed(run_.seed, static_cast<uint64_t>((step_ - 1) * run_.grad_accum + k));
    loss += task_.train_batch(epoch_, index_, 1.0f / static_cast<float>(run_.grad_accum), step_seen);
    if (++index_ == static_cast<uint64_t>(per_epoch)) {
      index_ = 0;
      ++epoch_;
    }
  }
  loss /= static_cast<double>(run_.grad_accum);
  static const int64_t nan_at_for_tests = test_hook_step("SLM_TEST_NAN_AT_STEP");
  if (nan_at_for_tests && step_ == nan_at_for_tests) loss = std::nan("");
  const double norm = clip_grad_norm(model_.params(), run_.grad_clip);
  if (!std::isfinite(loss) || !std::isfinite(norm))
    fail_non_finite(
        fmt::format("the loss became {} at step {} (gradient norm {})", unsigned_nan(loss), step_, unsigned_nan(norm)),
        run_.checkpoint_dir);
  opt_.step(lr);
  seen_ += step_seen;
  const double rate = static_cast<double>(step_seen) / std::max(now_s() - ts, 1e-9);
  const std::string rate_key = run_.unit == SeenUnit::Tokens ? "tokens_per_second" : "examples_per_second";
  metrics_.write({{"type", "step"},
                  {"step", step_},
                  {"epoch", step_epoch_ + 1},
                  {seen_key(), seen_},
                  {"loss", loss},
                  {"lr", lr},
                  {"grad_norm", norm},
                  {rate_key, rate},
                  {"elapsed_s", elapsed()}});
  if (!run_.quiet)
    progress_->update(step_, fmt::format("ep {} | loss {:.4f} | lr {:.2e} | gnorm {:.2f} | {:.0f} {}", step_epoch_ + 1,
                                         loss, lr, norm, rate, run_.unit == SeenUnit::Tokens ? "tok/s" : "ex/s"));
}

TrainingResult TrainingEngine::train() {
  StopSignals signals;
  progress_ = std::make_unique<Progress>(time_based_ ? 0 : total_);
  progress_->set_label("step");
  progress_->set_initial(step_);
  model_.set_training(true);
  t0_ = now_s();
  if (run_.resume.empty() && run_.eval_every > 0) evaluate();  // the starting point of the loss curves
  TrainingResult res;
  while ((time_based_ || step_ < total_) && !(run_.max_time_s > 0 && elapsed() >= run_.max_time_s)) {
    const uint64_t epoch_before = epoch_;
    train_step();
    if (run_.eval_every > 0 && step_ % run_.eval_every == 0) evaluate();
    if (run_.sample_every > 0 && step_ % run_.sample_every == 0) sample();
    for (uint64_t e = epoch_before; e < epoch_; ++e) task_.end_epoch(*this, e);
    if (run_.save_every > 0 && step_ % run_.save_every == 0) save();
    if (stop_signal() || (run_.stop_at > 0 && step_ == run_.stop_at)) {
      res.interrupted = true;
      break;
    }
  }
  if (!run_.quiet) progress_->finish();
  res.steps = step_;
  res.elapsed_s = elapsed();
  return res;
}

}  // namespace slm
