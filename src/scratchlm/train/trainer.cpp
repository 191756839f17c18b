// trainer.cpp — the pretraining loop (see trainer.h).
#include "scratchlm/train/trainer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "scratchlm/data/shards.h"
#include "scratchlm/data/window_dataset.h"
#include "scratchlm/generate/generator.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/file.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/train/progress.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// The book's calc_loss_loader: the mean of the first `max_batches` batch losses (all when <= 0).
double loader_loss(GPT& model, DataLoader& dl, int64_t max_batches) {
  int64_t n = static_cast<int64_t>(dl.batches_per_epoch());
  if (max_batches > 0) n = std::min(n, max_batches);
  if (n == 0) return std::nan("");
  Batch b;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    dl.batch_at(0, static_cast<uint64_t>(i), b);
    sum += model.forward(b.inputs.data(), b.targets.data(), static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols));
  }
  return sum / static_cast<double>(n);
}

std::string tokenizer_dir_for(const PretrainArgs& a) {
  if (!a.tokenizer_dir.empty()) return a.tokenizer_dir;
  for (const std::string& d : {a.resume, a.init_from})
    if (!d.empty() && fs::exists(fs::path(d) / "vocab.json") && fs::exists(fs::path(d) / "merges.txt")) return d;
  return default_tokenizer_dir();
}

}  // namespace

nlohmann::json PretrainArgs::to_json() const {
  return {{"init_from", init_from}, {"data", data}, {"text_column", text_column}, {"lossy", lossy},
          {"val_fraction", val_fraction}, {"epochs", epochs}, {"steps", steps}, {"max_time_s", max_time_s}, {"batch", batch},
          {"grad_accum", grad_accum}, {"seq", seq}, {"stride", stride}, {"lr", lr}, {"min_lr", min_lr},
          {"warmup", warmup}, {"schedule", schedule_name(schedule)}, {"weight_decay", weight_decay},
          {"betas", {beta1, beta2}}, {"grad_clip", grad_clip}, {"decay", decay == DecayMode::All ? "all" : "matrices"},
          {"dropout", dropout}, {"eval_every", eval_every}, {"eval_batches", eval_batches},
          {"sample_every", sample_every}, {"save_every", save_every}, {"sample_prompt", sample_prompt},
          {"sample_tokens", sample_tokens}, {"seed", seed}, {"init", init}, {"tokenizer_dir", tokenizer_dir}};
}

void PretrainArgs::validate() const {
  require_positive("--batch", batch);
  require_positive("--grad-accum", grad_accum);
  require_non_negative("--seq", seq);
  require_non_negative("--stride", stride);
  require_non_negative("--epochs", epochs);
  require_non_negative("--steps", steps);
  require_non_negative("--stop-at", stop_at);
  require_non_negative("--warmup", warmup);
  require_non_negative("--eval-every", eval_every);
  require_non_negative("--eval-batches", eval_batches);
  require_non_negative("--sample-every", sample_every);
  require_non_negative("--sample-tokens", sample_tokens);
  require_non_negative("--save-every", save_every);
  require_positive_finite("--lr", lr);
  if (min_lr != -1.0f) require_non_negative_finite("--min-lr", min_lr);
  require_non_negative_finite("--weight-decay", weight_decay);
  require_non_negative_finite("--grad-clip", grad_clip);
  require_fraction("--betas (first)", beta1);
  require_fraction("--betas (second)", beta2);
  if (dropout != -1.0f) require_fraction("--dropout", dropout);
  if (!(val_fraction >= 0 && val_fraction < 1)) fail("--val-fraction must be in [0, 1), got {}", val_fraction);
  if (data.empty()) fail("no training data: give --data CORPUS...");
}

