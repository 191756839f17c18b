// sampling_options.cpp — the sampling options, declared once (see sampling_options.h).
#include "scratchlm/cli/sampling_options.h"

namespace slm::cli {

void add_sampling_options(CLI::App* c, SamplerConfig& s, const std::string& seed_help) {
  c->add_option("--temperature", s.temperature, "0 = greedy; higher = more random")->capture_default_str();
  c->add_option("--top-k", s.top_k, "Sample only from the k most likely tokens (0: off)");
  c->add_option("--top-p", s.top_p, "Nucleus sampling: the smallest set with this much probability (1: off)");
  c->add_option("--min-p", s.min_p, "Drop tokens below this fraction of the top probability (0: off)");
  c->add_option("--repetition-penalty", s.repetition_penalty, "Penalize tokens already in the context (1: off)");
  c->add_option("--seed", s.seed, seed_help);
}

}  // namespace slm::cli
