// parallel.h — parallel_for over OpenMP, and the thread-count knob behind every --threads option.
#pragma once

#include <omp.h>

#include <cstdint>

namespace slm {

// Loops over fewer elements than this run on one thread: waking the team costs more than the
// work (generation touches vectors of a few thousand floats dozens of times per token).
inline constexpr int64_t kParallelMin = 1 << 15;

// Number of threads parallel regions use (OpenMP's max threads).
inline int num_threads() { return omp_get_max_threads(); }
// Set the thread count for ScratchLM's own loops (n <= 0 keeps the default: all cores).
inline void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

// Run fn(i) for i in [begin, end) across the OpenMP threads, statically scheduled so that the
// same thread count always gives the same partition (determinism).
template <typename F>
void parallel_for(int64_t begin, int64_t end, F&& fn) {
#pragma omp parallel for schedule(static)
  for (int64_t i = begin; i < end; ++i) fn(i);
}

}  // namespace slm
