// cpu_features.cpp — CPUID via GCC's __builtin_cpu_supports (which also checks that the OS saves
// the AVX / AVX-512 register state), capped by SLM_CPU (see cpu_features.h).
#include "scratchlm/util/cpu_features.h"

#include <cstdlib>

#include "scratchlm/util/error.h"

namespace slm {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx_vnni = __builtin_cpu_supports("avxvnni");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  // An extension is only usable with what it builds on.
  if (!(f.avx2 && f.fma)) f.avx2 = f.fma = f.avx_vnni = false;
  if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx2)) {
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = false;
  }
  return f;
}

}  // namespace

CpuFeatures cap_cpu_features(CpuFeatures f, const std::string& cap) {
  if (cap.empty() || cap == "native") return f;
  if (cap == "avx2") {
    f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = false;
    return f;
  }
  if (cap == "scalar") return CpuFeatures{};
  fail("SLM_CPU={} is not one of scalar, avx2, native", cap);
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    const char* cap = std::getenv("SLM_CPU");
    return cap_cpu_features(detect(), cap ? cap : "");
  }();
  return features;
}

std::string cpu_features_summary(const CpuFeatures& f) {
  std::string extras;
  auto add = [&](bool on, const char* name) {
    if (on) extras += extras.empty() ? name : std::string(", ") + name;
  };
  const char* level = "scalar";
  if (f.avx512f) {
    level = "avx512";
    add(f.avx512_bf16, "bf16");
    add(f.avx512_vnni, "vnni");
  } else if (f.avx2) {
    level = "avx2";
    add(f.avx_vnni, "vnni");
  }
  return extras.empty() ? level : std::string(level) + " (" + extras + ")";
}

}  // namespace slm
