// corpus.cpp — corpus specs -> documents -> one token stream (see corpus.h; chapter 2.6).
#include "scratchlm/data/corpus.h"

#include <glob.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "scratchlm/data/labeled_data.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/tokenizer/encode_stream.h"
#include "scratchlm/tokenizer/utf8.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Every regular file under `dir`, recursively, sorted by path, hidden entries skipped.
std::vector<std::string> walk_dir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) fail("cannot read directory '{}': {}", dir, ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail("cannot read directory '{}': {}", dir, ec.message());
    const fs::directory_entry& e = *it;
    if (is_hidden(e.path())) {
      if (e.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (e.is_regular_file(ec)) out.push_back(e.path().string());
  }
  if (ec) fail("cannot read directory '{}': {}", dir, ec.message());
  std::sort(out.begin(), out.end());
  if (out.empty()) fail("directory '{}' contains no documents (no regular, non-hidden files)", dir);
  return out;
}

void add_path(const std::string& path, std::vector<std::string>& out) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (auto& p : walk_dir(path)) out.push_back(std::move(p));
  } else if (fs::is_regular_file(path, ec)) {
    out.push_back(path);
  } else {
    fail("corpus path '{}' is neither a regular file nor a directory", path);
  }
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> matches;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH) fail("no files match the corpus pattern '{}'", pattern);
  if (rc != 0) fail("cannot expand the corpus pattern '{}' (glob error {})", pattern, rc);
  std::vector<std::string> out;
  for (const auto& m : matches) add_path(m, out);  // glob(3) already sorted the matches
  return out;
}

[[noreturn]] void fail_missing(const std::string& name, const std::string& path, const std::string& how) {
  fail("corpus '{}' is not available: '{}' is missing; {}", name, path, how);
}

std::vector<std::string> moby_dick(const std::string& data) {
  std::string dir = (fs::path(data) / "moby-dick").string();
  std::string list = dir + "/file_list.json";
  if (!file_exists(list)) fail_missing("moby-dick", list, "run `make setup` (scripts/setup)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(list));
  } catch (const nlohmann::json::exception& e) {
    fail("'{}' is not valid JSON: {}", list, e.what());
  }
  if (!j.is_array() || j.empty()) fail("'{}' must be a non-empty JSON array of file names", list);
  std::vector<std::string> out;
  for (const auto& name : j) {
    if (!name.is_string()) fail("'{}' must be a JSON array of file names; found {}", list, name.dump());
    std::string path = dir + "/" + name.get<std::string>();
    if (!file_exists(path)) fail_missing("moby-dick", path, "run `make setup` (scripts/setup)");
    out.push_back(std::move(path));
  }
  return out;
}

std::vector<std::string> sotu(const std::string& data) {
  std::string dir = (fs::path(data) / "sotu").string();
  if (!fs::is_directory(dir)) fail_missing("sotu", dir, "run `make setup` (scripts/setup)");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".txt" && !is_hidden(e.path())) out.push_back(e.path().string());
  if (out.empty()) fail_missing("sotu", dir + "/*.txt", "run `make setup` (scripts/setup)");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> downloaded(const std::string& data, const std::string& name) {
  std::string path = (fs::path(data) / (name + ".txt")).string();
  if (!file_exists(path)) fail_missing(name, path, fmt::format("run `slm download-data {}`", name));
  return {path};
}

}  // namespace

const std::vector<std::string>& builtin_corpus_names() {
  static const std::vector<std::string> names = {"moby-dick", "sotu", "the-verdict", "tinyshakespeare"};
  return names;
}

std::vector<std::string> resolve_corpus_spec(const std::string& spec, const std::string& data_dir) {
  if (spec.empty()) fail("empty corpus spec");
  std::error_code ec;
  if (fs::exists(spec, ec)) {
    std::vector<std::string> out;
    add_path(spec, out);
    return out;
  }
  if (spec.find_first_of("*?[") != std::string::npos) return glob_paths(spec);
  std::string data = data_dir.empty() ? default_data_dir() : data_dir;
  if (spec == "moby-dick") return moby_dick(data);
  if (spec == "sotu") return sotu(data);
  if (spec == "the-verdict" || spec == "tinyshakespeare") return downloaded(data, spec);
  fail(
      "corpus '{}' is not a file, directory, glob pattern or built-in corpus (moby-dick, sotu, the-verdict, "
      "tinyshakespeare)",
      spec);
}

