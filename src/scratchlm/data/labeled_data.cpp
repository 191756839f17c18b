// labeled_data.cpp — labeled text for classification (see labeled_data.h; chapter 6.2–6.3):
// format dispatch, the SMS / CSV / TSV / JSON(L) / SpamAssassin readers, balancing, split, CSV.
#include "scratchlm/data/labeled_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "scratchlm/data/csv.h"
#include "scratchlm/data/email.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/ascii.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/lines.h"
#include "scratchlm/util/paths.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view s) { return ascii_trim(s); }
std::string lower(std::string_view s) { return ascii_lower(s); }
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// An example from raw fields: UTF-8 repaired, label trimmed, neither empty (the label may be empty
// only when texts are read without labels). `where` names the row.
LabeledExample make_example(std::string_view text, std::string_view label, const std::string& where,
                            bool need_label = true) {
  LabeledExample ex{utf8_lossy(text), utf8_lossy(trim(label))};
  if (trim(ex.text).empty()) fail("{}: empty text", where);
  if (need_label && ex.label.empty()) fail("{}: empty label", where);
  return ex;
}

// Index of column `want` among `names`: exact match first, else the first case-insensitive one.
size_t find_column(const std::vector<std::string>& names, const std::string& want) {
  for (size_t k = 0; k < names.size(); ++k)
    if (names[k] == want) return k;
  const std::string w = lower(want);
  for (size_t k = 0; k < names.size(); ++k)
    if (lower(names[k]) == w) return k;
  return names.size();
}

// ------------------------------------------------------------------ readers

// A table file's bytes; with opts.lossy false, ill-formed UTF-8 is an error naming the file and
// the byte offset (otherwise make_example repairs each field).
std::string read_table_bytes(const std::string& path, const LoadOptions& opts) {
  std::string data = read_file(path);
  if (!opts.lossy) utf8_require_valid(data, fmt::format("'{}'", path));
  return data;
}

// The table format an extension names (.csv / .tsv / .jsonl / .json), else "".
std::string table_format_of(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".csv" || ext == ".tsv" || ext == ".jsonl" || ext == ".json") return ext.substr(1);
  return "";
}

std::vector<LabeledExample> read_sms(const std::string& path) {
  std::vector<CsvRecord> recs = parse_delimited(read_file(path), '\t', path);
  std::vector<LabeledExample> out;
  out.reserve(recs.size());
  for (size_t r = 0; r < recs.size(); ++r) {
    const CsvRecord& rec = recs[r];
    std::string where = fmt::format("'{}' row {} (line {})", path, r + 1, rec.line);
    if (rec.fields.size() != 2)
      fail("{}: {} tab-separated field{}, expected 2 (label<TAB>text)", where, rec.fields.size(),
           rec.fields.size() == 1 ? "" : "s");
    out.push_back(make_example(rec.fields[1], rec.fields[0], where));
  }
  return out;
}

std::vector<LabeledExample> read_table(const std::string& path, char delim, const LoadOptions& opts) {
  std::vector<CsvRecord> recs = parse_delimited(read_table_bytes(path, opts), delim, path);
  if (recs.empty()) fail("'{}' is empty: expected a header row naming the columns", path);
  const std::vector<std::string>& header = recs[0].fields;
  const size_t text_col = find_column(header, opts.text_column);
  if (text_col == header.size())
    fail("'{}' has no text column '{}' (columns: {})", path, opts.text_column, join(header));
  const bool labeled = !opts.label_column.empty();
  const size_t label_col = labeled ? find_column(header, opts.label_column) : 0;
  if (labeled && label_col == header.size())
    fail("'{}' has no label column '{}' (columns: {})", path, opts.label_column, join(header));
  std::vector<LabeledExample> out;
  out.reserve(recs.size() - 1);
  for (size_t r = 1; r < recs.size(); ++r) {
    const CsvRecord& rec = recs[r];
    std::string where = fmt::format("'{}' row {} (line {})", path, r, rec.line);
    if (rec.fields.size() != header.size())
      fail("{}: {} field{}, but the header has {}", where, rec.fields.size(), rec.fields.size() == 1 ? "" : "s",
           header.size());
    out.push_back(make_example(rec.fields[text_col], labeled ? rec.fields[label_col] : "", where, labeled));
  }
  return out;
}

