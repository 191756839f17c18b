// engine.cpp — the one training loop, chapter 5.2's train_model_simple (see engine.h).
#include "scratchlm/train/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

#include "scratchlm/io/checkpoint.h"
#include "scratchlm/kernels/dropout.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/train/plot.h"
#include "scratchlm/train/sharded_state.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// metrics.jsonl of a run: a new run starts it afresh, a resumed one appends (see the constructor).
// Ranks other than 0 keep their records in memory.
MetricsLog open_metrics(const TrainingRun& run, bool root) {
  if (!root) return MetricsLog("");
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

// Enables the model's gradients (for AdamW); with several ranks, their sum across the ranks.
std::unique_ptr<GradientSync> make_sync(GPT& model, Communicator& comm, int zero) {
  model.enable_grads();
  if (!comm.distributed()) return nullptr;
  if (zero < 0 || zero > 1) fail("--zero must be 0 or 1, not {}", zero);
  return std::make_unique<GradientSync>(model.params(), comm, model.config().n_layers, zero == 1);
}

// A hash of the model's weights (equal on every rank of a run).
uint64_t weights_hash(const GPT& model) {
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(model.params().data_all());
  const int64_t n = static_cast<int64_t>(model.params().numel());
  uint64_t h = 0;
#pragma omp parallel for reduction(+ : h) schedule(static)
  for (int64_t i = 0; i < n; ++i) h += fmix64(bits[i] + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
  return h;
}

}  // namespace

std::pair<int64_t, int64_t> rank_rows(int64_t rows, int64_t per_rank) {
  const Communicator& c = Communicator::world();
  if (!c.distributed()) return {0, rows};
  return {std::min<int64_t>(c.rank() * per_rank, rows), std::min<int64_t>((c.rank() + 1) * per_rank, rows)};
}

int64_t global_batch(int64_t batch) { return batch * Communicator::world().size(); }

TrainingEngine::TrainingEngine(GPT& model, const Tokenizer& tok, TrainingTask& task, TrainingRun run)
    : model_(model),
      tok_(tok),
      task_(task),
      run_(std::move(run)),
      comm_(Communicator::world()),
      sync_(make_sync(model, comm_, run_.zero)),
      opt_(model.params(), run_.adamw(), sync_ ? sync_->shard_begin() : 0, sync_ ? sync_->shard_end() : SIZE_MAX),
      metrics_(open_metrics(run_, comm_.root())),
      progress_(std::make_unique<Progress>(0)) {
  if (!comm_.root()) run_.quiet = true;
  model_.set_precision(run_.precision);
  const int64_t per_epoch = task_.batches_per_epoch();
  if (per_epoch <= 0) fail_internal("a training task with no batches");
  steps_per_epoch_ = std::max<int64_t>(1, per_epoch / run_.grad_accum);
  total_ = run_.steps;
  if (run_.epochs > 0)
    total_ = total_ > 0 ? std::min(total_, run_.epochs * steps_per_epoch_) : run_.epochs * steps_per_epoch_;
  time_based_ = total_ == 0 && run_.max_time_s > 0;
  if (total_ == 0 && !time_based_) total_ = steps_per_epoch_;  // one epoch by default
  sched_ = LrSchedule{run_.lr, run_.min_lr >= 0 ? run_.min_lr : run_.lr / 10.0f, run_.warmup,
                      time_based_ ? run_.warmup + 1000000 : total_, run_.schedule};
  if (!run_.resume.empty()) {
    const nlohmann::json state = run_.resumed_state.is_null() ? load_trainer_state(run_.resume) : run_.resumed_state;
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
  agreed_elapsed_ = elapsed_before_;
  if (comm_.distributed()) {
    // Every rank prepared the same run (else the job ends here, with the failing rank's message).
    comm_.agree(fmt::format("{} batches per epoch of data {}, {} parameters (weights {:016x}), step {}", per_epoch,
                            task_.data_digest(), model_.params().numel(), weights_hash(model_), step_),
                "other data or another model");
    comm_.set_running(true);
    model_.set_backward_hook([this](int64_t stage) { sync_->ready(stage); });
  }
}

TrainingEngine::~TrainingEngine() {
  if (sync_) model_.set_backward_hook(nullptr);
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
       {{"seed", run_.seed}, {"order", "epoch_order(seed, epoch)"}, {"dropout", "counter-based: (seed, step, row)"}}},
      {"config", model_.config().to_hf_json()},
      {"args", run_.args}};
  j.update(task_.checkpoint_fields());
  return j;
}

void TrainingEngine::message(const std::string& line) {
  if (!run_.quiet) progress_->message(line);
}

void TrainingEngine::plot() {
  if (!comm_.root()) return;
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
  if (!comm_.root()) return;
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
  std::optional<double> check = task_.recheck_last_batch();
  model_.set_training(true);
  if (comm_.distributed()) {  // any rank's slice
    double bad = check && !std::isfinite(*check) ? 1.0 : 0.0;
    comm_.allreduce_sum(&bad, 1);
    if (bad > 0 && !(check && !std::isfinite(*check))) check = std::nan("");
  }
  if (check && !std::isfinite(*check))
    fail_non_finite(fmt::format("the weights after step {} give a loss of {}", step_, unsigned_nan(*check)),
                    run_.checkpoint_dir);
  if (comm_.distributed()) {
    const std::vector<std::string> hashes = comm_.allgather_string(fmt::format("{:016x}", weights_hash(model_)));
    for (size_t r = 1; r < hashes.size(); ++r)
      if (hashes[r] != hashes[0]) fail_internal("the weights of rank {} differ from rank 0's after step {}", r, step_);
  }
  auto write = [&](const OptimizerState& os) {
    OptimizerState full = os;
    full.extra = task_.checkpoint_tensors();
    save_checkpoint(run_.checkpoint_dir, model_, &full, &tok_, trainer_state());
  };
  if (opt_.sharded()) {  // m and v gathered on rank 0 piece by piece as the file is written
    ShardedStateGather(comm_, opt_.m().data(), opt_.v().data(), sync_->shard_counts(), sync_->shard_displs())
        .run(opt_.checkpoint_state(), write);
    return;
  }
  if (comm_.root()) write(opt_.checkpoint_state());
}

