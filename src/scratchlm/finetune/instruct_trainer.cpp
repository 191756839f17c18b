// instruct_trainer.cpp — instruction finetuning, chapter 7.5–7.7 (see instruct_trainer.h): the
// book's train_model_simple over collated instruction batches, with LoRA as in appendix E.
#include "scratchlm/finetune/instruct_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <utility>

#include "scratchlm/data/instruct_data.h"
#include "scratchlm/finetune/instruct_task.h"
#include "scratchlm/finetune/lora.h"
#include "scratchlm/finetune/responses.h"
#include "scratchlm/generate/generator.h"
#include "scratchlm/io/checkpoint.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/train/engine.h"
#include "scratchlm/train/loop_util.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"
#include "scratchlm/util/sha256.h"

namespace slm {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "scratchlm-instruct/1";

std::vector<TokenizedExample> tokenize_all(const Tokenizer& tok, const std::vector<InstructionEntry>& entries,
                                           PromptTemplate t) {
  std::vector<TokenizedExample> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(tokenize_example(tok, e, t));
  return out;
}

std::string absolute(const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); }

}  // namespace

json InstructArgs::to_json() const {
  json j = LoopOptions::to_json();
  j.update({{"init_from", init_from},
            {"data", data},
            {"tokenizer_dir", tokenizer_dir},
            {"template", prompt_template},
            {"mask_prompt", mask_prompt},
            {"max_length", max_length},
            {"train_frac", train_frac},
            {"test_frac", test_frac},
            {"sample_tokens", sample_tokens},
            {"lora_rank", lora_rank},
            {"lora_alpha", lora_alpha ? json(*lora_alpha) : json(nullptr)},
            {"lora_targets", lora_targets},
            {"merge", merge},
            {"responses", responses},
            {"max_new_tokens", max_new_tokens}});
  return j;
}

InstructArgs InstructArgs::from_json(const json& j, const std::string& dir) {
  InstructArgs a;
  try {
    a.LoopOptions::read_json(j, dir);
    a.init_from = j.at("init_from");
    a.data = j.at("data");
    a.tokenizer_dir = j.at("tokenizer_dir");
    a.prompt_template = j.at("template");
    a.mask_prompt = j.at("mask_prompt");
    a.max_length = j.at("max_length");
    a.train_frac = j.at("train_frac");
    a.test_frac = j.at("test_frac");
    a.sample_tokens = j.at("sample_tokens");
    a.lora_rank = j.at("lora_rank");
    if (!j.at("lora_alpha").is_null()) a.lora_alpha = j.at("lora_alpha").get<float>();
    a.lora_targets = j.at("lora_targets");
    a.merge = j.at("merge");
    a.responses = j.at("responses");
    a.max_new_tokens = j.at("max_new_tokens");
  } catch (const json::exception& e) {
    fail("{}/trainer.json: malformed \"args\" ({})", dir, e.what());
  }
  return a;
}

std::string resolve_instruction_data(const std::string& spec, const std::string& data_dir) {
  if (spec.empty()) fail("no training data: give --data FILE (JSON or JSONL) or --data instruction-data");
  std::error_code ec;
  if (fs::exists(spec, ec)) return spec;
  if (spec == "instruction-data") {
    const std::string path =
        (fs::path(data_dir.empty() ? default_data_dir() : data_dir) / "instruction-data.json").string();
    if (!file_exists(path))
      fail("data set 'instruction-data' is not available: '{}' is missing; run `slm download-data instruction-data`",
           path);
    return path;
  }
  fail("instruction data '{}' not found: it is not a file or the built-in data set instruction-data", spec);
}

std::string instruct_checkpoint_dir(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "trainer.json")) return dir;
  if (fs::exists(fs::path(dir) / "checkpoint" / "trainer.json")) return (fs::path(dir) / "checkpoint").string();
  fail("'{}' holds no finetuning checkpoint (no trainer.json in it or in its checkpoint/ folder)", dir);
}

