// bench_attention.cpp — the attention of a bf16 training step (issue 15), forward and backward:
// the row-at-a-time fp32-operand kernel of attention.h (what bf16 runs used before) against the
// tiled bf16 kernel of attention_bf16.h on the native (AVX512_BF16) and fallback paths, and the fp32
// kernel of an fp32 run for reference. Times are one layer's attention, best of --reps.
//
//   build/bench/bench_attention [--threads N] [--config gpt2-mini|gpt2-124M] [--reps R] [--dropout P]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "scratchlm/kernels/attention.h"
#include "scratchlm/kernels/attention_bf16.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"

namespace {

using slm::bench::best_of;

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  float p = 0.0f;
  std::string config = "gpt2-mini";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (a == "--config")
      config = argv[i + 1];
    else if (a == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (a == "--dropout")
      p = static_cast<float>(std::atof(argv[i + 1]));
  }
  slm::set_num_threads(threads);
  const bool big = config == "gpt2-124M";
  const int64_t B = big ? 4 : 8, T = 256, C = big ? 768 : 384, H = big ? 12 : 6;
  slm::Rng rng(1);
  std::vector<float> qkv(static_cast<size_t>(B * T * 3 * C)), dout(static_cast<size_t>(B * T * C));
  for (auto& x : qkv) x = static_cast<float>(rng.normal());
  for (auto& x : dout) x = static_cast<float>(rng.normal());
  std::vector<float> out(dout.size()), lse(static_cast<size_t>(B * H * T)), dqkv(qkv.size());
  std::vector<slm::bf16_t> out16(dout.size());
  std::printf("%s B=%lld T=%lld C=%lld H=%lld, dropout %.2f, %d threads: ms per layer (best of %d)\n", config.c_str(),
              static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(C),
              static_cast<long long>(H), static_cast<double>(p), threads, reps);
  std::printf("  %-44s %10s %10s\n", "kernel", "forward", "backward");
  const auto row = [&](const char* name, const std::function<void()>& fwd, const std::function<void()>& bwd) {
    const double f = best_of(reps, fwd), b = best_of(reps, bwd);
    std::printf("  %-44s %10.2f %10.2f\n", name, f * 1e3, b * 1e3);
  };
  row(
      "fp32 run (rows, fp32)", [&] { slm::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, p, 7); },
      [&] { slm::attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, C, H, p, 7); });
  row(
      "bf16 run before (rows, fp32 operands)",
      [&] { slm::attention_forward_bf16(out16.data(), lse.data(), qkv.data(), B, T, C, H, p, 7); },
      [&] { slm::attention_backward(dqkv.data(), dout.data(), qkv.data(), nullptr, lse.data(), B, T, C, H, p, 7); });
  for (slm::Bf16Path path : {slm::Bf16Path::Native, slm::Bf16Path::Fallback}) {
    if (path == slm::Bf16Path::Native && slm::bf16_path_for(slm::cpu_features()) != slm::Bf16Path::Native) continue;
    slm::set_bf16_path(path);
    const std::string name =
        path == slm::Bf16Path::Native ? "tiled bf16, AVX512_BF16 (vdpbf16ps)" : "tiled bf16, portable fallback";
    row(
        name.c_str(),
        [&] { slm::attention_forward_tiled_bf16(out16.data(), lse.data(), qkv.data(), B, T, C, H, p, 7); },
        [&] {
          slm::attention_backward_tiled_bf16(dqkv.data(), dout.data(), qkv.data(), lse.data(), B, T, C, H, p, 7);
        });
  }
  return 0;
}
