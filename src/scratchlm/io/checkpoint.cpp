// checkpoint.cpp — atomic training checkpoints (see checkpoint.h).
#include "scratchlm/io/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/train/adamw.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

fs::path temp_sibling(const fs::path& dir) {
  fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  return parent / fmt::format(".{}.ckpt-{}", dir.filename().string(), ::getpid());
}

void fsync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Test hook: SLM_TEST_CRASH_IN_SAVE=<point>[:<n>] kills the process (SIGKILL) at that point of
// the n-th save (default the first), so tests can check that an interrupted save never damages
// the previous checkpoint.
void crash_point(const char* where) {
  static int saves_seen[3] = {0, 0, 0};
  const char* env = std::getenv("SLM_TEST_CRASH_IN_SAVE");
  if (!env) return;
  std::string spec(env), point = spec.substr(0, spec.find(':'));
  int nth = spec.find(':') == std::string::npos ? 1 : std::atoi(spec.c_str() + spec.find(':') + 1);
  int idx = std::strcmp(where, "after_model") == 0 ? 0 : std::strcmp(where, "before_swap") == 0 ? 1 : 2;
  if (point == where && ++saves_seen[idx] == nth) {
    std::fflush(nullptr);
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace

void cleanup_checkpoint_temps(const std::string& dir) {
  fs::path d(dir);
  fs::path parent = d.parent_path().empty() ? fs::path(".") : d.parent_path();
  const std::string prefix = fmt::format(".{}.ckpt-", d.filename().string());
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return;
  for (const auto& e : fs::directory_iterator(parent, ec))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(e.path(), ec);
}

void save_checkpoint(const std::string& dir, const GPT& model, const AdamW* optimizer, const Tokenizer* tokenizer,
                     const nlohmann::json& trainer_state) {
  fs::path d(dir);
  if (d.filename().empty()) d = d.parent_path();  // "runs/x/" -> "runs/x"
  std::error_code ec;
  if (!d.parent_path().empty()) {
    fs::create_directories(d.parent_path(), ec);
    if (ec) fail("cannot create directory '{}': {}", d.parent_path().string(), ec.message());
  }
  cleanup_checkpoint_temps(d.string());
  const fs::path tmp = temp_sibling(d);
  fs::create_directories(tmp, ec);
  if (ec) fail("cannot create directory '{}': {}", tmp.string(), ec.message());
  // Carry over the files the checkpoint does not write itself (metrics.jsonl, loss.svg, splits...).
  static const char* kOwn[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json",
                               "optimizer.safetensors", "trainer.json"};
  if (fs::is_directory(d, ec)) {
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (!e.is_regular_file()) continue;
      const std::string name = e.path().filename().string();
      bool own = false;
      for (const char* o : kOwn) own |= (name == o);
      if (!own) fs::copy_file(e.path(), tmp / name, fs::copy_options::overwrite_existing, ec);
      if (ec) fail("cannot copy '{}' into the checkpoint: {}", e.path().string(), ec.message());
    }
  }
  save_hf_model(model, tmp.string(), tokenizer);
  crash_point("after_model");
  if (optimizer) {
    SafetensorsWriter w;
    AdamW& opt = const_cast<AdamW&>(*optimizer);
    for (const auto& p : model.params().params()) {
      if (p.grad_offset == SIZE_MAX) continue;
      w.add_f32("m." + p.name, p.shape, opt.m().data() + p.grad_offset);
      w.add_f32("v." + p.name, p.shape, opt.v().data() + p.grad_offset);
    }
    w.set_metadata("step", std::to_string(opt.steps()));
    w.write((tmp / "optimizer.safetensors").string());
  }
  write_file_atomic((tmp / "trainer.json").string(), trainer_state.dump(2) + "\n");
  fsync_path(tmp, true);
  crash_point("before_swap");
  if (fs::exists(d, ec)) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, d.c_str(), RENAME_EXCHANGE) != 0) {
      int e = errno;
      fs::remove_all(tmp, ec);
      fail_internal("cannot swap the new checkpoint into '{}': {}", d.string(), std::strerror(e));
    }
    crash_point("after_swap");
    fs::remove_all(tmp, ec);  // now holds the previous checkpoint
  } else if (::rename(tmp.c_str(), d.c_str()) != 0) {
    int e = errno;
    fs::remove_all(tmp, ec);
    fail_internal("cannot move the checkpoint into '{}': {}", d.string(), std::strerror(e));
  }
  fsync_path(d.parent_path().empty() ? fs::path(".") : d.parent_path(), true);
}

nlohmann::json load_trainer_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "trainer.json").string();
  if (!fs::exists(path)) fail("'{}' is not a training checkpoint: trainer.json is missing", dir);
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
}

void load_optimizer_state(const std::string& dir, AdamW& opt) {
  const std::string path = (fs::path(dir) / "optimizer.safetensors").string();
  if (!fs::exists(path)) fail("'{}' has no optimizer.safetensors to resume from", dir);
  SafetensorsFile f = SafetensorsFile::open(path);
  ParamStore& store = opt.store();
  for (const auto& p : store.params()) {
    if (p.grad_offset == SIZE_MAX) continue;
    f.read_f32("m." + p.name, std::span<float>(opt.m().data() + p.grad_offset, p.numel));
    f.read_f32("v." + p.name, std::span<float>(opt.v().data() + p.grad_offset, p.numel));
  }
  auto it = f.metadata().find("step");
  if (it == f.metadata().end()) fail("{}: metadata lacks the optimizer step count", path);
  opt.set_steps(std::stoll(it->second));
}

}  // namespace slm
