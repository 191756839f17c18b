// loop_options_cli.cpp — the trainers' shared command-line options (see loop_options_cli.h).
#include "scratchlm/cli/loop_options_cli.h"

#include "scratchlm/cli/precision_options.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

LoopOptionsCli::LoopOptionsCli(CLI::App* c, LoopOptions& o) : c_(c), o_(o) {
  text_->schedule = schedule_name(o.schedule);
  text_->decay = o.decay == DecayMode::All ? "all" : "matrices";
  c->add_option("--epochs", o.epochs, "Train for this many epochs (0: unset)")->capture_default_str();
  c->add_option("--steps,--max-steps", o.steps,
                "Train until this many optimizer steps in total, counted across resumes (0: unset)");
  c->add_option("--max-time", text_->max_time, "Stop after this much training time, e.g. 10m, 1h30m");
  c->add_option("--stop-at", o.stop_at,
                "End this run after this step as Ctrl-C does (a resumable checkpoint); the schedule still plans "
                "the whole run");
  c->add_option("--batch", o.batch, "Rows per micro-batch (per rank)")->capture_default_str();
  c->add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step")->capture_default_str();
  c->add_option("--lr", o.lr, "Peak learning rate (AdamW)")->capture_default_str();
  c->add_option("--min-lr", o.min_lr, "Final learning rate of cosine/linear decay (default: lr/10)");
  c->add_option("--warmup", o.warmup, "Linear warmup steps")->capture_default_str();
  c->add_option("--schedule", text_->schedule, "Learning-rate schedule: cosine, constant or linear")
      ->capture_default_str();
  c->add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  c->add_option("--decay", text_->decay,
                "Which parameters decay: all (the book) or matrices (nanoGPT: 2-D weights only)")
      ->capture_default_str();
  c->add_option("--betas", text_->betas, "AdamW betas, e.g. --betas 0.9 0.95 (default 0.9 0.999)")->expected(2);
  c->add_option("--grad-clip", o.grad_clip, "Clip the global gradient norm to this (0: off)")->capture_default_str();
  c->add_option("--dropout", o.dropout, "Dropout rate (-1: the model's own)")->capture_default_str();
  c->add_option("--eval-every", o.eval_every, "Evaluate train and val loss every N steps (0: only before and after)")
      ->capture_default_str();
  c->add_option("--eval-batches", o.eval_batches, "Batches per evaluation (0: all)")->capture_default_str();
  c->add_option("--save-every", o.save_every, "Save a resumable checkpoint every N steps (0: only at the end)");
  c->add_option("--seed", o.seed, "Seed of the data order, dropout and new weights")->capture_default_str();
  c->add_option("--threads", o.threads, "Threads per rank (default: all cores, shared by the ranks of a machine)");
  c->add_option("--zero", o.zero,
                "Under mpirun: 1 shards AdamW's moments across the ranks (ZeRO stage 1), 0 keeps them whole")
      ->capture_default_str();
  add_precision_options(c, o.precision, o.save_dtype);
  c->add_flag("--quiet", o.quiet, "No progress output");
  c->add_flag("--force", o.force,
              "Write into a non-empty --out that holds other files (they are kept; the run's own files are replaced)");
}

LoopOptions LoopOptionsCli::parsed() const {
  LoopOptions o = o_;
  if (!text_->max_time.empty()) o.max_time_s = parse_duration(text_->max_time);
  o.schedule = parse_schedule(text_->schedule);
  if (text_->decay == "all")
    o.decay = DecayMode::All;
  else if (text_->decay == "matrices")
    o.decay = DecayMode::Matrices;
  else
    fail("--decay must be all or matrices, not '{}'", text_->decay);
  if (!text_->betas.empty()) {
    o.beta1 = text_->betas[0];
    o.beta2 = text_->betas[1];
  }
  return o;
}

void LoopOptionsCli::resume(LoopOptions& saved, std::initializer_list<const char*> fixed) const {
  auto refuse = [&](const char* opt) {
    if (c_->count(opt)) fail("{} cannot be changed when resuming (the checkpoint fixes it)", opt);
  };
  for (const char* opt : {"--batch", "--grad-accum", "--lr", "--min-lr", "--warmup", "--schedule", "--weight-decay",
                          "--decay", "--betas", "--grad-clip", "--dropout", "--seed"})
    refuse(opt);
  for (const char* opt : fixed) refuse(opt);
  const LoopOptions given = parsed();
  if (c_->count("--epochs") || c_->count("--steps") || c_->count("--max-time")) {
    saved.epochs = c_->count("--epochs") ? given.epochs : 0;
    saved.steps = c_->count("--steps") ? given.steps : 0;
    saved.max_time_s = c_->count("--max-time") ? given.max_time_s : 0.0;
  }
  if (c_->count("--eval-every")) saved.eval_every = given.eval_every;
  if (c_->count("--eval-batches")) saved.eval_batches = given.eval_batches;
  if (c_->count("--save-every")) saved.save_every = given.save_every;
  saved.stop_at = given.stop_at;
  saved.threads = given.threads;
  saved.zero = given.zero;
  if (c_->count("--precision")) saved.precision = given.precision;
  saved.save_dtype = given.save_dtype;
  saved.quiet = given.quiet;
  saved.force = given.force;
}

}  // namespace slm::cli
