// bf16_test_util.h — what the mixed-precision tests (test_bf16_train.cpp, test_bf16_activations.cpp)
// share: random inputs, bf16 copies of them, the GEMM paths this CPU can run and a guard that
// restores the process's path when a test ends.
#pragma once

#include <cstdint>
#include <vector>

#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/tensor/bf16.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/cpu_features.h"

namespace slm::test {

inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal()) * scale;
  return v;
}

inline std::vector<bf16_t> to_bf16(const std::vector<float>& v) {
  std::vector<bf16_t> r(v.size());
  f32_to_bf16_row(v.data(), r.data(), v.size());
  return r;
}

// The paths this CPU can run: always the fallback, the native one where present.
inline std::vector<Bf16Path> paths() {
  std::vector<Bf16Path> p = {Bf16Path::Fallback};
  if (bf16_path_for(cpu_features()) == Bf16Path::Native) p.push_back(Bf16Path::Native);
  return p;
}

// Restores the process's default path when a test ends.
struct PathGuard {
  Bf16Path saved = bf16_path();
  ~PathGuard() { set_bf16_path(saved); }
};

}  // namespace slm::test
