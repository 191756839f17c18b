// cmd_eval.cpp — `slm eval`: cross-entropy and perplexity of a model on text (chapter 5.1.2–5.1.3).
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/inference_precision.h"
#include "scratchlm/data/shards.h"
#include "scratchlm/data/window_dataset.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, text_column;
    std::string precision;
    std::vector<std::string> data;
    int64_t seq = 0, stride = 0, batch = 8;
    int threads = 0;
    bool json = false, lossy = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("eval", "Mean cross-entropy and perplexity of a model on text");
  c->add_option("--model", o->model, "Model directory or GGUF file")->required();
  c->add_option("--data", o->data, "Corpora: files, directories, globs or built-in names")->required();
  c->add_option("--text-column", o->text_column,
                "Read .csv/.tsv/.jsonl/.json files as tables: each row's text in this column is one document");
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--seq", o->seq, "Window length (default: the context length)");
  c->add_option("--stride", o->stride, "Window stride (default: --seq)");
  c->add_option("--batch", o->batch, "Windows per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  add_precision_option(c, o->precision);
  c->add_flag("--lossy", o->lossy, "Replace invalid UTF-8 with U+FFFD instead of failing");
  c->add_flag("--json", o->json, "Print {\"loss\", \"perplexity\", \"tokens\"}");
  c->callback([o] {
    configure_threads(o->threads);
    auto model = load_hf_model(o->model);
    apply_precision(*model, o->precision);
    const int64_t T = o->seq ? o->seq : model->config().context_length;
    if (T <= 0 || T > model->config().context_length) fail("--seq must be in 1..{}", model->config().context_length);
    Tokenizer tok = load_model_tokenizer(o->model, o->tokenizer);
    const std::string tok_dir = tokenizer_dir_for_model(o->model, o->tokenizer);
    const std::string tok_id = is_gguf_path(o->tokenizer.empty() ? o->model : o->tokenizer) ? tokenizer_content_id(tok)
                                                                                            : tokenizer_dir_id(tok_dir);
    TokenArray tokens = tokenize_corpus_cached(o->data, tok, tok_id, "", o->lossy, o->threads, nullptr, o->text_column);
    if (tokens.max_id() >= static_cast<uint32_t>(model->config().vocab_size))
      fail("the tokenizer produces id {} but the model's vocabulary has {} entries", tokens.max_id(),
           model->config().vocab_size);
    DataLoader dl(WindowDataset(tokens, static_cast<size_t>(T), static_cast<size_t>(o->stride)),
                  LoaderOptions{static_cast<size_t>(o->batch), false, 0, false});
    if (dl.batches_per_epoch() == 0) fail("the data has {} tokens, too few for one window of {} + 1", tokens.size(), T);
    double sum = 0.0;
    int64_t count = 0;
    Batch b;
    for (size_t i = 0; i < dl.batches_per_epoch(); ++i) {
      dl.batch_at(0, i, b);
      float mean =
          model->forward(b.inputs.data(), b.targets.data(), static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols));
      sum += static_cast<double>(mean) * static_cast<double>(model->last_target_count());
      count += model->last_target_count();
    }
    const double loss = sum / static_cast<double>(count);
    if (o->json) {
      std::printf("%s\n",
                  nlohmann::json{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", count}}.dump().c_str());
    } else {
      std::printf("loss %.6f  perplexity %.4f  (%lld target tokens in %zu windows of %lld)\n", loss, std::exp(loss),
                  (long long)count, dl.dataset().size(), (long long)T);
    }
  });
}

}  // namespace slm::cli
