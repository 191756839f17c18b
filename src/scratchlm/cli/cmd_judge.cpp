// cmd_judge.cpp — `slm judge`: score a finetuned model's responses with an LLM judge (chapter 7.8 of
// "Build a Large Language Model (From Scratch)"), over an OpenAI-compatible endpoint such as Ollama's
// http://localhost:11434/v1. The rules (prompt, parsing, retries, errors) are in finetune/judge.h.
//
// Exit codes: 2 for bad input (missing or malformed --responses, a bad URL, HTTP 401/403/404 such as
// an unknown judge model); 1 when the endpoint cannot be reached (an environment failure, as for
// `slm download`). Entries the judge did not score are reported, not errors.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "scratchlm/cli/commands.h"
#include "scratchlm/finetune/judge.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/progress.h"

namespace slm::cli {

void register_judge(CLI::App& app) {
  struct Opts {
    std::string responses, endpoint, model, key = "model_response", api_key, out;
    int retries = 3;
    double timeout = 60, backoff = 0.5;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("judge", "Score model responses 0-100 with an LLM judge (book chapter 7.8)");
  c->add_option("--responses", o->responses,
                "JSON array of {instruction, input, output, <key>} (the book's instruction-data-with-response.json)")
      ->required();
  c->add_option("--endpoint", o->endpoint, "OpenAI-compatible API base URL, e.g. http://localhost:11434/v1 (Ollama)")
      ->required();
  c->add_option("--judge-model", o->model, "The judge model's name at the endpoint, e.g. llama3")->required();
  c->add_option("--key", o->key, "The field holding the response to score")->capture_default_str();
  c->add_option("--retries", o->retries, "Further attempts after an unparseable reply or a server error")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  c->add_option("--timeout", o->timeout, "Seconds per request")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--backoff", o->backoff, "Seconds; the n-th retry waits n times this")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c->add_option("--api-key", o->api_key, "Bearer token for the endpoint (default: $OPENAI_API_KEY)");
  c->add_option("--out", o->out, "Write every entry's score and the judge's reply as JSON to this file");
  c->add_flag("--json", o->json,
              "Print {n, scored, unparseable, failed, mean, min, max, scores, histogram} instead of the table");
  c->add_flag("-q,--quiet", o->quiet, "No progress line");
  c->callback([o] {
    JudgeOptions opt;
    opt.endpoint = o->endpoint;
    opt.model = o->model;
    opt.retries = o->retries;
    opt.timeout_s = o->timeout;
    opt.backoff_s = o->backoff;
    opt.api_key = o->api_key;
    if (opt.api_key.empty())
      if (const char* k = std::getenv("OPENAI_API_KEY")) opt.api_key = k;
    if (opt.model.empty()) fail("--judge-model must not be empty");
    const std::string url = chat_completions_url(opt.endpoint);
    const std::vector<JudgeItem> items = load_judge_items(o->responses, o->key);

    Progress progress(static_cast<int64_t>(items.size()));
    progress.set_label("entry");
    progress.set_min_interval(5.0);  // off a terminal: a log line every 5 s, not one per entry
    auto on_entry = [&](size_t i, const JudgeResult& r, const JudgeReport& so_far) {
      if (o->quiet) return;
      if (r.status != JudgeStatus::Scored) {
        std::string what =
            r.status == JudgeStatus::Unparseable ? "no score in the judge's reply '" + r.reply + "'" : r.error;
        if (what.size() > 160) what = what.substr(0, 157) + "...";
        for (char& ch : what)
          if (ch == '\n' || ch == '\r') ch = ' ';
        progress.message(fmt::format("entry {}: {} after {} attempt{}: {}", i, judge_status_name(r.status), r.attempts,
                                     r.attempts == 1 ? "" : "s", what));
      }
      std::string fields = so_far.scored ? fmt::format("mean {:.2f}", so_far.mean) : "mean -";
      if (so_far.unparseable) fields += fmt::format(" | unparseable {}", so_far.unparseable);
      if (so_far.failed) fields += fmt::format(" | failed {}", so_far.failed);
      progress.update(static_cast<int64_t>(i + 1), fields);
    };
    if (!o->quiet && !o->json)
      std::fprintf(stderr, "judging %zu responses with %s at %s\n", items.size(), opt.model.c_str(), url.c_str());
    JudgeReport rep = judge_responses(items, opt, on_entry);
    progress.finish();

    if (!o->out.empty()) write_file_atomic(o->out, judge_details_json(rep, opt).dump(2) + "\n");
    if (o->json) {
      std::printf("%s\n", judge_summary_json(rep).dump().c_str());
    } else {
      std::printf("judge %s at %s\n%s", opt.model.c_str(), url.c_str(), format_judge_report(rep).c_str());
      if (!o->out.empty()) std::printf("per-entry scores written to %s\n", o->out.c_str());
    }
    std::fflush(stdout);
  });
}

}  // namespace slm::cli
