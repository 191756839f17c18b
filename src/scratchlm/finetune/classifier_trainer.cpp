// classifier_trainer.cpp — classification finetuning, chapter 6.7 (see classifier_trainer.h).
#include "scratchlm/finetune/classifier_trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scratchlm/finetune/classifier.h"
#include "scratchlm/finetune/classifier_task.h"
#include "scratchlm/finetune/lora.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/engine.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"
#include "scratchlm/util/progress.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

LabeledSplit load_splits(const ClassifierArgs& a) {
  LabeledSplit s;
  if (!a.data.empty()) {
    if (!a.train_file.empty()) fail("give either --data (balanced and split here) or --train/--val/--test, not both");
    std::vector<LabeledExample> rows = load_labeled(a.data, a.load);
    if (label_set(rows).size() < 2)
      fail("'{}' has a single class ('{}'); a classifier needs at least two", a.data,
           rows.empty() ? "" : rows[0].label);
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

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LoadOptions, format, text_column, label_column, lossy, data_dir)

nlohmann::json ClassifierArgs::to_json() const {
  nlohmann::json j = LoopOptions::to_json();
  j.update({{"init_from", init_from},
            {"tokenizer_dir", tokenizer_dir},
            {"data", data},
            {"train_file", train_file},
            {"val_file", val_file},
            {"test_file", test_file},
            {"load", load},
            {"balance", balance},
            {"train_frac", train_frac},
            {"val_frac", val_frac},
            {"labels", labels},
            {"trainable", trainable},
            {"token", classifier_token_name(token)},
            {"max_length", max_length},
            {"truncate", truncation_name(truncate)},
            {"lora_rank", lora_rank},
            {"lora_alpha", lora_alpha},
            {"lora_targets", lora_targets},
            {"select", select}});
  return j;
}

ClassifierArgs ClassifierArgs::from_json(const nlohmann::json& j, const std::string& source) {
  ClassifierArgs a;
  try {
    a.LoopOptions::read_json(j, source);
    j.at("init_from").get_to(a.init_from);
    j.at("tokenizer_dir").get_to(a.tokenizer_dir);
    j.at("data").get_to(a.data);
    j.at("train_file").get_to(a.train_file);
    j.at("val_file").get_to(a.val_file);
    j.at("test_file").get_to(a.test_file);
    j.at("load").get_to(a.load);
    j.at("balance").get_to(a.balance);
    j.at("train_frac").get_to(a.train_frac);
    j.at("val_frac").get_to(a.val_frac);
    j.at("labels").get_to(a.labels);
    j.at("trainable").get_to(a.trainable);
    const auto token = classifier_token_from(j.at("token").get<std::string>());
    if (!token) fail("{}: \"token\" must be last, last-position or mean", source);
    a.token = *token;
    j.at("max_length").get_to(a.max_length);
    const auto cut = truncation_from(j.at("truncate").get<std::string>());
    if (!cut) fail("{}: \"truncate\" must be head, tail or head+tail", source);
    a.truncate = *cut;
    j.at("lora_rank").get_to(a.lora_rank);
    j.at("lora_alpha").get_to(a.lora_alpha);
    j.at("lora_targets").get_to(a.lora_targets);
    j.at("select").get_to(a.select);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed \"args\" ({})", source, e.what());
  }
  return a;
}

