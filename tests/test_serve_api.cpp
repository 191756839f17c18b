// test_serve_api.cpp — the OpenAI API fields of `slm serve` that tools use (issue 17 §2):
// logprobs / top_logprobs / echo (checked against the model's own log-softmax on a twin model),
// prompts as token arrays and lists, include_usage, penalties and logit_bias, refused fields,
// prompts longer than the context, max_tokens ranges.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "scratchlm/generate/generator.h"
#include "scratchlm/generate/sampler.h"
#include "scratchlm/util/error.h"
#include "serve_live.h"
#include "test_util.h"

using namespace serve_test;

namespace {

// log-softmax of the twin model's logits at every position of `ids`: [T][V].
std::vector<std::vector<double>> model_logprobs(const std::vector<int32_t>& ids) {
  auto ref = tiny_model();
  const int64_t V = ref->config().vocab_size, T = static_cast<int64_t>(ids.size());
  std::vector<float> all(static_cast<size_t>(T * V));
  ref->logits(ids.data(), 1, T, all.data(), false);
  std::vector<std::vector<double>> out(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const float* row = all.data() + t * V;
    double m = row[0];
    for (int64_t i = 0; i < V; ++i) m = std::max(m, static_cast<double>(row[i]));
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(row[i] - m);
    out[t].resize(V);
    for (int64_t i = 0; i < V; ++i) out[t][i] = row[i] - m - std::log(sum);
  }
  return out;
}

std::string error_of(const LiveServer& srv, const std::string& path, const std::string& body, int status = 400,
                     std::string* param = nullptr) {
  auto [st, j] = srv.post(path, body);
  EXPECT_EQ(st, status) << body;
  if (!j.is_object() || !j.contains("error")) return "(not an error)";
  if (param) *param = j["error"]["param"].is_string() ? j["error"]["param"].get<std::string>() : "";
  return j["error"]["message"].get<std::string>();
}

}  // namespace

// echo + logprobs + max_tokens 0: the prompt scored as lm-evaluation-harness's local-completions
// reads it (token_logprobs[0] null, then log P(token i | tokens before)), with token arrays.
TEST(ServeApi, EchoScoresThePromptAsTheModel) {
  LiveServer srv(tiny_model());
  const std::vector<int32_t> ids = ids_of("Every effort moves you forward");
  const auto lp = model_logprobs(ids);
  json body = {{"prompt", ids}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 2}, {"temperature", 0}};
  auto [st, j] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st, 200) << j.dump();
  const json& c = j["choices"][0];
  EXPECT_EQ(c["text"], text_of(ids));
  const json& L = c["logprobs"];
  ASSERT_EQ(L["tokens"].size(), ids.size());
  EXPECT_TRUE(L["token_logprobs"][0].is_null());
  EXPECT_TRUE(L["top_logprobs"][0].is_null());
  EXPECT_EQ(L["text_offset"][0], 0);
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_NEAR(L["token_logprobs"][i].get<double>(), lp[i - 1][ids[i]], 1e-3) << i;
    EXPECT_EQ(L["tokens"][i], text_of({ids[i]}));
    EXPECT_EQ(L["text_offset"][i], L["text_offset"][i - 1].get<int>() + text_of({ids[i - 1]}).size());
    ASSERT_EQ(L["top_logprobs"][i].size(), 2u);
    // The most likely alternative has the largest log-probability at that position.
    const double best = *std::max_element(lp[i - 1].begin(), lp[i - 1].end());
    double top_max = -1e9;
    for (auto& [k, v] : L["top_logprobs"][i].items()) top_max = std::max(top_max, v.get<double>());
    EXPECT_NEAR(top_max, best, 1e-3);
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 0);

  // max_tokens 1 (lm-eval's request): the prompt's entries, then the generated token's.
  body["max_tokens"] = 1;
  auto [st1, j1] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st1, 200);
  const json& L1 = j1["choices"][0]["logprobs"];
  ASSERT_EQ(L1["tokens"].size(), ids.size() + 1);
  const double greedy_lp = *std::max_element(lp.back().begin(), lp.back().end());
  EXPECT_NEAR(L1["token_logprobs"][ids.size()].get<double>(), greedy_lp, 1e-3);
}

