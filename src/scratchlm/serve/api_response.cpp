// api_response.cpp — OpenAI-compatible response bodies of `slm serve`: whole answers, streamed
// chunks, log-probabilities, usage and errors (see api.h).
#include "scratchlm/serve/api.h"

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"

namespace slm::serve {

using json = nlohmann::json;

namespace {

std::string token_text(const Tokenizer& tok, int32_t id) {
  return static_cast<size_t>(id) < tok.vocab_size() ? utf8_lossy(tok.token_bytes(static_cast<uint32_t>(id))) : "";
}

json token_bytes_json(const Tokenizer& tok, int32_t id) {
  json b = json::array();
  if (static_cast<size_t>(id) < tok.vocab_size())
    for (unsigned char c : tok.token_bytes(static_cast<uint32_t>(id))) b.push_back(c);
  return b;
}

json number_or_null(float v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Chat's logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], "refusal"}.
json chat_logprobs(const std::vector<TokenLogprob>& lps, const Tokenizer& tok) {
  json content = json::array();
  for (const TokenLogprob& t : lps) {
    json top = json::array();
    for (const auto& [id, lp] : t.top)
      top.push_back({{"token", token_text(tok, id)}, {"logprob", lp}, {"bytes", token_bytes_json(tok, id)}});
    content.push_back({{"token", token_text(tok, t.id)},
                       {"logprob", number_or_null(t.logprob)},
                       {"bytes", token_bytes_json(tok, t.id)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

// Completions' logprobs: {tokens, token_logprobs, top_logprobs, text_offset}; offsets are bytes into
// the choice's text, from `offset`. The first prompt token has null for its logprob and alternatives.
json completion_logprobs(const std::vector<TokenLogprob>& lps, const Tokenizer& tok, int64_t offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprob& t : lps) {
    const std::string text = token_text(tok, t.id);
    tokens.push_back(text);
    token_lps.push_back(number_or_null(t.logprob));
    if (!std::isfinite(t.logprob)) {
      tops.push_back(nullptr);
    } else {
      json top = json::object();
      for (const auto& [id, lp] : t.top) top[token_text(tok, id)] = lp;
      tops.push_back(top);
    }
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json usage_json(const CompletionRequest& req, int64_t completion_tokens) {
  return {{"prompt_tokens", req.prompt_tokens()},
          {"completion_tokens", completion_tokens},
          {"total_tokens", req.prompt_tokens() + completion_tokens}};
}

}  // namespace

json completion_response(const CompletionRequest& req, const std::vector<CompletionResult>& results,
                         const std::string& id, int64_t created, const std::string& model, const Tokenizer& tok) {
  json choices = json::array();
  int64_t completion_tokens = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const CompletionResult& res = results[i];
    completion_tokens += res.completion_tokens;
    json choice = {{"index", i}, {"finish_reason", res.finish_reason}, {"logprobs", nullptr}};
    if (req.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", res.text}};
      if (req.logprobs >= 0) choice["logprobs"] = chat_logprobs(res.logprobs, tok);
    } else {
      choice["text"] = req.echo ? res.prompt_text + res.text : res.text;
      if (req.logprobs >= 0) {
        std::vector<TokenLogprob> all = req.echo ? res.prompt_logprobs : std::vector<TokenLogprob>{};
        all.insert(all.end(), res.logprobs.begin(), res.logprobs.end());
        choice["logprobs"] = completion_logprobs(all, tok, 0);
      }
    }
    choices.push_back(std::move(choice));
  }
  return {{"id", id},           {"object", req.chat ? "chat.completion" : "text_completion"},
          {"created", created}, {"model", model},
          {"choices", choices}, {"usage", usage_json(req, completion_tokens)}};
}

json completion_chunk(const CompletionRequest& req, const std::string& piece, const std::vector<TokenLogprob>& lps,
                      const std::string& finish_reason, bool first, const std::string& id, int64_t created,
                      const std::string& model, const Tokenizer& tok) {
  json choice = {{"index", 0},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)},
                 {"logprobs", nullptr}};
  if (req.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!piece.empty() || (first && finish_reason.empty())) delta["content"] = piece;
    choice["delta"] = delta;
    if (req.logprobs >= 0 && !lps.empty()) choice["logprobs"] = chat_logprobs(lps, tok);
  } else {
    choice["text"] = piece;
    if (req.logprobs >= 0 && !lps.empty()) choice["logprobs"] = completion_logprobs(lps, tok, 0);
  }
  json chunk = {{"id", id},
                {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", json::array({choice})}};
  if (req.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json usage_chunk(const CompletionRequest& req, int64_t completion_tokens, const std::string& id, int64_t created,
                 const std::string& model) {
  return {{"id", id},
          {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage", usage_json(req, completion_tokens)}};
}

json error_body(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

}  // namespace slm::serve
