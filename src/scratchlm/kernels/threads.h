// threads.h — the one thread-count knob behind every --threads option (the book's code leaves
// threads to PyTorch; here they are explicit): ScratchLM's own OpenMP loops and OpenBLAS run with
// the same count, capped at the cores this process may run on (more threads only contend, and
// OpenBLAS allocates a buffer per thread: hundreds of them can exhaust an address-space limit).
#pragma once

namespace slm {

// The cores this process may run on (its CPU affinity mask; at least 1).
int available_cores();

// Sets the thread count of OpenMP and OpenBLAS: `requested` 0 keeps the defaults (all cores), < 0 is
// a BadInput error,
// more than available_cores() is capped there with a warning on stderr. Returns the count used.
int configure_threads(int requested);

}  // namespace slm
