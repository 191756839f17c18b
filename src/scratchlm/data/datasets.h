// datasets.h — the registry of downloadable data sets (`slm download-data`) and fetching them into
// the data directory: from their public URLs, or from a mirror laid out like shared/data.
//
// Every file has a path relative to the data directory, which is also its path inside a mirror,
// and a pinned size + sha256. Sources:
//   - a mirror directory (--mirror DIR): the file is read from DIR/<path>, checked, written atomically;
//   - an HTTP mirror ($SLM_DATA_URL_BASE, e.g. http://host/data): <base>/<path>, checked the same way
//     (also how the tests point downloads at an unreachable address);
//   - otherwise the public URL through download_file (expected size + sha256 given). A file whose
//     upstream bytes are not pinned (the UCI zip, which may be re-packed) is checked only through the
//     files extracted from it. Files with no public URL need a mirror.
// Extracted files (a member of a zip fetched before them) are read with libarchive and checked too.
// Files already present with the pinned sha256 are kept unless `force`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

struct DataFile {
  std::string path;             // relative to the data directory and to a mirror, e.g. "sms_spam/SMSSpamCollection"
  std::string url;              // public URL; empty: only from a mirror (or extracted)
  uint64_t size = 0;            // pinned size in bytes
  std::string sha256;           // pinned sha256, lowercase hex
  bool upstream_pinned = true;  // the public URL serves exactly these bytes (false: only a mirror's copy is pinned)
  std::string
      extract_from;  // not fetched: extracted from this earlier file (a zip) of the data set, member = file name
};

struct Dataset {
  std::string name, description;
  std::vector<DataFile> files;
  bool mirror_only() const;  // some fetched file has no public URL
};

// All data sets, in help order.
const std::vector<Dataset>& datasets();
// The data set called `name`, or nullptr.
const Dataset* find_dataset(const std::string& name);
// "the-verdict, tinyshakespeare, ..."
std::string dataset_names();

struct FetchOptions {
  std::string data_dir;                         // destination root (required)
  std::string mirror;                           // local mirror directory; empty: $SLM_DATA_URL_BASE or the public URLs
  bool force = false;                           // fetch again even when present and verified
  bool quiet = false;                           // no download progress
  std::function<void(const std::string&)> log;  // one line per file ("  name: downloaded ..."); may be empty
};

struct FetchStats {
  size_t fetched = 0, extracted = 0, present = 0;
  uint64_t bytes = 0;  // bytes written (fetched + extracted)
};

// $SLM_DATA_URL_BASE without trailing '/', or "" when unset.
std::string data_url_base();

// Fetch every file of `ds` into opt.data_dir. Throws slm::Error (one-line messages naming the data
// set and file); nothing unverified is ever left at a destination path.
void fetch_dataset(const Dataset& ds, const FetchOptions& opt, FetchStats& stats);

// The bytes of member `member` (matched by full path or by file name) of the archive at `archive`
// (any format libarchive reads). BadInput when the archive is unreadable or has no such member.
std::string extract_archive_member(const std::string& archive, const std::string& member);

// sha256 of bytes as lowercase hex.
std::string sha256_bytes(std::string_view bytes);

}  // namespace slm
