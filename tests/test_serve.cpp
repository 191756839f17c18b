// test_serve.cpp — `slm serve` (serve/server.h): a tiny random model behind the OpenAI-compatible
// API on a loopback port, talked to with an HTTP client. Every answer is compared with the library
// path it must equal (generate, generate_response, predict_proba on a twin model); streamed answers
// must join to the whole ones; bad requests get JSON errors; the CLI starts, serves and stops.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "scratchlm/finetune/classifier.h"
#include "scratchlm/finetune/judge.h"
#include "scratchlm/finetune/responses.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/serve/server.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "serve_live.h"
#include "test_util.h"

using namespace serve_test;

using json = nlohmann::json;
using slm::InstructionEntry;
using slm::PromptTemplate;

TEST(Serve, CompletionsEqualGenerateStreamedOrNot) {
  LiveServer srv(tiny_model());
  auto ref = tiny_model();
  const std::string prompt = "Every effort moves you";
  const auto expect_ids = slm::generate(*ref, ids_of(prompt), greedy(12));
  ASSERT_EQ(expect_ids.size(), 12u) << "the tiny model should not end its text this early";
  const std::string expect = text_of(expect_ids);

  auto [st, j] = srv.post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["choices"][0]["text"], expect);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids_of(prompt).size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);

  auto [text, finish] = join_stream(
      srv.stream("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 12}, {"stream", true}}.dump()), false);
  EXPECT_EQ(text, expect);
  EXPECT_EQ(finish, "length");

  // A stop string: the text ends before its first occurrence, finish_reason "stop", streamed too.
  ASSERT_GE(expect.size(), 6u);
  const std::string stop = expect.substr(expect.size() / 2, 2);
  const std::string cut = expect.substr(0, expect.find(stop));
  auto [st2, j2] =
      srv.post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 12}, {"stop", {"@@@", stop}}}.dump());
  ASSERT_EQ(st2, 200) << j2.dump();
  EXPECT_EQ(j2["choices"][0]["text"], cut);
  EXPECT_EQ(j2["choices"][0]["finish_reason"], "stop");
  EXPECT_LT(j2["usage"]["completion_tokens"].get<int>(), 12);
  auto [text2, finish2] =
      join_stream(srv.stream("/v1/completions",
                             json{{"prompt", {prompt}}, {"max_tokens", 12}, {"stop", stop}, {"stream", true}}.dump()),
                  false);
  EXPECT_EQ(text2, cut);
  EXPECT_EQ(finish2, "stop");

  // An empty prompt starts after <|endoftext|>.
  auto [st3, j3] = srv.post("/v1/completions", json{{"prompt", ""}, {"max_tokens", 5}}.dump());
  ASSERT_EQ(st3, 200);
  EXPECT_EQ(j3["choices"][0]["text"], text_of(slm::generate(*ref, std::vector<int32_t>{50256}, greedy(5))));
}

// Several clients at once: their requests generate together in batched decode steps, and each
// answer is the one generate() gives its prompt alone; /health answers meanwhile.
TEST(Serve, ConcurrentRequestsBatchAndEachEqualsGenerate) {
  LiveServer srv(tiny_model(), 3);
  auto ref = tiny_model();
  const std::vector<std::string> prompts = {"Every effort moves you", "Call me Ishmael.", "The",
                                            "In the sunlit terraces", "Hello, do you like tea?"};
  std::vector<std::string> expect;
  for (const auto& p : prompts) expect.push_back(text_of(slm::generate(*ref, ids_of(p), greedy(40))));
  std::vector<std::string> got(prompts.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < prompts.size(); ++i)
    clients.emplace_back([&, i] {
      const json body = {{"prompt", prompts[i]}, {"max_tokens", 40}, {"stream", i % 2 == 1}};
      if (i % 2) {
        got[i] = join_stream(srv.stream("/v1/completions", body.dump()), false).first;
      } else {
        auto [st, j] = srv.post("/v1/completions", body.dump());
        EXPECT_EQ(st, 200) << j.dump();
        if (st == 200) got[i] = j["choices"][0]["text"];
      }
    });
  const auto t0 = std::chrono::steady_clock::now();
  auto health = srv.client().Get("/health");
  const double health_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& t : clients) t.join();
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(health_s, 2.0);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], expect[i]) << prompts[i];
}

