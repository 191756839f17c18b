// test_bf16.cpp — bfloat16 rounding (tensor/bf16.h) against an independent rule: the nearest of the
// two neighbouring bf16 values computed in double, ties to the even one; and the CPU feature caps
// (util/cpu_features.h) that let the tests force each kernel's fallback.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "scratchlm/tensor/bf16.h"
#include "scratchlm/util/cpu_features.h"
#include "scratchlm/util/error.h"

namespace slm {
namespace {

// The reference: truncate to the bf16 below |f| and the next one up, pick the nearer in exact
// double arithmetic, ties to even; beyond the largest bf16 by half an ulp or more: infinity.
bf16_t reference_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if (std::isnan(f)) return static_cast<bf16_t>((x >> 16) | 0x40u);
  if (std::isinf(f)) return static_cast<bf16_t>(x >> 16);
  const bf16_t lo = static_cast<bf16_t>(x >> 16), hi = static_cast<bf16_t>(lo + 1);
  const double a = std::fabs(static_cast<double>(bf16_to_f32(lo)));
  const double b = (hi & 0x7fffu) == 0x7f80u ? std::ldexp(1.0, 128) : std::fabs(static_cast<double>(bf16_to_f32(hi)));
  const double v = std::fabs(static_cast<double>(f));
  if (v - a < b - v) return lo;
  if (v - a > b - v) return hi;
  return (lo & 1u) ? hi : lo;
}

TEST(Bf16, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = bf16_to_f32(static_cast<bf16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f)))) << h;
      continue;
    }
    ASSERT_EQ(f32_to_bf16(f), h);
  }
}

TEST(Bf16, EdgeCases) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // Ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7; the even one (1) wins. 1 + 3*2^-8 lies
  // halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to the even one.
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);  // just above the tie: up
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  // Subnormals round like normals (no flush to zero).
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_bf16(0x1p-133f), 0x0001);      // the smallest bf16 subnormal
  EXPECT_EQ(f32_to_bf16(0x1p-134f * 3), 0x0002);  // 1.5 ulp: tie to even (2)
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::min()), 0x0080);
  // Infinity stays; the largest float rounds up to infinity; NaN stays NaN (quiet, sign kept).
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(0x1.fep127f), 0x7f7f);           // the largest bf16 itself
  const float snan = std::bit_cast<float>(0x7f800001u);  // a NaN whose payload would truncate to inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(snan))));
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000u, 0x8000u);
}

TEST(Bf16, RandomFloatsMatchTheNearestEvenReference) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    const uint32_t x = rng();
    float f;
    std::memcpy(&f, &x, 4);
    ASSERT_EQ(f32_to_bf16(f), reference_bf16(f)) << std::hex << x;
  }
  // Every tie pattern of every exponent, both signs, both parities.
  for (uint32_t e = 0; e < 255; ++e) {
    for (uint32_t low : {0x8000u, 0x7fffu, 0x8001u}) {
      for (uint32_t bits : {(e << 23) | low, (e << 23) | 0x10000u | low, 0x80000000u | (e << 23) | low}) {
        float f;
        std::memcpy(&f, &bits, 4);
        ASSERT_EQ(f32_to_bf16(f), reference_bf16(f)) << std::hex << bits;
      }
    }
  }
}

TEST(CpuFeatures, CapsForceTheFallbacks) {
  CpuFeatures all;
  all.avx2 = all.fma = all.f16c = all.avx_vnni = true;
  all.avx512f = all.avx512bw = all.avx512vl = all.avx512_vnni = all.avx512_bf16 = true;
  EXPECT_EQ(cpu_features_summary(cap_cpu_features(all, "native")), "avx512 (bf16, vnni)");
  const CpuFeatures avx2 = cap_cpu_features(all, "avx2");
  EXPECT_TRUE(avx2.avx2 && avx2.avx_vnni);
  EXPECT_FALSE(avx2.avx512f || avx2.avx512_bf16 || avx2.avx512_vnni);
  EXPECT_EQ(cpu_features_summary(avx2), "avx2 (vnni)");
  EXPECT_EQ(cpu_features_summary(cap_cpu_features(all, "scalar")), "scalar");
  EXPECT_THROW(cap_cpu_features(all, "sse9"), Error);
  // Whatever this machine has, an extension never appears without its base.
  const CpuFeatures& f = cpu_features();
  if (f.avx512_bf16 || f.avx512_vnni) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl);
  }
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
  }
}

}  // namespace
}  // namespace slm
