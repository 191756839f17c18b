// bench_gemm_bf16.cpp — GFLOP/s of the training step's GEMM shapes (issue 15): BLAS sgemm (fp32)
// against gemm_bf16 on the native path (oneDNN, AVX512_BF16) and the fallback, forward (X W),
// dX (dY W^T) and dW (X^T dY) of each linear layer of gpt2-mini B8 T256 / gpt2-124M B4 T256;
// and the layer kernels a bf16 step calls on the native path (matmul_bf16.h), which give oneDNN
// the weight (forward, dX) or the output gradient (dW) packed by us (blocked_weight.h), the
// packing included in their time.
//
//   build/bench/bench_gemm_bf16 [--threads N] [--config gpt2-mini|gpt2-124M] [--reps R]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "scratchlm/kernels/matmul.h"
#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/tensor/rng.h"

namespace {

using slm::bench::best_of;

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  std::string config = "gpt2-mini";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (a == "--config")
      config = argv[i + 1];
    else if (a == "--reps")
      reps = std::atoi(argv[i + 1]);
  }
  slm::set_num_threads(threads);
  slm::blas_set_threads(threads);
  const int64_t C = config == "gpt2-124M" ? 768 : 384, M = config == "gpt2-124M" ? 1024 : 2048;
  struct Layer {
    const char* name;
    int64_t K, N;
  };
  const Layer layers[] = {{"c_attn", C, 3 * C},
                          {"attn.c_proj", C, C},
                          {"c_fc", C, 4 * C},
                          {"mlp.c_proj", 4 * C, C},
                          {"head (166 rows)", C, 50257}};
  std::printf("%s, M=%lld rows, %d threads: GFLOP/s (best of %d)\n", config.c_str(), static_cast<long long>(M), threads,
              reps);
  std::printf("%-16s %-4s %9s %9s %9s %9s\n", "layer", "op", "sgemm", "bf16-nat", "bf16-fb", "packed");
  slm::Rng rng(1);
  double tot[4] = {0, 0, 0, 0};
  for (const Layer& l : layers) {
    const int64_t m = l.N == 50257 ? 166 : M;  // the head runs in chunks of 166 rows
    std::vector<float> A(static_cast<size_t>(m * std::max(l.K, l.N))), B(static_cast<size_t>(l.K * l.N)),
        Cm(static_cast<size_t>(std::max(m, l.K) * std::max(l.K, l.N))), bias(static_cast<size_t>(l.N), 0.0f);
    for (auto& x : A) x = static_cast<float>(rng.normal());
    for (auto& x : B) x = static_cast<float>(rng.normal());
    std::vector<slm::bf16_t> A16(A.size()), B16(B.size());
    slm::f32_to_bf16_array(A.data(), A16.data(), static_cast<int64_t>(A.size()));
    slm::f32_to_bf16_array(B.data(), B16.data(), static_cast<int64_t>(B.size()));
    const double flops = 2.0 * m * l.K * l.N;
    for (int op = 0; op < 3; ++op) {
      // op 0: [m,K] x [K,N]; 1: [m,N] x [K,N]^T; 2: [m,K]^T x [m,N] (+=)
      auto run = [&](int which) {
        const bool ta = op == 2, tb = op == 1;
        const int64_t MM = op == 2 ? l.K : m, NN = op == 1 ? l.K : l.N, KK = op == 0 ? l.K : op == 1 ? l.N : m;
        const int64_t lda = op == 0 ? l.K : op == 1 ? l.N : l.K, ldb = l.N;
        if (which == 3) {  // the layer kernels (A16 is X [m, K] and dY [m, N])
          if (op == 0)
            slm::matmul_forward_bf16_in16(Cm.data(), A16.data(), B16.data(), bias.data(), m, l.K, l.N);
          else if (op == 1)
            slm::matmul_backward_bf16_rounded(Cm.data(), nullptr, A16.data(), l.N, nullptr, B16.data(), m, l.K, l.N);
          else
            slm::matmul_backward_bf16_rounded(nullptr, Cm.data(), A16.data(), l.N, A16.data(), nullptr, m, l.K, l.N);
        } else if (which == 0)
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, MM, NN, KK, 1.0f,
                      A.data(), lda, op == 2 ? A.data() : B.data(), ldb, op == 2 ? 1.0f : 0.0f, Cm.data(), NN);
        else
          slm::gemm_bf16(ta, tb, MM, NN, KK, A16.data(), lda, op == 2 ? A16.data() : B16.data(), ldb, op == 2,
                         Cm.data(), NN, which == 1 ? slm::Bf16Path::Native : slm::Bf16Path::Fallback);
      };
      double g[4];
      for (int w = 0; w < 4; ++w) {
        // (the head packs in its own kernel, cross_entropy.h: no layer-kernel column)
        if (((w == 1 || w == 3) && slm::bf16_path_for(slm::cpu_features()) != slm::Bf16Path::Native) ||
            (w == 3 && l.N == 50257)) {
          g[w] = 0;
          continue;
        }
        if (w == 3) slm::set_bf16_path(slm::Bf16Path::Native);
        const double s = best_of(reps, [&] { run(w); });
        g[w] = flops / s / 1e9;
        tot[w] += s;
      }
      std::printf("%-16s %-4s %9.1f %9.1f %9.1f %9.1f\n", l.name,
                  op == 0   ? "fwd"
                  : op == 1 ? "dX"
                            : "dW",
                  g[0], g[1], g[2], g[3]);
    }
  }
  std::printf("total seconds (one of each): sgemm %.4f, bf16 native %.4f, bf16 fallback %.4f, packed %.4f\n", tot[0],
              tot[1], tot[2], tot[3]);
  return 0;
}
