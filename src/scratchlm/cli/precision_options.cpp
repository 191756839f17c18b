// precision_options.cpp — the trainers' --precision and --save-dtype (see precision_options.h).
#include "scratchlm/cli/precision_options.h"

#include <map>
#include <string>

namespace slm::cli {

void add_precision_options(CLI::App* c, Precision& precision, DType& save_dtype) {
  const std::map<std::string, Precision> precisions = {{"fp32", Precision::Fp32}, {"bf16", Precision::Bf16}};
  c->add_option("--precision", precision,
                "Matmul precision: fp32, or bf16 (bf16 operands, fp32 sums, master weights and optimizer state; "
                "AVX512_BF16 where the CPU has it). A resumed run keeps its checkpoint's unless given")
      ->transform(CLI::CheckedTransformer(precisions, CLI::ignore_case))
      ->option_text("fp32|bf16 (default fp32)");
  const std::map<std::string, DType> dtypes = {{"f32", DType::F32}, {"bf16", DType::BF16}, {"f16", DType::F16}};
  c->add_option("--save-dtype", save_dtype,
                "Dtype of the final model's safetensors: f32, bf16 or f16 (the checkpoint stays f32; where --out "
                "is the checkpoint, the model is also written to OUT/model-bf16 or OUT/model-f16)")
      ->transform(CLI::CheckedTransformer(dtypes, CLI::ignore_case))
      ->option_text("f32|bf16|f16 (default f32)");
}

}  // namespace slm::cli
