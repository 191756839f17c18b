// pretrain.cpp — chapter 5 pretraining as a task of the training engine (see pretrain.h).
#include "scratchlm/train/pretrain.h"

#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <optional>

#include "scratchlm/data/shards.h"
#include "scratchlm/data/window_dataset.h"
#include "scratchlm/generate/generator.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/engine.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

// Rows [begin, end) of batch `from` into `to`.
void copy_rows(const Batch& from, int64_t begin, int64_t end, Batch& to) {
  const size_t L = from.cols, a = static_cast<size_t>(begin) * L, b = static_cast<size_t>(end) * L;
  to.rows = static_cast<size_t>(end - begin);
  to.cols = L;
  to.epoch = from.epoch;
  to.index = from.index;
  to.inputs.assign(from.inputs.begin() + static_cast<int64_t>(a), from.inputs.begin() + static_cast<int64_t>(b));
  to.targets.assign(from.targets.begin() + static_cast<int64_t>(a), from.targets.begin() + static_cast<int64_t>(b));
}

// The book's calc_loss_loader: the mean of the first `max_batches` batch losses (all when <= 0).
// Data-parallel: each rank computes its rows of every batch (`per_rank` each), and a batch's loss
// is the mean of the ranks' weighted by their rows.
double loader_loss(GPT& model, DataLoader& dl, int64_t max_batches, int64_t per_rank) {
  int64_t n = static_cast<int64_t>(dl.batches_per_epoch());
  if (max_batches > 0) n = std::min(n, max_batches);
  if (n == 0) return std::nan("");
  Batch b;
  Communicator& comm = Communicator::world();
  if (!comm.distributed()) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      dl.batch_at(0, static_cast<uint64_t>(i), b);
      sum +=
          model.forward(b.inputs.data(), b.targets.data(), static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols));
    }
    return sum / static_cast<double>(n);
  }
  std::vector<double> part(static_cast<size_t>(2 * n), 0.0);  // per batch: loss x rows, rows
  Batch mine;
  for (int64_t i = 0; i < n; ++i) {
    dl.batch_at(0, static_cast<uint64_t>(i), b);
    const auto [lo, hi] = rank_rows(static_cast<int64_t>(b.rows), per_rank);
    if (lo == hi) continue;
    copy_rows(b, lo, hi, mine);
    part[2 * i] = (hi - lo) * static_cast<double>(model.forward(mine.inputs.data(), mine.targets.data(), hi - lo,
                                                                static_cast<int64_t>(mine.cols)));
    part[2 * i + 1] = static_cast<double>(hi - lo);
  }
  comm.allreduce_sum(part.data(), part.size());
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += part[2 * i] / part[2 * i + 1];
  return sum / static_cast<double>(n);
}

// The tokenizer's directory or GGUF file: --tokenizer, else the model's own (a directory with
// vocab.json + merges.txt or tokenizer.json, or a GGUF file's metadata), else data/gpt2.
std::string tokenizer_dir_for(const PretrainArgs& a) {
  if (!a.tokenizer_dir.empty()) return a.tokenizer_dir;
  for (const std::string& d : {a.resume, a.init_from})
    if (!d.empty() && (is_gguf_path(d) || tokenizer_dir_for_model(d) == d)) return d;
  return default_tokenizer_dir();
}

