// cmd_generate.cpp — `slm generate`: continue a prompt with a model (chapter 4.7 and 5.3),
// streaming the text as it is produced.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/inference_precision.h"
#include "scratchlm/cli/sampling_options.h"
#include "scratchlm/generate/generator.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

void register_generate(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, prompt;
    std::string precision;
    GenerateOptions g;
    bool json = false, no_stop = false, stop = false, lossy = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("generate", "Continue a prompt with a model, streaming the text");
  c->add_option("--model", o->model, "Model directory or GGUF file")->required();
  c->add_option("--prompt", o->prompt, "The text to continue")->required();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--max-new-tokens", o->g.max_new_tokens, "Tokens to generate")->capture_default_str();
  add_sampling_options(c, o->g.sampler, "Sampling seed");
  c->add_flag("--stop-at-eos", o->stop, "Stop at <|endoftext|> (the default)");
  c->add_flag("--no-stop-at-eos", o->no_stop, "Keep going past <|endoftext|>");
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  add_precision_option(c, o->precision);
  c->add_flag("--lossy", o->lossy, "Replace invalid UTF-8 in --prompt with U+FFFD instead of failing");
  c->add_flag("--json", o->json, "Print {\"text\", \"ids\", \"tokens_per_second\"} at the end instead of streaming");
  c->callback([o] {
    configure_threads(o->threads);
    if (o->lossy) o->prompt = utf8_lossy(o->prompt);
    utf8_require_valid(o->prompt, "--prompt");
    GenerateOptions g = o->g;
    g.sampler.validate();
    g.stop_at_eos = !o->no_stop;
    auto model = load_hf_model(o->model);
    apply_precision(*model, o->precision);
    Tokenizer tok = load_model_tokenizer(o->model, o->tokenizer);
    if (tok.eot_id()) g.eos_id = static_cast<int32_t>(*tok.eot_id());
    std::vector<int32_t> prompt;
    for (uint32_t id : tok.encode(o->prompt, SpecialMode::Allow)) prompt.push_back(static_cast<int32_t>(id));
    if (prompt.empty()) fail("--prompt is empty");
    const int64_t ctx = model->config().context_length;
    if (static_cast<int64_t>(prompt.size()) > ctx) {
      std::fprintf(stderr, "slm: warning: the prompt has %zu tokens; keeping its last %lld (the context length)\n",
                   prompt.size(), (long long)ctx);
      prompt.erase(prompt.begin(), prompt.end() - ctx);
    }
    if (!o->json) {
      std::fputs(o->prompt.c_str(), stdout);
      std::fflush(stdout);
    }
    std::string pending;
    auto t0 = std::chrono::steady_clock::now();
    auto ids = generate(*model, prompt, g, [&](int32_t id) {
      if (o->json) return true;
      pending += tok.token_bytes(static_cast<uint32_t>(id));
      size_t n = complete_utf8_prefix(pending);
      if (n) {
        std::string out = utf8_lossy(std::string_view(pending).substr(0, n));
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
        pending.erase(0, n);
      }
      return true;
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<uint32_t> uids(ids.begin(), ids.end());
    if (o->json) {
      std::string text = utf8_lossy(tok.decode(uids));
      std::printf(
          "%s\n",
          nlohmann::json{{"text", text}, {"ids", ids}, {"tokens_per_second", ids.size() / secs}}.dump().c_str());
    } else {
      if (!pending.empty()) {
        std::string out = utf8_lossy(pending);
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
      std::printf("\n");
    }
  });
}

}  // namespace slm::cli
