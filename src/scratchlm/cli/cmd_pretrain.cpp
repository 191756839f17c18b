// cmd_pretrain.cpp — `slm pretrain`: pretraining a GPT on text corpora (chapter 5 + appendix D).
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/precision_options.h"
#include "scratchlm/cli/model_options.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/train/pretrain.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void register_pretrain(CLI::App& app) {
  struct Opts {
    ModelOptions model;
    PretrainArgs a;
    std::string max_time, schedule = "cosine", decay = "all";
    std::vector<float> betas;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("pretrain", "Pretrain a GPT on text (next-token prediction)");
  o->model.add(c);
  c->add_option("--init-from", o->a.init_from, "Start from this model directory's weights");
  c->add_option("--resume", o->a.resume, "Continue the training checkpoint in this directory exactly");
  c->add_option("--data", o->a.data,
                "Corpora: files, directories, globs, or moby-dick, sotu, the-verdict, tinyshakespeare");
  c->add_option(
      "--text-column", o->a.text_column,
      "Read .csv/.tsv/.jsonl/.json files in --data as tables: each row's text in this column is one document");
  c->add_option("--out", o->a.out_dir,
                "Output directory: model, optimizer state, trainer.json, metrics.jsonl, loss.svg");
  c->add_option("--tokenizer", o->a.tokenizer_dir, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_flag("--lossy", o->a.lossy, "Replace invalid UTF-8 in the data with U+FFFD instead of failing");
  c->add_option("--val-fraction", o->a.val_fraction, "Fraction of the tokens held out for validation")
      ->capture_default_str();
  c->add_option("--epochs", o->a.epochs, "Train for this many epochs");
  c->add_option("--steps", o->a.steps, "Train until this many optimizer steps in total (counted across resumes)");
  c->add_option("--max-time", o->max_time, "Stop after this much training time, e.g. 10m, 1h30m");
  c->add_option("--stop-at", o->a.stop_at,
                "End this run after this step as Ctrl-C does (a resumable checkpoint); the schedule still plans "
                "--epochs/--steps");
  c->add_option("--batch", o->a.batch, "Sequences per micro-batch")->capture_default_str();
  c->add_option("--grad-accum", o->a.grad_accum, "Micro-batches per optimizer step")->capture_default_str();
  c->add_option("--seq", o->a.seq, "Tokens per sequence (default: the context length)");
  c->add_option("--stride", o->a.stride, "Sliding-window stride (default: --seq)");
  c->add_option("--lr", o->a.lr, "Peak learning rate")->capture_default_str();
  c->add_option("--min-lr", o->a.min_lr, "Final learning rate of cosine/linear decay (default: lr/10)");
  c->add_option("--warmup", o->a.warmup, "Linear warmup steps")->capture_default_str();
  c->add_option("--schedule", o->schedule, "cosine, constant or linear")->capture_default_str();
  c->add_option("--weight-decay", o->a.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--decay", o->decay, "Which parameters decay: all (the book) or matrices (nanoGPT: 2-D weights only)")
      ->capture_default_str();
  c->add_option("--betas", o->betas, "AdamW betas, e.g. --betas 0.9 0.95 (default 0.9 0.999)")->expected(2);
  c->add_option("--grad-clip", o->a.grad_clip, "Clip the global gradient norm to this (0: off)")->capture_default_str();
  c->add_option("--dropout", o->a.dropout, "Dropout rate (default: the config's)");
  c->add_option("--eval-every", o->a.eval_every, "Evaluate train and val loss every N steps (0: only at the end)");
  c->add_option("--eval-batches", o->a.eval_batches, "Batches per evaluation (0: all)")->capture_default_str();
  c->add_option("--sample-every", o->a.sample_every, "Generate a sample every N steps (0: never)");
  c->add_option("--sample-prompt", o->a.sample_prompt, "Prompt of the samples")->capture_default_str();
  c->add_option("--sample-tokens", o->a.sample_tokens, "Tokens per sample")->capture_default_str();
  c->add_option("--save-every", o->a.save_every, "Save a checkpoint every N steps (0: only at the end)");
  c->add_option("--init", o->a.init,
                "Initialization of a new model: gpt2 (N(0, 0.02), residual projections scaled by 1/sqrt(2 layers)) "
                "or torch (PyTorch's defaults, as the book's GPTModel gets them)")
      ->capture_default_str();
  c->add_option("--seed", o->a.seed, "Seed of initialization, data order and dropout")->capture_default_str();
  c->add_option("--threads", o->a.threads, "Threads per rank (default: all cores, shared by the ranks of a machine)");
  c->add_option("--zero", o->a.zero,
                "Under mpirun: 1 shards AdamW's moments across the ranks (ZeRO stage 1), 0 keeps them whole")
      ->capture_default_str();
  add_precision_options(c, o->a.precision, o->a.save_dtype);
  c->add_flag("--quiet", o->a.quiet, "No progress output");
  c->add_flag("--force", o->a.force,
              "Write into a non-empty --out that holds other files (they are kept; the run's own files are replaced)");
  // Under mpirun, on every rank (distributed.h).
  auto body = [c, o] {
    PretrainArgs a = o->a;
    a.schedule = parse_schedule(o->schedule);
    if (o->decay == "all")
      a.decay = DecayMode::All;
    else if (o->decay == "matrices")
      a.decay = DecayMode::Matrices;
    else
      fail("--decay must be all or matrices, not '{}'", o->decay);
    if (!o->betas.empty()) {
      a.beta1 = o->betas[0];
      a.beta2 = o->betas[1];
    }
    if (!o->max_time.empty()) a.max_time_s = parse_duration(o->max_time);
    int sources =
        !a.resume.empty() + !a.init_from.empty() + (!o->model.config_name.empty() || !o->model.model_dir.empty());
    if (sources != 1) fail("give exactly one of --config NAME, --init-from DIR or --resume DIR");
    if (!o->model.model_dir.empty()) a.init_from = o->model.model_dir;
    if (!o->model.config_name.empty()) a.config = o->model.resolve();
    if (!a.resume.empty()) {
      // The run's settings come from the checkpoint; the run length and the reporting cadence
      // may be given anew.
      const nlohmann::json state = load_trainer_state(a.resume);
      if (!state.contains("args") || !state["args"].is_object())
        fail("{}/trainer.json is not a pretraining checkpoint (no \"args\"); resume it with its own command", a.resume);
      const nlohmann::json& saved = state["args"];
      PretrainArgs r = a;
      try {
        r.data = saved.at("data").get<std::vector<std::string>>();
        r.text_column = saved.value("text_column", std::string());
        r.lossy = saved.at("lossy");
        r.val_fraction = saved.at("val_fraction");
        r.batch = per_rank_batch(saved.at("batch").get<int64_t>(), a.resume);
        r.grad_accum = saved.at("grad_accum");
        r.seq = saved.at("seq");
        r.stride = saved.at("stride");
        r.lr = saved.at("lr");
        r.min_lr = saved.at("min_lr");
        r.warmup = saved.at("warmup");
        r.schedule = parse_schedule(saved.at("schedule").get<std::string>());
        r.weight_decay = saved.at("weight_decay");
        r.beta1 = saved.at("betas").at(0);
        r.beta2 = saved.at("betas").at(1);
        r.grad_clip = saved.at("grad_clip");
        r.decay = saved.at("decay") == "all" ? DecayMode::All : DecayMode::Matrices;
        r.dropout = saved.at("dropout");
        r.seed = saved.at("seed");
        r.tokenizer_dir = saved.at("tokenizer_dir");
        r.sample_prompt = saved.at("sample_prompt");
        if (!c->count("--precision")) r.precision = parse_precision(saved.value("precision", std::string("fp32")));
        if (!c->count("--epochs") && !c->count("--steps") && !c->count("--max-time")) {
          r.epochs = saved.at("epochs");
          r.steps = saved.at("steps");
          r.max_time_s = saved.at("max_time_s");
        }
        if (!c->count("--eval-every")) r.eval_every = saved.at("eval_every");
        if (!c->count("--eval-batches")) r.eval_batches = saved.at("eval_batches");
        if (!c->count("--sample-every")) r.sample_every = saved.at("sample_every");
        if (!c->count("--save-every")) r.save_every = saved.at("save_every");
      } catch (const nlohmann::json::exception& e) {
        fail("{}/trainer.json: malformed \"args\" ({})", a.resume, e.what());
      }
      a = r;
    } else if (a.out_dir.empty()) {
      fail("give --out DIR");
    }
    run_pretraining(a);
  };
  c->callback([body] { run_ranks(body); });
}

}  // namespace slm::cli