TEST(Serve, ChatEqualsTheBooksResponsesWithMemoryAndSystemText) {
  LiveServer srv(tiny_model());
  auto ref = tiny_model();
  const auto& tok = slm::test::gpt2_tokenizer();
  const std::string m1 = "Name a primary color.", m2 = "What is the capital of France?";
  const std::string a1 =
      slm::generate_response(*ref, tok, InstructionEntry{m1, "", ""}, PromptTemplate::Alpaca, greedy(8));
  ASSERT_FALSE(a1.empty());

  const json one = {{"messages", {{{"role", "user"}, {"content", m1}}}}, {"max_tokens", 8}};
  auto [st, j] = srv.post("/v1/chat/completions", one.dump());
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], a1);
  json streamed = one;
  streamed["stream"] = true;
  auto [text, finish] = join_stream(srv.stream("/v1/chat/completions", streamed.dump()), true);
  EXPECT_EQ(text, a1);
  EXPECT_EQ(finish, j["choices"][0]["finish_reason"]);

  // Memory: the earlier turn comes first, as `slm chat` keeps it.
  const std::string memory = slm::format_example(InstructionEntry{m1, "", a1}, PromptTemplate::Alpaca) + "\n\n";
  const std::string prompt2 = memory + slm::format_prompt(InstructionEntry{m2, "", ""}, PromptTemplate::Alpaca) +
                              slm::response_prefix(PromptTemplate::Alpaca);
  const std::string a2 = slm::clean_response(
      text_of(slm::generate(*ref, ids_of(prompt2, slm::SpecialMode::Text), greedy(8))), PromptTemplate::Alpaca);
  const json two = {{"messages",
                     {{{"role", "user"}, {"content", m1}},
                      {{"role", "assistant"}, {"content", a1}},
                      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", m2}}}}}}},
                    {"max_tokens", 8}};
  auto [st2, j2] = srv.post("/v1/chat/completions", two.dump());
  ASSERT_EQ(st2, 200) << j2.dump();
  EXPECT_EQ(j2["choices"][0]["message"]["content"], a2);

  // System text goes before the next user message.
  const json sys = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", m2}}}},
                    {"max_tokens", 8}};
  const json joined = {{"messages", {{{"role", "user"}, {"content", "Be brief.\n\n" + m2}}}}, {"max_tokens", 8}};
  EXPECT_EQ(srv.post("/v1/chat/completions", sys.dump()).second["choices"][0]["message"]["content"],
            srv.post("/v1/chat/completions", joined.dump()).second["choices"][0]["message"]["content"]);
}

TEST(Serve, SamplingSeeds) {
  LiveServer srv(tiny_model());
  auto text = [&](const json& extra) {
    json body = {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 1.0}};
    body.update(extra);
    auto [st, j] = srv.post("/v1/completions", body.dump());
    EXPECT_EQ(st, 200) << j.dump();
    return j["choices"][0]["text"].get<std::string>();
  };
  EXPECT_EQ(text({{"seed", 42}}), text({{"seed", 42}}));
  EXPECT_NE(text({{"seed", 42}}), text({{"seed", 43}}));
  EXPECT_NE(text(json::object()), text(json::object())) << "requests without a seed get different ones";
  EXPECT_EQ(text({{"seed", 42}, {"top_k", 1}}), text({{"seed", 7}, {"top_k", 1}})) << "top_k 1 is greedy";
}

