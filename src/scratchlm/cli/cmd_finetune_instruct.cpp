// cmd_finetune_instruct.cpp — `slm finetune-instruct`: instruction finetuning of a pretrained
// model (chapter 7.5–7.7), fully or with LoRA adapters (appendix E).
#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/precision_options.h"
#include "scratchlm/finetune/instruct_trainer.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void register_finetune_instruct(CLI::App& app) {
  struct Opts {
    InstructArgs a;
    std::string max_time;
    float lora_alpha = 0.0f;
  };
  auto o = std::make_shared<Opts>();
  InstructArgs& a = o->a;
  auto* c = app.add_subcommand("finetune-instruct", "Finetune a pretrained model to follow instructions (chapter 7)");
  c->add_option("--init-from", a.init_from, "Pretrained model directory to start from");
  c->add_option("--data", a.data,
                "Instruction data: a JSON array or JSONL file of {instruction, input, output}, or instruction-data");
  c->add_option("--out", a.out_dir, "Output directory (model, checkpoint, metrics.jsonl, loss.svg, test responses)");
  c->add_option("--resume", a.resume, "Continue the finetuning run in this directory exactly");
  c->add_option("--tokenizer", a.tokenizer_dir, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--template", a.prompt_template, "Prompt template: alpaca (the book) or phi3 (exercise 7.1)")
      ->capture_default_str();
  c->add_flag("--mask-prompt", a.mask_prompt, "Train only on the responses: prompt targets become -100 (exercise 7.2)");
  c->add_option("--max-length", a.max_length, "Cut examples to this many tokens (also at most the context length)")
      ->capture_default_str();
  c->add_option("--train-frac", a.train_frac, "Training fraction of the entries (in file order)")
      ->capture_default_str();
  c->add_option("--test-frac", a.test_frac, "Test fraction (the rest is validation)")->capture_default_str();
  c->add_option("--epochs", a.epochs, "Epochs")->capture_default_str();
  c->add_option("--max-steps,--steps", a.max_steps,
                "Stop after this many steps in total, counted across resumes (0: all epochs)");
  c->add_option("--max-time", o->max_time,
                "Stop after this much training time, e.g. 30m, 1h30m (then save and finish)");
  c->add_option("--batch", a.batch, "Batch size (per micro-batch)")->capture_default_str();
  c->add_option("--grad-accum", a.grad_accum, "Micro-batches per optimizer step")->capture_default_str();
  c->add_option("--stop-at", a.stop_at, "End this run after this step as Ctrl-C does (a resumable checkpoint)");
  c->add_option("--lr", a.lr, "Learning rate (AdamW, constant)")->capture_default_str();
  c->add_option("--weight-decay", a.weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--grad-clip", a.grad_clip, "Clip the gradient norm (0: off, as the book)")->capture_default_str();
  c->add_option("--dropout", a.dropout, "Dropout rate while finetuning (the book's chapter 7: 0.0)")
      ->capture_default_str();
  c->add_option("--eval-every", a.eval_every, "Evaluate train/val loss every N steps (0: only before and after)")
      ->capture_default_str();
  c->add_option("--eval-batches", a.eval_batches, "Batches per evaluation (0: all)")->capture_default_str();
  c->add_option("--save-every", a.save_every, "Save a checkpoint every N steps (0: only at the end)");
  c->add_option("--sample-tokens", a.sample_tokens, "Tokens of the sample answer printed after each epoch")
      ->capture_default_str();
  c->add_option("--seed", a.seed, "Seed of the data order, dropout and LoRA initialization")->capture_default_str();
  c->add_option("--lora-rank", a.lora_rank,
                "Train LoRA adapters of this rank instead of all weights (0: full finetuning)");
  c->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha (default: the rank)");
  c->add_option("--lora-targets", a.lora_targets, "Layers with adapters: attn, mlp, or both (default attn,mlp)");
  c->add_flag("!--no-merge", a.merge,
              "LoRA: save only the adapter (referencing --init-from) instead of the merged model");
  c->add_flag("!--no-responses", a.responses, "Do not answer the test split at the end");
  c->add_option("--max-new-tokens", a.max_new_tokens, "Tokens per test response")->capture_default_str();
  c->add_option("--threads", a.threads, "Threads per rank (default: all cores, shared by the ranks of a machine)");
  c->add_option("--zero", a.zero,
                "Under mpirun: 1 shards AdamW's moments across the ranks (ZeRO stage 1), 0 keeps them whole")
      ->capture_default_str();
  add_precision_options(c, a.precision, a.save_dtype);
  c->add_flag("--quiet", a.quiet, "No progress output");
  c->add_flag("--force", a.force,
              "Write into a non-empty --out that holds other files (they are kept; the run's own files are replaced)");
  // Under mpirun, on every rank (distributed.h).
  auto body = [c, o] {
    InstructArgs a = o->a;
    if (c->count("--lora-alpha")) a.lora_alpha = o->lora_alpha;
    if (!o->max_time.empty()) a.max_time_s = parse_duration(o->max_time);
    if (a.resume.empty()) {
      if (a.init_from.empty()) fail("give --init-from MODEL_DIR (a pretrained model to start from)");
      if (a.data.empty()) fail("give --data FILE (JSON or JSONL instruction entries) or --data instruction-data");
      if (a.out_dir.empty()) fail("give --out DIR");
      run_instruction_finetuning(a);
      return;
    }
    // Resuming: the run's settings come from the checkpoint; the run length, the reporting
    // cadence and what happens at the end may be given anew.
    for (const char* opt :
         {"--init-from", "--data", "--out", "--tokenizer", "--template", "--mask-prompt", "--max-length",
          "--train-frac", "--test-frac", "--batch", "--grad-accum", "--lr", "--weight-decay", "--grad-clip",
          "--dropout", "--seed", "--lora-rank", "--lora-alpha", "--lora-targets"})
      if (c->count(opt)) fail("{} cannot be changed when resuming (the checkpoint fixes it)", opt);
    const nlohmann::json state = load_instruct_state(a.resume);
    InstructArgs r = InstructArgs::from_json(state.contains("args") ? state["args"] : nlohmann::json(),
                                             instruct_checkpoint_dir(a.resume));
    r.resume = a.resume;
    r.threads = a.threads;
    r.quiet = a.quiet;
    r.stop_at = a.stop_at;
    r.zero = a.zero;
    r.save_dtype = a.save_dtype;
    if (c->count("--precision")) r.precision = a.precision;
    if (c->count("--epochs") || c->count("--max-steps") || c->count("--max-time")) {  // a new run length
      if (c->count("--epochs")) r.epochs = a.epochs;
      r.max_steps = a.max_steps;
      r.max_time_s = a.max_time_s;
    }
    if (c->count("--eval-every")) r.eval_every = a.eval_every;
    if (c->count("--eval-batches")) r.eval_batches = a.eval_batches;
    if (c->count("--save-every")) r.save_every = a.save_every;
    if (c->count("--sample-tokens")) r.sample_tokens = a.sample_tokens;
    if (c->count("--no-merge")) r.merge = false;
    if (c->count("--no-responses")) r.responses = false;
    if (c->count("--max-new-tokens")) r.max_new_tokens = a.max_new_tokens;
    run_instruction_finetuning(r);
  };
  c->callback([body] { run_ranks(body); });
}

}  // namespace slm::cli