std::string json_kind(const nlohmann::json& j) { return j.type_name(); }

LabeledExample json_example(const nlohmann::json& obj, const LoadOptions& opts, const std::string& where) {
  if (!obj.is_object()) fail("{}: expected a JSON object, found {}", where, json_kind(obj));
  std::vector<std::string> keys;
  for (auto it = obj.begin(); it != obj.end(); ++it) keys.push_back(it.key());
  auto field = [&](const std::string& name, const char* what) -> const nlohmann::json& {
    size_t k = find_column(keys, name);
    if (k == keys.size()) fail("{}: no {} key '{}' (keys: {})", where, what, name, join(keys));
    return obj.at(keys[k]);
  };
  const nlohmann::json& text = field(opts.text_column, "text");
  if (!text.is_string()) fail("{}: the text '{}' must be a string, found {}", where, opts.text_column, json_kind(text));
  if (opts.label_column.empty()) return make_example(text.get<std::string>(), "", where, false);
  const nlohmann::json& label = field(opts.label_column, "label");
  std::string label_str;
  if (label.is_string())
    label_str = label.get<std::string>();
  else if (label.is_number_integer())
    label_str = label.dump();
  else
    fail("{}: the label '{}' must be a string or an integer, found {}", where, opts.label_column, json_kind(label));
  return make_example(text.get<std::string>(), label_str, where);
}

nlohmann::json parse_json(std::string_view text, const std::string& where) {
  try {
    return nlohmann::json::parse(utf8_lossy(text));
  } catch (const nlohmann::json::exception& e) {
    fail("{} is not valid JSON: {}", where, e.what());
  }
}

std::vector<LabeledExample> read_json(const std::string& path, const LoadOptions& opts) {
  nlohmann::json j = parse_json(read_table_bytes(path, opts), fmt::format("'{}'", path));
  if (!j.is_array()) fail("'{}' must be a JSON array of objects, found {}", path, json_kind(j));
  std::vector<LabeledExample> out;
  out.reserve(j.size());
  for (size_t k = 0; k < j.size(); ++k)
    out.push_back(json_example(j[k], opts, fmt::format("'{}' entry {}", path, k + 1)));
  return out;
}

std::vector<LabeledExample> read_jsonl(const std::string& path, const LoadOptions& opts) {
  std::string data = read_table_bytes(path, opts);
  std::string_view s = data;
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  std::vector<LabeledExample> out;
  for_each_line(s, [&](std::string_view text, size_t line) {
    if (trim(text).empty()) return;
    std::string where = fmt::format("'{}' line {}", path, line);
    out.push_back(json_example(parse_json(text, where), opts, where));
  });
  return out;
}

// The label of a SpamAssassin group directory, or "" when it is not a group.
std::string group_label(const std::string& name) {
  static const std::map<std::string, std::string> known = {
      {"easy-ham-1", "ham"}, {"easy-ham-2", "ham"}, {"hard-ham-1", "ham"}, {"spam-1", "spam"}, {"spam-2", "spam"}};
  if (auto it = known.find(name); it != known.end()) return it->second;
  std::string l = lower(name);
  if (l.find("spam") != std::string::npos) return "spam";
  if (l.find("ham") != std::string::npos) return "ham";
  return "";
}

