// cmd_train_tokenizer.cpp — `slm train-tokenizer` (chapter 2.5: training a byte-level BPE
// vocabulary like GPT-2's on your own text).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "scratchlm/cli/commands.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/tokenizer/bpe_trainer.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm::cli {

namespace {

namespace fs = std::filesystem;

struct TrainTokenizerOpts {
  std::vector<std::string> inputs;
  size_t vocab_size = 0;
  std::string out;
  std::string pattern = "gpt2";
  int threads = 0;
  bool lossy = false;
};

// Files as given, directories expanded to all regular files below them, sorted by path.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    auto st = fs::status(in, ec);
    if (ec || !fs::exists(st)) fail("input '{}' does not exist", in);
    if (fs::is_directory(st)) {
      std::vector<std::string> found;
      fs::recursive_directory_iterator it(in, fs::directory_options::follow_directory_symlink, ec), end;
      if (ec) fail("cannot read directory '{}': {}", in, ec.message());
      for (; it != end; it.increment(ec)) {
        if (ec) fail("cannot read directory '{}': {}", in, ec.message());
        std::error_code fec;
        if (it->is_regular_file(fec)) found.push_back(it->path().string());
      }
      if (found.empty()) fail("input directory '{}' contains no files", in);
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

void run_train_tokenizer(const TrainTokenizerOpts& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  SplitPattern pattern = parse_split_pattern(o.pattern);
  if (o.vocab_size < 257)
    fail(
        "--vocab-size {} is too small: a byte-level BPE vocabulary needs at least 257 entries (256 bytes + "
        "<|endoftext|>)",
        o.vocab_size);
  {
    std::error_code ec;
    if (fs::exists(o.out, ec) && !fs::is_directory(o.out, ec)) fail("--out '{}' exists and is not a directory", o.out);
  }
  std::vector<std::string> files = expand_inputs(o.inputs);
  std::vector<std::string> texts;
  texts.reserve(files.size());
  for (const auto& f : files) {
    std::string t = read_file(f);
    if (o.lossy)
      t = utf8_lossy(t);
    else
      utf8_require_valid(t, "'" + f + "'");
    texts.push_back(std::move(t));
  }
  std::vector<std::string_view> docs(texts.begin(), texts.end());

  const bool tty = ::isatty(STDERR_FILENO);
  double last_print = -1;
  BpeTrainOptions opts;
  opts.vocab_size = o.vocab_size;
  opts.pattern = pattern;
  opts.threads = configure_threads(o.threads);
  opts.progress = [&](size_t done, size_t wanted) {
    double s = seconds();
    bool final = done == wanted;
    if (!tty && !final && s - last_print < 1.0) return;
    last_print = s;
    std::fprintf(stderr, "%smerges %zu/%zu (%.1f s)%s", tty ? "\r" : "", done, wanted, s, tty ? "" : "\n");
    std::fflush(stderr);
  };
  BpeTrainResult r = train_bpe(docs, opts);
  if (tty) std::fprintf(stderr, "\n");
  double train_s = seconds();
  r.tokenizer.save_dir(o.out, "openai");
  std::printf("trained %zu tokens (%zu merges, %zu unique pieces) on %.2f MB in %zu file%s in %.2f s; wrote %s\n",
              r.tokenizer.vocab_size(), r.merges_done, r.unique_pieces, static_cast<double>(r.input_bytes) / 1e6,
              files.size(), files.size() == 1 ? "" : "s", train_s, o.out.c_str());
  if (r.merges_done < o.vocab_size - 257)
    std::fprintf(stderr,
                 "note: the corpus ran out of pairs after %zu of %zu merges; the vocabulary has %zu tokens, not %zu\n",
                 r.merges_done, o.vocab_size - 257, r.tokenizer.vocab_size(), o.vocab_size);
}

}  // namespace

void register_train_tokenizer(CLI::App& app) {
  auto o = std::make_shared<TrainTokenizerOpts>();
  auto* c = app.add_subcommand("train-tokenizer", "Train a byte-level BPE tokenizer (GPT-2 style) on text files");
  c->add_option("--input", o->inputs,
                "Text files or directories (all regular files below, sorted by path); each file is one document")
      ->required()
      ->expected(1, -1);
  c->add_option("--vocab-size", o->vocab_size, "Vocabulary size, including the 256 byte tokens and <|endoftext|>")
      ->required();
  c->add_option("--out", o->out, "Output directory (encoder.json + vocab.bpe + tokenizer_config.json)")->required();
  c->add_option("--pattern", o->pattern, "Pre-tokenization split pattern")
      ->capture_default_str()
      ->check(CLI::IsMember({"gpt2", "gpt4", "cl100k"}));
  c->add_option("--threads", o->threads, "Threads for counting pieces (0: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  c->add_flag("--lossy", o->lossy, "Replace invalid UTF-8 with U+FFFD instead of failing");
  c->callback([o] { run_train_tokenizer(*o); });
}

}  // namespace slm::cli
