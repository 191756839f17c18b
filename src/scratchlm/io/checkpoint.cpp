// checkpoint.cpp — atomic training checkpoints with a redo log (see checkpoint.h).
#include "scratchlm/io/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "scratchlm/io/hf_gpt2.h"
#include "scratchlm/io/safetensors.h"
#include "scratchlm/model/gpt.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/lines.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCommitDir = ".slm-commit";
constexpr const char* kStagingPrefix = ".slm-save-";
constexpr const char* kManifest = "MANIFEST";  // the names of the new checkpoint's files, one per line

fs::path normalized(const std::string& dir) {
  fs::path d(dir);
  return d.filename().empty() ? d.parent_path() : d;  // "runs/x/" -> "runs/x"
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
// the previous checkpoint. Points: after_model (staging), before_commit, mid_commit (after the
// model's files moved, before trainer.json).
void crash_point(const char* where) {
  static int saves_seen[3] = {0, 0, 0};
  const char* env = std::getenv("SLM_TEST_CRASH_IN_SAVE");
  if (!env) return;
  std::string spec(env), point = spec.substr(0, spec.find(':'));
  int nth = spec.find(':') == std::string::npos ? 1 : std::atoi(spec.c_str() + spec.find(':') + 1);
  int idx = std::strcmp(where, "after_model") == 0 ? 0 : std::strcmp(where, "before_commit") == 0 ? 1 : 2;
  if (point == where && ++saves_seen[idx] == nth) {
    std::fflush(nullptr);
    ::kill(::getpid(), SIGKILL);
  }
}

bool all_finite(const float* x, size_t n) {
  float acc = 0.0f;  // x * 0 is 0 for finite x and NaN for NaN or inf: one pass, no branches
  for (size_t i = 0; i < n; ++i) acc += x[i] * 0.0f;
  return acc == 0.0f;
}

// Step 3 of a save (see checkpoint.h): idempotent, so a crash inside it is finished by a rerun.
void roll_forward(const fs::path& d) {
  const fs::path commit = d / kCommitDir;
  std::set<std::string, std::less<>> names;
  for_each_line(read_file((commit / kManifest).string()), [&](std::string_view line, size_t) {
    if (!line.empty()) names.emplace(line);
  });
  // In checkpoint_files() order: trainer.json, which says which step the directory holds, last.
  for (const std::string& name : checkpoint_files()) {
    const fs::path src = commit / name;
    if (!names.count(name)) {
      std::error_code ec;
      fs::remove(d / name, ec);
    } else if (fs::exists(src) && ::rename(src.c_str(), (d / name).c_str()) != 0) {
      fail_internal("cannot move '{}' into '{}': {}", name, d.string(), std::strerror(errno));
    }
    if (name == "model.safetensors") crash_point("mid_commit");
  }
  fsync_path(d, true);
  std::error_code ec;
  fs::remove_all(commit, ec);
}

void remove_staging(const fs::path& d) {
  std::error_code ec;
  if (!fs::is_directory(d, ec)) return;
  for (const auto& e : fs::directory_iterator(d, ec))
    if (e.is_directory() && !e.is_symlink() && e.path().filename().string().rfind(kStagingPrefix, 0) == 0)
      fs::remove_all(e.path(), ec);
}

void write_checkpoint_files(const fs::path& dir, const GPT& model, const OptimizerState* optimizer,
                            const Tokenizer* tokenizer, const nlohmann::json& trainer_state) {
  save_hf_model(model, dir.string(), tokenizer);
  crash_point("after_model");
  if (optimizer) {
    SafetensorsWriter w;
    for (const auto& p : model.params().params()) {
      if (p.grad_offset == SIZE_MAX) continue;
      if (!optimizer->gather) {
        w.add_f32("m." + p.name, p.shape, optimizer->m + p.grad_offset);
        w.add_f32("v." + p.name, p.shape, optimizer->v + p.grad_offset);
        continue;
      }
      for (int which : {0, 1}) {
        w.add_f32_fill(std::string(which ? "v." : "m.") + p.name, p.shape,
                       [optimizer, which, off = p.grad_offset, &dir](float* dst, size_t first, size_t count) {
                         optimizer->gather(which, off + first, count, dst);
                         if (!all_finite(dst, count))
                           fail(
                               "refusing to save a checkpoint in '{}': the optimizer state is not finite; the last "
                               "good checkpoint is kept",
                               dir.parent_path().string());
                       });
      }
    }
    for (const CheckpointTensor& t : optimizer->extra) w.add_f32("extra." + t.name, t.shape, t.data);
    w.set_metadata("step", std::to_string(optimizer->steps));
    w.write((dir / "optimizer.safetensors").string());
  }
  write_file_atomic((dir / "trainer.json").string(), trainer_state.dump(2) + "\n");
  std::string manifest;
  std::error_code ec;
  for (const std::string& name : checkpoint_files())
    if (fs::exists(dir / name, ec)) manifest += name + "\n";
  write_file_atomic((dir / kManifest).string(), manifest);
  fsync_path(dir, true);
}

}  // namespace

const std::vector<std::string>& checkpoint_files() {
  static const std::vector<std::string> files = {"model.safetensors",
                                                 "config.json",
                                                 "generation_config.json",
                                                 "vocab.json",
                                                 "merges.txt",
                                                 "tokenizer.json",
                                                 "special_tokens_map.json",
                                                 "tokenizer_config.json",
                                                 "optimizer.safetensors",
                                                 "trainer.json"};
  return files;
}

