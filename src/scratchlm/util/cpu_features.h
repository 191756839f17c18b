// cpu_features.h — which SIMD instruction sets this CPU offers, read once by CPUID at run time, so
// one binary picks the fastest correct kernel on every x86-64 machine (mixed precision and
// quantized inference, chapters 5 and 7 "going further"). Kernels ask cpu_features(), never the
// compiler's -march flags; a kernel for an extension is compiled with a target attribute.
//
// SLM_CPU caps what kernels may use, so that the tests can force the fallbacks on any machine:
//   SLM_CPU=scalar   plain C++ only        SLM_CPU=avx2   AVX2 + FMA at most (no AVX-512)
//   SLM_CPU=native   everything the CPU has (the default)
#pragma once

#include <string>

namespace slm {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;  // with the OS saving the YMM state
  bool avx_vnni = false;                         // VEX int8 dot products (vpdpbusd on YMM)
  bool avx512f = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false;  // int8 dot products (vpdpbusd on ZMM)
  bool avx512_bf16 = false;  // bf16 dot products (vdpbf16ps) and conversions
};

// The CPU's features, capped by SLM_CPU (read on the first call; an unknown value is a BadInput
// error naming it).
const CpuFeatures& cpu_features();

// The features with a cap applied (exposed for tests): "scalar", "avx2" or "native".
CpuFeatures cap_cpu_features(CpuFeatures f, const std::string& cap);

// One line naming what is in use, e.g. "avx512 (bf16, vnni)" / "avx2 (vnni)" / "scalar".
std::string cpu_features_summary(const CpuFeatures& f);

}  // namespace slm