std::vector<LabeledExample> read_spam_assassin(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> groups;  // (directory name, label)
  std::vector<std::string> others;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory(ec)) continue;
    std::string label = group_label(name);
    if (label.empty())
      others.push_back(name);
    else
      groups.emplace_back(name, label);
  }
  if (ec) fail("cannot read directory '{}': {}", dir, ec.message());
  if (groups.empty())
    fail(
        "directory '{}' has no spam or ham groups (subdirectories such as easy-ham-1 or spam-1, or any name "
        "containing 'spam' or 'ham'); subdirectories found: {}",
        dir, others.empty() ? std::string("none") : join(others));
  std::sort(groups.begin(), groups.end());
  std::vector<std::string> paths, labels;
  for (const auto& [name, label] : groups) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / name, ec)) {
      std::string fname = e.path().filename().string();
      if (fname[0] != '.' && e.path().extension() == ".txt" && e.is_regular_file(ec))
        files.push_back(e.path().string());
    }
    if (ec) fail("cannot read directory '{}/{}': {}", dir, name, ec.message());
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      paths.push_back(std::move(f));
      labels.push_back(label);
    }
  }
  // Read and convert in parallel; errors (unreadable files) are rethrown in order afterwards.
  std::vector<LabeledExample> out(paths.size());
  std::vector<std::string> errors(paths.size());
  parallel_for(0, static_cast<int64_t>(paths.size()), [&](int64_t k) {
    try {
      out[k] = {email_to_text(read_file(paths[k])), labels[k]};
    } catch (const std::exception& e) {
      errors[k] = e.what();
    }
  });
  for (const auto& err : errors)
    if (!err.empty()) fail("{}", err);
  return out;
}

const std::vector<std::string>& formats() {
  static const std::vector<std::string> f = {"auto", "sms", "csv", "tsv", "jsonl", "json", "spam-assassin"};
  return f;
}

std::vector<LabeledExample> load_path(const std::string& path, const LoadOptions& opts) {
  std::error_code ec;
  std::string format = opts.format;
  if (fs::is_directory(path, ec)) {
    if (format != "auto" && format != "spam-assassin")
      fail("'{}' is a directory; format '{}' needs a file (a directory is read as the SpamAssassin layout)", path,
           format);
    return read_spam_assassin(path);
  }
  if (format == "spam-assassin") fail("format 'spam-assassin' needs a directory; '{}' is a file", path);
  if (format == "auto") {
    format = fs::path(path).filename() == "SMSSpamCollection" ? "sms" : table_format_of(path);
    if (format.empty())
      fail(
          "cannot tell the format of '{}' from its name (expected SMSSpamCollection, .csv, .tsv, .jsonl or .json); "
          "give the format (sms, csv, tsv, jsonl, json)",
          path);
  }
  if (format == "sms") return read_sms(path);
  if (format == "csv") return read_table(path, ',', opts);
  if (format == "tsv") return read_table(path, '\t', opts);
  if (format == "jsonl") return read_jsonl(path, opts);
  return read_json(path, opts);
}

