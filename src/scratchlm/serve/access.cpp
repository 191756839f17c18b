// access.cpp — API key, JSON bodies, CORS, HTTP-layer errors and the request log of `slm serve`
// (see access.h).
#include "scratchlm/serve/access.h"

#include <httplib.h>

#include <cstdio>
#include <ctime>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "scratchlm/serve/api.h"
#include "scratchlm/util/ascii.h"

namespace slm::serve {

using json = nlohmann::json;

namespace {

void send_error(httplib::Response& rs, int status, const std::string& message, const std::string& type) {
  rs.status = status;
  rs.set_content(error_body(message, type).dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                 "application/json");
}

// Equal strings, in a time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool matches(const std::string& route, const std::string& path) {
  if (!route.ends_with('*')) return route == path;
  const std::string_view prefix(route.data(), route.size() - 1);
  return path.starts_with(prefix) && path.size() > prefix.size();
}

std::string iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

bool Access::allowed(const httplib::Request& rq, httplib::Response& rs) const {
  if (!cfg_.cors_origin.empty() && rq.get_header_value("Origin") == cfg_.cors_origin) {
    rs.set_header("Access-Control-Allow-Origin", cfg_.cors_origin);
    rs.set_header("Vary", "Origin");
    if (rq.method == "OPTIONS") {  // a preflight
      rs.status = 204;
      rs.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      rs.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      rs.set_header("Access-Control-Max-Age", "600");
      return false;
    }
  }
  // The page itself holds no secret and a browser cannot send a key to open it: it asks for the key.
  const bool open_route = rq.path == "/health" || (rq.method == "GET" && rq.path == "/");
  if (!cfg_.api_key.empty() && !open_route) {
    const std::string auth = rq.get_header_value("Authorization");
    if (!auth.starts_with("Bearer ") || !same_secret(auth.substr(7), cfg_.api_key)) {
      send_error(rs, 401, "a valid API key is required: send 'Authorization: Bearer KEY'", "authentication_error");
      rs.set_header("WWW-Authenticate", "Bearer");
      return false;
    }
  }
  if (rq.method == "POST") {
    const std::string type = ascii_lower(rq.get_header_value("Content-Type"));
    if (!type.starts_with("application/json")) {
      send_error(rs, 415,
                 fmt::format("the body must be JSON with 'Content-Type: application/json', not '{}'",
                             type.empty() ? std::string("none") : type),
                 "invalid_request_error");
      return false;
    }
  }
  return true;
}

void Access::install(httplib::Server& http, std::vector<std::pair<std::string, std::string>> routes) {
  routes_ = std::move(routes);
  http.set_pre_routing_handler([this](const httplib::Request& rq, httplib::Response& rs) {
    {
      std::lock_guard lock(mu_);
      details_[&rq] = Detail{std::chrono::steady_clock::now(), "", -1.0};
    }
    return allowed(rq, rs) ? httplib::Server::HandlerResponse::Unhandled : httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([this](const httplib::Request& rq, httplib::Response& rs) {
    if (!rs.body.empty()) return;
    if (rs.status == 404) {
      std::string allow;
      for (const auto& [method, route] : routes_)
        if (matches(route, rq.path) && allow.find(method) == std::string::npos)
          allow += (allow.empty() ? "" : ", ") + method;
      if (!allow.empty()) {
        rs.status = 405;
        rs.set_header("Allow", allow);
        send_error(rs, 405, fmt::format("{} {} is not allowed (use {})", rq.method, rq.path, allow),
                   "invalid_request_error");
        return;
      }
      send_error(rs, 404, "no route " + rq.method + " " + rq.path, "not_found");
    } else if (rs.status == 413) {
      send_error(rs, 413, "the request body is larger than the server accepts (64 MiB)", "invalid_request_error");
    } else {
      send_error(rs, rs.status, "HTTP " + std::to_string(rs.status), "invalid_request_error");
    }
  });
  http.set_logger([this](const httplib::Request& rq, const httplib::Response& rs) { write_log(rq, rs); });
}

void Access::note(const httplib::Request& rq, const std::string& what) {
  std::lock_guard lock(mu_);
  details_[&rq].what = what;
}

void Access::first_token(const httplib::Request& rq, std::chrono::steady_clock::time_point at) {
  std::lock_guard lock(mu_);
  Detail& d = details_[&rq];
  if (d.first_token_s < 0) d.first_token_s = std::chrono::duration<double>(at - d.start).count();
}

void Access::write_log(const httplib::Request& rq, const httplib::Response& rs) {
  Detail d;
  {
    std::lock_guard lock(mu_);
    auto it = details_.find(&rq);
    if (it != details_.end()) {
      d = it->second;
      details_.erase(it);
    }
  }
  if (!cfg_.log_requests) return;
  const double total_ms = d.start.time_since_epoch().count()
                              ? 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - d.start).count()
                              : 0.0;
  std::string line = fmt::format("{} {} {} {} {}", iso_now(), rq.remote_addr, rq.method, rq.path, rs.status);
  if (!d.what.empty()) line += " " + d.what;
  if (d.first_token_s >= 0) line += fmt::format(", first token {:.0f} ms", 1e3 * d.first_token_s);
  line += fmt::format(", {:.0f} ms", total_ms);
  if (rs.status >= 400) {  // the reason, from the error body
    const json e = json::parse(rs.body, nullptr, false);
    if (e.is_object() && e.contains("error") && e["error"].is_object())
      line += ": " + e["error"].value("message", std::string());
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace slm::serve
