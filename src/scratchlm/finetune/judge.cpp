// judge.cpp — scoring responses with an LLM judge over an OpenAI-compatible chat endpoint
// (chapter 7.8 of "Build a Large Language Model (From Scratch)"; see judge.h). HTTP via io/http_client.
#include "scratchlm/finetune/judge.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "scratchlm/io/http_client.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm {

using nlohmann::json;

// ------------------------------------------------------------------------------------ entries

std::vector<JudgeItem> judge_items_from_json(const json& data, const std::string& key, const std::string& source) {
  if (!data.is_array()) fail("{}: expected a JSON array of entries", source);
  if (data.empty()) fail("{}: no entries", source);
  std::vector<JudgeItem> items;
  items.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const json& e = data[i];
    if (!e.is_object()) fail("{}: entry {} is not a JSON object", source, i);
    auto str = [&](const std::string& k, bool required) -> std::string {
      auto it = e.find(k);
      if (it == e.end() || it->is_null()) {
        if (required)
          fail("{}: entry {} has no \"{}\"{}", source, i, k, k == key ? " (name the response field with --key)" : "");
        return "";
      }
      if (!it->is_string()) fail("{}: entry {}: \"{}\" is not a string", source, i, k);
      return it->get<std::string>();
    };
    JudgeItem item;
    item.entry.instruction = str("instruction", true);
    item.entry.input = str("input", false);
    item.entry.output = str("output", true);
    item.response = str(key, true);
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<JudgeItem> load_judge_items(const std::string& path, const std::string& key) {
  json data;
  try {
    data = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: malformed JSON ({})", path, e.what());
  }
  return judge_items_from_json(data, key, path);
}

std::string judge_prompt(const InstructionEntry& e, const std::string& response) {
  return "Given the input `" + format_prompt(e, PromptTemplate::Alpaca) + "` and correct output `" + e.output +
         "`, score the model response `" + response +
         "` on a scale from 0 to 100, where 100 is the best score. Respond with the integer number only.";
}

// ------------------------------------------------------------------------------------ parsing

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_blank(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

struct Num {
  size_t b, e;   // [b, e) in the reply
  double value;  // negative when after a minus sign; 1e9 for absurdly long digit runs
  bool skip = false, list_marker = false;
};

size_t skip_fwd(std::string_view s, size_t p) { return std::min(s.size(), s.find_first_not_of(" \t", p)); }
// (npos + 1 wraps to 0: only blanks before p)
size_t skip_back(std::string_view s, size_t p) { return p == 0 ? 0 : s.find_last_not_of(" \t", p - 1) + 1; }
// Does the word `w` end at p (whole word, any case)? Then p moves to its start.
bool word_before(std::string_view s, size_t& p, std::string_view w) {
  if (p < w.size()) return false;
  size_t b = p - w.size();
  for (size_t k = 0; k < w.size(); ++k)
    if (lower(s[b + k]) != w[k]) return false;
  if (b > 0 && is_alpha(s[b - 1])) return false;
  p = b;
  return true;
}
// Does the word `w` start at p (whole word, any case)? Then p moves past it.
bool word_after(std::string_view s, size_t& p, std::string_view w) {
  if (s.size() - p < w.size()) return false;
  for (size_t k = 0; k < w.size(); ++k)
    if (lower(s[p + k]) != w[k]) return false;
  if (p + w.size() < s.size() && is_alpha(s[p + w.size()])) return false;
  p += w.size();
  return true;
}
bool symbol_after(std::string_view s, size_t& p, std::string_view sym) {
  return s.substr(p, sym.size()) == sym ? (p += sym.size(), true) : false;
}

std::vector<Num> scan_numbers(std::string_view s) {
  std::vector<Num> out;
  for (size_t i = 0; (i = s.find_first_of("0123456789", i)) != std::string_view::npos;) {
    const size_t b = i;
    double v = 0;
    size_t digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i)
      if (digits > 0 || s[i] != '0') v = ++digits > 6 ? 1e9 : v * 10 + (s[i] - '0');
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
      double scale = 0.1;
      for (++i; i < s.size() && is_digit(s[i]); ++i, scale /= 10) v += (s[i] - '0') * scale;
    }
    if ((b > 0 && is_alpha(s[b - 1])) || (i < s.size() && is_alpha(s[i]))) continue;  // "gpt4", "3rd"
    // A minus sign right before, not between two numbers ("0-100" is a range).
    if (b > 0 && s[b - 1] == '-' && (b < 2 || !is_digit(s[b - 2]))) v = -v;
    out.push_back({b, i, v});
  }
  return out;
}

// If a number of `nums` starts at p, its index.
std::optional<size_t> num_at(const std::vector<Num>& nums, size_t p) {
  for (size_t k = 0; k < nums.size(); ++k)
    if (nums[k].b == p) return k;
  return std::nullopt;
}

// The part of a reply after a reasoning model's "<think>...</think>" block.
std::string_view strip_thinking(std::string_view s) {
  size_t p = s.rfind("</think>");
  return p == std::string_view::npos ? s : s.substr(p + 8);
}

}  // namespace