void shuffle(std::vector<size_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

const std::vector<std::string>& builtin_labeled_names() {
  static const std::vector<std::string> names = {"sms-spam", "spam-assassin"};
  return names;
}

std::vector<LabeledExample> load_labeled(const std::string& spec, const LoadOptions& opts) {
  if (std::find(formats().begin(), formats().end(), opts.format) == formats().end())
    fail("unknown labeled-data format '{}' (expected {})", opts.format, join(formats()));
  if (spec.empty()) fail("empty labeled-data spec");
  if (opts.label_column.empty()) fail("no label column given");
  std::error_code ec;
  std::string path = spec;
  if (!fs::exists(spec, ec)) {
    std::string data = opts.data_dir.empty() ? default_data_dir() : opts.data_dir;
    if (spec == "sms-spam") {
      path = (fs::path(data) / "sms_spam" / "SMSSpamCollection").string();
      if (!file_exists(path))
        fail("data set 'sms-spam' is not available: '{}' is missing; run `slm download-data sms-spam`", path);
    } else if (spec == "spam-assassin") {
      path = (fs::path(data) / "spam-assassin").string();
      if (!fs::is_directory(path, ec))
        fail("data set 'spam-assassin' is not available: '{}' is missing; run `make setup` (scripts/setup)", path);
    } else {
      fail("labeled data '{}' not found: it is not a file, a directory or a built-in data set ({})", spec,
           join(builtin_labeled_names()));
    }
  }
  std::vector<LabeledExample> rows = load_path(path, opts);
  if (rows.empty()) fail("'{}' contains no examples", path);
  return rows;
}

bool is_table_file(const std::string& path) { return !table_format_of(path).empty(); }

std::vector<std::string> load_text_column(const std::string& path, const std::string& column, bool lossy) {
  if (!is_table_file(path)) fail("'{}' is not a table (.csv, .tsv, .jsonl or .json) to read a text column from", path);
  if (column.empty()) fail("empty text column name for '{}'", path);
  LoadOptions opts;
  opts.text_column = column;
  opts.label_column.clear();
  opts.lossy = lossy;
  std::vector<LabeledExample> rows = load_path(path, opts);
  std::vector<std::string> texts;
  texts.reserve(rows.size());
  for (auto& r : rows) texts.push_back(std::move(r.text));
  return texts;
}

std::vector<LabeledExample> balance_undersample(const std::vector<LabeledExample>& rows, uint64_t seed,
                                                std::vector<LabeledExample>* left_out) {
  std::map<std::string, std::vector<size_t>> by_label;  // sorted: label_set order
  for (size_t k = 0; k < rows.size(); ++k) by_label[rows[k].label].push_back(k);
  if (by_label.empty()) return {};
  size_t n = rows.size();
  for (const auto& [label, idx] : by_label) n = std::min(n, idx.size());
  Rng rng(seed);
  std::vector<size_t> kept;
  for (auto& [label, idx] : by_label) {
    shuffle(idx, rng);
    kept.insert(kept.end(), idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::sort(kept.begin(), kept.end());
  shuffle(kept, rng);
  std::vector<LabeledExample> out;
  out.reserve(kept.size());
  std::vector<char> is_kept(rows.size(), 0);
  for (size_t k : kept) out.push_back(rows[k]), is_kept[k] = 1;
  if (left_out) {
    left_out->clear();
    for (size_t k = 0; k < rows.size(); ++k)
      if (!is_kept[k]) left_out->push_back(rows[k]);
  }
  return out;
}

LabeledSplit split_labeled(const std::vector<LabeledExample>& rows, double train_frac, double val_frac, uint64_t seed,
                           bool shuffle_rows) {
  if (!std::isfinite(train_frac) || !std::isfinite(val_frac) || train_frac < 0 || val_frac < 0)
    fail("split fractions must be non-negative numbers (train {}, validation {})", train_frac, val_frac);
  if (train_frac + val_frac > 1.0 + 1e-9)
    fail("split fractions add up to more than 1 (train {} + validation {})", train_frac, val_frac);
  const size_t n = rows.size();
  std::vector<size_t> order(n);
  for (size_t k = 0; k < n; ++k) order[k] = k;
  if (shuffle_rows) {
    Rng rng(seed);
    shuffle(order, rng);
  }
  const size_t n_train = std::min(n, static_cast<size_t>(static_cast<double>(n) * train_frac));
  const size_t n_val = std::min(n - n_train, static_cast<size_t>(static_cast<double>(n) * val_frac));
  LabeledSplit s;
  for (size_t k = 0; k < n; ++k) {
    auto& dst = k < n_train ? s.train : (k < n_train + n_val ? s.val : s.test);
    dst.push_back(rows[order[k]]);
  }
  return s;
}

void write_labeled_csv(const std::string& path, const std::vector<LabeledExample>& rows) {
  std::string out = "Label,Text\n";
  for (const auto& r : rows) out += format_csv_row({r.label, r.text});
  write_file_atomic(path, out);
}

std::vector<std::string> label_set(const std::vector<LabeledExample>& rows) {
  std::vector<std::string> labels;
  for (const auto& r : rows) labels.push_back(r.label);
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

}  // namespace slm
