// datasets.cpp — the data-set registry and fetching (see datasets.h). Sizes and sha256 values are
// those of shared/data/README.md (the book's files; see its provenance notes).
#include "scratchlm/data/datasets.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "scratchlm/io/download.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/sha256.h"

namespace slm {

namespace fs = std::filesystem;

namespace {

const std::string kBook = "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/";

// A file fetched from `url` ("" : mirror only); `pinned`: the URL serves exactly these bytes.
DataFile fetched(std::string path, std::string url, uint64_t size, std::string sha, bool pinned = true) {
  return DataFile{std::move(path), std::move(url), size, std::move(sha), pinned, ""};
}
// A file extracted from the data set's archive `from`.
DataFile extracted(std::string path, std::string from, uint64_t size, std::string sha) {
  return DataFile{std::move(path), "", size, std::move(sha), true, std::move(from)};
}

}  // namespace

const std::vector<Dataset>& datasets() {
  static const std::string zip = "sms_spam/sms_spam_collection.zip";
  static const std::vector<Dataset> all = {
      {"the-verdict",
       "Edith Wharton's short story, the book's ch02/ch05 pretraining text (20 KB)",
       {fetched("the-verdict.txt", kBook + "ch02/01_main-chapter-code/the-verdict.txt", 20479,
                "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f")}},
      {"tinyshakespeare",
       "Karpathy's Tiny Shakespeare, a larger pretraining corpus (1.1 MB)",
       {fetched("tinyshakespeare.txt",
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt", 1115394,
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")}},
      {"sms-spam",
       "UCI SMS Spam Collection (CC BY 4.0), the book's ch06 data: zip + extracted files",
       {// UCI may re-pack its zip: only the mirror's copy (from the book's repository) is pinned.
        fetched(zip, "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip", 203415,
                "1587ea43e58e82b14ff1f5425c88e17f8496bfcdb67a583dbff9eefaf9963ce3", /*pinned=*/false),
        extracted("sms_spam/SMSSpamCollection", zip, 477907,
                  "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"),
        extracted("sms_spam/readme", zip, 5868, "8753cd2d3cab68f80c8257851b8c2037778c267f55accb6fd1b5a2e32d36a84e")}},
      {"instruction-data",
       "the book's ch07 instruction-finetuning data (1,100 entries, 204 KB)",
       {fetched("instruction-data.json", kBook + "ch07/01_main-chapter-code/instruction-data.json", 203524,
                "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944")}},
      {"sms-spam-book-split",
       "the book's ch06 train/validation/test CSVs (from a mirror only)",
       {fetched("sms_spam/book_split/train.csv", "", 113808,
                "904053bee66b437a19a71fc764516fe1e00b122749ce3f2e6f5da2f32bdf8db9"),
        fetched("sms_spam/book_split/validation.csv", "", 17920,
                "21048e29c31fecbbf7eb775ea3ac02ae8df91c068507a6731f7b7bb5b000d587"),
        fetched("sms_spam/book_split/test.csv", "", 32087,
                "fa3eaa31530e598e4e8c7dddc62651e2ceb85689122fc2ee3aa0fea8a5ad1371")}},
  };
  return all;
}

bool Dataset::mirror_only() const {
  for (const auto& f : files)
    if (f.extract_from.empty() && f.url.empty()) return true;
  return false;
}

const Dataset* find_dataset(const std::string& name) {
  for (const auto& d : datasets())
    if (d.name == name) return &d;
  return nullptr;
}

std::string dataset_names() {
  std::string s;
  for (const auto& d : datasets()) s += (s.empty() ? "" : ", ") + d.name;
  return s;
}

std::string data_url_base() {
  const char* e = std::getenv("SLM_DATA_URL_BASE");
  std::string s = (e && *e) ? e : "";
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string sha256_bytes(std::string_view bytes) { return sha256_hex(bytes); }

std::string extract_archive_member(const std::string& archive, const std::string& member) {
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(), &archive_read_free);
  if (!a) fail_internal("cannot allocate an archive reader");
  archive_read_support_format_all(a.get());
  archive_read_support_filter_all(a.get());
  auto why = [&] {
    const char* s = archive_error_string(a.get());
    return std::string(s ? s : "unknown error");
  };
  if (archive_read_open_filename(a.get(), archive.c_str(), 1 << 16) != ARCHIVE_OK)
    fail("cannot open archive '{}': {}", archive, why());
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    const char* p = archive_entry_pathname(e);
    std::string path = p ? p : "";
    if (archive_entry_filetype(e) == AE_IFREG && (path == member || fs::path(path).filename() == member)) {
      std::string out;
      char buf[1 << 16];
      la_ssize_t n;
      while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
      if (n < 0) fail("cannot read '{}' from archive '{}': {}", member, archive, why());
      return out;
    }
    archive_read_data_skip(a.get());
  }
  if (r != ARCHIVE_EOF) fail("cannot read archive '{}': {}", archive, why());
  fail("archive '{}' has no member '{}'", archive, member);
}

namespace {

// "" when `bytes` are the pinned file, else why not.
std::string mismatch(const DataFile& f, std::string_view bytes, const std::string& sha) {
  if (bytes.size() != f.size) return fmt::format("expected {} bytes, got {}", f.size, bytes.size());
  if (sha != f.sha256) return fmt::format("expected sha256 {}, got {}", f.sha256, sha);
  return "";
}

uint64_t size_or_zero(const std::string& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(s);
}

void say(const FetchOptions& o, const std::string& s) {
  if (o.log) o.log(s);
}

// Fetch or extract `f` to `dest` (whose directory exists), verified, atomically.
void fetch_file(const Dataset& ds, const DataFile& f, const FetchOptions& opt, const std::string& dest,
                const std::string& base, bool pinned, FetchStats& stats) {
  // ---- extracted from an archive fetched before
  if (!f.extract_from.empty()) {
    const std::string archive = (fs::path(opt.data_dir) / f.extract_from).string();
    const std::string member = fs::path(f.path).filename().string();
    std::string bytes;
    try {
      bytes = extract_archive_member(archive, member);
    } catch (const Error& e) {
      throw Error(e.kind(),
                  fmt::format("{}: {}; run again with --force to fetch the archive again", ds.name, e.what()));
    }
    std::string why = mismatch(f, bytes, sha256_bytes(bytes));
    if (!why.empty())
      fail_internal(
          "{}: '{}' extracted from '{}' is not the pinned file ({}); run again with --force to fetch the archive again",
          ds.name, member, archive, why);
    write_file_atomic(dest, bytes);
    ++stats.extracted;
    stats.bytes += bytes.size();
    say(opt, fmt::format("  {}: extracted from {} ({}, sha256 verified)", f.path, f.extract_from,
                         format_bytes(bytes.size())));
    return;
  }

  // ---- a local mirror
  if (!opt.mirror.empty()) {
    const std::string src = (fs::path(opt.mirror) / f.path).string();
    if (!file_exists(src)) fail("{}: '{}' is missing from the mirror '{}'", ds.name, f.path, opt.mirror);
    std::string bytes = read_file(src);
    std::string why = mismatch(f, bytes, sha256_bytes(bytes));
    if (!why.empty()) fail("{}: the mirror's '{}' is corrupt or another version ({})", ds.name, src, why);
    write_file_atomic(dest, bytes);
    ++stats.fetched;
    stats.bytes += bytes.size();
    say(opt, fmt::format("  {}: copied from the mirror ({}, sha256 verified)", f.path, format_bytes(bytes.size())));
    return;
  }

  // ---- download: an HTTP mirror ($SLM_DATA_URL_BASE) or the public URL
  if (base.empty() && f.url.empty())
    fail(
        "{} is only available from a mirror: pass --mirror DIR (a folder laid out like shared/data) or set "
        "SLM_DATA_URL_BASE",
        ds.name);
  const std::string url = base.empty() ? f.url : base + "/" + f.path;
  DownloadOptions d;
  d.quiet = opt.quiet;
  d.trust_server_sha256 = false;  // GitHub's and UCI's ETags are not content hashes
  d.label = f.path;
  if (pinned) {
    d.expected_size = f.size;
    d.expected_sha256 = f.sha256;
  }
  DownloadResult r;
  try {
    r = download_file(url, dest, d);
  } catch (const Error& e) {
    std::string msg = fmt::format("{}: {}", ds.name, e.what());
    if (msg.find("cannot reach") != std::string::npos) msg += "; or copy from a mirror with --mirror DIR";
    throw Error(e.kind(), msg);
  }
  ++stats.fetched;
  stats.bytes += r.size;
  say(opt, fmt::format("  {}: downloaded {} ({})", f.path, format_bytes(r.size),
                       r.sha256_verified ? "sha256 verified" : "checked through the files extracted from it"));
}

}  // namespace

void fetch_dataset(const Dataset& ds, const FetchOptions& opt, FetchStats& stats) {
  if (opt.data_dir.empty()) fail_internal("fetch_dataset: no data directory");
  const std::string base = opt.mirror.empty() ? data_url_base() : "";
  const bool from_public = opt.mirror.empty() && base.empty();
  for (const auto& f : ds.files) {
    const std::string dest = (fs::path(opt.data_dir) / f.path).string();
    const bool pinned = !from_public || f.upstream_pinned || !f.extract_from.empty();

    // ---- already there?
    if (!opt.force && file_exists(dest)) {
      uint64_t have = size_or_zero(dest);
      bool ok = have == f.size && sha256_file(dest) == f.sha256;
      if (ok || !pinned) {
        ++stats.present;
        say(opt, fmt::format("  {}: already present ({}, {})", f.path, format_bytes(have),
                             ok ? "sha256 verified" : "not verified: upstream is not pinned"));
        continue;
      }
      say(opt, fmt::format("  {}: differs from the pinned sha256; fetching it again", f.path));
    }
    // Directories created for this file are removed again (when still empty) if fetching fails.
    std::vector<fs::path> created;  // deepest first
    std::error_code ec;
    for (fs::path p = fs::path(dest).parent_path(); !p.empty() && !fs::exists(p, ec); p = p.parent_path())
      created.push_back(p);
    fs::create_directories(fs::path(dest).parent_path(), ec);
    if (ec) fail("cannot create directory '{}': {}", fs::path(dest).parent_path().string(), ec.message());
    try {
      fetch_file(ds, f, opt, dest, base, pinned, stats);
    } catch (...) {
      for (const auto& p : created) fs::remove(p, ec);
      throw;
    }
  }
}

}  // namespace slm