std::vector<std::string> resolve_corpus(const std::vector<std::string>& specs, const std::string& data_dir) {
  if (specs.empty()) fail("no corpus given");
  std::vector<std::string> out;
  for (const auto& s : specs)
    for (auto& p : resolve_corpus_spec(s, data_dir)) out.push_back(std::move(p));
  return out;
}

std::string read_document(const std::string& path, bool lossy) {
  std::string text = read_file(path);
  if (lossy) return utf8_lossy(text);
  utf8_require_valid(text, fmt::format("'{}'", path));
  return text;
}

void encode_documents_to(const std::vector<std::string>& paths, const Tokenizer& tok, bool lossy, int threads,
                         const std::string& text_column, const TokenSink& sink, size_t chunk) {
  // With a text column, a table file is one document per row; otherwise each file is one.
  struct Doc {
    size_t path;     // index into paths
    size_t row;      // index into rows, or npos for a whole file
    uint64_t bytes;  // its size
  };
  std::vector<std::string> rows;
  std::vector<Doc> docs;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (text_column.empty() || !is_table_file(paths[i])) {
      std::error_code ec;
      const uint64_t size = fs::file_size(paths[i], ec);
      docs.push_back({i, std::string::npos, ec ? 0 : size});
      continue;
    }
    for (auto& t : load_text_column(paths[i], text_column, lossy)) {
      docs.push_back({i, rows.size(), t.size()});
      rows.push_back(std::move(t));
    }
  }
  const size_t n = docs.size();
  std::optional<uint32_t> eot = tok.eot_id();
  if (n > 1 && !eot) fail("the tokenizer has no {} token to separate the corpus' {} documents", kEndOfText, n);
  if (threads <= 0) threads = num_threads();
  auto text_of = [&](size_t d) {
    return docs[d].row == std::string::npos ? read_document(paths[docs[d].path], lossy) : rows[docs[d].row];
  };
  auto separate = [&](size_t d) {
    if (d > 0) sink(std::span<const uint32_t>(&*eot, 1));
  };
  // Documents [d, e): a file over `chunk` bytes alone, streamed; else as many as fit in `chunk`.
  for (size_t d = 0, e; d < n; d = e) {
    if (docs[d].row == std::string::npos && docs[d].bytes > chunk) {
      e = d + 1;
      separate(d);
      const std::string& path = paths[docs[d].path];
      TextStreamEncoder enc(tok, sink, fmt::format("'{}'", path), lossy, threads, chunk);
      read_file_chunks(path, std::min<size_t>(chunk, size_t{1} << 20), [&](std::string_view part) { enc.feed(part); });
      enc.finish();
      continue;
    }
    uint64_t bytes = 0;
    for (e = d; e < n && (e == d || bytes + docs[e].bytes <= chunk) &&
                (docs[e].row != std::string::npos || docs[e].bytes <= chunk);
         ++e)
      bytes += docs[e].bytes;
    const size_t m = e - d;
    std::vector<std::vector<uint32_t>> parts(m);
    // Many documents: one thread per document. Few: each split across the threads. Same result.
    if (threads > 1 && m >= 2 * static_cast<size_t>(threads)) {
      std::vector<std::exception_ptr> errors(m);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (int64_t i = 0; i < static_cast<int64_t>(m); ++i) {
        try {
          parts[i] = tok.encode(text_of(d + static_cast<size_t>(i)), SpecialMode::Text);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      }
      for (auto& err : errors)  // the first failing document in corpus order, whatever the scheduling
        if (err) std::rethrow_exception(err);
    } else {
      for (size_t i = 0; i < m; ++i) parts[i] = tok.encode_parallel(text_of(d + i), SpecialMode::Text, threads);
    }
    for (size_t i = 0; i < m; ++i) {
      separate(d + i);
      sink(parts[i]);
    }
  }
}

std::vector<uint32_t> encode_documents(const std::vector<std::string>& paths, const Tokenizer& tok, bool lossy,
                                       int threads, const std::string& text_column) {
  std::vector<uint32_t> ids;
  encode_documents_to(paths, tok, lossy, threads, text_column,
                      [&](std::span<const uint32_t> part) { ids.insert(ids.end(), part.begin(), part.end()); });
  return ids;
}

}  // namespace slm