// Chapter 5's next-token prediction over sliding windows of the corpus.
class PretrainTask : public TrainingTask {
 public:
  PretrainTask(GPT& model, const Tokenizer& tok, std::string tok_dir, TokenSplit split, int64_t T,
               const PretrainArgs& a)
      : model_(model),
        tok_(tok),
        train_tokens_(split.train.size()),
        val_tokens_(split.val.size()),
        batch_(a.batch),
        train_(WindowDataset(split.train, static_cast<size_t>(T), static_cast<size_t>(a.stride)),
               LoaderOptions{static_cast<size_t>(global_batch(a.batch)), true, a.seed, true}),
        train_eval_(WindowDataset(split.train, static_cast<size_t>(T), static_cast<size_t>(a.stride)),
                    LoaderOptions{static_cast<size_t>(global_batch(a.batch)), false, 0, false}),
        eval_batches_(a.eval_batches),
        sample_tokens_(a.sample_tokens),
        sample_seed_(a.seed),
        tok_dir_(std::move(tok_dir)) {
    if (train_.batches_per_epoch() == 0)
      fail(
          "not enough training tokens for one batch of {} x {} ({} tokens in the training split); lower --batch or "
          "--seq",
          global_batch(a.batch), T, train_tokens_);
    // Validation windows of T tokens; a validation split shorter than one window gets one shorter
    // window (a loss over fewer positions), one of fewer than 2 tokens none.
    val_T_ = std::min<int64_t>(T, static_cast<int64_t>(val_tokens_) - 1);
    if (val_T_ >= 1)
      val_.emplace(WindowDataset(split.val, static_cast<size_t>(val_T_), static_cast<size_t>(val_T_)),
                   LoaderOptions{static_cast<size_t>(global_batch(a.batch)), false, 0, false});
    for (uint32_t id : tok.encode(a.sample_prompt, SpecialMode::Allow)) prompt_.push_back(static_cast<int32_t>(id));
    // Bytes of text per validation token (special tokens hold none): the loss in bits per byte
    // compares models whose vocabularies differ.
    std::vector<bool> special(static_cast<size_t>(tok.vocab_size()), false);
    for (const auto& named : tok.specials()) special[named.second] = true;
    size_t bytes = 0;
    for (size_t i = 0; i < split.val.size(); ++i)
      if (!special[split.val[i]]) bytes += tok.token_bytes(split.val[i]).size();
    if (bytes > 0) val_bytes_per_token_ = static_cast<double>(bytes) / static_cast<double>(split.val.size());
    if (Communicator::world().distributed())
      digest_ =
          fmt::format("{:016x}/{:016x}", digest_values(split.train.size(), [&](size_t i) { return split.train[i]; }),
                      digest_values(split.val.size(), [&](size_t i) { return split.val[i]; }));
  }
  std::string data_digest() const override { return digest_; }

  int64_t batches_per_epoch() const override { return static_cast<int64_t>(train_.batches_per_epoch()); }
  double train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) override {
    double share = 1.0;  // of the global micro-batch's loss: this rank's rows
    if (global_batch(batch_) == batch_) {
      train_.batch_at(epoch, index, b_);
      model_.next_dropout_rows(0, rows());
    } else {
      train_.batch_at(epoch, index, global_);
      const auto [lo, hi] = rank_rows(static_cast<int64_t>(global_.rows), batch_);
      copy_rows(global_, lo, hi, b_);
      model_.next_dropout_rows(lo, static_cast<int64_t>(global_.rows));
      share = static_cast<double>(hi - lo) / static_cast<double>(global_.rows);
    }
    const double loss = model_.forward(b_.inputs.data(), b_.targets.data(), rows(), cols(), true,
                                       grad_scale * static_cast<float>(share));
    model_.backward();
    seen += rows() * cols();
    return loss * share;
  }
  std::optional<double> recheck_last_batch() override {
    if (b_.inputs.empty()) return std::nullopt;
    return model_.forward(b_.inputs.data(), b_.targets.data(), rows(), cols());
  }
  Evaluation evaluate() override {
    Evaluation ev;
    ev.train_loss = loader_loss(model_, train_eval_, eval_batches_, batch_);
    ev.has_val = val_.has_value();
    ev.extra["train_perplexity"] = std::exp(ev.train_loss);
    if (val_) {
      ev.val_loss = loader_loss(model_, *val_, eval_batches_, batch_);
      ev.extra["val_perplexity"] = std::exp(ev.val_loss);
      ev.note = fmt::format(" (perplexity {:.1f}", std::exp(ev.val_loss));
      if (val_bytes_per_token_ > 0) {
        const double bpb = ev.val_loss / std::log(2.0) / val_bytes_per_token_;
        ev.extra["val_bits_per_byte"] = bpb;
        ev.note += fmt::format(", {:.3f} bits/byte", bpb);
      }
      ev.note += ")";
    }
    last_eval_ = ev;
    return ev;
  }
  std::string sample() override {
    if (prompt_.empty()) return {};
    GenerateOptions g;
    // Sampled as `slm generate --temperature 0.8 --top-k 40 --seed SEED` would: greedy decoding of a
    // young model repeats itself (often as walls of newlines).
    g.max_new_tokens = sample_tokens_;
    g.sampler.temperature = 0.8f;
    g.sampler.top_k = 40;
    g.sampler.seed = sample_seed_;
    g.eos_id = tok_.eot_id() ? static_cast<int32_t>(*tok_.eot_id()) : -1;
    std::vector<uint32_t> all(prompt_.begin(), prompt_.end());
    for (int32_t id : generate(model_, prompt_, g)) all.push_back(static_cast<uint32_t>(id));
    return utf8_lossy(tok_.decode(all));
  }
  nlohmann::json checkpoint_fields() const override { return {{"tokenizer_dir", tok_dir_}}; }

  size_t train_tokens() const { return train_tokens_; }
  size_t val_tokens() const { return val_tokens_; }
  bool has_val() const { return val_.has_value(); }
  int64_t val_window() const { return val_T_; }
  const Evaluation& last_eval() const { return last_eval_; }

 private:
  int64_t rows() const { return static_cast<int64_t>(b_.rows); }
  int64_t cols() const { return static_cast<int64_t>(b_.cols); }

  GPT& model_;
  const Tokenizer& tok_;
  size_t train_tokens_, val_tokens_;
  int64_t batch_;  // per rank
  DataLoader train_, train_eval_;
  std::optional<DataLoader> val_;
  int64_t val_T_ = 0, eval_batches_, sample_tokens_;
  uint64_t sample_seed_;
  double val_bytes_per_token_ = 0.0;
  std::vector<int32_t> prompt_;
  std::string tok_dir_, digest_;
  Batch b_, global_;
  Evaluation last_eval_;
};

}  // namespace

