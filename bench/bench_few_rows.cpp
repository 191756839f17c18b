// bench_few_rows.cpp — the output head of a decode step of M sequences (continuous batching,
// `slm serve --parallel M`): OpenBLAS (sgemv for one row, sgemm for more) against
// kernels/matmul_few_rows.h, which reads each weight row once for all rows, on GPT-2 124M's
// 50,257 x 768 head; and on the four block matrices x 12 layers, OpenBLAS against the panels of
// kernels/matmul_panels.h (what inference runs). Prints ms per decode step (or prompt chunk).
//
//   build/bench/bench_few_rows [--threads 2] [--reps 20] [--rows 1,2,4,8,16]
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "scratchlm/kernels/matmul_few_rows.h"
#include "scratchlm/kernels/matmul_panels.h"
#include "scratchlm/kernels/threads.h"
#include "scratchlm/tensor/rng.h"

namespace {

struct Shape {
  int64_t K, N;
  bool transposed;  // the head, Wt[N, K]
  int count;        // matrices of this shape in the model
};
}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 20;
  std::vector<int64_t> rows = {1, 2, 4, 8, 16};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--reps")
      reps = std::stoi(v);
    else if (a == "--rows") {
      rows.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) rows.push_back(std::stoll(x));
    }
  }
  slm::configure_threads(threads);
  const int64_t C = 768;
  const std::vector<Shape> shapes = {
      {C, 3 * C, false, 12}, {C, C, false, 12}, {C, 4 * C, false, 12}, {4 * C, C, false, 12}, {C, 50257, true, 1}};
  // Distinct weights per layer, as in the model: a step streams them all from memory.
  std::vector<std::vector<float>> weights;
  slm::Rng rng(1);
  for (const Shape& s : shapes)
    for (int c = 0; c < s.count; ++c) {
      std::vector<float> w(static_cast<size_t>(s.K * s.N));
      for (float& x : w) x = static_cast<float>(rng.normal() * 0.02);
      weights.push_back(std::move(w));
    }
  const int64_t maxM = *std::max_element(rows.begin(), rows.end());
  std::vector<float> in(static_cast<size_t>(maxM * 4 * C), 0.5f), out(static_cast<size_t>(maxM * 50257));
  // The block matrices packed as inference packs them.
  std::vector<std::vector<float>> panels;
  for (size_t wi = 0; wi + 1 < weights.size(); ++wi) {
    const Shape& s = shapes[wi / 12];
    panels.emplace_back(static_cast<size_t>(slm::panel_floats(s.N, s.K)));
    slm::pack_panels(panels.back().data(), weights[wi].data(), s.K, s.N);
  }
  const float* H = weights.back().data();
  const Shape& h = shapes.back();
  std::printf(
      "| rows | block matrices, BLAS ms | block matrices, panels ms | head, BLAS ms | head, few-rows ms |\n"
      "|---|---|---|---|---|\n");
  for (int64_t M : rows) {
    auto best_ms = [&](const std::function<void()>& fn) { return slm::bench::best_of(reps, fn) * 1e3; };
    const double blas = best_ms([&] {
      for (size_t wi = 0; wi + 1 < weights.size(); ++wi) {
        const Shape& s = shapes[wi / 12];
        const float* W = weights[wi].data();
        if (M == 1)
          cblas_sgemv(CblasRowMajor, CblasTrans, s.K, s.N, 1.0f, W, s.N, in.data(), 1, 0.0f, out.data(), 1);
        else
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, s.N, s.K, 1.0f, in.data(), s.K, W, s.N, 0.0f,
                      out.data(), s.N);
      }
    });
    const double pan = best_ms([&] {
      for (size_t wi = 0; wi + 1 < weights.size(); ++wi) {
        const Shape& s = shapes[wi / 12];
        slm::matmul_panels(out.data(), in.data(), panels[wi].data(), nullptr, M, s.K, s.N);
      }
    });
    const double head_blas = best_ms([&] {
      if (M == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, h.N, h.K, 1.0f, H, h.K, in.data(), 1, 0.0f, out.data(), 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, h.N, h.K, 1.0f, in.data(), h.K, H, h.K, 0.0f,
                    out.data(), h.N);
    });
    const double head_few = best_ms([&] { slm::matmul_few_rows_wt(out.data(), in.data(), H, M, h.K, h.N); });
    std::printf("| %lld | %.1f | %.1f | %.1f | %.1f |\n", static_cast<long long>(M), blas, pan, head_blas, head_few);
  }
  return 0;
}