json load_instruct_state(const std::string& dir) {
  const std::string ckpt = instruct_checkpoint_dir(dir);
  json state = load_trainer_state(ckpt);
  if (state.value("format", "") != kFormat)
    fail("'{}' is not an instruction-finetuning checkpoint (format '{}'); resume it with its own command", ckpt,
         state.value("format", ""));
  return state;
}

void InstructArgs::validate() const {
  LoopOptions::validate();
  require_positive("--max-length", max_length);
  require_non_negative("--sample-tokens", sample_tokens);
  require_non_negative("--max-new-tokens", max_new_tokens);
  require_non_negative("--lora-rank", lora_rank);
  if (lora_alpha) require_positive_finite("--lora-alpha", *lora_alpha);
  if (!(train_frac > 0 && test_frac >= 0 && train_frac + test_frac <= 1))
    fail("--train-frac and --test-frac must satisfy 0 < train, 0 <= test, train + test <= 1 (got {} and {})",
         train_frac, test_frac);
  const bool lora = lora_rank > 0;
  if (!lora && lora_alpha) fail("--lora-alpha needs --lora-rank");
  if (!lora && !lora_targets.empty()) fail("--lora-targets needs --lora-rank");
  if (!lora && !merge) fail("--no-merge needs --lora-rank (it saves only the LoRA adapter)");
  parse_prompt_template(prompt_template);
}

