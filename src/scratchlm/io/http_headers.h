// http_headers.h — what the downloader reads from HTTP response headers (chapter 5.5's weight
// downloads, done robustly): the status line, sizes, byte ranges and the sha256 a server announces
// (Hugging Face's X-Linked-* fields, or a 64-hex ETag), across a redirect chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slm {

// Headers of the redirect chain: per-response fields reset at each status line, the Hugging Face
// X-Linked-* fields and a sha256-looking ETag are kept from wherever they appear.
struct ChainHeaders {
  long status = 0;
  std::optional<uint64_t> content_length;
  std::string content_range;
  std::string error_message;  // Hugging Face's X-Error-Message
  std::optional<uint64_t> linked_size;
  std::string linked_sha256;
  std::string etag_sha256;

  void on_line(std::string_view line);
  std::string server_sha256() const { return linked_sha256.empty() ? etag_sha256 : linked_sha256; }
};

// libcurl's CURLOPT_HEADERFUNCTION for a ChainHeaders (CURLOPT_HEADERDATA).
size_t header_cb(char* data, size_t size, size_t n, void* user);

// An entity tag that is a sha256 (optional W/, optional quotes, exactly 64 hex digits), lowercase;
// "" otherwise.
std::string etag_as_sha256(std::string v);

// "bytes START-END/TOTAL" or "bytes */TOTAL"
struct ContentRange {
  std::optional<uint64_t> start, total;
};
ContentRange parse_content_range(const std::string& v);

// "Not Found" for 404 and the other statuses a download may meet; "" for the rest.
const char* reason_phrase(long code);

}  // namespace slm
