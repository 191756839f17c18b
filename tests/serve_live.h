// serve_live.h — shared by the `slm serve` tests: a tiny model behind a live server on a free
// loopback port, and helpers to talk to it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "scratchlm/finetune/classifier.h"
#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/serve/server.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/utf8.h"
#include "test_util.h"

namespace serve_test {

using json = nlohmann::json;

// An untied head, as the chat tests (a tied random one mostly repeats its input token); the same
// seed gives twins.
inline std::unique_ptr<slm::GPT> tiny_model() { return slm::test::tiny_gpt(5, false); }

inline std::unique_ptr<slm::GPT> tiny_classifier() { return slm::make_classifier(*tiny_model(), {"ham", "spam"}, 9); }

// A server on a free loopback port, running in a thread for the life of the object.
class LiveServer {
 public:
  explicit LiveServer(std::unique_ptr<slm::GPT> model, int parallel = 4,
                      const std::function<void(slm::ServeConfig&)>& configure = {}) {
    slm::ServeConfig cfg;
    cfg.parallel = parallel;
    cfg.model_name = "tiny";
    cfg.defaults.max_new_tokens = 8;
    cfg.defaults.sampler.temperature = 0.0f;
    cfg.max_tokens_limit = 64;
    cfg.log_requests = false;
    if (configure) configure(cfg);
    server_ = std::make_unique<slm::Server>(std::move(model),
                                            std::make_unique<slm::Tokenizer>(slm::test::gpt2_tokenizer()), cfg);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
  }
  ~LiveServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  // POST body; returns status and parsed JSON (null when not JSON).
  std::pair<int, json> post(const std::string& path, const std::string& body) const {
    for (int attempt = 0; attempt < 200; ++attempt) {  // the thread may not be accepting yet
      auto r = client().Post(path, body, "application/json");
      if (r) return {r->status, json::parse(r->body, nullptr, false)};
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "no answer from the server";
    return {0, json()};
  }
  // A streamed request: the data payloads of its events, in order.
  std::vector<std::string> stream(const std::string& path, const std::string& body) const {
    std::string raw;
    auto r = client().Post(path, body, "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
    raw = r->body;
    std::vector<std::string> events;
    for (size_t pos = 0; pos < raw.size();) {
      size_t end = raw.find("\n\n", pos);
      EXPECT_NE(end, std::string::npos) << "unterminated event";
      if (end == std::string::npos) break;
      const std::string ev = raw.substr(pos, end - pos);
      EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
      events.push_back(ev.substr(6));
      pos = end + 2;
    }
    return events;
  }

 private:
  std::unique_ptr<slm::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

inline std::vector<int32_t> ids_of(const std::string& text, slm::SpecialMode mode = slm::SpecialMode::Allow) {
  std::vector<int32_t> out;
  for (uint32_t id : slm::test::gpt2_tokenizer().encode(text, mode)) out.push_back(static_cast<int32_t>(id));
  return out;
}

inline std::string text_of(const std::vector<int32_t>& ids) {
  return slm::utf8_lossy(slm::test::gpt2_tokenizer().decode(std::vector<uint32_t>(ids.begin(), ids.end())));
}

inline slm::GenerateOptions greedy(int64_t n) {
  slm::GenerateOptions g;
  g.max_new_tokens = n;
  g.sampler.temperature = 0.0f;
  return g;
}

// The joined text pieces of a stream, and the finish reason of its closing chunk.
inline std::pair<std::string, std::string> join_stream(const std::vector<std::string>& events, bool chat) {
  std::string text, finish;
  EXPECT_FALSE(events.empty());
  if (events.empty()) return {};
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json j = json::parse(events[i]);
    const json& c = j["choices"][0];
    if (chat) {
      if (i == 0) {
        EXPECT_EQ(c["delta"]["role"], "assistant");
      }
      text += c["delta"].value("content", "");
    } else {
      text += c["text"].get<std::string>();
    }
    if (!c["finish_reason"].is_null()) {
      EXPECT_EQ(i + 2, events.size()) << "the finish reason comes in the last chunk";
      finish = c["finish_reason"];
    }
  }
  return {text, finish};
}

// `slm serve` as a process: a tiny model saved to a temporary directory, served on a free loopback
// port with extra arguments; stderr goes to a file. The destructor kills it if still running.
class CliServer {
 public:
  explicit CliServer(const std::vector<std::string>& extra, std::unique_ptr<slm::GPT> model = nullptr, int port = 0) {
    slm::save_hf_model(model ? *model : *tiny_model(), dir_.file("model"));
    log_ = dir_.file("stderr.txt");
    const std::string tokdir = slm::test::data_dir() + "/gpt2";
    std::vector<std::string> args = {SLM_BINARY,    "serve", "--model", dir_.file("model"),
                                     "--tokenizer", tokdir,  "--port",  std::to_string(port),
                                     "--threads",   "1",     "--name",  "mini"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, SLM_BINARY, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 3000 && port_ == 0 && running(); ++i) {  // up to 30 s for the model to load
      const std::string err = log();
      const size_t at = err.find("http://127.0.0.1:");
      if (at != std::string::npos) port_ = std::atoi(err.c_str() + at + 17);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~CliServer() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return slm::test::read_text(log_); }
  const std::string& dir() const { return dir_.path(); }
  bool running() {
    if (exited_) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) exited_ = true, status_ = st;
    return !exited_;
  }
  void signal(int sig) { kill(pid_, sig); }
  // Waits up to `seconds` for the exit; the exit status (-1: still running).
  int wait_exit(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!exited_) return -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

 private:
  slm::test::TempDir dir_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
  int status_ = 0;
};

}  // namespace serve_test