std::optional<int> parse_judge_score(std::string_view reply) {
  const std::string_view s = strip_thinking(reply);
  std::vector<Num> nums = scan_numbers(s);
  for (size_t k = 0; k < nums.size(); ++k) {
    Num& n = nums[k];
    if (!(n.value >= 0 && n.value <= 100)) n.skip = true;
    // A denominator: "/100", "out of 100".
    size_t p = skip_back(s, n.b);
    if (p > 0 && s[p - 1] == '/') n.skip = true;
    if (word_before(s, p, "of") && word_before(s, p = skip_back(s, p), "out")) n.skip = true;
    // A numerator: of another scale ("4/5", "8 out of 10") is skipped; of "/100" it is the score.
    size_t q = skip_fwd(s, n.e);
    bool frac = symbol_after(s, q, "/") || (word_after(s, q, "out") && word_after(s, q = skip_fwd(s, q), "of"));
    if (auto d = frac ? num_at(nums, skip_fwd(s, q)) : std::nullopt; d && nums[*d].value != 100) n.skip = true;
    // A range: "0 to 100", "0-100", "0 – 100" (en / em dash).
    q = skip_fwd(s, n.e);
    if (word_after(s, q, "to") || symbol_after(s, q, "-") || symbol_after(s, q, "\xE2\x80\x93") ||
        symbol_after(s, q, "\xE2\x80\x94"))
      if (auto d = num_at(nums, skip_fwd(s, q))) {
        n.skip = true;
        nums[*d].skip = true;
        nums[*d].value = std::fabs(nums[*d].value);
      }
    // A list marker: "1. text" / "2) text" at the start of a line.
    p = skip_back(s, n.b);
    if ((p == 0 || s[p - 1] == '\n') && n.e + 1 < s.size() && (s[n.e] == '.' || s[n.e] == ')') &&
        is_blank(s[n.e + 1])) {
      const size_t t = skip_fwd(s, n.e + 1);
      n.list_marker = t < s.size() && s[t] != '\n' && s[t] != '\r';
    }
  }
  for (int pass = 0; pass < 2; ++pass)
    for (const Num& n : nums)
      if (!n.skip && (pass == 1 || !n.list_marker)) return static_cast<int>(std::floor(n.value + 0.5));
  return std::nullopt;
}

// ------------------------------------------------------------------------------------ HTTP

std::string chat_completions_url(const std::string& endpoint) {
  std::string u = endpoint;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0)
    fail("judge endpoint '{}' is not an http:// or https:// URL (e.g. http://localhost:11434/v1)", endpoint);
  const std::string tail = "/chat/completions";
  if (u.size() >= tail.size() && u.compare(u.size() - tail.size(), tail.size(), tail) == 0) return u;
  return u + tail;
}

json judge_request_body(const JudgeOptions& opt, const std::string& prompt) {
  return json{{"model", opt.model},
              {"messages", json::array({json{{"role", "user"}, {"content", prompt}}})},
              {"temperature", opt.temperature},
              {"seed", opt.seed},
              {"stream", false}};
}

const char* judge_status_name(JudgeStatus s) {
  return s == JudgeStatus::Scored ? "scored" : s == JudgeStatus::Unparseable ? "unparseable" : "failed";
}

namespace {

// One line of at most 200 bytes (not cutting a UTF-8 sequence).
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > 200) {
    size_t n = 200;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n) + "...";
  }
  return s;
}

// The server's error text: OpenAI's {"error": {"message": ...}}, Ollama's {"error": "..."}, else the body.
std::string server_error_text(const std::string& body) {
  try {
    json j = json::parse(body);
    if (j.is_object() && j.contains("error")) {
      const json& e = j["error"];
      if (e.is_string()) return one_line(e.get<std::string>());
      if (e.is_object() && e.contains("message") && e["message"].is_string())
        return one_line(e["message"].get<std::string>());
    }
  } catch (const json::exception&) {}
  return one_line(body);
}

JudgeResult judge_with_retries(const JudgeItem& item, const JudgeOptions& opt, bool reached_before) {
  const std::string url = chat_completions_url(opt.endpoint);
  const std::string body = judge_request_body(opt, judge_prompt(item.entry, item.response)).dump();
  std::vector<std::string> headers;
  if (!opt.api_key.empty()) headers.push_back("Authorization: Bearer " + opt.api_key);
  JudgeResult r;
  bool got_reply = false;
  r.unreachable = true;
  for (int attempt = 1; attempt <= std::max(0, opt.retries) + 1; ++attempt) {
    if (attempt > 1 && opt.backoff_s > 0)
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.backoff_s * (attempt - 1)));
    r.attempts = attempt;
    HttpReply h = http_post_json(url, body, headers, opt.timeout_s, opt.connect_timeout_s);
    if (!h.ok) {
      if (h.unreachable && !reached_before) fail_internal("cannot reach judge endpoint {}: {}", url, h.error);
      r.error = h.unreachable ? "cannot reach the endpoint: " + h.error : "request failed: " + h.error;
      continue;
    }
    reached_before = true;
    r.unreachable = false;
    const long st = h.status;
    if (st == 401 || st == 403 || st == 404)
      fail("judge endpoint {} answered HTTP {} for model '{}': {}", url, st, opt.model, server_error_text(h.body));
    if (st < 200 || st >= 300) {
      r.error = fmt::format("HTTP {}: {}", st, server_error_text(h.body));
      if (st >= 400 && st < 500 && st != 408 && st != 429) break;  // the request itself is wrong: no retry
      continue;
    }
    try {
      json j = json::parse(h.body);
      r.reply = j.at("choices").at(0).at("message").at("content").get<std::string>();
    } catch (const json::exception&) {
      r.error = "malformed response (no choices[0].message.content): " + one_line(h.body);
      continue;
    }
    got_reply = true;
    r.error.clear();
    if ((r.score = parse_judge_score(r.reply))) {
      r.status = JudgeStatus::Scored;
      return r;
    }
  }
  r.status = got_reply ? JudgeStatus::Unparseable : JudgeStatus::Failed;
  return r;
}

}  // namespace

