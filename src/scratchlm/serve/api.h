// api.h — the OpenAI-compatible request and response bodies of `slm serve` (see server.h): JSON
// requests checked field by field and turned into prompts and generation options, and the
// completion run that both the streamed and the whole answers come from. No HTTP in here.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scratchlm/serve/server.h"

namespace slm::serve {

// A checked /v1/completions or /v1/chat/completions request.
struct CompletionRequest {
  bool chat = false;
  std::vector<int32_t> prompt;  // token ids (already cut to the context for chat)
  int64_t prompt_tokens = 0;    // before any cut
  GenerateOptions gen;
  std::vector<std::string> stops;
  bool stream = false;
};

// BadInput errors name the offending field. `request_no` makes the default seed.
CompletionRequest parse_completion_request(const nlohmann::json& body, bool chat, const Tokenizer& tok,
                                           int64_t context_length, const ServeConfig& cfg, uint64_t request_no);

// The texts of a /v1/classify request ({"input": text | [texts]}).
std::vector<std::string> parse_classify_request(const nlohmann::json& body);

struct CompletionResult {
  std::string text;
  std::string finish_reason;  // "stop" (end of text or a stop string) or "length"
  int64_t completion_tokens = 0;
};

// Response bodies. `id` is "chatcmpl-N" / "cmpl-N"; `created` Unix seconds.
nlohmann::json completion_response(const CompletionRequest& req, const CompletionResult& res, const std::string& id,
                                   int64_t created, const std::string& model);
// One streamed chunk: a text piece, or (finish_reason set) the closing chunk. The first chat chunk
// also carries the role.
nlohmann::json completion_chunk(bool chat, const std::string& piece, const std::string& finish_reason, bool first,
                                const std::string& id, int64_t created, const std::string& model);

// OpenAI's error object: {"error": {"message", "type", "param", "code"}} (param and code null when empty).
nlohmann::json error_body(const std::string& message, const std::string& type = "invalid_request_error",
                          const std::string& param = "", const std::string& code = "");

}  // namespace slm::serve