void TrainingEngine::train_step() {
  ++step_;
  const double ts = now_s();
  const float lr = lr_at(clock());
  const double wait0 = comm_.totals().wait_s;
  step_epoch_ = epoch_;
  model_.zero_grad();
  double loss = 0.0;
  int64_t step_seen = 0;
  const int64_t per_epoch = task_.batches_per_epoch();
  model_.set_dropout_seed(run_.seed, static_cast<uint64_t>(step_ - 1));  // the tasks count the rows
  for (int64_t k = 0; k < run_.grad_accum; ++k) {
    if (sync_) sync_->arm(k + 1 == run_.grad_accum);
    loss += task_.train_batch(epoch_, index_, 1.0f / static_cast<float>(run_.grad_accum), step_seen);
    if (++index_ == static_cast<uint64_t>(per_epoch)) {
      index_ = 0;
      ++epoch_;
    }
  }
  double wait_mean = 0.0;
  if (sync_) {
    // The gradients' sum, then the step's loss and counts over the ranks, whether one of them got
    // a stop signal, and rank 0's clock (so that every rank stops after the same step).
    sync_->finish();
    const int R = comm_.size();
    double s[5] = {loss, static_cast<double>(step_seen), stop_signal() ? 1.0 : 0.0, comm_.root() ? elapsed() : 0.0,
                   comm_.totals().wait_s - wait0};
    comm_.allreduce_sum(s, 5);
    loss = s[0];
    step_seen = std::llround(s[1]);
    stop_agreed_ = s[2] > 0;
    agreed_elapsed_ = s[3];
    wait_mean = s[4] / R;
  }
  loss /= static_cast<double>(run_.grad_accum);
  static const int64_t nan_at_for_tests = test_hook_step("SLM_TEST_NAN_AT_STEP");
  if (nan_at_for_tests && step_ == nan_at_for_tests) loss = std::nan("");
  const double norm = sync_ && sync_->zero() ? sync_->norm_of_shards() : grad_norm(model_.params());
  if (!std::isfinite(loss) || !std::isfinite(norm))
    fail_non_finite(
        fmt::format("the loss became {} at step {} (gradient norm {})", unsigned_nan(loss), step_, unsigned_nan(norm)),
        run_.checkpoint_dir);
  // --precision bf16: AdamW rounds the bf16 copies of the weights it updates as it writes them;
  // under ZeRO the other shards' weights arrive by the gather, and the copies are rounded after it.
  const bool zero = sync_ && sync_->zero();
  opt_.step(lr, zero ? nullptr : model_.bf16_weights(), clip_factor(norm, run_.grad_clip));  // clipped as read
  if (zero) {
    sync_->gather_params();
    model_.refresh_bf16();
  }
  seen_ += step_seen;
  const double rate = static_cast<double>(step_seen) / std::max(now_s() - ts, 1e-9);
  const std::string rate_key = run_.unit == SeenUnit::Tokens ? "tokens_per_second" : "examples_per_second";
  nlohmann::json rec = {{"type", "step"},    {"step", step_},  {"epoch", step_epoch_ + 1},
                        {seen_key(), seen_}, {"loss", loss},   {"lr", lr},
                        {"grad_norm", norm}, {rate_key, rate}, {"elapsed_s", elapsed()}};
  std::string comm_note;
  if (sync_) {  // rank 0's traffic (every rank's is the same) and the ranks' mean wait for the gradients
    const CommStats cs = comm_.take_stats();
    rec["ranks"] = comm_.size();
    rec["comm_sent_bytes"] = cs.bytes_sent, rec["comm_received_bytes"] = cs.bytes_received;
    rec["comm_wait_s"] = cs.wait_s, rec["comm_grad_wait_mean_s"] = wait_mean;
    comm_note = fmt::format(" | {} ranks, {:.1f}/{:.1f} MB sent/received, wait {:.0f} ms", comm_.size(),
                            cs.bytes_sent / 1e6, cs.bytes_received / 1e6, cs.wait_s * 1e3);
  }
  metrics_.write(rec);
  if (!run_.quiet)
    progress_->update(
        step_, fmt::format("ep {} | loss {:.4f} | lr {:.2e} | gnorm {:.2f} | {:.0f} {}{}", step_epoch_ + 1, loss, lr,
                           norm, rate, run_.unit == SeenUnit::Tokens ? "tok/s" : "ex/s", comm_note));
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
  while ((time_based_ || step_ < total_) && !(run_.max_time_s > 0 && clock() >= run_.max_time_s)) {
    const uint64_t epoch_before = epoch_;
    train_step();
    if (run_.eval_every > 0 && step_ % run_.eval_every == 0) evaluate();
    if (run_.sample_every > 0 && step_ % run_.sample_every == 0) sample();
    for (uint64_t e = epoch_before; e < epoch_; ++e) task_.end_epoch(*this, e);
    if (run_.save_every > 0 && step_ % run_.save_every == 0) save();
    if ((sync_ ? stop_agreed_ : stop_signal() != 0) || (run_.stop_at > 0 && step_ == run_.stop_at)) {
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