// A list of prompts (strings and token arrays): one choice per prompt, with its index, each the
// answer it gets alone; usage sums them.
TEST(ServeApi, ListsOfPromptsAndTokenArrays) {
  LiveServer srv(tiny_model());
  auto ref = tiny_model();
  const std::vector<std::string> texts = {"Every effort moves you", "The quick brown fox"};
  json body = {{"prompt", {texts[0], ids_of(texts[1])}}, {"max_tokens", 6}, {"temperature", 0}};
  auto [st, j] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st, 200) << j.dump();
  ASSERT_EQ(j["choices"].size(), 2u);
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    const auto p = ids_of(texts[i]);
    prompt_tokens += static_cast<int64_t>(p.size());
    const auto out = slm::generate(*ref, p, greedy(6));
    EXPECT_EQ(j["choices"][i]["text"], text_of(out)) << i;
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  std::string param;
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": ["a", "b"], "stream": true})", 400, &param),
             "several prompts");
  EXPECT_EQ(param, "prompt");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": [1, 99999999]})", 400, &param), "token ids");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": [[]]})"), "'prompt'");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": [1, "a"]})"), "'prompt'");
}

// Chat logprobs (OpenAI's logprobs.content shape) and completions logprobs, whole and streamed
// (the streamed chunks' entries join to the whole answer's), and the include_usage chunk.
TEST(ServeApi, LogprobsAndStreamUsage) {
  LiveServer srv(tiny_model());
  json chat = {{"messages", {{{"role", "user"}, {"content", "Name a colour."}}}},
               {"logprobs", true},
               {"top_logprobs", 3},
               {"max_tokens", 6}};
  auto [st, j] = srv.post("/v1/chat/completions", chat.dump());
  ASSERT_EQ(st, 200) << j.dump();
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), j["usage"]["completion_tokens"].get<size_t>());
  for (const json& t : content) {
    ASSERT_TRUE(t["token"].is_string());
    ASSERT_TRUE(t["logprob"].is_number());
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_TRUE(t["bytes"].is_array());
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    EXPECT_NEAR(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>(), 1e-5);
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
  }
  chat["stream"] = true;
  chat["stream_options"] = {{"include_usage", true}};
  const auto events = srv.stream("/v1/chat/completions", chat.dump());
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json last = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"], j["usage"]);
  json streamed = json::array();
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json e = json::parse(events[i]);
    EXPECT_TRUE(e.contains("usage") && e["usage"].is_null());
    const json& lp = e["choices"][0]["logprobs"];
    if (!lp.is_null())
      for (const json& t : lp["content"]) streamed.push_back(t);
  }
  EXPECT_EQ(streamed, content);

  // Completions: logprobs 0 gives each token's logprob and empty alternatives; no echo.
  auto [st2, k] = srv.post("/v1/completions", R"({"prompt": "Hello", "max_tokens": 4, "logprobs": 0})");
  ASSERT_EQ(st2, 200);
  const json& L = k["choices"][0]["logprobs"];
  EXPECT_EQ(L["tokens"].size(), 4u);
  EXPECT_EQ(L["top_logprobs"][0], json::object());
  std::string joined;
  for (const json& t : L["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, k["choices"][0]["text"]);
  // A completions stream with include_usage.
  const auto ev =
      srv.stream("/v1/completions",
                 R"({"prompt": "Hello", "max_tokens": 4, "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(json::parse(ev[ev.size() - 2])["usage"]["completion_tokens"], 4);
}

// presence/frequency penalties and logit_bias change greedy decoding as OpenAI's formulas say.
TEST(ServeApi, PenaltiesAndLogitBias) {
  LiveServer srv(tiny_model());
  auto ref = tiny_model();
  const auto p = ids_of("Every effort moves you");
  // logit_bias +100 on one token makes greedy decoding repeat it.
  json body = {{"prompt", p}, {"max_tokens", 5}, {"temperature", 0}, {"logit_bias", {{"464", 100}}}};
  auto [st, j] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["choices"][0]["text"], text_of({464, 464, 464, 464, 464}));
  // -100 on the greedy first token: the answer starts with another.
  const auto plain = slm::generate(*ref, p, greedy(1));
  body["logit_bias"] = {{std::to_string(plain.back()), -100}};
  body["max_tokens"] = 1;
  auto [st2, j2] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st2, 200);
  EXPECT_NE(j2["choices"][0]["text"], text_of({plain.back()}));
  // A bias of +8 makes one token win every step; the penalties make it lose after a few repeats,
  // the same tokens as generate() with the same sampler settings on a twin.
  slm::GenerateOptions g = greedy(10);
  g.sampler.logit_bias = {{464, 8.0f}};
  g.sampler.presence_penalty = 1.5f;
  g.sampler.frequency_penalty = 2.0f;
  const auto penalized = slm::generate(*ref, p, g);
  json pb = {{"prompt", p},
             {"max_tokens", 10},
             {"temperature", 0},
             {"logit_bias", {{"464", 8}}},
             {"presence_penalty", 1.5},
             {"frequency_penalty", 2}};
  auto [st3, j3] = srv.post("/v1/completions", pb.dump());
  ASSERT_EQ(st3, 200);
  EXPECT_EQ(j3["choices"][0]["text"], text_of(penalized));
  ASSERT_GE(penalized.size(), 4u);
  const auto repeats = std::count(penalized.begin(), penalized.end(), 464);
  EXPECT_GE(repeats, 2) << text_of(penalized);
  EXPECT_LT(repeats, 10) << "the penalties changed nothing";
  std::string param;
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "presence_penalty": 3})", 400, &param), "-2 and 2");
  EXPECT_EQ(param, "presence_penalty");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "frequency_penalty": -2.5})"), "-2 and 2");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "logit_bias": {"abc": 1}})", 400, &param),
             "token ids");
  EXPECT_EQ(param, "logit_bias");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "logit_bias": {"99999999": 1}})"), "token ids");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "logit_bias": {"5": 101}})"), "-100 and 100");
}