nlohmann::json PretrainArgs::to_json() const {
  nlohmann::json j = LoopOptions::to_json();
  j.update({{"init_from", init_from},
            {"data", data},
            {"text_column", text_column},
            {"lossy", lossy},
            {"val_fraction", val_fraction},
            {"seq", seq},
            {"stride", stride},
            {"sample_every", sample_every},
            {"sample_prompt", sample_prompt},
            {"sample_tokens", sample_tokens},
            {"init", init},
            {"tokenizer_dir", tokenizer_dir}});
  return j;
}

void PretrainArgs::read_json(const nlohmann::json& j, const std::string& source) {
  try {
    LoopOptions::read_json(j, source);
    data = j.at("data").get<std::vector<std::string>>();
    text_column = j.value("text_column", std::string());
    lossy = j.at("lossy");
    val_fraction = j.at("val_fraction");
    seq = j.at("seq");
    stride = j.at("stride");
    sample_every = j.at("sample_every");
    sample_prompt = j.at("sample_prompt");
    tokenizer_dir = j.at("tokenizer_dir");
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed \"args\" ({})", source, e.what());
  }
}

void PretrainArgs::validate() const {
  LoopOptions::validate();
  require_non_negative("--seq", seq);
  require_non_negative("--stride", stride);
  require_non_negative("--sample-every", sample_every);
  require_non_negative("--sample-tokens", sample_tokens);
  if (!(val_fraction >= 0 && val_fraction < 1)) fail("--val-fraction must be in [0, 1), got {}", val_fraction);
  if (data.empty()) fail("no training data: give --data CORPUS...");
}

