// judge.h — scoring instruction-following responses with an LLM judge (chapter 7.8 of "Build a
// Large Language Model (From Scratch)", "Evaluating the finetuned LLM"): each response is sent with
// the book's prompt to an OpenAI-compatible chat endpoint (Ollama's /v1, as the book uses Ollama),
// the judge's 0–100 reply is parsed, and the scores are summarised (mean, min, max, histogram).
//
// Requests: POST {endpoint}/chat/completions with
//   {"model": M, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0, "seed": 123,
//    "stream": false}
// (the book's seed and temperature; num_ctx cannot be set through the OpenAI shape) and the reply is
// choices[0].message.content.
//
// Failures, per entry:
//   retried (up to `retries` more times, sleeping backoff_s * attempt before each): a reply without a
//     usable score, HTTP 408 / 429 / 5xx, timeouts and other transfer errors, a body that is not the
//     expected JSON. After the last attempt the entry counts as unparseable (the judge answered,
//     without a score) or failed (no usable answer) — reported, not fatal.
//   fatal at once: HTTP 401 / 403 / 404 (wrong key, wrong model, wrong endpoint: every entry would
//     fail alike) — a BadInput error (exit code 2) carrying the server's error text.
//   not retried, the entry fails: any other 4xx (e.g. 400 for a prompt too long for the judge).
//   the endpoint cannot be reached at all (connection refused, unknown host) before any answer came
//     back — an Internal error (exit code 1, an environment failure like `slm download`'s):
//     "cannot reach judge endpoint URL: ...". Unreachable again for 3 entries in a row later on
//     (the server died) is fatal too.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scratchlm/data/instruct_data.h"

namespace slm {

// One entry to judge: the instruction data and the model's response to it.
struct JudgeItem {
  InstructionEntry entry;
  std::string response;
};

// The book's instruction-data-with-response.json: a JSON array of objects with string "instruction",
// "output" and `key` (default "model_response"); "input" is optional (missing = ""). Other keys are
// ignored. BadInput errors name `source` (a file name) and the entry index.
std::vector<JudgeItem> judge_items_from_json(const nlohmann::json& data, const std::string& key,
                                             const std::string& source);
std::vector<JudgeItem> load_judge_items(const std::string& path, const std::string& key = "model_response");

// The book's prompt, byte for byte (ch07.ipynb / ollama_evaluate.py, generate_model_scores):
//   "Given the input `" + format_prompt(e, Alpaca) + "` and correct output `" + e.output +
//   "`, score the model response `" + response + "` on a scale from 0 to 100, where 100 is the best
//   score. Respond with the integer number only."
std::string judge_prompt(const InstructionEntry& e, const std::string& response);

// The score in a judge's reply, or nullopt when there is none. Rules:
//  - A reasoning model's "<think>...</think>" block is ignored (only what follows the last
//    "</think>" is read).
//  - Numbers are runs of ASCII digits with an optional fraction ("85.5"); a fraction is rounded to
//    the nearest integer, halves up (85.5 -> 86, 66.67 -> 67). A number glued to a letter ("gpt4",
//    "3rd") is not a number; one right after a minus sign ("-5") is negative.
//  - Skipped: numbers outside 0..100; denominators ("/100", "/ 100", "out of 100"); numerators of
//    another scale ("4/5", "8 out of 10"); both ends of a range ("0 to 100", "0-100", "0–100").
//  - The score is the first number left. Only when none is left, list markers ("1. ...", "2) ..." at
//    the start of a line, followed by more text), skipped at first, are considered too.
// So "87", " 87\n", "Score: 87", "87/100", "I would rate this 87 out of 100.", "**87**",
// "On a scale from 0 to 100, I give it 87." all give 87; "I'd say eighty", "150", "" give nullopt.
std::optional<int> parse_judge_score(std::string_view reply);

struct JudgeOptions {
  std::string endpoint;           // e.g. http://localhost:11434/v1 (a trailing slash is fine)
  std::string model;              // the judge, e.g. llama3
  std::string api_key;            // sent as "Authorization: Bearer KEY" when not empty
  int retries = 3;                // further attempts after the first
  double timeout_s = 60;          // per request
  double connect_timeout_s = 10;  // per connection attempt (at most timeout_s)
  double backoff_s = 0.5;         // sleep backoff_s * n before the n-th retry (0 in tests)
  int seed = 123;
  double temperature = 0.0;
};

// {endpoint}/chat/completions, trailing slashes dropped; an endpoint already ending in
// /chat/completions is kept as it is. BadInput unless it is an http:// or https:// URL.
std::string chat_completions_url(const std::string& endpoint);
// The request body for one prompt.
nlohmann::json judge_request_body(const JudgeOptions& opt, const std::string& prompt);

enum class JudgeStatus { Scored, Unparseable, Failed };
const char* judge_status_name(JudgeStatus s);  // "scored" | "unparseable" | "failed"

struct JudgeResult {
  JudgeStatus status = JudgeStatus::Failed;
  std::optional<int> score;  // when Scored
  std::string reply;         // the judge's last reply text (empty when none came)
  std::string error;         // why the last attempt failed (HTTP status, transfer error), else empty
  int attempts = 0;
  bool unreachable = false;  // no attempt could connect to the endpoint at all
};

struct JudgeReport {
  int64_t n = 0, scored = 0, unparseable = 0, failed = 0;
  double mean = 0.0;  // over the scored entries (0 when none)
  int min = 0, max = 0;
  std::array<int64_t, 10> histogram{};  // 0-9, 10-19, ..., 80-89, 90-100
  std::vector<JudgeResult> results;     // one per item, in order
};

// Bucket of a score in JudgeReport::histogram: score / 10, with 100 in the last bucket.
inline int judge_bucket(int score) { return score >= 100 ? 9 : (score < 0 ? 0 : score / 10); }

// Called after each entry: its index, its result and the report so far (counts and mean up to it).
using JudgeProgressFn = std::function<void(size_t index, const JudgeResult& result, const JudgeReport& so_far)>;

// Judge one item (with retries; may throw the fatal errors described at the top).
JudgeResult judge_one(const JudgeItem& item, const JudgeOptions& opt);

// Judge every item in order and summarise.
JudgeReport judge_responses(const std::vector<JudgeItem>& items, const JudgeOptions& opt,
                            const JudgeProgressFn& progress = {});

// {"n", "scored", "unparseable", "failed", "mean" (null when nothing scored), "min", "max" (null
// likewise), "scores": [int or null per entry], "histogram": [10 counts]}.
nlohmann::json judge_summary_json(const JudgeReport& r);
// The summary plus "judge_model", "endpoint" and "entries": [{"index", "status", "score", "reply",
// "attempts", "error"?}], for --out.
nlohmann::json judge_details_json(const JudgeReport& r, const JudgeOptions& opt);
// A small text table: counts, mean, min/max and the histogram with bars.
std::string format_judge_report(const JudgeReport& r);

}  // namespace slm
