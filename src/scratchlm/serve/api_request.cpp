// api_request.cpp — OpenAI-compatible requests of `slm serve` checked field by field and turned into
// prompts and generation options (see api.h, server.h; chapters 5.3 and 7.7: sampling options and
// the chat prompt of an instruction model).
#include "scratchlm/serve/api.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <optional>
#include <set>

#include "scratchlm/finetune/responses.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"

namespace slm::serve {

using json = nlohmann::json;

namespace {

const json* find(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

template <typename... Args>
[[noreturn]] void refuse(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
  throw RequestError(param, fmt::format(f, std::forward<Args>(args)...));
}

std::optional<double> number_field(const json& body, const char* name) {
  const json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) refuse(name, "'{}' must be a number", name);
  return v->get<double>();
}

// An integer in [lo, hi]; the message states the range (a value past 64 bits reads as a float).
std::optional<int64_t> integer_field(const json& body, const char* name, int64_t lo, int64_t hi,
                                     const std::string& note = "") {
  const json* v = find(body, name);
  if (!v) return std::nullopt;
  const bool fits = v->is_number_integer() && !(v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX));
  if (!fits || v->get<int64_t>() < lo || v->get<int64_t>() > hi)
    refuse(name, "'{}' must be an integer between {} and {}{}", name, lo, hi, note);
  return v->get<int64_t>();
}

std::optional<bool> bool_field(const json& body, const char* name) {
  const json* v = find(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) refuse(name, "'{}' must be true or false", name);
  return v->get<bool>();
}

// The fields a request may have. Harmless metadata is accepted and ignored; features this server
// does not have are refused by name rather than silently ignored.
void check_fields(const json& body, bool chat) {
  static const std::set<std::string> common = {"model",
                                               "max_tokens",
                                               "max_completion_tokens",
                                               "temperature",
                                               "top_p",
                                               "top_k",
                                               "min_p",
                                               "repetition_penalty",
                                               "seed",
                                               "stop",
                                               "stream",
                                               "stream_options",
                                               "n",
                                               "logprobs",
                                               "presence_penalty",
                                               "frequency_penalty",
                                               "logit_bias",
                                               "truncate",
                                               "user",
                                               "metadata",
                                               "store",
                                               "service_tier"};  // metadata: accepted, ignored
  static const std::set<std::string> chat_only = {"messages", "top_logprobs", "response_format", "tool_choice",
                                                  "parallel_tool_calls"};
  static const std::set<std::string> completion_only = {"prompt", "echo", "best_of", "suffix"};
  for (const auto& [key, value] : body.items()) {
    if (key == "tools" || key == "functions" || key == "function_call" ||
        (key == "tool_choice" && !value.is_null() && value != "none"))
      refuse(key, "'{}': this server has no tool or function calling", key);
    if (key == "response_format" && !value.is_null()) {
      const std::string type = value.is_object() ? value.value("type", "") : "";
      if (type != "text")
        refuse(key,
               "'response_format' {}: this server cannot constrain the answer to JSON; only {{\"type\": "
               "\"text\"}} is accepted",
               value.dump());
    }
    if (key == "suffix" && !value.is_null() && value != "") refuse(key, "'suffix' (insertion) is not supported");
    if (key == "store" && !value.is_null() && value != false) refuse(key, "'store': this server stores nothing");
    if (common.count(key) || (chat ? chat_only : completion_only).count(key)) continue;
    if (!chat && key == "messages") refuse(key, "'messages' belongs to /v1/chat/completions; send a 'prompt' here");
    if (chat && key == "prompt") refuse(key, "'prompt' belongs to /v1/completions; send 'messages' here");
    refuse(key, "unknown field '{}' (see the README for the fields this server accepts)", key);
  }
}

// One prompt's token ids: a string (encoded), or a list of token ids.
std::vector<int32_t> prompt_ids(const json& p, const Tokenizer& tok, int64_t vocab_size, int32_t eos) {
  if (p.is_string()) {
    const std::string text = p.get<std::string>();
    // An empty prompt starts a new document, as GPT-2 was trained: after <|endoftext|>.
    if (text.empty()) return {eos};
    const auto ids = tok.encode(text, SpecialMode::Allow);
    return {ids.begin(), ids.end()};
  }
  std::vector<int32_t> ids;
  for (const json& t : p) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab_size)
      refuse("prompt", "'prompt': token ids must be integers between 0 and {}", vocab_size - 1);
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  if (ids.empty()) refuse("prompt", "'prompt': a list of token ids must not be empty");
  return ids;
}

