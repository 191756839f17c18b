// server.h — `slm serve`: one model behind an OpenAI-compatible HTTP API and a chat web page (the
// "serving the result" step after chapter 7 of "Build a Large Language Model (From Scratch)"; the
// book talks to Ollama over the same API in 7.8, so `slm judge` and any OpenAI client can talk to
// a ScratchLM model).
//
// Endpoints (JSON in and out; errors are {"error": {"message", "type", "param", "code"}}):
//   GET  /                       a chat page (one HTML file, no external assets)
//   GET  /health                 {"status": "ok"}
//   GET  /v1/models              the served model
//   POST /v1/chat/completions    instruction models: messages -> an answer (chapter 7's templates)
//   POST /v1/completions         language models: prompt -> its continuation (chapter 5's generate)
//   POST /v1/classify            classifiers (chapter 6): {"input": text | [texts]} -> labels
// Request fields of the two completion endpoints: max_tokens (or max_completion_tokens),
// temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, frequency_penalty,
// logit_bias, seed, stop (a string or up to 4), stream, stream_options.include_usage, logprobs
// (+ top_logprobs for chat), truncate, n (only 1); completions also echo, and a prompt that is a
// string, a token-id list, or a list of those (one choice each). Harmless metadata (user,
// metadata, ...) is ignored; any other field is refused with a 400 naming it (api_request.cpp's
// check_fields). Omitted sampling fields take the server's defaults; an omitted seed is the
// server's seed + the number of requests served before, so repeated sampled requests differ. With
// "stream": true the answer comes as server-sent events ("data: {chunk}" ... "data: [DONE]"),
// and the joined pieces equal the non-streamed answer.
// Chat messages: roles system, user, assistant; content a string or a list of {"type": "text"}
// parts. Each user message with the assistant reply after it is one earlier turn (format_example),
// as `slm chat` keeps its memory; consecutive user messages are joined with a blank line; system
// text is put before the next user message. The last message must be from the user. The oldest
// turns are dropped to leave room for the answer (chat_prompt_ids). The answer is cleaned as the
// book's responses (clean_response).
// Completions run on a batch generator (generate/batch_generator.h): up to --parallel requests
// generate at once, one decode pass for all of them per token; the next --max-queue wait, first
// come first served; beyond that a request gets 429. A client that has gone (streamed or not)
// frees its slot at the next step. shutdown() lets running requests finish for a grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "scratchlm/data/instruct_data.h"
#include "scratchlm/generate/generator.h"

namespace slm {

class GPT;
class Tokenizer;

struct ServeConfig {
  std::string model_name = "scratchlm";  // "model" in responses and /v1/models
  PromptTemplate tmpl = PromptTemplate::Alpaca;
  GenerateOptions defaults;         // max_new_tokens, sampler and seed for omitted fields
  int64_t max_tokens_limit = 4096;  // a larger max_tokens is refused
  bool log_requests = true;         // one line per request on stderr
  int parallel = 4;                 // requests generating at once
  std::string api_key;              // "": none; else every route but /health and the page needs "Bearer KEY"
  std::string cors_origin;          // "": no CORS; else the one origin a web page may call from
  int64_t max_queue = 64;           // requests waiting for a slot (more: 429)
  bool truncate_prompts = false;    // cut prompts longer than the context from the left (else 400)
  double shutdown_grace_s = 5.0;    // shutdown(): how long in-flight requests may still finish
};

class Server {
 public:
  Server(std::unique_ptr<GPT> model, std::unique_ptr<Tokenizer> tok, ServeConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Bind to host:port (port 0: any free port) and return the port. BadInput when it cannot bind.
  int bind(const std::string& host, int port);
  // Serve until stop() (blocking; call after bind).
  void run();
  // Stop run() from another thread or a signal-watching thread: running requests are cancelled.
  void stop();
  // A graceful stop (SIGINT/SIGTERM): no new connections or requests; running and waiting ones may
  // finish for up to cfg.shutdown_grace_s seconds, then the rest are cancelled and run() returns.
  // Blocks until then.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slm
