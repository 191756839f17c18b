// metrics.cpp — the metrics.jsonl log of a training run (chapter 5.2; see metrics.h).
#include "scratchlm/train/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

using nlohmann::json;

namespace {

std::optional<json> parse_object(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

// ------------------------------------------------------------------------------------ MetricsLog

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)), file_(nullptr, &std::fclose) { open(); }
MetricsLog::~MetricsLog() = default;
MetricsLog::MetricsLog(MetricsLog&&) noexcept = default;
MetricsLog& MetricsLog::operator=(MetricsLog&&) noexcept = default;

void MetricsLog::open() {
  file_.reset();
  records_.clear();
  if (path_.empty()) return;
  if (std::filesystem::exists(path_)) {
    std::string data = read_file(path_);
    if (!data.empty() && data.back() != '\n') {
      // A torn last line: cut it off, unless it is a complete record that only lacks its newline.
      size_t cut = data.rfind('\n');
      cut = cut == std::string::npos ? 0 : cut + 1;
      if (parse_object(std::string_view(data).substr(cut))) {
        data += '\n';
        write_file_atomic(path_, data);
      } else if (::truncate(path_.c_str(), static_cast<off_t>(cut)) != 0) {
        fail_internal("cannot truncate torn last line of '{}': {}", path_, std::strerror(errno));
      }
    }
    records_ = read(path_);
  }
  file_.reset(std::fopen(path_.c_str(), "a"));
  if (!file_) fail("cannot open '{}' for appending: {}", path_, std::strerror(errno));
  std::setvbuf(file_.get(), nullptr, _IOLBF, 1 << 16);
}

void MetricsLog::reopen() { open(); }

void MetricsLog::write(const json& record) {
  if (!record.is_object() || !record.contains("type") || !record["type"].is_string())
    fail("metrics record needs a string \"type\" field: {}",
         record.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 200));
  if (path_.empty()) {
    records_.push_back(record);
    return;
  }
  if (!file_) fail_internal("metrics log '{}' is not open", path_);
  std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0)
    fail_internal("cannot append to '{}': {}", path_, std::strerror(errno));
  records_.push_back(record);
}

void MetricsLog::truncate_after_step(int64_t step) {
  if (path_.empty()) {
    std::erase_if(records_, [&](const json& r) {
      auto it = r.find("step");
      return it != r.end() && it->is_number() && it->get<double>() > static_cast<double>(step);
    });
    return;
  }
  file_.reset();
  std::string out;
  for (const json& r : read(path_)) {
    auto it = r.find("step");
    if (it != r.end() && it->is_number() && it->get<double>() > static_cast<double>(step)) continue;
    out += r.dump(-1, ' ', false, json::error_handler_t::replace);
    out += '\n';
  }
  write_file_atomic(path_, out);
  open();
}

std::vector<json> MetricsLog::read(const std::string& path) {
  std::string data = read_file(path);
  std::vector<json> out;
  size_t pos = 0;
  for (int64_t line_no = 1; pos < data.size(); ++line_no) {
    size_t nl = data.find('\n', pos);
    bool torn = nl == std::string::npos;
    std::string_view line = std::string_view(data).substr(pos, torn ? std::string::npos : nl - pos);
    pos = torn ? data.size() : nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::optional<json> j = parse_object(line);
    if (j) {
      out.push_back(std::move(*j));
    } else if (!torn) {
      json probe = json::parse(line, nullptr, false);
      fail("'{}' line {}: {}", path, line_no, probe.is_discarded() ? "malformed JSON" : "expected a JSON object");
    }
  }
  return out;
}

}  // namespace slm
