// test_util.h — helpers shared by the tests: paths, running the slm binary, temp dirs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace slm {
class Tokenizer;
class GPT;
}  // namespace slm

// haystack (a string) contains needle.
#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "'" << (haystack) << "' lacks '" << (needle) << "'"

namespace slm::test {

// Built with AddressSanitizer: memory and address-space bounds do not hold (shadow memory).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline std::string source_dir() { return SLM_SOURCE_DIR; }
inline std::string data_dir() { return std::string(SLM_SOURCE_DIR) + "/data"; }
// The shared data mirror (../shared/data); tests using it skip when it is absent.
inline std::string shared_data_dir() { return std::string(SLM_SOURCE_DIR) + "/../shared/data"; }

// The GPT-2 tokenizer from data/gpt2 (put there by scripts/setup), loaded once.
const Tokenizer& gpt2_tokenizer();

// A random GPT-2 for tests that need the real vocabulary: gpt2-tiny narrowed to 32 dims and 2 heads
// (the 50257 x C embedding and head dominate its size), weights from `seed` (same seed, same model).
std::unique_ptr<GPT> tiny_gpt(uint64_t seed, bool tie_word_embeddings = true);

struct CliResult {
  int rc = -1;
  std::string out, err;
};

// Run `slm ARGS` (ARGS is shell-quoted by the caller) with `input` on stdin.
CliResult run_slm(const std::string& args, const std::string& input = "");

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The value `key` of every "step" record of DIR/metrics.jsonl, in order (e.g. the loss of each step).
std::vector<double> step_values(const std::string& dir, const char* key = "loss");

void write_text(const std::string& path, const std::string& bytes);
std::string read_text(const std::string& path);
std::string shell_quote(const std::string& s);

// Runs f, expecting it to throw a BadInput slm::Error (a test failure otherwise); its message.
std::string error_of(const std::function<void()>& f);

// A loopback TCP port nothing listens on (for "connection refused" tests).
int closed_port();

// Central finite differences of loss() with respect to w[i] (step h) at about `samples` evenly
// spread indices of w[0, n), against the analytic gradient g: the largest |fd - g| divided by the
// largest |fd| (at least 1e-3). The model's gradients must be current for w's present values.
double finite_difference_error(float* w, const float* g, size_t n, const std::function<double()>& loss, float h = 1e-2f,
                               size_t samples = 20);

}  // namespace slm::test
