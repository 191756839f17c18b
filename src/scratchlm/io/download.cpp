// download.cpp — HTTP(S) downloads over libcurl with resume, progress and verification (see download.h).
#include "scratchlm/io/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "scratchlm/io/http_client.h"
#include "scratchlm/io/http_headers.h"
#include "scratchlm/util/ascii.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/progress.h"

namespace slm {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------ helpers

std::string format_bytes(uint64_t n) {
  if (n < 1000) return fmt::format("{} B", n);
  const char* units[] = {"KB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1000.0 && u < 3) {
    v /= 1000.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string hf_endpoint() {
  const char* e = std::getenv("SLM_HF_ENDPOINT");
  std::string s = (e && *e) ? e : "https://huggingface.co";
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string hf_resolve_url(const std::string& repo, const std::string& file, const std::string& revision) {
  return hf_endpoint() + "/" + repo + "/resolve/" + revision + "/" + file;
}

namespace {

// One GET attempt's state, shared with the libcurl callbacks.
struct Attempt {
  ChainHeaders hdr;
  std::string partial;
  uint64_t offset = 0;     // the Range start we asked for (0: no Range)
  bool decided = false;    // the first body bytes have arrived and the mode is fixed
  bool discard = false;    // error response: drop the body
  bool bad_range = false;  // 206 starting elsewhere than `offset`
  uint64_t base = 0;       // bytes already in the file before this response's body
  uint64_t written = 0;    // body bytes written by this attempt
  int write_errno = 0;
  FILE* f = nullptr;
  Progress* progress = nullptr;  // null: quiet
  std::chrono::steady_clock::time_point opened_at;

  // Where the file stands: its bytes so far of the announced total, and this response's speed.
  void report() {
    if (!progress || !decided || discard) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_at).count();
    progress->set_total(static_cast<int64_t>(total_hint()));
    progress->update(static_cast<int64_t>(base + written),
                     fmt::format("{:.1f} MB/s", s > 0 ? static_cast<double>(written) / s / 1e6 : 0.0));
  }

  bool open_for(long status) {
    decided = true;
    if (status == 206) {
      ContentRange cr = parse_content_range(hdr.content_range);
      if (!cr.start || *cr.start != offset) {
        bad_range = true;
        return false;
      }
      f = std::fopen(partial.c_str(), "ab");
      base = offset;
    } else if (status == 200) {
      // A full body: start over. The directory is made only now, so that a failed request leaves nothing.
      std::error_code ec;
      fs::path parent = fs::path(partial).parent_path();
      if (!parent.empty()) fs::create_directories(parent, ec);
      f = std::fopen(partial.c_str(), "wb");
      base = 0;
    } else {
      discard = true;
      return true;
    }
    if (!f) {
      write_errno = errno;
      return false;
    }
    if (progress) progress->set_initial(static_cast<int64_t>(base));
    opened_at = std::chrono::steady_clock::now();
    return true;
  }

  bool close() {
    if (!f) return true;
    bool ok = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    if (!ok && !write_errno) write_errno = errno;
    ok = std::fclose(f) == 0 && ok;
    if (!ok && !write_errno) write_errno = errno;
    f = nullptr;
    return ok;
  }

  uint64_t total_hint() const {
    if (hdr.linked_size) return *hdr.linked_size;
    if (hdr.status == 206) {
      ContentRange cr = parse_content_range(hdr.content_range);
      if (cr.total) return *cr.total;
    }
    if (hdr.content_length) return base + *hdr.content_length;
    return 0;
  }
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* a = static_cast<Attempt*>(user);
  size_t len = size * n;
  if (!a->decided && !a->open_for(a->hdr.status)) return 0;  // abort: CURLE_WRITE_ERROR
  if (a->discard) return len;
  if (std::fwrite(data, 1, len, a->f) != len) {
    a->write_errno = errno ? errno : EIO;
    return 0;
  }
  a->written += len;
  return len;
}

int xferinfo_cb(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  static_cast<Attempt*>(user)->report();
  return 0;
}

bool is_tls_failure(CURLcode rc) {
  return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
         rc == CURLE_SSL_CERTPROBLEM;
}
bool is_transient(CURLcode rc) {
  return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
         rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
}

std::string unreachable_message(const std::string& url, const std::string& detail) {
  return fmt::format("cannot reach {} ({}): check your internet connection", host_of(url), detail);
}

// Throw the error for a final HTTP status that is not a success.
[[noreturn]] void http_error(const std::string& url, long status, const std::string& server_msg) {
  std::string what = fmt::format("HTTP {}", status);
  if (*reason_phrase(status)) what += std::string(" ") + reason_phrase(status);
  if (!server_msg.empty()) what += ": " + server_msg;
  if (status == 404 || status == 410) fail("not found: {} ({})", url, what);
  if (status == 401 || status == 403)
    fail("access denied to {} ({}): the file may be private, gated or need a token", url, what);
  if (status == 429) fail_internal("rate limited by {} ({}) downloading {}: try again later", host_of(url), what, url);
  if (status >= 500) fail_internal("server error downloading {} ({}): try again later", url, what);
  fail_internal("unexpected answer downloading {} ({})", url, what);
}

uint64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(s);
}

void remove_quietly(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

}  // namespace

// ------------------------------------------------------------------------------------ probe

RemoteInfo probe_url(const std::string& url, long connect_timeout_s) {
  RemoteInfo info;
  CurlHandle e;
  ChainHeaders hdr;
  curl_easy_setopt(e.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(e.get(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(e.get(), CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
  curl_easy_setopt(e.get(), CURLOPT_TIMEOUT, std::max(60L, 2 * connect_timeout_s));
  curl_easy_setopt(e.get(), CURLOPT_HEADERFUNCTION, &header_cb);
  curl_easy_setopt(e.get(), CURLOPT_HEADERDATA, &hdr);
  CURLcode rc = curl_easy_perform(e.get());
  if (rc != CURLE_OK) {
    if (e.unreachable(rc))
      info.error = unreachable_message(url, e.message(rc));
    else
      info.error = fmt::format("HEAD {} failed ({})", url, e.message(rc));
    return info;
  }
  info.reachable = true;
  curl_easy_getinfo(e.get(), CURLINFO_RESPONSE_CODE, &info.status);
  info.size = hdr.linked_size ? hdr.linked_size : hdr.content_length;
  info.sha256 = hdr.server_sha256();
  return info;
}

// ------------------------------------------------------------------------------------ download

DownloadResult download_file(const std::string& url, const std::string& dest_path, const DownloadOptions& opt) {
  const std::string partial = dest_path + ".partial";
  std::string want_sha = ascii_lower(ascii_trim(opt.expected_sha256));
  if (!want_sha.empty() && etag_as_sha256(want_sha).empty())
    fail("expected sha256 '{}' is not 64 hex digits", opt.expected_sha256);

  if (!opt.resume) remove_quietly(partial);

  // Off a terminal a download logs a line every 10 s, none when it is over sooner.
  std::optional<Progress> progress;
  if (!opt.quiet) {
    progress.emplace(0);
    progress->set_label(opt.label.empty() ? fs::path(dest_path).filename().string() : opt.label);
    progress->set_count_format([](int64_t n) { return format_bytes(static_cast<uint64_t>(n)); });
    progress->set_min_interval(10.0);
    progress->set_quiet_when_short(true);
  }
  DownloadResult result;
  ChainHeaders seen;  // merged knowledge from all attempts (server size / sha)
  std::optional<uint64_t> server_total;
  int failures = 0, restarts = 0;
  bool first = true;

  for (;;) {
    uint64_t have = file_size_or_zero(partial);
    if (first) result.resumed_from = have;
    first = false;
    std::optional<uint64_t> want_size = opt.expected_size  ? opt.expected_size
                                        : seen.linked_size ? seen.linked_size
                                                           : server_total;
    if (want_size && have > *want_size) {  // longer than the file can be: start over
      remove_quietly(partial);
      have = 0;
      result.resumed_from = 0;
    }
    if (want_size && have == *want_size && have > 0) break;  // complete already: verify below

    Attempt a;
    a.partial = partial;
    a.offset = have;
    a.progress = progress ? &*progress : nullptr;
    CurlHandle e;
    curl_easy_setopt(e.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(e.get(), CURLOPT_CONNECTTIMEOUT, opt.connect_timeout_s);
    curl_easy_setopt(e.get(), CURLOPT_LOW_SPEED_LIMIT, opt.low_speed_limit);
    curl_easy_setopt(e.get(), CURLOPT_LOW_SPEED_TIME, opt.low_speed_time_s);
    curl_easy_setopt(e.get(), CURLOPT_HEADERFUNCTION, &header_cb);
    curl_easy_setopt(e.get(), CURLOPT_HEADERDATA, &a.hdr);
    curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, &write_cb);
    curl_easy_setopt(e.get(), CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(e.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e.get(), CURLOPT_XFERINFOFUNCTION, &xferinfo_cb);
    curl_easy_setopt(e.get(), CURLOPT_XFERINFODATA, &a);
    std::string range = fmt::format("{}-", have);
    if (have > 0) curl_easy_setopt(e.get(), CURLOPT_RANGE, range.c_str());

    CURLcode rc = curl_easy_perform(e.get());
    long status = 0;
    curl_easy_getinfo(e.get(), CURLINFO_RESPONSE_CODE, &status);
    if (!a.decided && rc == CURLE_OK && status == 200) a.open_for(200);  // an empty body
    bool closed = a.close();
    result.transferred += a.written;
    if (a.hdr.linked_size && !seen.linked_size) seen.linked_size = a.hdr.linked_size;
    if (!a.hdr.linked_sha256.empty() && seen.linked_sha256.empty()) seen.linked_sha256 = a.hdr.linked_sha256;
    if (!a.hdr.etag_sha256.empty() && seen.etag_sha256.empty()) seen.etag_sha256 = a.hdr.etag_sha256;

    if (progress && !(rc == CURLE_OK && (status == 200 || status == 206))) progress->finish();
    if (a.write_errno) fail_internal("cannot write {}: {}", partial, std::strerror(a.write_errno));
    if (!closed) fail_internal("cannot write {}", partial);
    if (a.bad_range) {
      // The server answered our Range with other bytes than asked: start from zero, once.
      if (restarts++ > 0)
        fail_internal("{} answered a Range request with '{}' (asked for bytes {}-)", url, a.hdr.content_range, have);
      remove_quietly(partial);
      result.resumed_from = 0;
      continue;
    }
    if (rc != CURLE_OK) {
      if (e.unreachable(rc)) {
        char* eff = nullptr;  // after a redirect, name the host that could not be reached
        curl_easy_getinfo(e.get(), CURLINFO_EFFECTIVE_URL, &eff);
        throw Error(ErrorKind::Internal, unreachable_message(eff ? std::string(eff) : url, e.message(rc)));
      }
      if (is_tls_failure(rc)) fail_internal("secure connection to {} failed ({})", host_of(url), e.message(rc));
      if (is_transient(rc) && failures < opt.retries) {
        ++failures;
        if (!opt.quiet)
          std::fprintf(stderr, "  transfer interrupted (%s); retrying %d/%d\n", e.message(rc).c_str(), failures,
                       opt.retries);
        std::this_thread::sleep_for(std::chrono::milliseconds(500 * failures));
        continue;
      }
      fail_internal("download of {} failed ({}); run again to resume", url, e.message(rc));
    }

    if (status == 200 || status == 206) {
      if (status == 206)
        server_total = parse_content_range(a.hdr.content_range).total;
      else if (a.hdr.content_length)
        server_total = a.hdr.content_length;
      a.report();
      if (progress) progress->finish();
      break;
    }
    if (status == 416) {
      // Our Range starts at or past the end: the .partial is complete, or longer / from another file.
      auto total = parse_content_range(a.hdr.content_range).total;
      if (total) server_total = total;
      std::optional<uint64_t> size = opt.expected_size  ? opt.expected_size
                                     : seen.linked_size ? seen.linked_size
                                                        : server_total;
      if (size && have == *size) break;
      if (restarts++ > 0) http_error(url, status, a.hdr.error_message);
      remove_quietly(partial);
      result.resumed_from = 0;
      continue;
    }
    http_error(url, status, a.hdr.error_message);
  }

  // ---- verify, then move into place
  if (!fs::exists(partial)) fail_internal("download of {} produced no data", url);
  result.size = file_size_or_zero(partial);
  std::optional<uint64_t> want_size = opt.expected_size  ? opt.expected_size
                                      : seen.linked_size ? seen.linked_size
                                                         : server_total;
  result.size_verified = want_size.has_value();
  if (want_size && result.size != *want_size) {
    remove_quietly(partial);
    fail_internal(
        "size mismatch downloading {}: expected {} bytes, got {}; the partial download was deleted, run again", url,
        *want_size, result.size);
  }
  if (want_sha.empty() && opt.trust_server_sha256) want_sha = seen.server_sha256();
  result.sha256 = sha256_file(partial);
  if (!want_sha.empty()) {
    if (result.sha256 != want_sha) {
      remove_quietly(partial);
      if (result.resumed_from > 0) {
        // The old .partial may have held other bytes (a changed file, a corrupted disk): start over, once.
        if (!opt.quiet)
          std::fprintf(stderr, "  sha256 mismatch after resuming; downloading %s again from the start\n", url.c_str());
        return download_file(url, dest_path, opt);
      }
      fail_internal("sha256 mismatch downloading {}: expected {}, got {}; the partial download was deleted, run again",
                    url, want_sha, result.sha256);
    }
    result.sha256_verified = true;
  }
  std::error_code ec;
  fs::rename(partial, dest_path, ec);
  if (ec) fail_internal("cannot rename {} to {}: {}", partial, dest_path, ec.message());
  return result;
}

}  // namespace slm
