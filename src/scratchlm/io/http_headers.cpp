// http_headers.cpp — reading a download's response headers (see http_headers.h).
#include "scratchlm/io/http_headers.h"

#include <cctype>
#include <cstdlib>

#include "scratchlm/util/ascii.h"

namespace slm {

namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
  const std::string t(ascii_trim(s));
  if (t.empty() || t.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::string etag_as_sha256(std::string v) {
  if (v.rfind("W/", 0) == 0) v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.size() != 64) return "";
  for (char c : v)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
  return ascii_lower(v);
}

const char* reason_phrase(long code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

void ChainHeaders::on_line(std::string_view line) {
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    size_t sp = line.find(' ');
    status = sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    content_length.reset();
    content_range.clear();
    error_message.clear();
    return;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  std::string name = ascii_lower(ascii_trim(line.substr(0, colon)));
  std::string value = std::string(ascii_trim(line.substr(colon + 1)));
  if (name == "content-length")
    content_length = parse_u64(value);
  else if (name == "content-range")
    content_range = value;
  else if (name == "x-error-message")
    error_message = value;
  else if (name == "x-linked-size") {
    if (!linked_size) linked_size = parse_u64(value);
  } else if (name == "x-linked-etag") {
    if (linked_sha256.empty()) linked_sha256 = etag_as_sha256(value);
  } else if (name == "etag") {
    if (etag_sha256.empty()) etag_sha256 = etag_as_sha256(value);
  }
}

size_t header_cb(char* data, size_t size, size_t n, void* user) {
  static_cast<ChainHeaders*>(user)->on_line(std::string_view(data, size * n));
  return size * n;
}

ContentRange parse_content_range(const std::string& v) {
  ContentRange r;
  std::string s(ascii_trim(v));
  if (ascii_lower(s.substr(0, 6)) != "bytes ") return r;
  s = s.substr(6);
  size_t slash = s.find('/');
  if (slash == std::string::npos) return r;
  r.total = parse_u64(s.substr(slash + 1));
  std::string range = s.substr(0, slash);
  size_t dash = range.find('-');
  if (dash != std::string::npos) r.start = parse_u64(range.substr(0, dash));
  return r;
}

}  // namespace slm
