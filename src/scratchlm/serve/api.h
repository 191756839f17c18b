// api.h — the OpenAI-compatible request and response bodies of `slm serve` (see server.h): JSON
// requests checked field by field and turned into prompts and generation options, and the
// completion run that both the streamed and the whole answers come from. No HTTP in here.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scratchlm/generate/batch_generator.h"
#include "scratchlm/serve/server.h"
#include "scratchlm/util/error.h"

namespace slm::serve {

// A refused request: 400 with OpenAI's error naming the field (`param`; empty when none) and a
// `code` where OpenAI has one (e.g. "context_length_exceeded").
class RequestError : public Error {
 public:
  RequestError(std::string param, const std::string& message, std::string code = "")
      : Error(ErrorKind::BadInput, message), param_(std::move(param)), code_(std::move(code)) {}
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  std::string param_, code_;
};

// A checked /v1/completions or /v1/chat/completions request.
struct CompletionRequest {
  bool chat = false;
  // Token ids, one prompt per choice (chat: one); each fits the context (cut from the left when
  // truncation was asked for): these are the tokens usage.prompt_tokens counts.
  std::vector<std::vector<int32_t>> prompts;
  GenerateOptions gen;
  std::vector<std::string> stops;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
  int logprobs = -1;           // -1: none; else log-probabilities with this many alternatives
  bool echo = false;           // completions: the prompt (and its log-probabilities) before the text
  int64_t prompt_tokens() const;
};

// BadInput errors (RequestError) name the offending field. `request_no` makes the default seed.
CompletionRequest parse_completion_request(const nlohmann::json& body, bool chat, const Tokenizer& tok,
                                           int64_t context_length, int64_t vocab_size, const ServeConfig& cfg,
                                           uint64_t request_no);

// The texts of a /v1/classify request ({"input": text | [texts]}).
std::vector<std::string> parse_classify_request(const nlohmann::json& body);

struct CompletionResult {
  std::string text;
  std::string finish_reason;  // "stop" (end of text or a stop string) or "length"
  int64_t completion_tokens = 0;
  std::string prompt_text;                    // echo: the prompt's text
  std::vector<TokenLogprob> prompt_logprobs;  // echo with logprobs: one per prompt token
  std::vector<TokenLogprob> logprobs;         // logprobs: one per generated token
};

// Response bodies. `id` is "chatcmpl-N" / "cmpl-N"; `created` Unix seconds; one result per prompt.
nlohmann::json completion_response(const CompletionRequest& req, const std::vector<CompletionResult>& res,
                                   const std::string& id, int64_t created, const std::string& model,
                                   const Tokenizer& tok);
// One streamed chunk: a text piece (with the log-probabilities of the tokens generated since the
// last chunk when asked for), or (finish_reason set) the closing chunk. The first chat chunk also
// carries the role. With include_usage every chunk has "usage": null.
nlohmann::json completion_chunk(const CompletionRequest& req, const std::string& piece,
                                const std::vector<TokenLogprob>& logprobs, const std::string& finish_reason, bool first,
                                const std::string& id, int64_t created, const std::string& model, const Tokenizer& tok);
// The last chunk of a stream with include_usage: no choices, the usage.
nlohmann::json usage_chunk(const CompletionRequest& req, int64_t completion_tokens, const std::string& id,
                           int64_t created, const std::string& model);

// OpenAI's error object: {"error": {"message", "type", "param", "code"}} (param and code null when empty).
nlohmann::json error_body(const std::string& message, const std::string& type = "invalid_request_error",
                          const std::string& param = "", const std::string& code = "");

}  // namespace slm::serve