bool is_id_list(const json& p) {
  return p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const json& x) { return x.is_number(); });
}

// The prompts of a completion request: a string, a list of token ids, or a list of either.
std::vector<std::vector<int32_t>> completion_prompts(const json& body, const Tokenizer& tok, int64_t vocab_size,
                                                     int32_t eos) {
  const json* p = find(body, "prompt");
  const char* shape = "'prompt' must be a string, a list of token ids, or a list of strings or of token-id lists";
  if (!p) refuse("prompt", "{}", shape);
  std::vector<std::vector<int32_t>> out;
  if (p->is_string() || is_id_list(*p)) {
    out.push_back(prompt_ids(*p, tok, vocab_size, eos));
  } else if (p->is_array() && !p->empty() && p->size() <= 256) {
    for (const json& x : *p) {
      if (!x.is_string() && !is_id_list(x)) refuse("prompt", "{}", shape);
      out.push_back(prompt_ids(x, tok, vocab_size, eos));
    }
  } else {
    refuse("prompt", "{} (1 to 256 prompts)", shape);
  }
  return out;
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

}  // namespace

int64_t CompletionRequest::prompt_tokens() const {
  int64_t n = 0;
  for (const auto& p : prompts) n += static_cast<int64_t>(p.size());
  return n;
}