ClassifierResult run_classifier_finetuning(const ClassifierArgs& args) {
  Communicator& comm = Communicator::world();
  ClassifierArgs a = args;
  if (!comm.root()) a.quiet = true;  // rank 0 alone prints and writes
  a.validate();
  require_non_negative("--max-length", a.max_length);
  require_non_negative("--lora-rank", a.lora_rank);
  require_non_negative_finite("--lora-alpha", a.lora_alpha);
  if (a.select != "last" && a.select != "best-val") fail("--select must be last or best-val, not '{}'", a.select);
  if (a.split_only && a.data.empty()) fail("--split-only needs --data SOURCE to balance and split");
  if (a.init_from.empty() && !a.split_only) fail("give --init-from MODEL_DIR (a pretrained model to start from)");
  const bool resuming = !a.resume.empty();
  if (comm.root()) check_output_dir(a.out_dir, a.force || resuming);
  configure_threads(threads_per_rank(a.threads));
  const double t_start = now_s();

  // ---- data
  LabeledSplit split = load_splits(a);
  if (split.train.empty()) fail("the training split is empty");
  std::vector<std::string> labels = a.labels.empty() ? label_set(split.train) : a.labels;
  if (labels.size() < 2)
    fail("the training data has a single class ('{}'); a classifier needs at least two",
         labels.empty() ? "" : labels[0]);
  if (!a.data.empty() && comm.root()) {  // the splits, so that the run can be reproduced and evaluated again
    write_labeled_csv((fs::path(a.out_dir) / "train.csv").string(), split.train);
    write_labeled_csv((fs::path(a.out_dir) / "validation.csv").string(), split.val);
    write_labeled_csv((fs::path(a.out_dir) / "test.csv").string(), split.test);
    // What balancing left out: labeled, but in no split, so it can be pretrained on without
    // touching validation or test. Removed when there is none, so a directory never mixes runs.
    const fs::path unused = fs::path(a.out_dir) / "unused.csv";
    if (!split.unused.empty())
      write_labeled_csv(unused.string(), split.unused);
    else
      fs::remove(unused);
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

  // ---- model: a new head on --init-from, or the checkpoint being resumed
  std::unique_ptr<GPT> model = load_hf_model(resuming ? a.resume : a.init_from, resuming);
  if (model->config().is_classifier()) {  // continue finetuning a classifier
    if (model->config().id2label != labels)
      fail("'{}' is a classifier for other labels than the data's", resuming ? a.resume : a.init_from);
  } else if (resuming) {
    fail("'{}' does not hold a classifier", a.resume);
  } else {
    model = make_classifier(*model, labels, a.seed);
  }
  const std::string tok_dir =
      resuming ? tokenizer_dir_for_model(a.resume) : tokenizer_dir_for_model(a.init_from, a.tokenizer_dir);
  Tokenizer tok = Tokenizer::load_dir(tok_dir);
  const int32_t pad = tok.pad_id();
  const int64_t ctx = model->config().context_length;
  if (a.max_length > classifier_length_limit(ctx, a.token))
    fail("--max-length {} exceeds the model's context length {} (--token mean reads longer texts in windows)",
         a.max_length, ctx);
  std::vector<EncodedText> train =
      encode_texts(tok, split.train, labels, a.max_length ? a.max_length : ctx, true, a.truncate);
  int64_t max_len = a.max_length;
  if (!max_len)  // the book: the longest training text
    for (const auto& e : train) max_len = std::max<int64_t>(max_len, static_cast<int64_t>(e.ids.size()));
  const std::vector<EncodedText> val = encode_texts(tok, split.val, labels, max_len, true, a.truncate);
  const std::vector<EncodedText> test = encode_texts(tok, split.test, labels, max_len, true, a.truncate);
  const bool select_best = a.select == "best-val";
  if (select_best && val.empty())
    fail("--select best-val needs a validation split (--val FILE, or --data with --val-frac > 0)");
  if (!resuming) model->set_classifier_input(max_len, a.token, a.truncate);
  if (a.dropout >= 0.0f) model->set_drop_rate(a.dropout);
  if (a.lora_rank > 0 && resuming) {  // as add_lora left it: only the adapters train
    if (!model->config().lora.enabled()) fail("'{}' does not hold the LoRA model its trainer.json describes", a.resume);
    for (const auto& p : model->params().params())
      model->params().set_trainable(p.name, p.name.find(".lora_") != std::string::npos);
  } else if (a.lora_rank > 0) {
    model = add_lora(*model, parse_lora_targets(a.lora_targets, a.lora_rank, a.lora_alpha), a.seed);
  } else {
    if (a.lora_alpha != 0.0f) fail("--lora-alpha needs --lora-rank");
    set_classifier_trainable(*model, a.trainable);
  }
  ClassifierResult res;
  res.trainable_params = static_cast<int64_t>(model->params().trainable_numel());
  for (const auto& p : model->params().params()) res.total_params += static_cast<int64_t>(p.numel);
  if (static_cast<int64_t>(train.size()) < global_batch(a.batch))
    fail("{} training examples are fewer than one batch of {}", train.size(), global_batch(a.batch));
  ClassifierTask task(
      *model, train, val,
      ClassifierTask::Options{a.batch, pad, a.token, max_len, ctx, a.eval_batches, a.seed, select_best, a.out_dir});

  // ---- training (train_classifier_simple)
  TrainingRun run(a);
  run.out_dir = a.out_dir;
  run.checkpoint_dir = (fs::path(a.out_dir) / "checkpoint").string();
  run.format = "scratchlm-classifier/1";
  run.title = "ScratchLM classifier finetuning: " + a.out_dir;
  run.resume = a.resume;
  run.unit = SeenUnit::Examples;
  run.args = a.to_json();
  TrainingEngine engine(*model, tok, task, run);
  if (!a.quiet)
    fmt::print(
        stderr,
        "finetuning a {}-class classifier ({}): {} of {} parameters train ({}); {} train / {} val / {} test texts, "
        "max length {} tokens, {} steps\n",
        labels.size(),
        a.token == ClassifierToken::Last   ? "last real token"
        : a.token == ClassifierToken::Mean ? "mean over tokens"
                                           : "last position",
        res.trainable_params, res.total_params,
        a.lora_rank > 0 ? fmt::format("LoRA rank {} on {}", a.lora_rank, a.lora_targets) : "--trainable " + a.trainable,
        train.size(), val.size(), test.size(), max_len, engine.total_steps());
  const TrainingResult r = engine.train();
  if (r.interrupted) {  // a signal or --stop-at: a checkpoint to resume, no final model
    engine.save();
    if (!a.quiet)
      fmt::print(stderr,
                 "interrupted: saved the checkpoint at step {} in {}; continue with slm finetune-classifier "
                 "--resume {}\n",
                 r.steps, run.checkpoint_dir, a.out_dir);
    res.steps = r.steps;
    res.interrupted = true;
    return res;
  }
  if (a.save_every > 0) engine.save();  // the state after the last step (before --select best-val)
  if (engine.next_batch() != 0) task.end_epoch(engine, engine.epoch());  // the accuracy of a last partial epoch
  const int64_t epoch = static_cast<int64_t>(engine.epoch()) + (engine.next_batch() != 0 ? 1 : 0);
  const int64_t step = r.steps;

  // ---- final accuracy on the whole splits, save
  res.selected_epoch = select_best ? task.selected_epoch() : epoch;
  if (res.selected_epoch != epoch) {
    task.restore_best();
    if (!a.quiet)
      fmt::print(stderr, "keeping the weights after epoch {} (validation accuracy {:.2f}%)\n", res.selected_epoch,
                 100 * task.best_accuracy());
  }
  model->set_training(false);
  const ClassMetrics mt = evaluate_classifier_ranks(*model, train, a.batch, pad);
  ClassMetrics mv, ms;
  if (!val.empty()) mv = evaluate_classifier_ranks(*model, val, a.batch, pad);
  if (!test.empty()) ms = evaluate_classifier_ranks(*model, test, a.batch, pad);
  res.steps = step;
  res.seconds = now_s() - t_start;
  res.train_accuracy = mt.accuracy;
  res.val_accuracy = val.empty() ? std::nan("") : mv.accuracy;
  res.test_accuracy = test.empty() ? std::nan("") : ms.accuracy;
  nlohmann::json report = {{"train", metrics_to_json(mt, labels)},
                           {"steps", step},
                           {"seconds", res.seconds},
                           {"select", a.select},
                           {"selected_epoch", res.selected_epoch},
                           {"trainable_params", res.trainable_params},
                           {"total_params", res.total_params}};
  if (!val.empty()) report["validation"] = metrics_to_json(mv, labels);
  if (!test.empty()) report["test"] = metrics_to_json(ms, labels);
  engine.metrics().write({{"type", "final"},
                          {"step", step},
                          {"selected_epoch", res.selected_epoch},
                          {"train_accuracy", res.train_accuracy},
                          {"val_accuracy", res.val_accuracy},
                          {"test_accuracy", res.test_accuracy},
                          {"elapsed_s", res.seconds}});
  if (!comm.root()) return res;
  save_hf_model(model->config().lora.enabled() ? *merge_lora(*model) : *model, a.out_dir, &tok, a.save_dtype);
  write_file_atomic((fs::path(a.out_dir) / "eval.json").string(), report.dump(2) + "\n");
  task.plot(engine);
  if (!a.quiet) {
    std::fprintf(stderr,
                 "training accuracy %.2f%% | validation accuracy %.2f%% | test accuracy %.2f%% (%lld steps, %s)\n",
                 100 * res.train_accuracy, 100 * res.val_accuracy, 100 * res.test_accuracy, (long long)step,
                 format_duration(res.seconds).c_str());
    std::fprintf(stderr, "saved the classifier to %s\n", a.out_dir.c_str());
  }
  return res;
}

}  // namespace slm
