// cmd_download.cpp — `slm download MODEL`: fetch OpenAI's GPT-2 checkpoints from the Hugging Face hub.
//
// Files come from <endpoint>/openai-community/<model>/resolve/main/<file> ($SLM_HF_ENDPOINT overrides
// the endpoint) into --out (default models/<model>). Files already present are checked against the
// hub's size (and sha256 where the hub announces one, as for model.safetensors) and kept when they
// match; when the hub cannot be reached and every file is present, that is reported and not an error.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "scratchlm/cli/commands.h"
#include "scratchlm/io/download.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"

namespace slm::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kModels = {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"};
const std::vector<std::string> kFiles = {"config.json", "model.safetensors", "vocab.json", "merges.txt"};

struct DownloadOpts {
  std::string model, out;
  bool quiet = false;
};

void say(bool quiet, const std::string& s) {
  if (quiet) return;
  std::fputs(s.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

uint64_t size_of(const std::string& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(s);
}

// Is the present file `path` the one at `url`? Returns "" when it is, else why not; `how` says what
// was compared. Sets `offline` (and leaves the file alone) when the hub cannot be reached.
std::string check_present(const std::string& url, const std::string& path, bool quiet, bool& offline,
                          std::string& offline_msg, std::string& how) {
  RemoteInfo info = probe_url(url);
  if (!info.reachable) {
    offline = true;
    offline_msg = info.error;
    return "";
  }
  if (info.status == 404 || info.status == 401 || info.status == 403)
    fail("cannot check {} against {}: HTTP {}", path, url, info.status);
  if (info.status != 200) fail_internal("cannot check {} against {}: HTTP {}", path, url, info.status);
  uint64_t have = size_of(path);
  if (info.size && *info.size != have) return fmt::format("size {} differs from the hub's {}", have, *info.size);
  if (!info.sha256.empty()) {
    if (!quiet && have > 50'000'000)
      say(false,
          fmt::format("  {}: checking sha256 of {} ...", fs::path(path).filename().string(), format_bytes(have)));
    std::string got = sha256_file(path);
    if (got != info.sha256) return fmt::format("sha256 {} differs from the hub's {}", got, info.sha256);
    how = "sha256 verified";
  } else {
    how = info.size ? "size matches the hub" : "not verified: the hub gave no size";
  }
  return "";
}

void run_download(const DownloadOpts& o) {
  bool known = false;
  for (const auto& m : kModels) known = known || m == o.model;
  if (!known) {
    std::string names;
    for (const auto& m : kModels) names += (names.empty() ? "" : ", ") + m;
    fail("unknown model '{}': choose one of {}", o.model, names);
  }
  const std::string repo = "openai-community/" + o.model;
  const std::string dir = o.out.empty() ? "models/" + o.model : o.out;
  say(o.quiet, fmt::format("downloading {} from {}/{} into {}", o.model, hf_endpoint(), repo, dir));

  bool offline = false;
  std::string offline_msg;
  std::vector<std::string> unverified;
  uint64_t fetched = 0;
  size_t n_fetched = 0, n_kept = 0;
  for (const auto& f : kFiles) {
    const std::string url = hf_resolve_url(repo, f);
    const std::string path = (fs::path(dir) / f).string();
    if (file_exists(path)) {
      if (offline) {
        unverified.push_back(f);
        continue;
      }
      std::string how;
      std::string why = check_present(url, path, o.quiet, offline, offline_msg, how);
      if (offline) {
        unverified.push_back(f);
        continue;
      }
      if (why.empty()) {
        ++n_kept;
        say(o.quiet, fmt::format("  {}: already present ({}, {})", f, format_bytes(size_of(path)), how));
        continue;
      }
      say(o.quiet, fmt::format("  {}: {}; downloading again", f, why));
    } else if (offline) {
      fail_internal("{}; {} is missing from {}", offline_msg, f, dir);
    }
    DownloadOptions dopt;
    dopt.quiet = o.quiet;
    DownloadResult r = download_file(url, path, dopt);
    ++n_fetched;
    fetched += r.transferred;
    std::string how = r.sha256_verified ? "sha256 verified" : r.size_verified ? "size verified" : "not verified";
    if (r.resumed_from > 0) how += fmt::format(", resumed at {}", format_bytes(r.resumed_from));
    say(o.quiet, fmt::format("  {}: downloaded {} ({})", f, format_bytes(r.size), how));
  }

  if (!unverified.empty()) {
    std::printf("all %zu files of %s are present in %s, but they were not verified: %s\n", kFiles.size(),
                o.model.c_str(), dir.c_str(), offline_msg.c_str());
  } else if (n_fetched == 0) {
    std::printf("%s is up to date in %s (%zu files checked against the hub)\n", o.model.c_str(), dir.c_str(), n_kept);
  } else {
    std::printf("%s: %zu file%s downloaded (%s), %zu already present; in %s\n", o.model.c_str(), n_fetched,
                n_fetched == 1 ? "" : "s", format_bytes(fetched).c_str(), n_kept, dir.c_str());
  }
}

}  // namespace

void register_download(CLI::App& app) {
  auto o = std::make_shared<DownloadOpts>();
  auto* c =
      app.add_subcommand("download", "Download a GPT-2 checkpoint (safetensors + tokenizer) from the Hugging Face hub");
  c->add_option("model", o->model, "gpt2 (124M), gpt2-medium (355M), gpt2-large (774M) or gpt2-xl (1.5B)")->required();
  c->add_option("--out", o->out, "Directory to write into (default: models/MODEL)");
  c->add_flag("--quiet", o->quiet, "No progress output; only the final summary and errors");
  c->footer(
      "Endpoint: $SLM_HF_ENDPOINT (default https://huggingface.co). Interrupted downloads resume from FILE.partial.");
  c->callback([o] { run_download(*o); });
}

}  // namespace slm::cli