CompletionRequest parse_completion_request(const json& body, bool chat, const Tokenizer& tok, int64_t context_length,
                                           int64_t vocab_size, const ServeConfig& cfg, uint64_t request_no) {
  if (!body.is_object()) fail("the request body must be a JSON object");
  check_fields(body, chat);
  CompletionRequest r;
  r.chat = chat;
  r.gen = cfg.defaults;
  r.gen.sampler.seed = cfg.defaults.sampler.seed + request_no;
  if (tok.eot_id()) r.gen.eos_id = static_cast<int32_t>(*tok.eot_id());
  if (!chat) r.echo = bool_field(body, "echo").value_or(false);
  const std::string max_name = find(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (auto v = integer_field(body, max_name.c_str(), r.echo ? 0 : 1, cfg.max_tokens_limit,
                             chat || r.echo ? "" : " (0 too with \"echo\": true)"))
    r.gen.max_new_tokens = *v;
  if (auto v = number_field(body, "temperature")) r.gen.sampler.temperature = static_cast<float>(*v);
  if (auto v = number_field(body, "top_p")) r.gen.sampler.top_p = static_cast<float>(*v);
  if (auto v = number_field(body, "min_p")) r.gen.sampler.min_p = static_cast<float>(*v);
  if (auto v = number_field(body, "repetition_penalty")) r.gen.sampler.repetition_penalty = static_cast<float>(*v);
  if (auto v = number_field(body, "presence_penalty")) {
    if (*v < -2.0 || *v > 2.0) refuse("presence_penalty", "'presence_penalty' must be between -2 and 2");
    r.gen.sampler.presence_penalty = static_cast<float>(*v);
  }
  if (auto v = number_field(body, "frequency_penalty")) {
    if (*v < -2.0 || *v > 2.0) refuse("frequency_penalty", "'frequency_penalty' must be between -2 and 2");
    r.gen.sampler.frequency_penalty = static_cast<float>(*v);
  }
  if (const json* b = find(body, "logit_bias")) {
    if (!b->is_object() || b->size() > 1024)
      refuse("logit_bias", "'logit_bias' must be an object of at most 1024 \"token id\": bias pairs");
    for (const auto& [key, value] : b->items()) {
      int64_t id = -1;
      const bool digits = !key.empty() && key.size() <= 9 &&
                          std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) id = std::stoll(key);
      if (id < 0 || id >= vocab_size)
        refuse("logit_bias", "'logit_bias': keys must be token ids between 0 and {}, got \"{}\"", vocab_size - 1, key);
      if (!value.is_number() || value.get<double>() < -100.0 || value.get<double>() > 100.0)
        refuse("logit_bias", "'logit_bias': the bias of token {} must be a number between -100 and 100", id);
      r.gen.sampler.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
  }
  if (auto v = integer_field(body, "top_k", 0, 1000000)) r.gen.sampler.top_k = static_cast<int>(*v);
  if (const json* v = find(body, "seed")) {
    if (!v->is_number_integer()) refuse("seed", "'seed' must be an integer");
    r.gen.sampler.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
  }
  integer_field(body, "n", 1, 1, " (one answer per request)");
  if (!chat) integer_field(body, "best_of", 1, 1, " (one answer per request)");
  try {
    r.gen.sampler.validate();
  } catch (const Error& e) {
    fail("invalid sampling options: {}", e.what());
  }
  r.stream = bool_field(body, "stream").value_or(false);
  if (const json* so = find(body, "stream_options")) {
    if (!r.stream) refuse("stream_options", "'stream_options' is only allowed with \"stream\": true");
    if (!so->is_object()) refuse("stream_options", "'stream_options' must be an object");
    for (const auto& [key, value] : so->items())
      if (key != "include_usage" && key != "include_obfuscation")
        refuse("stream_options", "unknown field 'stream_options.{}'", key);
    r.include_usage = bool_field(*so, "include_usage").value_or(false);
  }
  if (chat) {
    if (auto lp = bool_field(body, "logprobs"); lp && *lp) r.logprobs = 0;
    if (auto k = integer_field(body, "top_logprobs", 0, 20)) {
      if (r.logprobs < 0) refuse("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
      r.logprobs = static_cast<int>(*k);
    }
  } else if (const json* lp = find(body, "logprobs")) {
    if (!(lp->is_boolean() && !lp->get<bool>())) r.logprobs = static_cast<int>(*integer_field(body, "logprobs", 0, 20));
  }
  if (r.echo && r.stream) refuse("echo", "'echo' is not supported with \"stream\": true");
  if (const json* s = find(body, "stop")) {
    if (s->is_string()) {
      r.stops.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 4 &&
               std::all_of(s->begin(), s->end(), [](const json& x) { return x.is_string(); })) {
      for (const auto& x : *s) r.stops.push_back(x.get<std::string>());
    } else {
      refuse("stop", "'stop' must be a string or a list of at most 4 strings");
    }
  }
  const bool truncate = bool_field(body, "truncate").value_or(cfg.truncate_prompts);

  const char* what = chat ? "messages" : "prompt";
  if (chat) {
    std::vector<InstructionEntry> turns;
    InstructionEntry next;
    try {
      chat_turns(body, turns, next);
    } catch (const RequestError&) {
      throw;
    } catch (const Error& e) {
      throw RequestError("messages", e.what());
    }
    // Older turns are dropped to leave room for the answer; the new message must fit the context.
    size_t full = 0;
    std::vector<int32_t> ids =
        chat_answer_prompt_ids(tok, turns, next, cfg.tmpl, context_length, r.gen.max_new_tokens, &full);
    if (!truncate && static_cast<int64_t>(full) > context_length)
      throw RequestError(what,
                         fmt::format("the prompt of the last message has {} tokens, more than the model's context of "
                                     "{} tokens; shorten it, or send \"truncate\": true (or start the server with "
                                     "--truncate-prompts) to keep its last {} tokens",
                                     full, context_length, context_length),
                         "context_length_exceeded");
    r.prompts.push_back(std::move(ids));
  } else {
    r.prompts = completion_prompts(body, tok, vocab_size, r.gen.eos_id);
    if (r.stream && r.prompts.size() > 1)
      refuse("prompt", "several prompts cannot be streamed: send them one per request, or without \"stream\"");
  }
  for (auto& p : r.prompts) {
    const auto n = static_cast<int64_t>(p.size());
    if (n <= context_length) continue;
    if (!truncate)
      throw RequestError(what,
                         fmt::format("the prompt has {} tokens, more than the model's context of {} tokens; shorten "
                                     "it, or send \"truncate\": true (or start the server with --truncate-prompts) "
                                     "to keep its last {} tokens",
                                     n, context_length, context_length),
                         "context_length_exceeded");
    p.erase(p.begin(), p.end() - context_length);
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

}  // namespace slm::serve
