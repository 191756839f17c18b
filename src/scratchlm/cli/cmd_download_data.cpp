// cmd_download_data.cpp — `slm download-data NAME... [--mirror DIR] [--out DIR] [--force]`: fetch the
// book's data sets (the-verdict, tinyshakespeare, sms-spam, instruction-data, sms-spam-book-split;
// `all`) into the data directory, from their public URLs or from a mirror laid out like shared/data.
// The registry, verification and extraction live in data/datasets.h.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "scratchlm/cli/commands.h"
#include "scratchlm/data/datasets.h"
#include "scratchlm/io/download.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace slm::cli {

namespace {

namespace fs = std::filesystem;

struct DownloadDataOpts {
  std::vector<std::string> names;
  std::string mirror, out;
  bool force = false, quiet = false;
};

void say(bool quiet, const std::string& s) {
  if (quiet) return;
  std::fputs(s.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void run_download_data(const DownloadDataOpts& o) {
  bool all = false;
  std::vector<const Dataset*> chosen;
  std::vector<std::string> unknown;
  for (const auto& n : o.names) {
    if (n == "all") {
      all = true;
    } else if (const Dataset* d = find_dataset(n)) {
      bool dup = false;
      for (auto* c : chosen) dup = dup || c == d;
      if (!dup) chosen.push_back(d);
    } else {
      unknown.push_back("'" + n + "'");
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
    fail("unknown data set{} {}: choose from {}, or all", unknown.size() == 1 ? "" : "s", list, dataset_names());
  }
  if (!o.mirror.empty() && !fs::is_directory(o.mirror)) fail("mirror directory '{}' does not exist", o.mirror);

  const std::string base = o.mirror.empty() ? data_url_base() : "";
  const bool have_mirror = !o.mirror.empty() || !base.empty();
  for (auto* d : chosen)  // named explicitly: an error before anything is fetched
    if (d->mirror_only() && !have_mirror)
      fail("{} is only available from a mirror: pass --mirror DIR (a folder laid out like shared/data)", d->name);
  if (all) {  // `all`: everything the source can provide, in registry order
    chosen.clear();
    for (const auto& d : datasets()) {
      if (d.mirror_only() && !have_mirror) {
        say(o.quiet, fmt::format("{}: skipped (only available from a mirror: --mirror DIR)", d.name));
        continue;
      }
      chosen.push_back(&d);
    }
  }

  const std::string dir = o.out.empty() ? default_data_dir() : o.out;
  const std::string source = !o.mirror.empty() ? "the mirror " + o.mirror : !base.empty() ? base : "their public URLs";
  say(o.quiet,
      fmt::format("fetching {} data set{} into {} from {}", chosen.size(), chosen.size() == 1 ? "" : "s", dir, source));

  FetchOptions fo;
  fo.data_dir = dir;
  fo.mirror = o.mirror;
  fo.force = o.force;
  fo.quiet = o.quiet;
  fo.log = [q = o.quiet](const std::string& s) { say(q, s); };
  FetchStats st;
  for (const Dataset* d : chosen) {
    say(o.quiet, d->name + ":");
    fetch_dataset(*d, fo, st);
  }
  size_t n_new = st.fetched + st.extracted;
  if (n_new == 0)
    std::printf("all %zu file%s already present in %s\n", st.present, st.present == 1 ? "" : "s", dir.c_str());
  else
    std::printf("%zu file%s fetched, %zu extracted (%s), %zu already present; in %s\n", st.fetched,
                st.fetched == 1 ? "" : "s", st.extracted, format_bytes(st.bytes).c_str(), st.present, dir.c_str());
}

}  // namespace

void register_download_data(CLI::App& app) {
  auto o = std::make_shared<DownloadDataOpts>();
  auto* c = app.add_subcommand("download-data",
                               "Download the book's data sets (pretraining text, SMS spam, instruction data)");
  c->add_option("names", o->names, "Data sets: " + dataset_names() + ", or all")->required();
  c->add_option("--mirror", o->mirror, "Copy from a local folder laid out like shared/data instead of downloading");
  c->add_option("--out", o->out, "Data directory to write into (default: $SLM_DATA_DIR, ./data or <binary>/../data)");
  c->add_flag("--force", o->force, "Fetch again even when a file is present with the right sha256");
  c->add_flag("--quiet", o->quiet, "No progress output; only the final summary and errors");
  std::string footer = "Data sets:\n";
  for (const auto& d : datasets()) footer += fmt::format("  {:<21}{}\n", d.name, d.description);
  footer +=
      "Every file is checked against a pinned size and sha256 and written atomically. $SLM_DATA_URL_BASE (an HTTP\n"
      "mirror laid out like shared/data) replaces the public URLs; pointed at an unreachable address it makes tests "
      "offline.";
  c->footer(footer);
  c->callback([o] { run_download_data(*o); });
}

}  // namespace slm::cli
