// test_util.cpp — helpers shared by the tests (see test_util.h).
#include "test_util.h"

#include "scratchlm/model/config.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/metrics.h"
#include "scratchlm/util/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace slm::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "slm-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed");
  path_ = p;
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<double> step_values(const std::string& dir, const char* key) {
  std::vector<double> out;
  for (const auto& r : MetricsLog::read(dir + "/metrics.jsonl"))
    if (r["type"] == "step") out.push_back(r[key].get<double>());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no slm::Error thrown";
  return "";
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

double finite_difference_error(float* w, const float* g, size_t n, const std::function<double()>& loss, float h,
                               size_t samples) {
  double worst = 0, scale = 1e-3;
  for (size_t i = 0; i < n; i += std::max<size_t>(1, n / samples)) {
    const float keep = w[i];
    w[i] = keep + h;
    const double up = loss();
    w[i] = keep - h;
    const double down = loss();
    w[i] = keep;
    const double fd = (up - down) / (2.0 * h);
    worst = std::max(worst, std::fabs(fd - g[i]));
    scale = std::max(scale, std::fabs(fd));
  }
  return worst / scale;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

std::unique_ptr<GPT> tiny_gpt(uint64_t seed, bool tie_word_embeddings) {
  GPTConfig c = config_by_name("gpt2-tiny");
  c.emb_dim = 32;
  c.n_heads = 2;
  c.tie_word_embeddings = tie_word_embeddings;
  auto m = std::make_unique<GPT>(c);
  m->init_weights(seed);
  return m;
}

const Tokenizer& gpt2_tokenizer() {
  static Tokenizer tok = [] {
    std::string dir = data_dir() + "/gpt2";
    if (!fs::exists(dir + "/encoder.json"))
      throw std::runtime_error("data/gpt2 is missing: run `make setup` (scripts/setup) first");
    return Tokenizer::load_dir(dir);
  }();
  return tok;
}

CliResult run_slm(const std::string& args, const std::string& input) {
  TempDir t;
  write_text(t.file("in"), input);
  std::string cmd =
      std::string(SLM_BINARY) + " " + args + " <" + t.file("in") + " >" + t.file("out") + " 2>" + t.file("err");
  int st = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_text(t.file("out"));
  r.err = read_text(t.file("err"));
  return r;
}

}  // namespace slm::test
