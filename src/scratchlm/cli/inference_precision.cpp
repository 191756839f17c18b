// inference_precision.cpp — `--precision` for inference (see inference_precision.h).
#include "scratchlm/cli/inference_precision.h"

#include "scratchlm/model/inference_weights.h"
#include "scratchlm/util/error.h"

namespace slm::cli {

void add_precision_option(CLI::App* cmd, std::string& precision) {
  cmd->add_option("--precision", precision,
                  "Weights for inference: fp32, bf16 (half the bytes, fp32 arithmetic) or q8_0 (int8 blocks); "
                  "default: the model's own (q8_0 for a q8_0 GGUF file, else fp32)");
}

void apply_precision(GPT& model, const std::string& precision) {
  if (precision == "fp32" || (precision.empty() && !model.inference_weights()))
    // fp32: the block matrices in panels (one stream per decode step, kernels/matmul_panels.h).
    model.set_inference_weights(InferenceWeights::for_inference(model, WeightFormat::F32));
  else if (precision == "bf16")
    model.set_inference_weights(InferenceWeights::pack(model, WeightFormat::BF16));
  else if (precision == "q8_0")
    model.set_inference_weights(InferenceWeights::pack(model, WeightFormat::Q8_0));
  else if (!precision.empty())
    fail("--precision: unknown value '{}' (fp32, bf16, q8_0)", precision);
  model.release_packed_fp32();  // these commands only run inference: the packed copies suffice
}

}  // namespace slm::cli
