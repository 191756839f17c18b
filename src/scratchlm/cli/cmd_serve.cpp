// cmd_serve.cpp — `slm serve`: a model directory behind an OpenAI-compatible HTTP API and a chat
// page (see serve/server.h for the endpoints). Runs until Ctrl-C or SIGTERM.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "scratchlm/cli/commands.h"
#include "scratchlm/cli/inference_precision.h"
#include "scratchlm/cli/sampling_options.h"
#include "scratchlm/io/gguf_model.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/serve/server.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

void register_serve(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, name, host = "127.0.0.1", tmpl = "alpaca";
    std::string precision;
    int port = 8080, threads = 0;
    ServeConfig cfg;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  o->cfg.defaults.max_new_tokens = 256;
  o->cfg.defaults.sampler.temperature = 0.0f;
  auto* c = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API, with a chat page at /");
  c->footer(
      "Endpoints: GET / (chat page), GET /health, GET /v1/models, POST /v1/chat/completions, POST /v1/completions\n"
      "(language models; \"stream\": true for server-sent events), POST /v1/classify (classifiers).\n"
      "Up to --parallel requests generate at once (one batched decode step for all); --max-queue more wait, first\n"
      "come first served, and beyond that a request gets 429. The sampling options below are the defaults for\n"
      "requests that omit them.");
  c->add_option("--model", o->model, "Model directory (a language model, an instruction model or a classifier)")
      ->required();
  c->add_option("--tokenizer", o->tokenizer, "Tokenizer directory (default: the model's, else data/gpt2)");
  c->add_option("--host", o->host, "Address to listen on (0.0.0.0: every interface)")->capture_default_str();
  c->add_option("--port", o->port, "Port (0: any free port; the chosen one is printed)")->capture_default_str();
  c->add_option("--name", o->name, "Model name in the API (default: the directory's name)");
  c->add_option("--template", o->tmpl, "Prompt template of chat requests: alpaca | phi3")->capture_default_str();
  c->add_option("--max-new-tokens", o->cfg.defaults.max_new_tokens, "Default max_tokens")->capture_default_str();
  c->add_option("--max-tokens-limit", o->cfg.max_tokens_limit, "Largest max_tokens a request may ask for")
      ->capture_default_str();
  add_sampling_options(c, o->cfg.defaults.sampler,
                       "Seed of the first request without one (then +1 per request)");  // defaults of requests
  c->add_option("--parallel", o->cfg.parallel, "Requests that generate at once, each with its own KV cache")
      ->capture_default_str();
  c->add_option("--max-queue", o->cfg.max_queue, "Requests that may wait for a free slot (more get HTTP 429)")
      ->capture_default_str();
  c->add_option("--api-key", o->cfg.api_key,
                "Require 'Authorization: Bearer KEY' on every route but /health (default: $SLM_API_KEY, else none)");
  c->add_option("--cors-origin", o->cfg.cors_origin,
                "Let web pages from this origin call the API (e.g. http://localhost:5173; default: none)");
  c->add_flag("--truncate-prompts", o->cfg.truncate_prompts,
              "Cut prompts longer than the context from the left (default: refuse them with HTTP 400; a request's "
              "\"truncate\": true does the same for it)");
  c->add_option("--shutdown-grace", o->cfg.shutdown_grace_s,
                "Seconds running requests may still finish after SIGINT/SIGTERM before they are cancelled")
      ->capture_default_str();
  c->add_option("--threads", o->threads, "Threads (default: all cores)");
  add_precision_option(c, o->precision);
  c->add_flag("--quiet", o->quiet, "No request log on stderr");
  c->callback([o] {
    configure_threads(o->threads);
    ServeConfig cfg = o->cfg;
    if (cfg.api_key.empty())
      if (const char* key = std::getenv("SLM_API_KEY")) cfg.api_key = key;
    cfg.tmpl = parse_prompt_template(o->tmpl);
    cfg.log_requests = !o->quiet;
    if (!(cfg.shutdown_grace_s >= 0.0 && cfg.shutdown_grace_s <= 3600.0))
      fail("--shutdown-grace must be between 0 and 3600 seconds, got {}", cfg.shutdown_grace_s);
    if (cfg.defaults.max_new_tokens < 1 || cfg.defaults.max_new_tokens > cfg.max_tokens_limit)
      fail("--max-new-tokens must be between 1 and --max-tokens-limit ({}), got {}", cfg.max_tokens_limit,
           cfg.defaults.max_new_tokens);
    cfg.model_name = o->name.empty() ? std::filesystem::path(o->model).lexically_normal().filename().string() : o->name;
    if (cfg.model_name.empty()) cfg.model_name = std::filesystem::absolute(o->model).parent_path().filename().string();
    cfg.model_name = utf8_lossy(cfg.model_name);
    auto model = load_hf_model(o->model);
    apply_precision(*model, o->precision);
    auto tok = std::make_unique<Tokenizer>(load_model_tokenizer(o->model, o->tokenizer));
    const bool classifier = model->config().is_classifier();
    const std::string kind = classifier ? "classifier" : "language model";

    // SIGINT/SIGTERM go to a watcher thread (blocked everywhere else, also in the server's threads).
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);

    Server server(std::move(model), std::move(tok), cfg);
    const int port = server.bind(o->host, o->port);
    std::fprintf(stderr, "slm serve: %s (%s) on http://%s:%d/ - %s; Ctrl-C stops\n", cfg.model_name.c_str(),
                 kind.c_str(), o->host.c_str(), port,
                 classifier ? "POST /v1/classify" : "POST /v1/chat/completions, /v1/completions");
    // The first signal: stop accepting, let running requests finish for --shutdown-grace seconds,
    // cancel the rest, exit 0. Connections idle in keep-alive would hold the exit for up to
    // httplib's keep-alive timeout: after one more second the process exits without them.
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      const timespec tick{0, 200'000'000};
      while (!done.load()) {
        if (sigtimedwait(&stop_set, nullptr, &tick) > 0) {
          std::fprintf(stderr, "slm serve: stopping (up to %gs for running requests)\n", cfg.shutdown_grace_s);
          server.shutdown();
          for (int i = 0; i < 100 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          if (!done.load()) {
            std::fprintf(stderr, "slm serve: stopped\n");
            std::fflush(nullptr);
            std::_Exit(0);
          }
          return;
        }
      }
    });
    server.run();
    done.store(true);
    watcher.join();
    std::fprintf(stderr, "slm serve: stopped\n");
    pthread_sigmask(SIG_UNBLOCK, &stop_set, nullptr);
  });
}

}  // namespace slm::cli