TEST(Serve, BadRequestsGetJsonErrors) {
  LiveServer srv(tiny_model());
  auto error = [&](const std::string& path, const std::string& body) {
    auto [st, j] = srv.post(path, body);
    EXPECT_EQ(st, 400) << body;
    return j.is_object() ? j["error"]["message"].get<std::string>() : std::string("(not JSON)");
  };
  EXPECT_HAS(error("/v1/completions", "{\"prompt\": "), "invalid JSON");
  EXPECT_HAS(error("/v1/completions", "[1]"), "JSON object");
  EXPECT_HAS(error("/v1/completions", "{}"), "'prompt'");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "max_tokens": 0})"), "between 1 and 64");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "max_tokens": 65})"), "between 1 and 64");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "max_tokens": "5"})"), "must be an integer");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "temperature": -1})"), "temperature");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "top_p": 0})"), "top_p");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "n": 2})"), "'n'");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "stop": ["1","2","3","4","5"]})"), "'stop'");
  EXPECT_HAS(error("/v1/completions", R"({"prompt": "a", "stream": "yes"})"), "'stream'");
  EXPECT_HAS(error("/v1/chat/completions", R"({"messages": []})"), "'messages'");
  EXPECT_HAS(error("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})"),
             "last message must be from the user");
  EXPECT_HAS(error("/v1/chat/completions",
                   R"({"messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "a"}]})"),
             "messages[0]");
  EXPECT_HAS(error("/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "a"}]})"),
             "unknown role 'robot'");
  EXPECT_HAS(error("/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
             "text");
  EXPECT_HAS(error("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "  "}]})"), "empty");
  EXPECT_HAS(error("/v1/classify", R"({"input": "a"})"), "needs a classifier");
  EXPECT_HAS(error("/v1/completions", "{\"prompt\": \"\xff\"}"), "invalid JSON");  // invalid UTF-8

  auto c = srv.client();
  auto r = c.Get("/no/such/path");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_HAS(json::parse(r->body)["error"]["message"].get<std::string>(), "/no/such/path");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  json m = json::parse(models->body)["data"][0];
  EXPECT_EQ(m["id"], "tiny");
  EXPECT_EQ(m["kind"], "language-model");
  EXPECT_EQ(m["context_length"], 128);
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("/v1/chat/completions"), std::string::npos);
  EXPECT_EQ(json::parse(c.Get("/health")->body)["status"], "ok");
}

