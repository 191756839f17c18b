// scratch_buffer.h — grow-only scratch vectors: work space a kernel keeps between calls (per thread
// or per process) so that a training step allocates nothing once warm (mixed precision, chapter 5
// "going further": kernels/matmul_bf16.cpp's operand copies, kernels/attention_bf16.cpp's tiles).
#pragma once

#include <cstdint>
#include <vector>

namespace slm {

// v's storage, grown to at least n elements (never shrunk; the contents are not kept meaningful).
template <class T>
T* grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// The same, n elements from a 64-byte boundary within v's storage (for stores that need it, and
// buffers handed to oneDNN).
template <class T>
T* grow_aligned64(std::vector<T>& v, int64_t n) {
  static_assert(64 % sizeof(T) == 0);
  T* p = grow(v, n + static_cast<int64_t>(64 / sizeof(T)));
  return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64 / sizeof(T);
}

}  // namespace slm