PretrainResult run_pretraining(const PretrainArgs& a) {
  a.validate();
  const int threads = configure_threads(a.threads);
  const bool resuming = !a.resume.empty();
  const std::string out = a.out_dir.empty() ? a.resume : a.out_dir;
  if (out.empty()) fail("give --out DIR");
  if (!resuming && fs::exists(fs::path(out) / "trainer.json") && !a.force)
    fail("'{}' already holds a training checkpoint: continue it with --resume {}, choose another --out, or add --force "
         "to start over in it", out, out);
  check_output_dir(out, a.force || resuming);

  // ---- model
  std::unique_ptr<GPT> model;
  nlohmann::json state;
  if (resuming) {
    state = load_trainer_state(a.resume);
    model = load_hf_model(a.resume, true);
  } else if (!a.init_from.empty()) {
    model = load_hf_model(a.init_from);
  } else if (a.config) {
    model = std::make_unique<GPT>(*a.config);
    if (a.init == "gpt2") model->init_weights(a.seed);
    else if (a.init == "torch") model->init_weights_torch_default(a.seed);
    else fail("--init must be gpt2 or torch, not '{}'", a.init);
  } else {
    fail("give --config NAME, --init-from DIR or --resume DIR");
  }
  if (a.dropout >= 0.0f) model->set_drop_rate(a.dropout);
  const GPTConfig& cfg = model->config();
  const int64_t T = a.seq ? a.seq : cfg.context_length;
  if (T > cfg.context_length) fail("--seq {} exceeds the model's context length {}", T, cfg.context_length);

  // ---- data
  const std::string tok_dir = tokenizer_dir_for(a);
  Tokenizer tok = Tokenizer::load_dir(tok_dir);
  TokenArray tokens = tokenize_corpus_cached(a.data, tok, tokenizer_dir_id(tok_dir), "", a.lossy, threads, nullptr,
                                             a.text_column);
  if (tokens.empty()) fail("the training data is empty");
  if (tokens.max_id() >= static_cast<uint32_t>(cfg.vocab_size))
    fail("the tokenizer produces id {} but the model's vocabulary has {} entries", tokens.max_id(), cfg.vocab_size);
  TokenSplit split = split_tokens(tokens, a.val_fraction);
  DataLoader train(WindowDataset(split.train, static_cast<size_t>(T), static_cast<size_t>(a.stride)),
                   LoaderOptions{static_cast<size_t>(a.batch), true, a.seed, true});
  DataLoader train_eval(WindowDataset(split.train, static_cast<size_t>(T), static_cast<size_t>(a.stride)),
                        LoaderOptions{static_cast<size_t>(a.batch), false, 0, false});
  // Validation windows of T tokens; a validation split shorter than one window gets one shorter
  // window (a loss over fewer positions), one of fewer than 2 tokens none.
  const int64_t val_T = std::min<int64_t>(T, static_cast<int64_t>(split.val.size()) - 1);
  std::optional<DataLoader> val;
  if (val_T >= 1)
    val.emplace(WindowDataset(split.val, static_cast<size_t>(val_T), static_cast<size_t>(val_T)),
                LoaderOptions{static_cast<size_t>(a.batch), false, 0, false});
  if (train.batches_per_epoch() == 0)
    fail("not enough training tokens for one batch of {} x {} ({} tokens in the training split); lower --batch or --seq",
         a.batch, T, split.train.size());
  const int64_t steps_per_epoch = std::max<int64_t>(1, static_cast<int64_t>(train.batches_per_epoch()) / a.grad_accum);
  int64_t total = a.steps;
  if (!total && a.epochs) total = a.epochs * steps_per_epoch;
  const bool time_based = !total && a.max_time_s > 0;
  if (!total && !time_based) total = steps_per_epoch;  // one epoch by default
  LrSchedule sched{a.lr, a.min_lr >= 0 ? a.min_lr : a.lr / 10.0f, a.warmup, time_based ? a.warmup + 1000000 : total, a.schedule};

  // ---- optimizer and resumed state
  model->enable_grads();
  AdamWConfig ocfg;
  ocfg.lr = a.lr, ocfg.beta1 = a.beta1, ocfg.beta2 = a.beta2, ocfg.weight_decay = a.weight_decay, ocfg.decay = a.decay;
  AdamW opt(model->params(), ocfg);
  int64_t step = 0, tokens_seen = 0;
  double elapsed_before = 0.0;
  if (resuming) {
    opt.load_checkpoint_state(a.resume);
    try {
      step = state.at("step").get<int64_t>();
      tokens_seen = state.value("tokens_seen", int64_t{0});
      elapsed_before = state.value("elapsed_s", 0.0);
      train.set_state(LoaderState{state.at("loader").at("epoch").get<uint64_t>(), state.at("loader").at("batch").get<uint64_t>()});
    } catch (const nlohmann::json::exception& e) {
      fail("{}/trainer.json: malformed trainer state ({})", a.resume, e.what());
    }
  }
  fs::create_directories(out);
  const std::string metrics_path = (fs::path(out) / "metrics.jsonl").string();
  if (!resuming) {
    std::error_code ec;
    fs::remove(metrics_path, ec);
  }
  MetricsLog metrics(metrics_path);
  // Drop records written after the checkpoint (a run that went on past its last save).
  if (resuming) metrics.truncate_after_step(step);
  auto plot = [&] { write_loss_plot(metrics.records(), (fs::path(out) / "loss.svg").string(), "ScratchLM pretraining: " + out); };

  auto trainer_state = [&](double elapsed) {
    LoaderState ls = train.state();
    return nlohmann::json{{"format", "scratchlm-trainer/1"}, {"step", step}, {"tokens_seen", tokens_seen},
                          {"epoch", ls.epoch}, {"loader", {{"epoch", ls.epoch}, {"batch", ls.batch}}},
                          {"elapsed_s", elapsed}, {"rng", {{"seed", a.seed}, {"dropout", "counter-based: (seed, micro-step)"}}},
                          {"config", cfg.to_hf_json()}, {"args", a.to_json()}, {"tokenizer_dir", tok_dir}};
  };
  Batch b;
  auto save = [&](double elapsed) {
    require_finite_loss(*model, b.inputs.data(), b.targets.data(), static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols),
                        step, out);
    const OptimizerState os = opt.checkpoint_state();
    save_checkpoint(out, *model, &os, &tok, trainer_state(elapsed));
  };
  PretrainResult res;
  auto eval_text = [&](double tl, double vl) {
    return "train loss " + fmt_float("%.3f", tl) +
           (val ? ", val loss " + fmt_float("%.3f", vl) + " (perplexity " + fmt_float("%.1f", std::exp(vl)) + ")"
                : ", no validation split");
  };
  auto evaluate = [&] {
    model->set_training(false);
    const double tl = loader_loss(*model, train_eval, a.eval_batches);
    const double vl = val ? loader_loss(*model, *val, a.eval_batches) : std::nan("");
    model->set_training(true);
    nlohmann::json rec = {{"type", "eval"}, {"step", step}, {"tokens_seen", tokens_seen}, {"train_loss", tl},
                          {"train_perplexity", std::exp(tl)}};
    if (val) rec["val_loss"] = vl, rec["val_perplexity"] = std::exp(vl);
    metrics.write(rec);
    res.final_train_loss = tl, res.final_val_loss = vl;
    plot();
    return std::make_pair(tl, vl);
  };
  std::vector<int32_t> prompt_ids;
  for (uint32_t id : tok.encode(a.sample_prompt, SpecialMode::Allow)) prompt_ids.push_back(static_cast<int32_t>(id));
  auto sample = [&] {
    if (prompt_ids.empty()) return std::string();
    GenerateOptions g;
    g.max_new_tokens = a.sample_tokens;
    g.sampler.temperature = 0.0f;
    g.eos_id = tok.eot_id() ? static_cast<int32_t>(*tok.eot_id()) : -1;
    auto ids = generate(*model, prompt_ids, g);
    std::vector<uint32_t> all(prompt_ids.begin(), prompt_ids.end());
    all.insert(all.end(), ids.begin(), ids.end());
    std::string text = utf8_lossy(tok.decode(all));
    metrics.write({{"type", "sample"}, {"step", step}, {"text", text}});
    model->set_training(true);
    return text;
  };

  if (!a.quiet)
    std::fprintf(stderr, "pretraining %lld parameters on %zu tokens (%zu train / %zu val), %lld steps per epoch of %lld x %lld tokens%s\n",
                 (long long)model->params().numel(), tokens.size(), split.train.size(), split.val.size(),
                 (long long)steps_per_epoch, (long long)(a.batch * a.grad_accum), (long long)T,
                 resuming ? (", resuming at step " + std::to_string(step)).c_str() : "");
  if (!a.quiet && !val)
    std::fprintf(stderr, "no validation loss: the validation split has %zu tokens (raise --val-fraction for one)\n",
                 split.val.size());
  else if (!a.quiet && val_T < T)
    std::fprintf(stderr, "the validation split has %zu tokens, fewer than one window of %lld: validating on a window of %lld\n",
                 split.val.size(), (long long)T + 1, (long long)val_T);
  StopSignals signals;
  Progress progress(time_based ? 0 : total, ::isatty(STDERR_FILENO) != 0, stderr);
  model->set_training(true);
  const double t0 = now_s();
  bool evaluated_now = false;
  if (!resuming && a.eval_every > 0) evaluate();  // the starting point of the loss curves
  const int64_t nan_at_for_tests = test_hook_step("SLM_TEST_NAN_AT_STEP");
  while (true) {
    const double elapsed = elapsed_before + (now_s() - t0);
    if (!time_based && step >= total) break;
    if (a.max_time_s > 0 && elapsed >= a.max_time_s) break;
    ++step;
    float lr = sched.at(step);
    if (time_based && step > a.warmup)
      lr = sched.at(a.warmup + 1 + static_cast<int64_t>((elapsed / a.max_time_s) * 1000000.0));
    const double ts = now_s();
    model->zero_grad();
    double loss = 0.0;
    int64_t step_tokens = 0;
    for (int64_t k = 0; k < a.grad_accum; ++k) {
      train.next(b);
      model->set_dropout_seed(a.seed, static_cast<uint64_t>((step - 1) * a.grad_accum + k));
      loss += model->forward(b.inputs.data(), b.targets.data(), static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols),
                             true, 1.0f / static_cast<float>(a.grad_accum));
      model->backward();
      step_tokens += static_cast<int64_t>(b.rows * b.cols);
    }
    loss /= static_cast<double>(a.grad_accum);
    if (nan_at_for_tests && step == nan_at_for_tests) loss = std::nan("");  // test hook
    const double norm = clip_grad_norm(model->params(), a.grad_clip);
    if (!std::isfinite(loss) || !std::isfinite(norm))
      fail_non_finite(fmt::format("the loss became {} at step {} (gradient norm {})", unsigned_nan(loss), step, unsigned_nan(norm)), out);
    opt.step(lr);
    tokens_seen += step_tokens;
    const double dt = now_s() - ts, el = elapsed_before + (now_s() - t0);
    const double tps = static_cast<double>(step_tokens) / dt;
    const uint64_t epoch = train.state().epoch + 1;
    metrics.write({{"type", "step"}, {"step", step}, {"epoch", epoch}, {"tokens_seen", tokens_seen}, {"loss", loss},
                   {"lr", lr}, {"grad_norm", norm}, {"tokens_per_second", tps}, {"elapsed_s", el}});
    if (!a.quiet)
      progress.update(time_based ? step : step,
                      "ep " + std::to_string(epoch) + " | loss " + fmt_float("%.4f", loss) + " | lr " + fmt_float("%.2e", lr) +
                          " | gnorm " + fmt_float("%.2f", norm) + " | " + fmt_float("%.0f", tps) + " tok/s");
    evaluated_now = false;
    if (a.eval_every > 0 && step % a.eval_every == 0) {
      auto [tl, vl] = evaluate();
      evaluated_now = true;
      if (!a.quiet) progress.message("step " + std::to_string(step) + ": " + eval_text(tl, vl));
    }
    if (a.sample_every > 0 && step % a.sample_every == 0) {
      std::string text = sample();
      if (!a.quiet) progress.message("sample: " + text);
    }
    if (a.save_every > 0 && step % a.save_every == 0) save(elapsed_before + (now_s() - t0));
    if (stop_signal() || (a.stop_at > 0 && step == a.stop_at)) {
      res.interrupted = true;
      break;
    }
  }
  if (!a.quiet) progress.finish();
  if (!evaluated_now) {
    auto [tl, vl] = evaluate();
    if (!a.quiet) std::fprintf(stderr, "step %lld: %s\n", (long long)step, eval_text(tl, vl).c_str());
  }
  save(elapsed_before + (now_s() - t0));
  plot();
  res.steps_done = step;
  if (!a.quiet) std::fprintf(stderr, "%s checkpoint at step %lld in %s\n", res.interrupted ? "stopped early: saved" : "saved", (long long)step, out.c_str());
  return res;
}

}  // namespace slm
