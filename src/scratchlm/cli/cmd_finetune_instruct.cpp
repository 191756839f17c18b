// cmd_finetune_instruct.cpp — `slm finetune-instruct`: instruction finetuning of a pretrained
// model (chapter 7.5–7.7), fully or with LoRA adapters (appendix E).
#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/loop_options_cli.h"
#include "scratchlm/finetune/instruct_trainer.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void register_finetune_instruct(CLI::App& app) {
  struct Opts {
    InstructArgs a;
    std::unique_ptr<LoopOptionsCli> loop;
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
  c->add_option("--sample-tokens", a.sample_tokens, "Tokens of the sample answer printed after each epoch")
      ->capture_default_str();
  c->add_option("--lora-rank", a.lora_rank,
                "Train LoRA adapters of this rank instead of all weights (0: full finetuning)");
  c->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha (default: the rank)");
  c->add_option("--lora-targets", a.lora_targets, "Layers with adapters: attn, mlp, or both (default attn,mlp)");
  c->add_flag("!--no-merge", a.merge,
              "LoRA: save only the adapter (referencing --init-from) instead of the merged model");
  c->add_flag("!--no-responses", a.responses, "Do not answer the test split at the end");
  c->add_option("--max-new-tokens", a.max_new_tokens, "Tokens per test response")->capture_default_str();
  o->loop = std::make_unique<LoopOptionsCli>(c, a);
  // Under mpirun, on every rank (distributed.h).
  auto body = [c, o] {
    InstructArgs a = o->a;
    static_cast<LoopOptions&>(a) = o->loop->parsed();
    if (c->count("--lora-alpha")) a.lora_alpha = o->lora_alpha;
    if (a.resume.empty()) {
      if (a.init_from.empty()) fail("give --init-from MODEL_DIR (a pretrained model to start from)");
      if (a.data.empty()) fail("give --data FILE (JSON or JSONL instruction entries) or --data instruction-data");
      if (a.out_dir.empty()) fail("give --out DIR");
      run_instruction_finetuning(a);
      return;
    }
    // Resuming: the run's settings come from the checkpoint; the run length, the reporting
    // cadence and what happens at the end may be given anew.
    recover_checkpoint_on_root(instruct_checkpoint_dir(a.resume));
    const nlohmann::json state = load_instruct_state(a.resume);
    InstructArgs r = InstructArgs::from_json(state.contains("args") ? state["args"] : nlohmann::json(),
                                             instruct_checkpoint_dir(a.resume));
    o->loop->resume(r, {"--init-from", "--data", "--out", "--tokenizer", "--template", "--mask-prompt", "--max-length",
                        "--train-frac", "--test-frac", "--lora-rank", "--lora-alpha", "--lora-targets"});
    r.resume = a.resume;
    r.resumed_state = state;
    if (c->count("--sample-tokens")) r.sample_tokens = a.sample_tokens;
    if (c->count("--no-merge")) r.merge = false;
    if (c->count("--no-responses")) r.responses = false;
    if (c->count("--max-new-tokens")) r.max_new_tokens = a.max_new_tokens;
    run_instruction_finetuning(r);
  };
  c->callback([body] { run_ranks(body); });
}

}  // namespace slm::cli
