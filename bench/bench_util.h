// bench_util.h — what the kernel benchmarks share: the best time of a few runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>

namespace slm::bench {

// Seconds of the fastest of `reps` runs of f, after one untimed run (caches, thread start-up).
inline double best_of(int reps, const std::function<void()>& f) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace slm::bench