PretrainResult run_pretraining(const PretrainArgs& args) {
  args.validate();
  Communicator& comm = Communicator::world();
  PretrainArgs a = args;
  if (!comm.root()) a.quiet = true;  // rank 0 alone prints
  const int threads = configure_threads(threads_per_rank(a.threads));
  const bool resuming = !a.resume.empty();
  const std::string out = a.out_dir.empty() ? a.resume : a.out_dir;
  if (out.empty()) fail("give --out DIR");
  if (!resuming && fs::exists(fs::path(out) / "trainer.json") && !a.force)
    fail(
        "'{}' already holds a training checkpoint: continue it with --resume {}, choose another --out, or add --force "
        "to start over in it",
        out, out);
  if (comm.root()) check_output_dir(out, a.force || resuming);

  // ---- model
  std::unique_ptr<GPT> model;
  if (resuming) {
    model = load_hf_model(a.resume, true);
  } else if (!a.init_from.empty()) {
    model = load_hf_model(a.init_from);
  } else if (a.config) {
    model = std::make_unique<GPT>(*a.config);
    if (a.init == "gpt2")
      model->init_weights(a.seed);
    else if (a.init == "torch")
      model->init_weights_torch_default(a.seed);
    else
      fail("--init must be gpt2 or torch, not '{}'", a.init);
  } else {
    fail("give --config NAME, --init-from DIR or --resume DIR");
  }
  if (a.dropout >= 0.0f) model->set_drop_rate(a.dropout);
  const GPTConfig& cfg = model->config();
  const int64_t T = a.seq ? a.seq : cfg.context_length;
  if (T > cfg.context_length) fail("--seq {} exceeds the model's context length {}", T, cfg.context_length);

  // ---- data
  const std::string tok_dir = tokenizer_dir_for(a);
  Tokenizer tok = load_model_tokenizer("", tok_dir);
  const std::string tok_id = is_gguf_path(tok_dir) ? tokenizer_content_id(tok) : tokenizer_dir_id(tok_dir);
  // Rank 0 tokenizes first, so that ranks sharing its disk read its token cache.
  auto tokenize = [&] {
    return tokenize_corpus_cached(a.data, tok, tok_id, "", a.lossy, threads, nullptr, a.text_column);
  };
  TokenArray tokens;
  if (comm.root()) tokens = tokenize();
  comm.agree();
  if (!comm.root()) tokens = tokenize();
  if (tokens.empty()) fail("the training data is empty");
  if (tokens.max_id() >= static_cast<uint32_t>(cfg.vocab_size))
    fail("the tokenizer produces id {} but the model's vocabulary has {} entries", tokens.max_id(), cfg.vocab_size);
  PretrainTask task(*model, tok, tok_dir, split_tokens(tokens, a.val_fraction), T, a);

  // ---- the run
  TrainingRun run(a);
  run.out_dir = out;
  run.checkpoint_dir = out;
  run.format = "scratchlm-trainer/1";
  run.title = "ScratchLM pretraining: " + out;
  run.resume = a.resume;
  run.sample_every = a.sample_every;
  run.unit = SeenUnit::Tokens;
  run.args = a.to_json();
  TrainingEngine engine(*model, tok, task, run);
  if (!a.quiet) {
    fmt::print(stderr,
               "pretraining {} parameters on {} tokens ({} train / {} val), {} steps per epoch of {} x {} tokens{}{}\n",
               model->params().numel(), tokens.size(), task.train_tokens(), task.val_tokens(), engine.steps_per_epoch(),
               global_batch(a.batch) * a.grad_accum, T,
               comm.distributed() ? fmt::format(" on {} ranks{}", comm.size(), a.zero ? " (ZeRO-1)" : "") : "",
               resuming ? fmt::format(", resuming at step {}", engine.step()) : "");
    if (!task.has_val())
      fmt::print(stderr, "no validation loss: the validation split has {} tokens (raise --val-fraction for one)\n",
                 task.val_tokens());
    else if (task.val_window() < T)
      fmt::print(stderr,
                 "the validation split has {} tokens, fewer than one window of {}: validating on a window of {}\n",
                 task.val_tokens(), T + 1, task.val_window());
  }
  const TrainingResult r = engine.train();
  if (!engine.evaluated_last_step()) engine.evaluate();
  engine.save();
  engine.plot();
  if (!a.quiet)
    fmt::print(stderr, "{} checkpoint at step {} in {}\n", r.interrupted ? "stopped early: saved" : "saved", r.steps,
               out);
  if (!r.interrupted && comm.root()) {
    const std::string copy = save_model_copy(*model, out, &tok, a.save_dtype);
    if (!copy.empty() && !a.quiet) fmt::print(stderr, "saved the model as {} in {}\n", dtype_name(a.save_dtype), copy);
  }
  PretrainResult res;
  res.steps_done = r.steps;
  res.interrupted = r.interrupted;
  res.final_train_loss = task.last_eval().train_loss;
  res.final_val_loss = task.last_eval().val_loss;
  return res;
}

}  // namespace slm
