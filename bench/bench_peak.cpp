// bench_peak.cpp — the CPU's measured peak multiply-add rates, the denominators of the training
// benchmark's utilization figures (issue 15): fp32 FMA (vfmadd231ps on 512-bit registers, or 256-bit
// where AVX-512 is absent) and bf16 dot products (vdpbf16ps: 32 bf16 products per instruction, two
// per fp32 lane), each a loop of independent accumulators with no memory traffic, on N threads.
//
//   build/bench/bench_peak [--threads N] [--seconds S] [--json]
//
// FLOPs count a multiply-add as 2 (the convention of the MFU estimate): fp32 FMA = 2 x 16 per
// instruction, vdpbf16ps = 2 x 32.
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "scratchlm/util/cpu_features.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kIters = 1 << 20;

// The sum of the 12 accumulators' lanes (so that the loops are not optimized away). Stored and added
// by hand: GCC 12's _mm512_reduce_add_ps warns of an uninitialized temporary.
__attribute__((target("avx512f"))) float sum_of(const __m512 (&acc)[12]) {
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}

__attribute__((target("avx512f"))) float fma512(int iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  return sum_of(acc);
}

__attribute__((target("avx2,fma"))) float fma256(int iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) float dpbf16(int iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  return sum_of(acc);
}

// GFLOP/s of `kernel` on `threads` threads for about `seconds`.
template <class F>
double measure(F kernel, double flops_per_iter, int threads, double seconds) {
  volatile float sink = 0.0f;
  kernel(1000);  // warm up (clocks, license)
  int rounds = 1;
  for (;;) {
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
    {
      float s = 0.0f;
      for (int r = 0; r < rounds; ++r) s += kernel(kIters);
      sink = sink + s;
    }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt >= seconds) return flops_per_iter * kIters * rounds * threads / dt / 1e9;
    rounds = dt < 1e-3 ? rounds * 16 : static_cast<int>(rounds * seconds / dt) + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 1.0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a == "--json")
      json = true;
    else {
      std::fprintf(stderr, "usage: bench_peak [--threads N] [--seconds S] [--json]\n");
      return 2;
    }
  }
  const slm::CpuFeatures& f = slm::cpu_features();
  double fp32 = 0.0, bf16 = 0.0;
  if (f.avx512f)
    fp32 = measure(fma512, 12 * 16 * 2, threads, seconds);
  else if (f.avx2 && f.fma)
    fp32 = measure(fma256, 12 * 8 * 2, threads, seconds);
  if (f.avx512_bf16) bf16 = measure(dpbf16, 12 * 32 * 2, threads, seconds);
  if (json) {
    std::printf("{\"threads\": %d, \"fp32_fma_gflops\": %.1f, \"bf16_dot_gflops\": %.1f, \"cpu\": \"%s\"}\n", threads,
                fp32, bf16, slm::cpu_features_summary(f).c_str());
  } else {
    std::printf("peak on %d threads (%s):\n", threads, slm::cpu_features_summary(f).c_str());
    std::printf("  fp32 FMA:           %8.1f GFLOP/s\n", fp32);
    if (bf16 > 0)
      std::printf("  bf16 vdpbf16ps:     %8.1f GFLOP/s  (%.2fx fp32)\n", bf16, bf16 / fp32);
    else
      std::printf("  bf16 vdpbf16ps:     not available on this CPU\n");
  }
  return 0;
}
