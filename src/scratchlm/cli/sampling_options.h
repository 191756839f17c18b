// sampling_options.h — the sampling options of every command that generates (generate, chat,
// serve; chapter 5.3's temperature scaling and top-k, plus top-p, min-p and a repetition penalty),
// declared once.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "scratchlm/generate/sampler.h"

namespace slm::cli {

// --temperature, --top-k, --top-p, --min-p, --repetition-penalty and --seed (its help text:
// `seed_help`) into `s`; the values already in `s` are the defaults shown in --help.
void add_sampling_options(CLI::App* c, SamplerConfig& s, const std::string& seed_help);

}  // namespace slm::cli
