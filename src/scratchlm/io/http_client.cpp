// http_client.cpp — libcurl with ScratchLM's defaults, and JSON POST requests (see http_client.h).
#include "scratchlm/io/http_client.h"

#include <algorithm>
#include <mutex>

#include "scratchlm/util/error.h"

namespace slm {

namespace {
void ensure_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) fail_internal("cannot initialise libcurl");
  });
}

size_t append_cb(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}
}  // namespace

CurlHandle::CurlHandle(bool follow_redirects) {
  ensure_curl();
  h_ = curl_easy_init();
  if (!h_) fail_internal("cannot initialise libcurl");
  curl_easy_setopt(h_, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h_, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h_, CURLOPT_USERAGENT, "scratchlm/0.1.0 libcurl");
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
  if (follow_redirects) {
    curl_easy_setopt(h_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h_, CURLOPT_MAXREDIRS, 10L);
  }
}

CurlHandle::~CurlHandle() { curl_easy_cleanup(h_); }

std::string CurlHandle::message(CURLcode rc) const {
  return errbuf_[0] ? std::string(errbuf_) : std::string(curl_easy_strerror(rc));
}

bool CurlHandle::unreachable(CURLcode rc) const {
  if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT) return true;
  curl_off_t connect_us = 0;
  curl_easy_getinfo(h_, CURLINFO_CONNECT_TIME_T, &connect_us);
  return rc == CURLE_OPERATION_TIMEDOUT && connect_us == 0;
}

long CurlHandle::status() const {
  long s = 0;
  curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &s);
  return s;
}

std::string host_of(const std::string& url) {
  std::string host = url;
  if (CURLU* u = curl_url()) {
    char* h = nullptr;
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) {
      host = h;
      curl_free(h);
    }
    curl_url_cleanup(u);
  }
  return host;
}

HttpReply http_post_json(const std::string& url, const std::string& body, const std::vector<std::string>& extra_headers,
                         double timeout_s, double connect_timeout_s) {
  CurlHandle c(false);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  for (const std::string& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
  const auto ms = [](double s) { return static_cast<long>(std::max(1.0, s * 1000.0)); };
  HttpReply r;
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms(timeout_s));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms(std::min(connect_timeout_s, timeout_s)));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &append_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  const CURLcode rc = curl_easy_perform(h);
  r.status = c.status();
  r.ok = rc == CURLE_OK;
  if (!r.ok) {
    r.error = c.message(rc);
    r.unreachable = c.unreachable(rc);
  }
  curl_slist_free_all(headers);
  return r;
}

}  // namespace slm
