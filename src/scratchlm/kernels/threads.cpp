// threads.cpp — one thread count for OpenMP and OpenBLAS (see threads.h).
#include "scratchlm/kernels/threads.h"

#include <sched.h>

#include <cstdio>

#include "scratchlm/kernels/matmul.h"
#include "scratchlm/tensor/parallel.h"
#include "scratchlm/util/error.h"

namespace slm {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return omp_get_num_procs() > 0 ? omp_get_num_procs() : 1;
}

int configure_threads(int requested) {
  if (requested < 0) fail("--threads must not be negative, got {}", requested);
  if (requested == 0) return num_threads();
  const int cores = available_cores();
  if (requested > cores) {
    std::fprintf(stderr, "slm: warning: --threads %d is more than the %d cores available; using %d\n", requested, cores,
                 cores);
    requested = cores;
  }
  set_num_threads(requested);
  blas_set_threads(requested);
  return requested;
}

}  // namespace slm