// The sampler's penalties alone, against the formula.
TEST(ServeApi, SamplerPenaltyFormula) {
  const int64_t V = 6;
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f, 2.9f, 0.0f, -1.0f};
  slm::SamplerConfig c;
  c.temperature = 1.0f;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = 0.25f;
  c.logit_bias = {{4, 3.0f}};
  slm::Sampler s(c);
  std::vector<float> probs;
  const std::vector<int32_t> ctx = {2, 2, 3, 0, 0, 0};  // prompt {2}, generated {2, 3, 0, 0, 0}
  s.distribution(logits.data(), V, ctx, probs, 1);
  std::vector<double> want = {1.0 - 0.5 - 0.75, 2.0, 3.0 - 0.5 - 0.25, 2.9 - 0.5 - 0.25, 3.0, -1.0};
  double m = *std::max_element(want.begin(), want.end()), sum = 0;
  for (double w : want) sum += std::exp(w - m);
  for (int64_t i = 0; i < V; ++i) EXPECT_NEAR(probs[i], std::exp(want[i] - m) / sum, 1e-5) << i;
  c.presence_penalty = 2.5f;
  EXPECT_THROW(slm::Sampler{c}, slm::Error);
}

// Unknown and unsupported fields are refused by name; harmless metadata is accepted.
TEST(ServeApi, UnknownAndUnsupportedFields) {
  LiveServer srv(tiny_model());
  std::string param;
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "temprature": 0.5})", 400, &param),
             "unknown field 'temprature'");
  EXPECT_EQ(param, "temprature");
  const std::string msg = R"("messages": [{"role": "user", "content": "hi"}])";
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", "{" + msg + R"(, "response_format": {"type": "json_object"}})", 400,
                      &param),
             "JSON");
  EXPECT_EQ(param, "response_format");
  EXPECT_HAS(error_of(srv, "/v1/chat/completions",
                      "{" + msg + R"(, "response_format": {"type": "json_schema", "json_schema": {}}})"),
             "JSON");
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", "{" + msg + R"(, "tools": [{"type": "function"}]})", 400, &param),
             "tool");
  EXPECT_EQ(param, "tools");
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", "{" + msg + R"(, "functions": []})"), "function");
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", "{" + msg + R"(, "top_logprobs": 2})"), "logprobs");
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", "{" + msg + R"(, "echo": true})"), "unknown field 'echo'");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "stream_options": {"include_usage": true}})"),
             "stream");
  EXPECT_HAS(error_of(srv, "/v1/completions", R"({"prompt": "a", "echo": true, "stream": true})"), "echo");
  // Harmless metadata.
  auto [st, j] = srv.post("/v1/chat/completions", "{" + msg +
                                                      R"(, "user": "u1", "metadata": {"k": "v"}, "n": 1, "store": false,
                                 "response_format": {"type": "text"}, "tool_choice": "none", "model": "tiny"})");
  EXPECT_EQ(st, 200) << j.dump();
  auto [st2, j2] =
      srv.post("/v1/completions", R"({"prompt": "a", "user": "u1", "best_of": 1, "suffix": null, "logprobs": null})");
  EXPECT_EQ(st2, 200) << j2.dump();
}