JudgeResult judge_one(const JudgeItem& item, const JudgeOptions& opt) { return judge_with_retries(item, opt, false); }

JudgeReport judge_responses(const std::vector<JudgeItem>& items, const JudgeOptions& opt,
                            const JudgeProgressFn& progress) {
  chat_completions_url(opt.endpoint);  // validate before anything else
  JudgeReport rep;
  rep.results.reserve(items.size());
  double sum = 0;
  bool reached = false;
  int unreachable_streak = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    JudgeResult r = judge_with_retries(items[i], opt, reached);
    reached = reached || !r.unreachable;
    unreachable_streak = r.unreachable ? unreachable_streak + 1 : 0;
    if (unreachable_streak >= 3)
      fail_internal("judge endpoint {} stopped answering: entries {} to {} could not reach it ({})",
                    chat_completions_url(opt.endpoint), i - 2, i, r.error);
    ++rep.n;
    if (r.status == JudgeStatus::Scored) {
      const int s = *r.score;
      rep.min = rep.scored == 0 ? s : std::min(rep.min, s);
      rep.max = rep.scored == 0 ? s : std::max(rep.max, s);
      ++rep.scored;
      sum += s;
      rep.mean = sum / static_cast<double>(rep.scored);
      ++rep.histogram[judge_bucket(s)];
    } else if (r.status == JudgeStatus::Unparseable) {
      ++rep.unparseable;
    } else {
      ++rep.failed;
    }
    rep.results.push_back(std::move(r));
    if (progress) progress(i, rep.results.back(), rep);
  }
  return rep;
}

// ------------------------------------------------------------------------------------ report

json judge_summary_json(const JudgeReport& r) {
  json scores = json::array();
  for (const auto& x : r.results) scores.push_back(x.score ? json(*x.score) : json(nullptr));
  const bool any = r.scored > 0;
  return json{{"n", r.n},
              {"scored", r.scored},
              {"unparseable", r.unparseable},
              {"failed", r.failed},
              {"mean", any ? json(r.mean) : json(nullptr)},
              {"min", any ? json(r.min) : json(nullptr)},
              {"max", any ? json(r.max) : json(nullptr)},
              {"scores", scores},
              {"histogram", r.histogram}};
}

json judge_details_json(const JudgeReport& r, const JudgeOptions& opt) {
  json j = judge_summary_json(r);
  j["judge_model"] = opt.model;
  j["endpoint"] = chat_completions_url(opt.endpoint);
  json entries = json::array();
  for (size_t i = 0; i < r.results.size(); ++i) {
    const JudgeResult& x = r.results[i];
    json e{{"index", i},
           {"status", judge_status_name(x.status)},
           {"score", x.score ? json(*x.score) : json(nullptr)},
           {"reply", x.reply},
           {"attempts", x.attempts}};
    if (!x.error.empty()) e["error"] = x.error;
    entries.push_back(std::move(e));
  }
  j["entries"] = std::move(entries);
  return j;
}

std::string format_judge_report(const JudgeReport& r) {
  std::string t;
  t += fmt::format("  entries      {:>6}\n", r.n);
  t += fmt::format("  scored       {:>6}\n", r.scored);
  t += fmt::format("  unparseable  {:>6}\n", r.unparseable);
  if (r.failed > 0) t += fmt::format("  failed       {:>6}\n", r.failed);
  if (r.scored > 0) {
    t += fmt::format("  mean score   {:>6.2f}\n", r.mean);
    t += fmt::format("  min / max    {:>6}\n", fmt::format("{} / {}", r.min, r.max));
  } else {
    t += "  mean score        -\n";
  }
  t += "  score     count\n";
  const int64_t most = *std::max_element(r.histogram.begin(), r.histogram.end());
  for (int b = 0; b < 10; ++b) {
    std::string label = b == 9 ? "90-100" : fmt::format("{}-{}", b * 10, b * 10 + 9);
    const int64_t c = r.histogram[static_cast<size_t>(b)];
    const size_t bar = most > 0 ? static_cast<size_t>((c * 40 + most - 1) / most) : 0;
    t += fmt::format("  {:<7} {:>6}  {}\n", label, c, std::string(bar, '#'));
  }
  return t;
}

}  // namespace slm
