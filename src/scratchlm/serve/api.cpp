// api.cpp — OpenAI-compatible request checking and response bodies for `slm serve` (see api.h,
// server.h; chapters 5.3 and 7.7: sampling options and the chat prompt of an instruction model).
#include "scratchlm/serve/api.h"

#include <algorithm>
#include <optional>

#include "scratchlm/finetune/responses.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"

namespace slm::serve {

using json = nlohmann::json;

namespace {

const json* find(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number_field(const json& body, const char* name) {
  const json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail("'{}' must be a number", name);
  return v->get<double>();
}

std::optional<int64_t> integer_field(const json& body, const char* name) {
  const json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) fail("'{}' must be an integer", name);
  return v->get<int64_t>();
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts (joined).
std::string content_text(const json& msg, size_t i) {
  const json* c = find(msg, "content");
  if (!c) return "";
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array()) fail("messages[{}].content must be a string or a list of text parts", i);
  std::string text;
  for (const auto& part : *c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      fail("messages[{}].content: only {{\"type\": \"text\", \"text\": ...}} parts are supported", i);
    text += part["text"].get<std::string>();
  }
  return text;
}

// Earlier turns and the new message of a chat (see server.h for the rules).
void chat_turns(const json& body, std::vector<InstructionEntry>& turns, InstructionEntry& next) {
  const json* msgs = find(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) fail("'messages' must be a non-empty list");
  std::string system;
  std::optional<InstructionEntry> open;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("messages[{}] must be an object with a 'role'", i);
    const std::string role = m["role"].get<std::string>();
    std::string text = content_text(m, i);
    if (role == "system" || role == "developer") {
      system += (system.empty() ? "" : "\n\n") + text;
    } else if (role == "user") {
      if (!system.empty()) text = system + "\n\n" + text, system.clear();
      if (open)
        open->instruction += "\n\n" + text;
      else
        open = InstructionEntry{text, "", ""};
    } else if (role == "assistant") {
      if (!open) fail("messages[{}]: an assistant message must answer a user message", i);
      open->output = text;
      turns.push_back(std::move(*open));
      open.reset();
    } else {
      fail("messages[{}]: unknown role '{}' (system, user or assistant)", i, role);
    }
  }
  if (!open || !system.empty()) fail("the last message must be from the user");
  if (strip_whitespace(open->instruction).empty()) fail("the last user message is empty");
  next = std::move(*open);
}

std::vector<int32_t> to_ids(const std::vector<uint32_t>& ids) { return {ids.begin(), ids.end()}; }

}  // namespace

CompletionRequest parse_completion_request(const json& body, bool chat, const Tokenizer& tok, int64_t context_length,
                                           const ServeConfig& cfg, uint64_t request_no) {
  if (!body.is_object()) fail("the request body must be a JSON object");
  CompletionRequest r;
  r.chat = chat;
  r.gen = cfg.defaults;
  r.gen.sampler.seed = cfg.defaults.sampler.seed + request_no;
  if (tok.eot_id()) r.gen.eos_id = static_cast<int32_t>(*tok.eot_id());
  auto max_tokens = integer_field(body, "max_completion_tokens");
  if (!max_tokens) max_tokens = integer_field(body, "max_tokens");
  if (max_tokens) {
    if (*max_tokens < 1 || *max_tokens > cfg.max_tokens_limit)
      fail("'max_tokens' must be between 1 and {}, got {}", cfg.max_tokens_limit, *max_tokens);
    r.gen.max_new_tokens = *max_tokens;
  }
  if (auto v = number_field(body, "temperature")) r.gen.sampler.temperature = static_cast<float>(*v);
  if (auto v = number_field(body, "top_p")) r.gen.sampler.top_p = static_cast<float>(*v);
  if (auto v = number_field(body, "min_p")) r.gen.sampler.min_p = static_cast<float>(*v);
  if (auto v = number_field(body, "repetition_penalty")) r.gen.sampler.repetition_penalty = static_cast<float>(*v);
  if (auto v = integer_field(body, "top_k")) {
    if (*v < 0 || *v > 1000000) fail("'top_k' must be between 0 and 1000000, got {}", *v);
    r.gen.sampler.top_k = static_cast<int>(*v);
  }
  if (auto v = integer_field(body, "seed")) r.gen.sampler.seed = static_cast<uint64_t>(*v);
  if (auto v = integer_field(body, "n"); v && *v != 1) fail("'n' must be 1 (one answer per request), got {}", *v);
  try {
    r.gen.sampler.validate();
  } catch (const Error& e) {
    fail("invalid sampling options: {}", e.what());
  }
  if (const json* s = find(body, "stream")) {
    if (!s->is_boolean()) fail("'stream' must be true or false");
    r.stream = s->get<bool>();
  }
  if (const json* s = find(body, "stop")) {
    if (s->is_string()) {
      r.stops.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 4 &&
               std::all_of(s->begin(), s->end(), [](const json& x) { return x.is_string(); })) {
      for (const auto& x : *s) r.stops.push_back(x.get<std::string>());
    } else {
      fail("'stop' must be a string or a list of at most 4 strings");
    }
  }

  if (chat) {
    std::vector<InstructionEntry> turns;
    InstructionEntry next;
    chat_turns(body, turns, next);
    size_t full = 0;
    r.prompt = chat_answer_prompt_ids(tok, turns, next, cfg.tmpl, context_length, r.gen.max_new_tokens, &full);
    r.prompt_tokens = static_cast<int64_t>(full);
  } else {
    const json* p = find(body, "prompt");
    if (p && p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
    if (!p || !p->is_string()) fail("'prompt' must be a string (or a list of one string)");
    const std::string text = p->get<std::string>();
    // An empty prompt starts a new document, as GPT-2 was trained: after <|endoftext|>.
    r.prompt = text.empty() ? std::vector<int32_t>{r.gen.eos_id} : to_ids(tok.encode(text, SpecialMode::Allow));
    r.prompt_tokens = static_cast<int64_t>(r.prompt.size());
  }
  return r;
}

std::vector<std::string> parse_classify_request(const json& body) {
  const json* in = body.is_object() ? find(body, "input") : nullptr;
  std::vector<std::string> texts;
  if (in && in->is_string()) {
    texts.push_back(in->get<std::string>());
  } else if (in && in->is_array() && !in->empty() && in->size() <= 4096 &&
             std::all_of(in->begin(), in->end(), [](const json& x) { return x.is_string(); })) {
    for (const auto& x : *in) texts.push_back(x.get<std::string>());
  } else {
    fail("'input' must be a string or a list of 1 to 4096 strings");
  }
  return texts;
}

json completion_response(const CompletionRequest& req, const CompletionResult& res, const std::string& id,
                         int64_t created, const std::string& model) {
  json choice = {{"index", 0}, {"finish_reason", res.finish_reason}};
  if (req.chat)
    choice["message"] = {{"role", "assistant"}, {"content", res.text}};
  else
    choice["text"] = res.text;
  return {{"id", id},
          {"object", req.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({choice})},
          {"usage",
           {{"prompt_tokens", req.prompt_tokens},
            {"completion_tokens", res.completion_tokens},
            {"total_tokens", req.prompt_tokens + res.completion_tokens}}}};
}

json completion_chunk(bool chat, const std::string& piece, const std::string& finish_reason, bool first,
                      const std::string& id, int64_t created, const std::string& model) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!piece.empty() || (first && finish_reason.empty())) delta["content"] = piece;
    choice["delta"] = delta;
  } else {
    choice["text"] = piece;
  }
  return {{"id", id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({choice})}};
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
