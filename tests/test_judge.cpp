// test_judge.cpp — the LLM judge of chapter 7.8 ("Build a Large Language Model (From Scratch)"):
// reply parsing, the book's prompt byte for byte, and judging end to end — through the library and
// through `slm judge` — against a fake OpenAI-compatible endpoint: a cpp-httplib server on 127.0.0.1
// (random free port) inside the test process, scripted per entry by a "[[case=N]]" marker in the
// response text.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "scratchlm/finetune/judge.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "test_util.h"

namespace slm::test {
namespace {

using nlohmann::json;

using slm::test::closed_port;

// An OpenAI-style /v1/chat/completions. Each case has a script of answers, one per attempt (the
// last one repeats). The request is checked: a wrong model gets Ollama's 404, anything else wrong a
// 400 and a count in `bad_requests`.
class FakeJudge {
 public:
  struct Step {
    int status = 200;
    std::string content;  // the judge's reply, or with raw the whole body
    bool raw = false;
    int delay_ms = 0;
  };
  std::map<int, std::vector<Step>> scripts;
  std::string model = "judge-7b";
  std::string api_key;  // checked when not empty
  std::atomic<int> bad_requests{0};

  FakeJudge() {
    svr_.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind the fake judge");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 500 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeJudge() {
    svr_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/"; }
  int calls(int c) {
    std::lock_guard<std::mutex> lk(mu_);
    return calls_[c];
  }
  std::vector<std::string> prompts() {
    std::lock_guard<std::mutex> lk(mu_);
    return prompts_;
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    auto bad = [&](const std::string& why) {
      ++bad_requests;
      res.status = 400;
      res.set_content(json{{"error", {{"message", why}}}}.dump(), "application/json");
    };
    if (body.is_discarded() || !body.is_object()) return bad("body is not a JSON object");
    if (body.value("model", "") != model) {
      res.status = 404;
      res.set_content(
          json{{"error", {{"message", "model '" + body.value("model", "") + "' not found"}, {"type", "api_error"}}}}
              .dump(),
          "application/json");
      return;
    }
    if (!api_key.empty() && req.get_header_value("Authorization") != "Bearer " + api_key) return bad("wrong api key");
    if (req.get_header_value("Content-Type") != "application/json") return bad("wrong content type");
    if (body.value("temperature", -1.0) != 0.0 || body.value("seed", 0) != 123 || body.value("stream", true) != false)
      return bad("wrong sampling fields");
    const json& m = body["messages"];
    if (!m.is_array() || m.size() != 1 || m[0].value("role", "") != "user" || !m[0]["content"].is_string())
      return bad("wrong messages");
    const std::string prompt = m[0]["content"];
    size_t at = prompt.find("[[case=");
    if (at == std::string::npos || prompt.find("Respond with the integer number only.") == std::string::npos)
      return bad("no case marker");
    const int c = std::atoi(prompt.c_str() + at + 7);
    Step step;
    {
      std::lock_guard<std::mutex> lk(mu_);
      prompts_.push_back(prompt);
      const auto& sc = scripts.at(c);
      step = sc[std::min(static_cast<size_t>(calls_[c]++), sc.size() - 1)];
    }
    if (step.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(step.delay_ms));
    res.status = step.status;
    if (step.raw) return res.set_content(step.content, "application/json");
    json reply{{"id", "chatcmpl-1"},
               {"object", "chat.completion"},
               {"model", model},
               {"choices", json::array({json{{"index", 0},
                                             {"message", {{"role", "assistant"}, {"content", step.content}}},
                                             {"finish_reason", "stop"}}})}};
    res.set_content(reply.dump(), "application/json");
  }

  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<int, int> calls_;
  std::vector<std::string> prompts_;
};

JudgeItem item(const std::string& instruction, const std::string& input, const std::string& output,
               const std::string& response) {
  return JudgeItem{InstructionEntry{instruction, input, output}, response};
}

// Six entries: 87, 72, unparseable ("I'd say eighty", 4 attempts), 500 then 95, 41, garbage then 10.
struct Scenario {
  FakeJudge judge;
  std::vector<JudgeItem> items;
  Scenario() {
    judge.scripts[0] = {{200, "87"}};
    judge.scripts[1] = {{200, "Score: 72/100"}};
    judge.scripts[2] = {{200, "I'd say eighty"}};
    judge.scripts[3] = {{500, R"({"error":"overloaded"})", true}, {200, "**95**"}};
    judge.scripts[4] = {{200, "I would rate this 41 out of 100."}};
    judge.scripts[5] = {{200, "<html>oops", true}, {200, "10"}};
    items = {item("Rewrite the sentence using a simile.", "The car is very fast.", "The car is as fast as lightning.",
                  "The car is as fast as a bullet. [[case=0]]"),
             item("Name the author of 'Pride and Prejudice'.", "", "Jane Austen.", "Jane Austen. [[case=1]]"),
             item("What is 2+2?", "", "4.", "Five. [[case=2]]"),
             item("Translate 'cat' to French.", "", "Chat.", "Chat. [[case=3]]"),
             item("Give a synonym of 'fast'.", "", "Quick.", "Slow. [[case=4]]"),
             item("Spell 'occasion'.", "Ocassion", "Occasion.", "Ocasion. [[case=5]]")};
  }
  JudgeOptions options() const {
    JudgeOptions o;
    o.endpoint = judge.endpoint();
    o.model = "judge-7b";
    o.backoff_s = 0;
    o.timeout_s = 10;
    return o;
  }
  std::string write_file(const TempDir& t) const {
    json arr = json::array();
    for (const auto& it : items)
      arr.push_back({{"instruction", it.entry.instruction},
                     {"input", it.entry.input},
                     {"output", it.entry.output},
                     {"model_response", it.response}});
    write_text(t.file("responses.json"), arr.dump(4));
    return t.file("responses.json");
  }
};

void expect_scenario_summary(const json& j) {
  EXPECT_EQ(j["n"], 6);
  EXPECT_EQ(j["scored"], 5);
  EXPECT_EQ(j["unparseable"], 1);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_DOUBLE_EQ(j["mean"].get<double>(), 61.0);  // (87 + 72 + 95 + 41 + 10) / 5
  EXPECT_EQ(j["min"], 10);
  EXPECT_EQ(j["max"], 95);
  EXPECT_EQ(j["scores"], json::parse("[87, 72, null, 95, 41, 10]"));
  EXPECT_EQ(j["histogram"], json::parse("[0, 1, 0, 0, 1, 0, 0, 1, 1, 1]"));
}

TEST(JudgeParse, OddReplies) {
  const std::vector<std::pair<std::string, std::optional<int>>> cases = {
      {"87", 87},
      {" 87 ", 87},
      {"\n\n87\n", 87},
      {"Score: 87", 87},
      {"87/100", 87},
      {"87 / 100", 87},
      {"I would rate this 87 out of 100.", 87},
      {"I'd rate it 87 OUT OF 100", 87},
      {"**85**", 85},
      {"Score: 85%", 85},
      {"85.5", 86},
      {"85.4", 85},
      {"66.67", 67},
      {"99.5", 100},
      {"0", 0},
      {"007", 7},
      {"100", 100},
      {"100/100", 100},
      {"**Score:** 100/100", 100},
      {"87.", 87},
      {"87.\n", 87},
      {"101", std::nullopt},
      {"150", std::nullopt},
      {"100.4", std::nullopt},
      {"-5", std::nullopt},
      {"Score: -5, no, 20", 20},
      {"I'd say eighty", std::nullopt},
      {"", std::nullopt},
      {" \n\t", std::nullopt},
      {"On a scale from 0 to 100, I give it 87.", 87},
      {"Scale 0-100: 42", 42},
      {"0\xE2\x80\x93"
       "100 scale: 42",
       42},
      {"80-85", std::nullopt},
      {"The score is 85 - very good", 85},
      {"4/5", std::nullopt},
      {"8 out of 10", std::nullopt},
      {"8 out of 10, i.e. 80", 80},
      {"As gpt4, I rate it 70", 70},
      {"3rd try: 55", 55},
      {"In 2023 I'd give 64", 64},
      {"<think>maybe 20, maybe 30</think>\n\n75", 75},
      {"1. Accuracy: right.\n2. Clarity: fine.\n\nScore: 85\n\nReasoning: good.", 85},
      {"1. Accuracy: close.\nScore: 60/100 (a fair guess)\n2. Clarity: clear.\nScore: 80/100\n"
       "Overall: (60 + 80) / 2 = 70\nI'd give it **70** out of 100.",
       60},
      {"1. The response is fine.", 1},
  };
  for (const auto& [reply, want] : cases) EXPECT_EQ(parse_judge_score(reply), want) << "reply: '" << reply << "'";
}

TEST(JudgePrompt, BookStringByteExact) {
  // The book's generate_model_scores (ch07.ipynb, ollama_evaluate.py), its format_input included.
  const InstructionEntry with_input{"Rewrite the sentence using a simile.", "The car is very fast.",
                                    "The car is as fast as lightning."};
  EXPECT_EQ(
      judge_prompt(with_input, "The car is as fast as a bullet."),
      "Given the input `Below is an instruction that describes a task. Write a response that appropriately completes "
      "the request.\n\n### Instruction:\nRewrite the sentence using a simile.\n\n### Input:\nThe car is very fast.` "
      "and correct output `The car is as fast as lightning.`, score the model response `The car is as fast as a "
      "bullet.` on a scale from 0 to 100, where 100 is the best score. Respond with the integer number only.");
  const InstructionEntry no_input{"Name the author of 'Pride and Prejudice'.", "", "Jane Austen."};
  EXPECT_EQ(
      judge_prompt(no_input, "The author of 'Pride and Prejudice' is Jane Austen."),
      "Given the input `Below is an instruction that describes a task. Write a response that appropriately completes "
      "the request.\n\n### Instruction:\nName the author of 'Pride and Prejudice'.` and correct output `Jane Austen.`, "
      "score the model response `The author of 'Pride and Prejudice' is Jane Austen.` on a scale from 0 to 100, where "
      "100 is the best score. Respond with the integer number only.");
}

TEST(JudgeRequest, UrlAndBody) {
  EXPECT_EQ(chat_completions_url("http://localhost:11434/v1"), "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(chat_completions_url("http://localhost:11434/v1//"), "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(chat_completions_url("https://api.example.com/v1/chat/completions"),
            "https://api.example.com/v1/chat/completions");
  EXPECT_THROW(chat_completions_url("localhost:11434/v1"), Error);
  JudgeOptions o;
  o.model = "llama3";
  EXPECT_EQ(
      judge_request_body(o, "hi"),
      json::parse(
          R"({"model":"llama3","messages":[{"role":"user","content":"hi"}],"temperature":0.0,"seed":123,"stream":false})"));
}

TEST(JudgeLoad, BookFileAndBadInput) {
  const std::string ref = shared_data_dir() + "/reference/instruction-data-with-response.json";
  if (file_exists(ref)) {
    auto items = load_judge_items(ref);
    ASSERT_EQ(items.size(), 110u);
    EXPECT_EQ(items[0].entry.input, "The car is very fast.");
    EXPECT_EQ(items[0].response, "The car is as fast as a bullet.");
  }
  TempDir t;
  auto fails_with = [&](const std::string& text, const std::string& key, const std::string& needle) {
    write_text(t.file("x.json"), text);
    try {
      load_judge_items(t.file("x.json"), key);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  fails_with(
      "[{\"instruction\":\"a\",\"output\":\"b\",\"model_response\":\"c\"},{\"instruction\":\"a\",\"output\":\"b\"}]",
      "model_response", "entry 1 has no \"model_response\"");
  fails_with("[{\"instruction\":\"a\",\"output\":\"b\",\"model_response\":\"c\"}]", "resp", "entry 0 has no \"resp\"");
  fails_with("[{\"instruction\":\"a\",\"output\":3,\"model_response\":\"c\"}]", "model_response",
             "\"output\" is not a string");
  fails_with("{\"instruction\":\"a\"}", "model_response", "expected a JSON array");
  fails_with("[]", "model_response", "no entries");
  fails_with("[{\"instruction\":", "model_response", "malformed JSON");
}

TEST(JudgeEndToEnd, Library) {
  Scenario sc;
  std::vector<size_t> seen;
  JudgeReport rep =
      judge_responses(sc.items, sc.options(), [&](size_t i, const JudgeResult&, const JudgeReport& so_far) {
        seen.push_back(i);
        EXPECT_EQ(so_far.n, static_cast<int64_t>(i + 1));
      });
  EXPECT_EQ(sc.judge.bad_requests, 0);
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  expect_scenario_summary(judge_summary_json(rep));
  EXPECT_EQ(rep.results[2].status, JudgeStatus::Unparseable);
  EXPECT_EQ(rep.results[2].reply, "I'd say eighty");
  EXPECT_EQ(rep.results[2].attempts, 4);  // 1 + 3 retries
  EXPECT_EQ(sc.judge.calls(2), 4);
  EXPECT_EQ(rep.results[3].attempts, 2);  // the 500 was retried
  EXPECT_EQ(rep.results[5].attempts, 2);  // so was the malformed body
  EXPECT_EQ(rep.results[0].attempts, 1);
  // The prompt the server saw is the book's, with the response in it.
  auto prompts = sc.judge.prompts();
  ASSERT_FALSE(prompts.empty());
  EXPECT_EQ(prompts[0], judge_prompt(sc.items[0].entry, sc.items[0].response));
  const std::string table = format_judge_report(rep);
  EXPECT_NE(table.find("mean score    61.00"), std::string::npos) << table;
  EXPECT_NE(table.find("90-100"), std::string::npos) << table;
}

TEST(JudgeEndToEnd, FailuresAreReportedNotFatal) {
  FakeJudge j;
  j.api_key = "sk-test";
  j.scripts[0] = {{400, R"({"error":{"message":"prompt too long"}})", true}};
  j.scripts[1] = {{503, "busy", true}};
  j.scripts[2] = {{200, "late", false, 1500}, {200, "Score: 33"}};  // the first answer comes after the timeout
  std::vector<JudgeItem> items = {item("a", "", "b", "x [[case=0]]"), item("a", "", "b", "y [[case=1]]"),
                                  item("a", "", "b", "z [[case=2]]")};
  JudgeOptions o;
  o.endpoint = j.endpoint();
  o.model = "judge-7b";
  o.api_key = "sk-test";
  o.backoff_s = 0;
  o.retries = 2;
  o.timeout_s = 0.5;
  JudgeReport rep = judge_responses(items, o);
  EXPECT_EQ(j.bad_requests, 0);
  ASSERT_EQ(rep.results.size(), 3u);
  EXPECT_EQ(rep.results[0].status, JudgeStatus::Failed);
  EXPECT_EQ(rep.results[0].attempts, 1);  // a 400 is not retried
  EXPECT_NE(rep.results[0].error.find("prompt too long"), std::string::npos) << rep.results[0].error;
  EXPECT_EQ(rep.results[1].status, JudgeStatus::Failed);
  EXPECT_EQ(rep.results[1].attempts, 3);
  EXPECT_NE(rep.results[1].error.find("HTTP 503"), std::string::npos) << rep.results[1].error;
  EXPECT_EQ(rep.results[2].status, JudgeStatus::Scored);
  EXPECT_EQ(rep.results[2].score, 33);
  EXPECT_EQ(rep.results[2].attempts, 2);
  EXPECT_EQ(rep.failed, 2);
  EXPECT_EQ(rep.scored, 1);
  EXPECT_DOUBLE_EQ(rep.mean, 33.0);
}

TEST(JudgeEndToEnd, ModelNotFoundIsAClearError) {
  Scenario sc;
  JudgeOptions o = sc.options();
  o.model = "nope";
  try {
    judge_responses(sc.items, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model 'nope' not found"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sc.judge.calls(0), 0);  // the 404 came before any case was counted, and was not retried
  TempDir t;
  auto r = run_slm("judge --responses " + shell_quote(sc.write_file(t)) + " --endpoint " + sc.judge.endpoint() +
                   " --judge-model nope --backoff 0");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("slm: error: judge endpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model 'nope' not found"), std::string::npos) << r.err;
}

TEST(JudgeEndToEnd, ConnectionRefusedIsAClearError) {
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
  JudgeOptions o;
  o.endpoint = endpoint;
  o.model = "judge-7b";
  o.backoff_s = 0;
  try {
    judge_responses({item("a", "", "b", "c")}, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_EQ(std::string(e.what()).rfind("cannot reach judge endpoint " + endpoint + "/chat/completions: ", 0), 0u)
        << e.what();
  }
  Scenario sc;
  TempDir t;
  auto r = run_slm("judge --responses " + shell_quote(sc.write_file(t)) + " --endpoint " + endpoint +
                   " --judge-model judge-7b");
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("slm: error: cannot reach judge endpoint " + endpoint), std::string::npos) << r.err;
}

TEST(JudgeCli, JsonOutAndTable) {
  Scenario sc;
  sc.judge.api_key = "sk-env";
  TempDir t;
  const std::string file = sc.write_file(t);
  ::setenv("OPENAI_API_KEY", "sk-env", 1);
  auto r = run_slm("judge --responses " + shell_quote(file) + " --endpoint " + sc.judge.endpoint() +
                   " --judge-model judge-7b --backoff 0 --json --out " + shell_quote(t.file("scores.json")));
  ::unsetenv("OPENAI_API_KEY");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(sc.judge.bad_requests, 0);
  json j = json::parse(r.out);
  expect_scenario_summary(j);
  EXPECT_NE(r.err.find("entry 2: unparseable after 4 attempts"), std::string::npos) << r.err;
  json d = json::parse(read_text(t.file("scores.json")));
  expect_scenario_summary(d);
  EXPECT_EQ(d["judge_model"], "judge-7b");
  ASSERT_EQ(d["entries"].size(), 6u);
  EXPECT_EQ(d["entries"][2]["status"], "unparseable");
  EXPECT_EQ(d["entries"][2]["reply"], "I'd say eighty");
  EXPECT_EQ(d["entries"][3]["attempts"], 2);

  // The table, with --api-key instead of the environment; a wrong --key is bad input.
  auto table = run_slm("judge --responses " + shell_quote(file) + " --endpoint " + sc.judge.endpoint() +
                       " --judge-model judge-7b --backoff 0 --api-key sk-env -q");
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find("mean score    61.00"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("unparseable       1"), std::string::npos) << table.out;
  auto bad = run_slm("judge --responses " + shell_quote(file) + " --endpoint " + sc.judge.endpoint() +
                     " --judge-model judge-7b --key response");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("entry 0 has no \"response\""), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace slm::test
