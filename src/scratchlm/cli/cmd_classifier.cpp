// cmd_classifier.cpp — `slm finetune-classifier`, `slm classify` and `slm eval-classifier`:
// chapter 6's spam classifier (finetuning, using it on new texts, and its accuracy report).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/loop_options_cli.h"
#include "scratchlm/finetune/classifier.h"
#include "scratchlm/finetune/classifier_trainer.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/lines.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

namespace {

void add_load_options(CLI::App* c, LoadOptions& l) {
  c->add_option("--format", l.format, "Data format: auto, sms, csv, tsv, jsonl, json, spam-assassin")
      ->capture_default_str();
  c->add_option("--text-column", l.text_column, "Column (CSV/TSV) or key (JSON) of the text")->capture_default_str();
  c->add_option("--label-column", l.label_column, "Column (CSV/TSV) or key (JSON) of the label")->capture_default_str();
}

std::unique_ptr<GPT> load_classifier(const std::string& dir) {
  auto model = load_hf_model(dir);
  if (!model->config().is_classifier())
    fail("'{}' has no classification head (it is a language model); make one with slm finetune-classifier", dir);
  return model;
}

}  // namespace

void register_finetune_classifier(CLI::App& app) {
  auto a = std::make_shared<ClassifierArgs>();
  auto token = std::make_shared<std::string>("last"), truncate = std::make_shared<std::string>("head");
  auto* c = app.add_subcommand("finetune-classifier", "Finetune a pretrained model into a text classifier (chapter 6)");
  c->add_option("--init-from", a->init_from, "Pretrained model directory to start from (required unless --split-only)");
  c->add_flag("--split-only", a->split_only,
              "Only balance and split --data, write train/validation/test.csv to --out and stop");
  c->add_option("--out", a->out_dir, "Output directory (classifier model, splits, metrics, plots)");
  c->add_option("--resume", a->resume, "Continue the run whose --out this was, from its checkpoint/ (exactly)");
  c->add_option("--data", a->data,
                "Labeled data to balance and split: sms-spam, spam-assassin, a file (SMSSpamCollection, .csv, .tsv, "
                ".jsonl, .json) or a SpamAssassin-style directory");
  c->add_option("--train", a->train_file, "A ready training split (instead of --data)");
  c->add_option("--val", a->val_file, "A ready validation split");
  c->add_option("--test", a->test_file, "A ready test split");
  add_load_options(c, a->load);
  c->add_flag("!--no-balance", a->balance,
              "Keep all examples (default: undersample to the smallest class, as the book)");
  c->add_option("--train-frac", a->train_frac, "Training fraction of --data")->capture_default_str();
  c->add_option("--val-frac", a->val_frac, "Validation fraction of --data (the rest is test)")->capture_default_str();
  c->add_option("--labels", a->labels, "Class order, e.g. --labels ham spam (default: sorted)")->delimiter(',');
  c->add_option("--trainable", a->trainable, "head, last-block (the book) or all")->capture_default_str();
  c->add_option("--token", *token,
                "Read the class at the last real token (last), the final padded position (last-position, the book) or "
                "from the mean over every token (mean; longer texts in windows of the context length)")
      ->capture_default_str();
  c->add_option("--lora-rank", a->lora_rank, "Train LoRA adapters of this rank instead of layers (appendix E; 0: off)");
  c->add_option("--lora-alpha", a->lora_alpha, "LoRA scale numerator: updates are scaled by alpha / rank");
  c->add_option("--lora-targets", a->lora_targets, "LoRA on attn, mlp, head (comma list) or all")
      ->capture_default_str();
  c->add_option("--max-length", a->max_length,
                "Cut texts to this many tokens (default: the longest training text, at most the context length; above "
                "it only with --token mean)");
  c->add_option("--truncate", *truncate,
                "Which tokens of a longer text to keep: head (the book), tail, or head+tail (the first quarter "
                "from the start, the rest from the end)")
      ->capture_default_str();
  c->add_option("--select", a->select,
                "Weights to save: last (the book) or best-val (the epoch with the best whole-validation accuracy)")
      ->capture_default_str();
  c->add_option("--tokenizer", a->tokenizer_dir, "Tokenizer directory (default: the model's, else data/gpt2)");
  auto loop = std::make_shared<LoopOptionsCli>(c, *a);  // --seed also balances and splits
  // Under mpirun, on every rank (distributed.h).
  auto body = [c, a, loop, token, truncate] {
    if (!a->resume.empty()) {
      // The run's settings come from its checkpoint; the run length and cadence may be given anew.
      const std::string ckpt = (std::filesystem::path(a->resume) / "checkpoint").string();
      recover_checkpoint_on_root(ckpt);
      const nlohmann::json state = load_trainer_state(ckpt);
      if (state.value("format", "") != "scratchlm-classifier/1")
        fail("'{}' holds no classifier checkpoint (format '{}')", ckpt, state.value("format", ""));
      ClassifierArgs r =
          ClassifierArgs::from_json(state.contains("args") ? state["args"] : nlohmann::json(), ckpt + "/trainer.json");
      loop->resume(
          r, {"--init-from", "--out", "--data", "--train", "--val", "--test", "--token", "--truncate", "--max-length",
              "--trainable", "--lora-rank", "--lora-alpha", "--lora-targets", "--select", "--split-only"});
      r.out_dir = a->resume;
      r.resume = ckpt;
      r.resumed_state = state;
      run_classifier_finetuning(r);
      return;
    }
    if (a->out_dir.empty()) fail("give --out DIR");
    ClassifierArgs args = *a;
    static_cast<LoopOptions&>(args) = loop->parsed();
    const auto reading = classifier_token_from(*token);
    if (!reading) fail("--token must be last, last-position or mean, not '{}'", *token);
    const auto cut = truncation_from(*truncate);
    if (!cut) fail("--truncate must be head, tail or head+tail, not '{}'", *truncate);
    args.token = *reading;
    args.truncate = *cut;
    run_classifier_finetuning(args);
  };
  c->callback([body] { run_ranks(body); });
}

