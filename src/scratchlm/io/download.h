// download.h — a small, robust HTTP(S) downloader over libcurl (used by `slm download` for models
// and by dataset fetchers).
//
// download_file(url, dest) writes into `dest + ".partial"`, resumes an existing .partial with a
// Range request, verifies the size and sha256 (given, or announced by the server: Hugging Face's
// X-Linked-Size / X-Linked-Etag, Content-Length, a 64-hex ETag) and only then renames the .partial
// over `dest` — so `dest` never holds a partial or unverified file. Failures are slm::Error with
// one-line messages naming the URL/host: 401/403/404/410 are BadInput, other HTTP statuses, network
// and verification failures are Internal. A sha256 mismatch deletes the .partial; a network failure
// keeps it so that the next run resumes.
#pragma once

#include "scratchlm/util/sha256.h"

#include <cstdint>
#include <optional>
#include <string>

namespace slm {

struct DownloadOptions {
  std::optional<uint64_t> expected_size;  // bytes; empty: take the server's announced size
  std::string expected_sha256;            // lowercase hex; empty: take the server's (see below)
  // Accept a sha256 announced by the server (X-Linked-Etag, or an ETag that is 64 hex chars).
  // Turn off for servers whose 64-hex ETags are not the content's sha256.
  bool trust_server_sha256 = true;
  bool quiet = false;  // no progress output at all
  bool resume = true;  // continue an existing .partial with a Range request
  std::string label;   // name shown in the progress line (default: the file name of dest)
  long connect_timeout_s = 20;
  long low_speed_limit = 1024;  // abort when slower than this many bytes/s ...
  long low_speed_time_s = 60;   // ... for this many seconds
  int retries = 3;              // extra attempts (resuming) after a transfer broke mid-way
};

struct DownloadResult {
  uint64_t size = 0;             // bytes of the final file
  std::string sha256;            // its sha256 (lowercase hex)
  bool sha256_verified = false;  // an expected sha256 was known and matched
  bool size_verified = false;    // an expected size was known and matched
  uint64_t resumed_from = 0;     // bytes reused from an existing .partial (0: fresh download)
  uint64_t transferred = 0;      // bytes received over the network
};

DownloadResult download_file(const std::string& url, const std::string& dest_path, const DownloadOptions& options = {});

// What a HEAD request (following redirects) says about a URL. Never throws for network failures:
// `reachable` is false and `error` holds a one-line reason instead.
struct RemoteInfo {
  bool reachable = false;
  std::string error;             // when !reachable, e.g. "cannot reach huggingface.co (...): check ..."
  long status = 0;               // HTTP status of the final response
  std::optional<uint64_t> size;  // X-Linked-Size, else the final Content-Length
  std::string sha256;            // X-Linked-Etag / 64-hex ETag (lowercase), or empty
};
RemoteInfo probe_url(const std::string& url, long connect_timeout_s = 20);

// sha256_file: see util/sha256.h.

// The Hugging Face hub endpoint: $SLM_HF_ENDPOINT if set, else https://huggingface.co (no trailing '/').
std::string hf_endpoint();

// "<endpoint>/<repo>/resolve/<revision>/<file>"
std::string hf_resolve_url(const std::string& repo, const std::string& file, const std::string& revision = "main");

// "1.5 GB", "548.1 MB", "12.0 KB", "17 B"
std::string format_bytes(uint64_t n);

}  // namespace slm