// A prompt longer than the context: 400 with the lengths, or cut from the left with "truncate",
// and usage counts the tokens used. max_tokens out of range says the range.
TEST(ServeApi, LongPromptsAndMaxTokensRange) {
  LiveServer srv(tiny_model());  // context 128
  std::vector<int32_t> long_prompt(200);
  for (size_t i = 0; i < long_prompt.size(); ++i) long_prompt[i] = static_cast<int32_t>(100 + i);
  std::string param;
  json body = {{"prompt", long_prompt}, {"max_tokens", 2}};
  const std::string e = error_of(srv, "/v1/completions", body.dump(), 400, &param);
  EXPECT_HAS(e, "200 tokens");
  EXPECT_HAS(e, "context of 128");
  EXPECT_EQ(param, "prompt");
  body["truncate"] = true;
  body["temperature"] = 0;
  auto [st, j] = srv.post("/v1/completions", body.dump());
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["usage"]["prompt_tokens"], 128);
  auto ref = tiny_model();
  const std::vector<int32_t> kept(long_prompt.end() - 128, long_prompt.end());
  const auto out = slm::generate(*ref, kept, greedy(2));
  EXPECT_EQ(j["choices"][0]["text"], text_of(out));
  // Chat: a last message longer than the context.
  std::string big;
  for (int i = 0; i < 150; ++i) big += " word";
  json chat = {{"messages", {{{"role", "user"}, {"content", big}}}}, {"max_tokens", 2}};
  EXPECT_HAS(error_of(srv, "/v1/chat/completions", chat.dump(), 400, &param), "context of 128");
  EXPECT_EQ(param, "messages");
  chat["truncate"] = true;
  auto [st2, j2] = srv.post("/v1/chat/completions", chat.dump());
  ASSERT_EQ(st2, 200) << j2.dump();
  EXPECT_EQ(j2["usage"]["prompt_tokens"], 128);

  for (const char* v : {"18446744073709551616", "18446744073709551615", "-1", "0", "65", "1.5"}) {
    const std::string m =
        error_of(srv, "/v1/completions", std::string(R"({"prompt": "a", "max_tokens": )") + v + "}", 400, &param);
    EXPECT_HAS(m, "between 1 and 64");
    EXPECT_EQ(m.find("got"), std::string::npos) << m;
    EXPECT_EQ(param, "max_tokens");
  }
  EXPECT_HAS(error_of(srv, "/v1/chat/completions",
                      R"({"messages": [{"role": "user", "content": "a"}], "max_completion_tokens": 1e30})"),
             "between 1 and 64");
}

// --truncate-prompts makes truncation the default.
TEST(ServeApi, TruncatePromptsOption) {
  LiveServer srv(tiny_model(), 2, [](slm::ServeConfig& c) { c.truncate_prompts = true; });
  std::vector<int32_t> long_prompt(300, 262);
  auto [st, j] = srv.post("/v1/completions", json({{"prompt", long_prompt}, {"max_tokens", 1}}).dump());
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["usage"]["prompt_tokens"], 128);
  auto [st2, j2] =
      srv.post("/v1/completions", json({{"prompt", long_prompt}, {"max_tokens", 1}, {"truncate", false}}).dump());
  EXPECT_EQ(st2, 400);
}
