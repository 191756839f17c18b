// cmd_pretrain.cpp — `slm pretrain`: pretraining a GPT on text corpora (chapter 5 + appendix D).
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/loop_options_cli.h"
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
    std::unique_ptr<LoopOptionsCli> loop;
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
  c->add_option("--seq", o->a.seq, "Tokens per sequence (default: the context length)");
  c->add_option("--stride", o->a.stride, "Sliding-window stride (default: --seq)");
  c->add_option("--sample-every", o->a.sample_every, "Generate a sample every N steps (0: never)");
  c->add_option("--sample-prompt", o->a.sample_prompt, "Prompt of the samples")->capture_default_str();
  c->add_option("--sample-tokens", o->a.sample_tokens, "Tokens per sample")->capture_default_str();
  c->add_option("--init", o->a.init,
                "Initialization of a new model: gpt2 (N(0, 0.02), residual projections scaled by 1/sqrt(2 layers)) "
                "or torch (PyTorch's defaults, as the book's GPTModel gets them)")
      ->capture_default_str();
  o->loop = std::make_unique<LoopOptionsCli>(c, o->a);
  // Under mpirun, on every rank (distributed.h).
  auto body = [c, o] {
    PretrainArgs a = o->a;
    static_cast<LoopOptions&>(a) = o->loop->parsed();
    int sources =
        !a.resume.empty() + !a.init_from.empty() + (!o->model.config_name.empty() || !o->model.model_dir.empty());
    if (sources != 1) fail("give exactly one of --config NAME, --init-from DIR or --resume DIR");
    if (!o->model.model_dir.empty()) a.init_from = o->model.model_dir;
    if (!o->model.config_name.empty()) a.config = o->model.resolve();
    if (!a.resume.empty()) {
      // The run's settings come from the checkpoint; the run length, the cadence and the samples
      // may be given anew.
      recover_checkpoint_on_root(a.resume);
      const nlohmann::json state = load_trainer_state(a.resume);
      if (!state.contains("args") || !state["args"].is_object())
        fail("{}/trainer.json is not a pretraining checkpoint (no \"args\"); resume it with its own command", a.resume);
      PretrainArgs r = a;
      r.read_json(state["args"], a.resume + "/trainer.json");
      r.resumed_state = state;
      o->loop->resume(r, {"--data", "--text-column", "--lossy", "--val-fraction", "--seq", "--stride", "--tokenizer",
                          "--sample-prompt", "--init"});
      if (c->count("--sample-every")) r.sample_every = a.sample_every;
      a = r;
    } else if (a.out_dir.empty()) {
      fail("give --out DIR");
    }
    run_pretraining(a);
  };
  c->callback([body] { run_ranks(body); });
}

}  // namespace slm::cli
