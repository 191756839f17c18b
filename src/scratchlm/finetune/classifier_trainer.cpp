// classifier_trainer.cpp — classification finetuning, chapter 6.7 (see classifier_trainer.h).
#include "scratchlm/finetune/classifier_trainer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <numeric>

#include "scratchlm/data/epoch_order.h"
#include "scratchlm/finetune/classifier.h"
#include "scratchlm/finetune/lora.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/train/progress.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

LabeledSplit load_splits(const ClassifierArgs& a) {
  LabeledSplit s;
  if (!a.data.empty()) {
    if (!a.train_file.empty()) fail("give either --data (balanced and split here) or --train/--val/--test, not both");
    std::vector<LabeledExample> rows = load_labeled(a.data, a.load);
    if (label_set(rows).size() < 2)
      fail("'{}' has a single class ('{}'); a classifier needs at least two", a.data, rows.empty() ? "" : rows[0].label);
    std::vector<LabeledExample> unused;
    if (a.balance) rows = balance_undersample(rows, a.seed, &unused);
    s = split_labeled(rows, a.train_frac, a.val_frac, a.seed, true);
    s.unused = std::move(unused);
    return s;
  }
  if (a.train_file.empty()) fail("no training data: give --data SOURCE or --train FILE");
  s.train = load_labeled(a.train_file, a.load);
  if (!a.val_file.empty()) s.val = load_labeled(a.val_file, a.load);
  if (!a.test_file.empty()) s.test = load_labeled(a.test_file, a.load);
  return s;
}

}  // namespace

