// cmd_chat.cpp — `slm chat`: talk with an instruction-finetuned model in the terminal (chapter 7 of
// "Build a Large Language Model (From Scratch)": the prompt templates of section 7.2 / exercise 7.1
// and the response generation of section 7.7), streaming each answer as it is produced.
//
// Input, one message at a time:
//   - a line is a message; a line ending in a backslash continues on the next line (the backslash
//     becomes a line break);
//   - a line holding only """ opens a block that runs to the next line holding only """ (for
//     pasting text with line breaks; no backslash rule or commands inside);
//   - on a line of their own: /reset forgets the conversation, /exit or /quit ends the chat, as does
//     the end of input. Messages are stripped of surrounding whitespace; empty ones are skipped.
// Each message becomes InstructionEntry{instruction = message, input = ""}, formatted with
// format_prompt + response_prefix of the template. Memory: the earlier turns (each prompt with its
// answer, format_example) come first, separated by "\n\n"; the oldest turns are dropped when the
// prompt would exceed context_length - min(max_new_tokens, context_length / 2) tokens
// (chat_prompt_ids in responses.h); a message longer than the context keeps its last tokens.
// Answers are cleaned as the book's responses (clean_response: the template's response marker
// removed, whitespace stripped as .strip()) while streaming (ResponseStream holds back what could
// still change: trailing whitespace, a partial marker, a partial UTF-8 character). Answer n (from 0) samples with seed
// + n. On a terminal there is a "> " prompt ("... " for continued lines), a banner on stderr, and Ctrl-C stops the
// answer being generated. Off a terminal (stdin not a TTY, e.g. a pipe) there are no decorations: each answer is
// printed followed by one newline, so
//   printf 'hi\n/exit\n' | slm chat --model M
// works in scripts.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/inference_precision.h"
#include "scratchlm/cli/sampling_options.h"
#include "scratchlm/data/instruct_data.h"
#include "scratchlm/finetune/response_stream.h"
#include "scratchlm/finetune/responses.h"
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

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_sigint(int) { g_interrupted = 1; }

// Ctrl-C stops the current answer instead of the program, while an object of this type lives.
class InterruptAnswer {
 public:
  explicit InterruptAnswer(bool active) : active_(active) {
    g_interrupted = 0;
    if (!active_) return;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
  }
  ~InterruptAnswer() {
    if (active_) sigaction(SIGINT, &old_, nullptr);
  }
  InterruptAnswer(const InterruptAnswer&) = delete;
  InterruptAnswer& operator=(const InterruptAnswer&) = delete;

 private:
  bool active_;
  struct sigaction old_ {};
};

void out(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// Reads the next message (see the top of the file). Returns false at the end of input.
bool read_message(bool tty, std::string& msg) {
  std::string line;
  auto next_line = [&](const char* prompt) {
    if (tty) out(prompt);
    if (!std::getline(std::cin, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  for (;;) {
    msg.clear();
    if (!next_line("> ")) return false;
    if (strip_whitespace(line) == "\"\"\"") {
      bool first = true;
      while (next_line("... ") && strip_whitespace(line) != "\"\"\"") {
        if (!first) msg += '\n';
        msg += line;
        first = false;
      }
    } else {
      while (!line.empty() && line.back() == '\\') {
        line.pop_back();
        msg += line + "\n";
        if (!next_line("... ")) {
          line.clear();
          break;
        }
      }
      msg += line;
    }
    msg = std::string(strip_whitespace(utf8_lossy(msg)));
    if (!msg.empty()) return true;
    if (!std::cin) return false;  // the input ended inside a continued message that was empty
  }
}

}  // namespace

void register_chat(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, tmpl = "alpaca";
    std::string precision;
    GenerateOptions g;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  o->g.max_new_tokens = 256;
  o->g.sampler.temperature = 0.0f;
  auto* c = app.add_subcommand("chat", "Chat with an instruction-finetuned model in the terminal");
  c->footer(
      "One message per line; end a line with \\ to continue it on the next, or paste between two lines of \"\"\".\n"
      "/reset forgets the conversation; /exit, /quit or end of input quit. Earlier turns stay in the prompt\n"
      "(oldest dropped first to leave room for --max-new-tokens, at most half the context). Off a terminal: no\n"
      "prompts, one answer per message, each followed by a newline.");
  c->add_option("--model", o->model, "Model directory or GGUF file")->required();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--template", o->tmpl, "Prompt template: alpaca | phi3")->capture_default_str();
  c->add_option("--max-new-tokens", o->g.max_new_tokens, "Most tokens per answer")->capture_default_str();
  add_sampling_options(c, o->g.sampler, "Sampling seed (answer n, counted from 0, uses seed + n)");
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  add_precision_option(c, o->precision);
  c->callback([o] {
    configure_threads(o->threads);
    const PromptTemplate tmpl = parse_prompt_template(o->tmpl);
    GenerateOptions g = o->g;
    g.sampler.validate();
    if (g.max_new_tokens < 1) fail("--max-new-tokens must be at least 1, got {}", g.max_new_tokens);
    auto model = load_hf_model(o->model);
    apply_precision(*model, o->precision);
    if (model->config().is_classifier())
      fail("{}: a classifier model cannot chat (it has no language-model head)", o->model);
    const Tokenizer tok = load_model_tokenizer(o->model, o->tokenizer);
    if (tok.eot_id()) g.eos_id = static_cast<int32_t>(*tok.eot_id());
    const int64_t ctx = model->config().context_length;
    const uint64_t seed = g.sampler.seed;

    const bool tty = ::isatty(STDIN_FILENO) != 0;
    if (tty)
      std::fprintf(stderr,
                   "slm chat: %s (%s template). /reset forgets the conversation, /exit quits. End a line with \\ to "
                   "continue it, or paste between lines of \"\"\".\n",
                   o->model.c_str(), std::string(prompt_template_name(tmpl)).c_str());
    std::vector<InstructionEntry> turns;
    std::string msg;
    uint64_t answers = 0;
    while (read_message(tty, msg)) {
      if (msg == "/exit" || msg == "/quit") break;
      if (msg == "/reset") {
        turns.clear();
        if (tty) std::fprintf(stderr, "(conversation forgotten)\n");
        continue;
      }
      InstructionEntry next{msg, "", ""};
      // Room kept for the answer (a longer answer slides the window, as in generate).
      size_t full = 0;
      const std::vector<int32_t> prompt = chat_answer_prompt_ids(tok, turns, next, tmpl, ctx, g.max_new_tokens, &full);
      if (full > prompt.size())
        std::fprintf(stderr, "slm: warning: the message has %zu tokens; keeping its last %lld (the context length)\n",
                     full, (long long)ctx);
      g.sampler.seed = seed + answers++;
      ResponseStream stream({}, tmpl);
      {
        InterruptAnswer guard(tty);
        generate(*model, prompt, g, [&](int32_t id) {
          stream.add(tok.token_bytes(static_cast<uint32_t>(id)));
          out(stream.take_ready());
          return g_interrupted == 0;
        });
        out(stream.take_rest());
      }
      out(tty ? "\n\n" : "\n");
      next.output = stream.final_text();
      turns.push_back(std::move(next));
    }
    if (tty) out("\n");
  });
}

}  // namespace slm::cli
