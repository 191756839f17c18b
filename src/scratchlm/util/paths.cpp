// paths.cpp — default data locations (see paths.h).
#include "scratchlm/util/paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace slm {

namespace fs = std::filesystem;

std::string default_data_dir() {
  if (const char* env = std::getenv("SLM_DATA_DIR"); env && *env) return env;
  if (fs::is_directory("data")) return "data";
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    fs::path p = fs::path(buf).parent_path().parent_path() / "data";
    if (fs::is_directory(p)) return p.string();
  }
  return "data";
}

std::string default_tokenizer_dir() { return (fs::path(default_data_dir()) / "gpt2").string(); }

std::string tokenizer_dir_for_model(const std::string& model_dir, const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  if (!model_dir.empty() &&
      ((fs::exists(fs::path(model_dir) / "vocab.json") && fs::exists(fs::path(model_dir) / "merges.txt")) ||
       fs::exists(fs::path(model_dir) / "tokenizer.json")))
    return model_dir;
  return default_tokenizer_dir();
}

}  // namespace slm
