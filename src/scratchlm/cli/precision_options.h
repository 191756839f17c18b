// precision_options.h — the trainers' --precision fp32|bf16 and --save-dtype f32|bf16|f16 options.
#pragma once

#include <CLI/CLI.hpp>

#include "scratchlm/io/safetensors.h"
#include "scratchlm/kernels/matmul_bf16.h"

namespace slm::cli {

// --precision into `precision` and --save-dtype into `save_dtype` (names checked by CLI11).
void add_precision_options(CLI::App* c, Precision& precision, DType& save_dtype);

}  // namespace slm::cli
