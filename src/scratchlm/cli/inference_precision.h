// inference_precision.h — `--precision fp32|bf16|q8_0` of the inference commands (generate, chat,
// serve, eval, logits): the weights the no-grad forward reads (model/inference_weights.h).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "scratchlm/model/gpt.h"

namespace slm::cli {

void add_precision_option(CLI::App* cmd, std::string& precision);
// Apply --precision to a loaded model: "" keeps the model's own weights (a q8_0 GGUF file runs
// Q8_0, anything else fp32); fp32 / bf16 / q8_0 pack the linear weights (fp32: the block matrices
// in panels, where the CPU has AVX2 and FMA) and, for bf16 / q8_0, the head.
// With packed weights the fp32 block matrices are then released (GPT::release_packed_fp32).
void apply_precision(GPT& model, const std::string& precision);

}  // namespace slm::cli