InstructResult run_instruction_finetuning(const InstructArgs& args) {
  Communicator& comm = Communicator::world();
  InstructArgs a = args;
  a.validate();
  if (!comm.root()) a.quiet = true;  // rank 0 alone prints and writes
  const bool lora = a.lora_rank > 0;
  const PromptTemplate tmpl = parse_prompt_template(a.prompt_template);
  configure_threads(threads_per_rank(a.threads));

  // ---- where things go
  const bool resuming = !a.resume.empty();
  const std::string ckpt =
      resuming ? instruct_checkpoint_dir(a.resume) : (lora ? (fs::path(a.out_dir) / "checkpoint").string() : a.out_dir);
  json state;
  if (resuming) {
    state = a.resumed_state.is_null() ? load_instruct_state(ckpt) : a.resumed_state;
    if (state.value("lora", false) != lora) fail("the checkpoint's LoRA setting differs from this run's");
  }
  const std::string out = resuming ? (lora ? fs::path(ckpt).parent_path().string() : ckpt) : a.out_dir;
  if (out.empty()) fail("give --out DIR");
  if (!resuming && !a.force &&
      (fs::exists(fs::path(out) / "trainer.json") || fs::exists(fs::path(out) / "checkpoint" / "trainer.json")))
    fail(
        "'{}' already holds a finetuning checkpoint: continue it with --resume {}, choose another --out, or add "
        "--force "
        "to start over in it",
        out, out);
  if (comm.root()) check_output_dir(out, a.force || resuming);
  if (!resuming && a.init_from.empty()) fail("give --init-from MODEL_DIR (a pretrained model to start from)");
  const std::string data_path = resolve_instruction_data(a.data);
  a.init_from = absolute(args.init_from);  // saved: independent of the working directory
  a.data = absolute(data_path);
  const std::string data_sha = sha256_file(data_path);
  if (resuming && state.value("data_sha256", "") != data_sha)
    fail("'{}' changed since the checkpoint was saved (its sha256 differs); resume with the same data", data_path);

  // ---- model
  std::unique_ptr<GPT> model;
  if (resuming) {
    model = load_hf_model(ckpt, true);
    if (lora != model->config().lora.enabled())
      fail("'{}' does not hold the LoRA model its trainer.json describes", ckpt);
    if (lora)  // as add_lora left it: only the adapters train
      for (const auto& p : model->params().params())
        model->params().set_trainable(p.name, p.name.find(".lora_") != std::string::npos);
  } else {
    model = load_hf_model(args.init_from);
    if (model->config().is_classifier())
      fail("'{}' is a classifier; instruction finetuning starts from a language model", args.init_from);
    if (model->config().lora.enabled()) {  // an adapter directory: continue from its merged weights
      if (lora && !a.merge) fail("--no-merge needs a plain base model in --init-from, not an adapter directory");
      model = merge_lora(*model);
    }
    if (lora)
      model = add_lora(*model,
                       parse_lora_targets(a.lora_targets.empty() ? "attn,mlp" : a.lora_targets, a.lora_rank,
                                          a.lora_alpha ? *a.lora_alpha : static_cast<float>(a.lora_rank)),
                       a.seed);
  }
  if (a.dropout >= 0.0f) model->set_drop_rate(a.dropout);
  const GPTConfig& cfg = model->config();
  const int64_t max_len = std::min(a.max_length, cfg.context_length);
  const std::string tok_dir =
      resuming ? tokenizer_dir_for_model(ckpt) : tokenizer_dir_for_model(args.init_from, a.tokenizer_dir);
  Tokenizer tok = Tokenizer::load_dir(tok_dir);
  const int32_t pad = tok.pad_id();

  // ---- data: the book's split, each entry tokenized once
  const InstructionSplit split = split_instruction_data(load_instruction_data(data_path), a.train_frac, a.test_frac);
  std::vector<TokenizedExample> train = tokenize_all(tok, split.train, tmpl);
  const std::vector<TokenizedExample> val = tokenize_all(tok, split.val, tmpl),
                                      test = tokenize_all(tok, split.test, tmpl);
  int32_t max_id = pad;
  for (const auto* xs : {&std::as_const(train), &val, &test})
    for (const auto& ex : *xs) max_id = std::max(max_id, *std::max_element(ex.ids.begin(), ex.ids.end()));
  if (max_id >= cfg.vocab_size)
    fail("the tokenizer produces id {} but the model's vocabulary has {} entries", max_id, cfg.vocab_size);
  size_t dropped = 0;
  if (a.mask_prompt)  // a prompt that fills max_len leaves no target to learn from
    dropped = std::erase_if(train, [&](const TokenizedExample& ex) { return ex.prompt_len > max_len; });
  if (static_cast<int64_t>(train.size()) < global_batch(a.batch))
    fail("{} training examples are fewer than one batch of {}", train.size(), global_batch(a.batch));
  // The book's generate_and_print_sample(format_input(val_data[0])): greedy, 50 tokens, no stop.
  const InstructionEntry& sample_entry = !split.val.empty()    ? split.val[0]
                                         : !split.test.empty() ? split.test[0]
                                                               : split.train[0];
  InstructTask task(
      *model, tok, train, val,
      InstructTask::Options{a.batch, pad, max_len, a.mask_prompt, a.eval_batches, a.sample_tokens, a.seed},
      format_prompt(sample_entry, tmpl));

  // ---- the run
  TrainingRun run(a);
  run.out_dir = out;
  run.checkpoint_dir = ckpt;
  run.format = kFormat;
  run.title = "ScratchLM instruction finetuning: " + out;
  run.resume = resuming ? ckpt : "";
  run.unit = SeenUnit::Tokens;
  run.args = a.to_json();
  task.set_checkpoint_fields({{"lora", lora}, {"data_sha256", data_sha}, {"tokenizer_dir", absolute(tok_dir)}});
  TrainingEngine engine(*model, tok, task, run);
  InstructResult res;
  res.trainable_params = static_cast<int64_t>(model->params().trainable_numel());
  res.total_params = static_cast<int64_t>(model->params().numel());
  if (!a.quiet) {
    fmt::print(stderr,
               "instruction finetuning ({} template{}{}): {} train / {} val / {} test entries, max length {}, "
               "{} steps per epoch of {}, {} steps{}\n",
               prompt_template_name(tmpl), a.mask_prompt ? ", prompt masked" : "",
               lora ? fmt::format(", LoRA rank {}", cfg.lora.rank) : "", train.size(), val.size(), test.size(), max_len,
               engine.steps_per_epoch(), global_batch(a.batch) * a.grad_accum, engine.total_steps(),
               resuming ? fmt::format(", resuming at step {}", engine.step()) : "");
    if (dropped)
      fmt::print(stderr, "{} training entries dropped: their prompt fills --max-length {}\n", dropped, max_len);
    fmt::print(stderr, "trainable parameters: {} of {} ({:.2f}%)\n", res.trainable_params, res.total_params,
               100.0 * static_cast<double>(res.trainable_params) /
                   static_cast<double>(std::max<int64_t>(res.total_params, 1)));
  }
  const TrainingResult r = engine.train();
  res.steps_done = r.steps;
  if (r.interrupted) {
    res.interrupted = true;
    engine.save();
    if (!a.quiet)
      fmt::print(
          stderr,
          "interrupted: saved the checkpoint at step {} in {}; continue with slm finetune-instruct --resume {}\n",
          r.steps, ckpt, out);
    return res;
  }

  // ---- the end: losses over the whole splits, the checkpoint, the model, the test responses
  model->set_training(false);
  res.train_loss = instruction_loss(*model, train, a.batch, pad, max_len, a.mask_prompt, 0, false);
  res.val_loss = instruction_loss(*model, val, a.batch, pad, max_len, a.mask_prompt, 0, false);
  res.test_loss = instruction_loss(*model, test, a.batch, pad, max_len, a.mask_prompt, 0, false);
  engine.metrics().write({{"type", "final"},
                          {"step", r.steps},
                          {"tokens_seen", engine.seen()},
                          {"train_loss", res.train_loss},
                          {"val_loss", res.val_loss},
                          {"test_loss", res.test_loss}});
  engine.save();
  engine.plot();
  if (!comm.root()) return res;  // the model and the test responses are rank 0's
  if (!a.quiet)
    fmt::print(stderr, "step {}: training loss {:.3f}, validation loss {:.3f}, test loss {:.3f} (whole splits)\n",
               r.steps, res.train_loss, res.val_loss, res.test_loss);
  GPT* final_model = model.get();
  std::unique_ptr<GPT> merged;
  if (lora && a.merge) {
    merged = merge_lora(*model);
    save_hf_model(*merged, out, &tok, a.save_dtype);
    final_model = merged.get();
  } else if (lora) {
    save_lora_adapter(*model, out, a.init_from, &tok);  // PEFT files naming the base, + the tokenizer
  } else {
    save_model_copy(*model, out, &tok, a.save_dtype);  // --save-dtype bf16|f16 beside the fp32 checkpoint
  }
  if (!a.quiet) {
    if (!lora)
      fmt::print(stderr, "saved the finetuned model to {}\n", out);
    else if (a.merge)
      fmt::print(stderr, "saved the merged model to {} (training checkpoint in {})\n", out, ckpt);
    else
      fmt::print(stderr, "saved the LoRA adapter to {} (base: {}; training checkpoint in {})\n", out, a.init_from,
                 ckpt);
  }
  if (a.responses && !split.test.empty()) {
    GenerateOptions g = book_response_options();
    g.max_new_tokens = a.max_new_tokens;
    g.eos_id = pad;  // the tokenizer's <|endoftext|> (50256 for GPT-2's)
    const std::string path = (fs::path(out) / "instruction-data-with-response.json").string();
    final_model->set_training(false);
    generate_responses(*final_model, tok, split.test, tmpl, g, path, !a.quiet);
    if (!a.quiet) std::fprintf(stderr, "wrote the test split's %zu responses to %s\n", split.test.size(), path.c_str());
  }
  return res;
}

}  // namespace slm