const std::vector<std::string>& run_output_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = checkpoint_files();
    for (const char* extra :
         {"metrics.jsonl", "loss.svg", "accuracy.svg", "eval.json", "train.csv", "validation.csv", "test.csv",
          "unused.csv", "checkpoint", "adapter_config.json", "adapter_model.safetensors",
          "instruction-data-with-response.json", "model-bf16", "model-f16", kCommitDir})
      n.emplace_back(extra);
    return n;
  }();
  return names;
}

void check_output_dir(const std::string& dir, bool force) {
  if (dir.empty()) fail("give --out DIR");
  const fs::path d = normalized(dir);
  std::error_code ec;
  if (fs::exists(d, ec) && !fs::is_directory(d, ec)) fail("--out '{}' exists and is not a directory", d.string());
  fs::create_directories(d, ec);
  if (ec) fail("cannot create --out '{}': {}", d.string(), ec.message());
  const fs::path probe = d / (".slm-write-test-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot write to --out '{}': {}", d.string(), std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  if (force) return;
  const auto& ours = run_output_names();
  for (const auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) == 0) continue;
    if (std::find(ours.begin(), ours.end(), name) == ours.end())
      fail(
          "--out '{}' is not empty and not a ScratchLM run ('{}' is not ours): choose a new or empty directory, or "
          "add --force to write into it (only the run's own files are replaced; nothing else is touched)",
          d.string(), name);
  }
}

void recover_checkpoint(const std::string& dir) {
  const fs::path d = normalized(dir);
  remove_staging(d);
  std::error_code ec;
  if (fs::is_directory(d / kCommitDir, ec)) roll_forward(d);
}

void save_checkpoint(const std::string& dir, const GPT& model, const OptimizerState* optimizer,
                     const Tokenizer* tokenizer, const nlohmann::json& trainer_state) {
  const fs::path d = normalized(dir);
  // A non-finite state would replace the last good checkpoint with one that cannot be used.
  const ParamStore& store = model.params();
  for (const auto& p : store.params())
    if (!all_finite(store.data(p.name), p.numel))
      fail("refusing to save a checkpoint in '{}': weight '{}' is not finite; the last good checkpoint is kept",
           d.string(), p.name);
  if (optimizer && !optimizer->gather) {  // a gathered state is checked as it is written
    if (!all_finite(optimizer->m, optimizer->n) || !all_finite(optimizer->v, optimizer->n))
      fail("refusing to save a checkpoint in '{}': the optimizer state is not finite; the last good checkpoint is kept",
           d.string());
  }
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) fail("cannot create directory '{}': {}", d.string(), ec.message());
  recover_checkpoint(d.string());
  const fs::path staging = d / (kStagingPrefix + std::to_string(::getpid()));
  fs::create_directory(staging, ec);
  if (ec) fail("cannot write a checkpoint in '{}': {}", d.string(), ec.message());
  try {
    write_checkpoint_files(staging, model, optimizer, tokenizer, trainer_state);
  } catch (...) {  // a full disk or an I/O error: leave nothing behind, the old checkpoint stands
    fs::remove_all(staging, ec);
    throw;
  }
  crash_point("before_commit");
  if (::rename(staging.c_str(), (d / kCommitDir).c_str()) != 0) {
    const int e = errno;
    fs::remove_all(staging, ec);
    fail_internal("cannot commit the checkpoint in '{}': {}", d.string(), std::strerror(e));
  }
  fsync_path(d, true);
  roll_forward(d);
}

nlohmann::json load_trainer_state(const std::string& dir) {
  recover_checkpoint(dir);
  const std::string path = (fs::path(dir) / "trainer.json").string();
  if (!fs::exists(path)) fail("'{}' is not a training checkpoint: trainer.json is missing", dir);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}", path, e.byte);
  }
  if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() < 0)
    fail("{}: not a ScratchLM trainer state (no non-negative \"step\")", path);
  return j;
}

void load_checkpoint_tensor(const std::string& dir, const std::string& name, std::span<float> out) {
  const std::string path = (fs::path(dir) / "optimizer.safetensors").string();
  if (!fs::exists(path)) fail("'{}' has no optimizer.safetensors to resume from", dir);
  SafetensorsFile::open(path).read_f32("extra." + name, out);
}

void load_optimizer_state(const std::string& dir, const ParamStore& store, float* m, float* v, int64_t& steps) {
  const std::string path = (fs::path(dir) / "optimizer.safetensors").string();
  if (!fs::exists(path)) fail("'{}' has no optimizer.safetensors to resume from", dir);
  SafetensorsFile f = SafetensorsFile::open(path);
  for (const auto& p : store.params()) {
    if (p.grad_offset == SIZE_MAX) continue;
    f.read_f32("m." + p.name, std::span<float>(m + p.grad_offset, p.numel));
    f.read_f32("v." + p.name, std::span<float>(v + p.grad_offset, p.numel));
  }
  auto it = f.metadata().find("step");
  if (it == f.metadata().end()) fail("{}: metadata lacks the optimizer step count", path);
  char* end = nullptr;
  const long long t = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || t < 0)
    fail("{}: the optimizer step count '{}' is not a number", path, it->second);
  steps = t;
}

}  // namespace slm
