// access.h — who may talk to `slm serve` and what is written down about it: the API key, the
// JSON-only request bodies, CORS, the errors of the HTTP layer (404, 405, 413, 415) and the
// request log. A web page the user happens to visit must not be able to start generations on
// their server: without --cors-origin a browser cannot send the JSON these routes require (a
// cross-origin application/json request needs a preflight, which gets no CORS headers).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace slm::serve {

struct AccessConfig {
  std::string api_key;      // "": no key needed; else every route but /health and the page needs "Bearer KEY"
  std::string cors_origin;  // "": no CORS headers; else this origin may call the API from a page
  bool log_requests = true;
};

class Access {
 public:
  explicit Access(AccessConfig cfg) : cfg_(std::move(cfg)) {}

  // Install the checks before routing, the error bodies and the log on `http`. `routes` are the
  // served (method, path) pairs, for 405 on a known path with another method; a path ending in
  // '*' matches every longer path that starts with the rest.
  void install(httplib::Server& http, std::vector<std::pair<std::string, std::string>> routes);

  // What the log line of `rq` says besides the status (e.g. "5 + 30 tokens"), and when its
  // first token was generated.
  void note(const httplib::Request& rq, const std::string& what);
  void first_token(const httplib::Request& rq, std::chrono::steady_clock::time_point at);

 private:
  struct Detail {
    std::chrono::steady_clock::time_point start;
    std::string what;
    double first_token_s = -1.0;
  };
  bool allowed(const httplib::Request& rq, httplib::Response& rs) const;
  void write_log(const httplib::Request& rq, const httplib::Response& rs);

  AccessConfig cfg_;
  std::vector<std::pair<std::string, std::string>> routes_;
  std::mutex mu_;
  std::map<const httplib::Request*, Detail> details_;  // requests in flight
};

}  // namespace slm::serve
