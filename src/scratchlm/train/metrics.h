// metrics.h — the training metrics log (metrics.jsonl) of chapter 5.2's train_model_simple (its
// train_losses / val_losses / tokens_seen lists, kept on disk); train/plot.h draws it.
//
// metrics.jsonl holds one compact JSON object per line, each with a "type":
//   {"type":"step","step","epoch","tokens_seen","loss","lr","grad_norm","tokens_per_second","elapsed_s"}
//   {"type":"eval","step","tokens_seen","train_loss","val_loss","train_perplexity","val_perplexity"}
//   {"type":"sample","step","text"}
// A crash can leave a torn last line (no newline); readers skip it and MetricsLog cuts it off
// before appending. NaN/inf numbers are written as null (JSON has neither).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace slm {

class MetricsLog {
 public:
  // Opens (creating if needed) `path` for appending. Records already in the file are loaded
  // (see records()); a torn last line is cut off first so the next record starts on a fresh line.
  // An empty path keeps the records in memory only (a data-parallel rank other than rank 0).
  explicit MetricsLog(std::string path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  MetricsLog(MetricsLog&&) noexcept;
  MetricsLog& operator=(MetricsLog&&) noexcept;

  // Appends `record` as one compact JSON line and flushes it. The record must be an object with
  // a string "type" (BadInput otherwise). Invalid UTF-8 in strings is replaced by U+FFFD.
  void write(const nlohmann::json& record);
  // Closes the file, reloads the records from `path` and opens it again for appending; for use
  // after the file was replaced on disk (e.g. rewritten atomically on resume).
  void reopen();
  // Atomically rewrites the file without the records whose "step" is greater than `step` (those a
  // resumed run will redo), then reopens it. Records without a numeric "step" are kept.
  void truncate_after_step(int64_t step);

  const std::vector<nlohmann::json>& records() const { return records_; }
  const std::string& path() const { return path_; }

  // Parses a metrics.jsonl. Blank lines are skipped, as is a torn last line without a newline; a
  // malformed line (or one that is not a JSON object) anywhere else is a BadInput error naming the
  // path and the 1-based line number. A missing file is a BadInput error.
  static std::vector<nlohmann::json> read(const std::string& path);

 private:
  void open();
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  std::vector<nlohmann::json> records_;
};

}  // namespace slm