void register_classify(CLI::App& app) {
  struct Opts {
    std::string model, text, file, tokenizer;
    bool json = false, has_text = false;
    int64_t batch = 8;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("classify",
                               "Classify texts with a finetuned classifier (one text per line from --file or stdin)");
  c->add_option("--model", o->model, "Classifier model directory")->required();
  auto* t = c->add_option("--text", o->text, "One text to classify");
  c->add_option("--file", o->file, "A file with one text per line")->excludes(t);
  c->add_option("--batch", o->batch, "Texts per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  c->add_flag("--json", o->json,
              "Print one JSON object per text: {\"text\", \"label\", \"probability\", \"probabilities\"}");
  c->callback([o, t] {
    configure_threads(o->threads);
    auto model = load_classifier(o->model);
    Tokenizer tok = Tokenizer::load_dir(tokenizer_dir_for_model(o->model, o->tokenizer));
    std::vector<std::string> texts;
    if (*t) {
      texts.push_back(o->text);
    } else {
      const std::string all = o->file.empty() ? read_stdin() : read_file(o->file);
      for_each_line(all, [&](std::string_view line, size_t) {
        if (line.ends_with('\r')) line.remove_suffix(1);
        texts.emplace_back(line);
      });
      if (texts.empty()) fail("no texts to classify (the input is empty)");
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      if (utf8_find_invalid(texts[i]) != std::string::npos) fail("text {}: invalid UTF-8", i + 1);
    }
    const std::vector<float> p = classify_texts(*model, tok, texts, o->batch);
    const std::vector<std::string>& labels = model->config().id2label;
    for (size_t i = 0; i < texts.size(); ++i) {
      nlohmann::json pred = prediction_json(labels, p.data() + i * labels.size());
      if (o->json) {
        pred["text"] = texts[i];
        std::printf("%s\n", pred.dump().c_str());
      } else {
        std::printf("%s\t%.4f\t%s\n", pred["label"].get<std::string>().c_str(), pred["probability"].get<float>(),
                    texts[i].c_str());
      }
    }
  });
}

void register_eval_classifier(CLI::App& app) {
  struct Opts {
    std::string model, data, tokenizer, predictions;
    LoadOptions load;
    int64_t batch = 8;
    int threads = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand(
      "eval-classifier", "Accuracy, precision, recall, F1 and the confusion matrix of a classifier on labeled data");
  c->add_option("--model", o->model, "Classifier model directory")->required();
  c->add_option("--data", o->data, "Labeled data (e.g. the test.csv written by finetune-classifier)")->required();
  add_load_options(c, o->load);
  c->add_option("--batch", o->batch, "Texts per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  c->add_flag("--json", o->json, "Print the metrics as JSON");
  c->add_option("--predictions", o->predictions,
                "Also write every example's prediction to this JSONL file: {\"text\", \"label\", \"predicted\", "
                "\"probability\", \"correct\"} (e.g. to read the errors)");
  c->callback([o] {
    configure_threads(o->threads);
    auto model = load_classifier(o->model);
    Tokenizer tok = Tokenizer::load_dir(tokenizer_dir_for_model(o->model, o->tokenizer));
    const auto rows = load_labeled(o->data, o->load);
    if (rows.empty()) fail("'{}' holds no examples", o->data);
    const GPTConfig& cfg = model->config();
    const auto enc = encode_for_classifier(cfg, tok, rows, true);
    const int32_t pad = tok.pad_id();
    const std::vector<float> p = predict_proba(*model, enc, o->batch, pad);
    const ClassMetrics m = classification_metrics(p, enc, cfg.num_labels);
    if (!o->predictions.empty()) {
      const size_t K = static_cast<size_t>(cfg.num_labels);
      std::string out;
      for (size_t i = 0; i < rows.size(); ++i) {
        const float* r = p.data() + i * K;
        const size_t k = static_cast<size_t>(std::max_element(r, r + K) - r);
        out += nlohmann::json{{"text", rows[i].text},
                              {"label", rows[i].label},
                              {"predicted", cfg.id2label[k]},
                              {"probability", r[k]},
                              {"correct", static_cast<int32_t>(k) == enc[i].label}}
                   .dump() +
               "\n";
      }
      write_file_atomic(o->predictions, out);
    }
    if (o->json)
      std::printf("%s\n", metrics_to_json(m, cfg.id2label).dump(2).c_str());
    else
      std::printf("%s", format_metrics(m, cfg.id2label).c_str());
  });
}

}  // namespace slm::cli