// The API key, JSON-only bodies, CORS, the HTTP layer's errors, and the small routes.
TEST(Serve, AccessControlAndHttpErrors) {
  LiveServer srv(tiny_model(), 2, [](slm::ServeConfig& c) {
    c.api_key = "s3cret";
    c.cors_origin = "http://localhost:5173";
  });
  auto c = srv.client();
  const std::string body = json{{"prompt", "Every effort"}, {"max_tokens", 3}}.dump();
  auto r = c.Post("/v1/completions", body, "application/json");  // no key
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "authentication_error");
  EXPECT_EQ(c.Get("/health")->status, 200);  // health needs no key
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/")->status, 200);  // the page itself asks for the key
  httplib::Headers wrong = {{"Authorization", "Bearer s3creT"}};
  EXPECT_EQ(c.Post("/v1/completions", wrong, body, "application/json")->status, 401);
  c.set_bearer_token_auth("s3cret");
  r = c.Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // A page's "simple" cross-origin request (text/plain) is refused.
  r = c.Post("/v1/completions", body, "text/plain");
  EXPECT_EQ(r->status, 415);
  EXPECT_HAS(json::parse(r->body)["error"]["message"].get<std::string>(), "application/json");
  // CORS for the one allowed origin only.
  httplib::Headers from_app = {{"Origin", "http://localhost:5173"}, {"Access-Control-Request-Method", "POST"}};
  r = c.Options("/v1/completions", from_app);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://localhost:5173");
  r = c.Get("/v1/models", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  // 405 names the allowed method; 404 for unknown models; the model by id.
  r = c.Get("/v1/completions");
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_EQ(c.Get("/v1/models/tiny")->status, 200);
  EXPECT_EQ(json::parse(c.Get("/v1/models/tiny")->body)["id"], "tiny");
  r = c.Get("/v1/models/gpt-4");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  // /tokenize and /detokenize (llama-server's routes).
  r = c.Post("/tokenize", R"({"content": "Hello, world<|endoftext|>"})", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const json ids = json::parse(r->body)["tokens"];
  EXPECT_EQ(ids, json(ids_of("Hello, world<|endoftext|>")));
  r = c.Post("/detokenize", json{{"tokens", ids}}.dump(), "application/json");
  EXPECT_EQ(json::parse(r->body)["content"], "Hello, world<|endoftext|>");
  EXPECT_EQ(c.Post("/detokenize", R"({"tokens": [50257]})", "application/json")->status, 400);
  // /metrics in Prometheus' text format.
  r = c.Get("/metrics");
  EXPECT_EQ(r->status, 200);
  EXPECT_HAS(r->body, "slm_completions_total 1\n");
  EXPECT_HAS(r->body, "# TYPE slm_queue_length gauge");
  // 413 with a message.
  r = c.Post("/v1/completions", std::string((64u << 20) + 1, ' '), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_HAS(json::parse(r->body)["error"]["message"].get<std::string>(), "64 MiB");
  // A second server on the same port fails to bind instead of sharing it.
  slm::Server other(tiny_model(), std::make_unique<slm::Tokenizer>(slm::test::gpt2_tokenizer()), slm::ServeConfig{});
  EXPECT_THROW(other.bind("127.0.0.1", srv.port()), slm::Error);
}

TEST(Serve, ClassifierAnswersAsPredictProba) {
  LiveServer srv(tiny_classifier());
  auto ref = tiny_classifier();
  const std::vector<std::string> texts = {"Win a free prize now!", "See you at lunch?"};
  std::vector<slm::LabeledExample> rows;
  for (const auto& t : texts) rows.push_back({t, ""});
  const auto enc = slm::encode_texts(slm::test::gpt2_tokenizer(), rows, {}, 128, false);
  const auto p = slm::predict_proba(*ref, enc, 8, 50256);

  auto [st, j] = srv.post("/v1/classify", json{{"input", texts}}.dump());
  ASSERT_EQ(st, 200) << j.dump();
  ASSERT_EQ(j["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const json& d = j["data"][i];
    EXPECT_EQ(d["index"], i);
    EXPECT_NEAR(d["probabilities"]["ham"].get<double>(), p[2 * i], 1e-6);
    EXPECT_NEAR(d["probabilities"]["spam"].get<double>(), p[2 * i + 1], 1e-6);
    EXPECT_EQ(d["label"], p[2 * i + 1] > p[2 * i] ? "spam" : "ham");
  }
  auto [st1, j1] = srv.post("/v1/classify", json{{"input", texts[1]}}.dump());
  ASSERT_EQ(st1, 200);
  EXPECT_NEAR(j1["data"][0]["probability"].get<double>(), std::max(p[2], p[3]), 1e-6);

  EXPECT_EQ(srv.post("/v1/classify", R"({"input": ["a", ""]})").first, 400);
  EXPECT_EQ(srv.post("/v1/classify", R"({"input": []})").first, 400);
  auto [st2, j2] = srv.post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(st2, 400);
  EXPECT_HAS(j2["error"]["message"].get<std::string>(), "is a classifier");
  auto models = srv.client().Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["labels"], json({"ham", "spam"}));
}

// slm judge (chapter 7.8) against slm serve: the judge's request is understood and its reply is
// the served model's greedy answer to the judge prompt.
TEST(Serve, JudgeCanUseIt) {
  LiveServer srv(tiny_model());
  auto ref = tiny_model();
  const slm::JudgeItem item{InstructionEntry{"Name a primary color.", "", "Red."}, "Blue."};
  slm::JudgeOptions opt;
  opt.endpoint = "http://127.0.0.1:" + std::to_string(srv.port()) + "/v1/";
  opt.model = "tiny";
  opt.retries = 0;
  opt.backoff_s = 0;
  const slm::JudgeResult r = slm::judge_one(item, opt);
  EXPECT_NE(r.status, slm::JudgeStatus::Failed) << r.error;
  const std::string expect = slm::generate_response(
      *ref, slm::test::gpt2_tokenizer(), InstructionEntry{slm::judge_prompt(item.entry, item.response), "", ""},
      PromptTemplate::Alpaca, greedy(8));
  EXPECT_EQ(r.reply, expect);
}

TEST(Serve, CliServesUntilSigterm) {
  slm::test::TempDir dir;
  slm::save_hf_model(*tiny_model(), dir.file("model"));
  const std::string log = dir.file("stderr.txt");
  const std::string tokdir = slm::test::data_dir() + "/gpt2", model = dir.file("model");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char* argv[] = {SLM_BINARY, "serve",     "--model", model.c_str(), "--tokenizer", tokdir.c_str(), "--port",
                        "0",        "--threads", "1",       "--name",      "mini",        nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, SLM_BINARY, &fa, nullptr, const_cast<char* const*>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int port = 0;
  for (int i = 0; i < 1000 && port == 0; ++i) {  // up to 10 s for the model to load
    const std::string err = slm::test::read_text(log);
    const size_t at = err.find("http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(err.c_str() + at + 17);
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(port, 0) << slm::test::read_text(log);
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["model"], "mini");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string err = slm::test::read_text(log);
  // One line per request: ISO time, client, method, path, status, tokens, time to first token, total.
  EXPECT_TRUE(
      std::regex_search(err, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 POST )"
                                        R"(/v1/chat/completions 200 \d+ \+ \d+ tokens, first token \d+ ms, \d+ ms)")))
      << err;
  EXPECT_HAS(err, "stopping");
}