ClassifierResult run_classifier_finetuning(const ClassifierArgs& a) {
  require_positive("--batch", a.batch);
  require_non_negative("--epochs", a.epochs);
  require_non_negative("--eval-every", a.eval_every);
  require_non_negative("--eval-batches", a.eval_batches);
  require_non_negative("--max-steps", a.max_steps);
  require_non_negative("--max-length", a.max_length);
  require_non_negative("--lora-rank", a.lora_rank);
  require_positive_finite("--lr", a.lr);
  require_non_negative_finite("--weight-decay", a.weight_decay);
  require_non_negative_finite("--grad-clip", a.grad_clip);
  require_non_negative_finite("--lora-alpha", a.lora_alpha);
  require_fraction("--dropout", a.dropout);
  if (!is_classifier_token(a.token)) fail("--token must be last, last-position or mean, not '{}'", a.token);
  if (!is_truncation(a.truncate)) fail("--truncate must be head, tail or head+tail, not '{}'", a.truncate);
  if (a.select != "last" && a.select != "best-val") fail("--select must be last or best-val, not '{}'", a.select);
  if (a.split_only && a.data.empty()) fail("--split-only needs --data SOURCE to balance and split");
  if (a.init_from.empty() && !a.split_only) fail("give --init-from MODEL_DIR (a pretrained model to start from)");
  check_output_dir(a.out_dir, a.force);
  configure_threads(a.threads);
  const double t_start = now_s();

  // ---- data
  LabeledSplit split = load_splits(a);
  if (split.train.empty()) fail("the training split is empty");
  std::vector<std::string> labels = a.labels.empty() ? label_set(split.train) : a.labels;
  if (labels.size() < 2)
    fail("the training data has a single class ('{}'); a classifier needs at least two", labels.empty() ? "" : labels[0]);
  fs::create_directories(a.out_dir);
  if (!a.data.empty()) {  // the splits, so that the run can be reproduced and evaluated again
    write_labeled_csv((fs::path(a.out_dir) / "train.csv").string(), split.train);
    write_labeled_csv((fs::path(a.out_dir) / "validation.csv").string(), split.val);
    write_labeled_csv((fs::path(a.out_dir) / "test.csv").string(), split.test);
    // What balancing left out: labeled, but in no split, so it can be pretrained on without
    // touching validation or test. Removed when there is none, so a directory never mixes runs.
    const fs::path unused = fs::path(a.out_dir) / "unused.csv";
    if (!split.unused.empty()) write_labeled_csv(unused.string(), split.unused);
    else fs::remove(unused);
  }
  if (a.split_only) {
    if (!a.quiet) {
      std::printf("wrote %s/{train,validation,test}.csv: %zu / %zu / %zu examples\n", a.out_dir.c_str(),
                  split.train.size(), split.val.size(), split.test.size());
      if (!split.unused.empty())
        std::printf("wrote %s/unused.csv: the %zu examples that balancing left out\n", a.out_dir.c_str(),
                    split.unused.size());
    }
    return {};
  }

  // ---- model
  std::unique_ptr<GPT> base = load_hf_model(a.init_from);
  std::unique_ptr<GPT> model;
  if (base->config().is_classifier()) {  // continue finetuning a classifier
    if (base->config().id2label != labels) fail("'{}' is a classifier for other labels than the data's", a.init_from);
    model = std::move(base);
  } else {
    model = make_classifier(*base, labels, a.seed);
    base.reset();
  }
  const std::string tok_dir = tokenizer_dir_for_model(a.init_from, a.tokenizer_dir);
  Tokenizer tok = Tokenizer::load_dir(tok_dir);
  const int32_t pad = tok.eot_id() ? static_cast<int32_t>(*tok.eot_id()) : 50256;
  const int64_t ctx = model->config().context_length;
  if (a.max_length > classifier_length_limit(ctx, a.token))
    fail("--max-length {} exceeds the model's context length {} (--token mean reads longer texts in windows)", a.max_length, ctx);
  std::vector<EncodedText> train =
      encode_texts(tok, split.train, labels, a.max_length ? a.max_length : ctx, true, a.truncate);
  int64_t max_len = a.max_length;
  if (!max_len)  // the book: the longest training text
    for (const auto& e : train) max_len = std::max<int64_t>(max_len, static_cast<int64_t>(e.ids.size()));
  const std::vector<EncodedText> val = encode_texts(tok, split.val, labels, max_len, true, a.truncate);
  const std::vector<EncodedText> test = encode_texts(tok, split.test, labels, max_len, true, a.truncate);
  const bool select_best = a.select == "best-val";
  if (select_best && val.empty()) fail("--select best-val needs a validation split (--val FILE, or --data with --val-frac > 0)");
  model->set_classifier_input(max_len, a.token, a.truncate);
  model->set_drop_rate(a.dropout);
  if (a.lora_rank > 0) {
    model = add_lora(*model, parse_lora_targets(a.lora_targets, a.lora_rank, a.lora_alpha), a.seed);
  } else {
    if (a.lora_alpha != 0.0f) fail("--lora-alpha needs --lora-rank");
    set_classifier_trainable(*model, a.trainable);
  }
  model->enable_grads();
  AdamWConfig ocfg;
  ocfg.lr = a.lr, ocfg.weight_decay = a.weight_decay;
  AdamW opt(model->params(), ocfg);

  ClassifierResult res;
  res.trainable_params = static_cast<int64_t>(model->params().trainable_numel());
  for (const auto& p : model->params().params()) res.total_params += static_cast<int64_t>(p.numel);
  const int64_t steps_per_epoch = static_cast<int64_t>(train.size()) / a.batch;  // drop_last, as the book
  if (steps_per_epoch == 0) fail("{} training examples are fewer than one batch of {}", train.size(), a.batch);
  int64_t total = a.epochs * steps_per_epoch;
  if (a.max_steps > 0) total = std::min(total, a.max_steps);
  if (!a.quiet)
    std::fprintf(stderr,
                 "finetuning a %lld-class classifier (%s): %lld of %lld parameters train (%s); "
                 "%zu train / %zu val / %zu test texts, max length %lld tokens, %lld steps\n",
                 (long long)labels.size(), a.token == "last" ? "last real token" : a.token == "mean" ? "mean over tokens" : "last position",
                 (long long)res.trainable_params, (long long)res.total_params,
                 a.lora_rank > 0 ? ("LoRA rank " + std::to_string(a.lora_rank) + " on " + a.lora_targets).c_str()
                                 : ("--trainable " + a.trainable).c_str(),
                 train.size(),
                 val.size(), test.size(), (long long)max_len, (long long)total);

  // ---- training (train_classifier_simple)
  const std::string metrics_path = (fs::path(a.out_dir) / "metrics.jsonl").string();
  std::error_code ec;
  fs::remove(metrics_path, ec);
  MetricsLog metrics(metrics_path);
  std::vector<double> acc_epoch, acc_train, acc_val;
  auto plot = [&] {
    write_loss_plot(metrics.records(), (fs::path(a.out_dir) / "loss.svg").string(), "ScratchLM classifier finetuning: " + a.out_dir);
    PlotOptions po;
    po.title = "Classification accuracy";
    po.x_label = "epoch";
    po.y_label = "accuracy";
    po.legend = LegendPos::BottomRight;
    std::vector<PlotSeries> series = {{"train accuracy", acc_epoch, acc_train, "#1f77b4", false, true},
                                      {"validation accuracy", acc_epoch, acc_val, "#ff7f0e", true, true}};
    write_file_atomic((fs::path(a.out_dir) / "accuracy.svg").string(), plot_series_svg(series, po));
  };
  auto eval_loss = [&](const std::vector<EncodedText>& rows) {
    return rows.empty() ? std::nan("") : evaluate_classifier(*model, rows, a.batch, pad, a.eval_batches).loss;
  };
  auto eval_acc = [&](const std::vector<EncodedText>& rows, int64_t batches) {
    return rows.empty() ? std::nan("") : evaluate_classifier(*model, rows, a.batch, pad, batches).accuracy;
  };

  Progress progress(total, ::isatty(STDERR_FILENO) != 0, stderr);
  progress.set_label("step");
  std::vector<uint32_t> order;
  std::vector<const EncodedText*> rows;
  ClassBatch cb;
  int64_t step = 0, examples_seen = 0, epoch = 0;
  // --select best-val: the trainable weights after the best epoch so far (frozen ones never change)
  std::vector<std::vector<float>> best_weights;
  double best_acc = -1.0, best_loss = 0.0;
  auto keep_best = [&] {
    best_weights.clear();
    for (const auto& p : model->params().params()) {
      const float* w = model->params().data_all() + p.offset;
      if (p.trainable) best_weights.emplace_back(w, w + p.numel);
    }
  };
  auto restore_best = [&] {
    size_t k = 0;
    for (const auto& p : model->params().params())
      if (p.trainable) std::copy(best_weights[k].begin(), best_weights[k].end(), model->params().data_all() + p.offset), ++k;
  };
  const double t0 = now_s();
  if (a.eval_every > 0) {  // the starting point of the loss curves
    const double tl = eval_loss(train), vl = eval_loss(val);
    metrics.write({{"type", "eval"}, {"step", 0}, {"examples_seen", 0}, {"train_loss", tl}, {"val_loss", vl}});
    if (!a.quiet) progress.message(fmt::format("step 0: train loss {:.3f}, val loss {:.3f}", tl, vl));
  }
  model->set_training(true);
  while (step < total) {
    ++epoch;
    order = epoch_order(train.size(), a.seed, static_cast<uint64_t>(epoch - 1));  // a new order every epoch
    for (int64_t k = 0; k < steps_per_epoch && step < total; ++k) {
      rows.clear();
      for (int64_t j = 0; j < a.batch; ++j) rows.push_back(&train[order[static_cast<size_t>(k * a.batch + j)]]);
      make_class_batch(rows, pad, a.token, max_len, ctx, cb);
      ++step;
      model->zero_grad();
      model->set_dropout_seed(a.seed, static_cast<uint64_t>(step - 1));  // the micro-step (0-based)
      const float loss = model->classify(cb, nullptr, true, true);
      model->backward();
      const double norm = clip_grad_norm(model->params(), a.grad_clip);
      if (!std::isfinite(loss) || !std::isfinite(norm))
        fail("the loss became {} at step {}; stopping (try a lower --lr)", loss, step);
      opt.step(a.lr);
      examples_seen += cb.E;
      const double el = now_s() - t0;
      metrics.write({{"type", "step"}, {"step", step}, {"epoch", epoch}, {"examples_seen", examples_seen}, {"loss", loss},
                     {"lr", a.lr}, {"grad_norm", norm}, {"examples_per_second", examples_seen / std::max(el, 1e-9)},
                     {"elapsed_s", el}});
      if (!a.quiet)
        progress.update(step, fmt::format("ep {} | loss {:.4f} | {:.1f} ex/s", epoch, loss, examples_seen / std::max(el, 1e-9)));
      if (a.eval_every > 0 && step % a.eval_every == 0) {
        const double tl = eval_loss(train), vl = eval_loss(val);
        model->set_training(true);
        metrics.write({{"type", "eval"}, {"step", step}, {"examples_seen", examples_seen}, {"train_loss", tl}, {"val_loss", vl}});
        if (!a.quiet) progress.message(fmt::format("step {}: train loss {:.3f}, val loss {:.3f}", step, tl, vl));
      }
    }
    const double ta = eval_acc(train, a.eval_batches), va = eval_acc(val, a.eval_batches);
    model->set_training(true);
    acc_epoch.push_back(static_cast<double>(epoch)), acc_train.push_back(ta), acc_val.push_back(va);
    nlohmann::json rec = {{"type", "epoch"}, {"step", step}, {"epoch", epoch}, {"train_accuracy", ta}, {"val_accuracy", va}};
    std::string msg = fmt::format("epoch {}: training accuracy {:.2f}% | validation accuracy {:.2f}% (first {} batches)",
                                  epoch, 100 * ta, 100 * va, a.eval_batches);
    if (select_best) {
      model->set_training(false);
      const ClassMetrics full = evaluate_classifier(*model, val, a.batch, pad);
      model->set_training(true);
      const bool better = full.accuracy > best_acc || (full.accuracy == best_acc && full.loss < best_loss);
      if (better) best_acc = full.accuracy, best_loss = full.loss, res.selected_epoch = epoch, keep_best();
      rec["full_val_accuracy"] = full.accuracy, rec["full_val_loss"] = full.loss, rec["selected"] = better;
      msg += fmt::format(" | whole validation split {:.2f}%, loss {:.4f}{}", 100 * full.accuracy, full.loss,
                         better ? " (best so far, kept)" : "");
    }
    metrics.write(rec);
    if (!a.quiet) progress.message(msg);
    plot();
  }
  if (!a.quiet) progress.finish();

  // ---- final accuracy on the whole splits, save
  if (!select_best) res.selected_epoch = epoch;
  else if (res.selected_epoch != epoch) {
    restore_best();
    if (!a.quiet)
      std::fprintf(stderr, "keeping the weights after epoch %lld (validation accuracy %.2f%%)\n",
                   (long long)res.selected_epoch, 100 * best_acc);
  }
  model->set_training(false);
  const ClassMetrics mt = evaluate_classifier(*model, train, a.batch, pad);
  ClassMetrics mv, ms;
  if (!val.empty()) mv = evaluate_classifier(*model, val, a.batch, pad);
  if (!test.empty()) ms = evaluate_classifier(*model, test, a.batch, pad);
  res.steps = step;
  res.seconds = now_s() - t_start;
  res.train_accuracy = mt.accuracy;
  res.val_accuracy = val.empty() ? std::nan("") : mv.accuracy;
  res.test_accuracy = test.empty() ? std::nan("") : ms.accuracy;
  nlohmann::json report = {{"train", metrics_to_json(mt, labels)}, {"steps", step}, {"seconds", res.seconds},
                           {"select", a.select}, {"selected_epoch", res.selected_epoch},
                           {"trainable_params", res.trainable_params}, {"total_params", res.total_params}};
  if (!val.empty()) report["validation"] = metrics_to_json(mv, labels);
  if (!test.empty()) report["test"] = metrics_to_json(ms, labels);
  metrics.write({{"type", "final"}, {"step", step}, {"selected_epoch", res.selected_epoch}, {"train_accuracy", res.train_accuracy},
                 {"val_accuracy", res.val_accuracy}, {"test_accuracy", res.test_accuracy}, {"elapsed_s", res.seconds}});
  save_hf_model(model->config().lora.enabled() ? *merge_lora(*model) : *model, a.out_dir, &tok);
  write_file_atomic((fs::path(a.out_dir) / "eval.json").string(), report.dump(2) + "\n");
  plot();
  if (!a.quiet) {
    std::fprintf(stderr, "training accuracy %.2f%% | validation accuracy %.2f%% | test accuracy %.2f%% (%lld steps, %s)\n",
                 100 * res.train_accuracy, 100 * res.val_accuracy, 100 * res.test_accuracy, (long long)step,
                 format_duration(res.seconds).c_str());
    std::fprintf(stderr, "saved the classifier to %s\n", a.out_dir.c_str());
  }
  return res;
}

}  // namespace slm
