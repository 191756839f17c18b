// http_client.h — the one HTTP(S) client of ScratchLM, over libcurl: downloads of models and
// datasets (io/download.cpp) and JSON requests to an OpenAI-compatible endpoint (the judge of
// chapter 7.8). One place sets libcurl's global state, the protocols allowed (http and https
// only), the user agent, signals off, and how a failure is told apart from an unreachable host.
#pragma once

#include <curl/curl.h>

#include <string>
#include <vector>

namespace slm {

// A libcurl easy handle with ScratchLM's defaults.
class CurlHandle {
 public:
  // follow_redirects: at most 10, to http/https only (downloads follow; JSON requests do not).
  explicit CurlHandle(bool follow_redirects = true);
  ~CurlHandle();
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;

  CURL* get() const { return h_; }
  // Why a transfer failed, in one line (libcurl's detailed message when it gave one).
  std::string message(CURLcode rc) const;
  // The failure happened before any connection was made: no route, no DNS, refused, or a timeout
  // while connecting ("check your internet connection" rather than "the transfer broke").
  bool unreachable(CURLcode rc) const;
  // The final response's HTTP status (0: none).
  long status() const;

 private:
  CURL* h_ = nullptr;
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

// The host part of a URL ("huggingface.co"), or the URL itself when it cannot be parsed.
std::string host_of(const std::string& url);

struct HttpReply {
  bool ok = false;           // a response arrived (any status)
  bool unreachable = false;  // no connection could be made (see CurlHandle::unreachable)
  long status = 0;
  std::string body, error;  // error: why no response arrived
};

// POST a JSON body (Content-Type and Accept application/json; extra_headers such as
// "Authorization: Bearer ..."), with a total and a connect timeout in seconds. Never throws for
// network failures: they come back in the reply.
HttpReply http_post_json(const std::string& url, const std::string& body, const std::vector<std::string>& extra_headers,
                         double timeout_s, double connect_timeout_s);

}  // namespace slm
