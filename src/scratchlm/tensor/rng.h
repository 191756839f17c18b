// rng.h — the seeded random number generator behind init, data order, dropout and sampling.
//
// Algorithm (documented so runs are reproducible across versions): xoshiro256** (Blackman &
// Vigna, 2018), its 256-bit state filled from the 64-bit seed by four steps of splitmix64.
//   next_u64()      xoshiro256**
//   next_u32()      upper 32 bits of next_u64()
//   uniform()       (next_u64() >> 40) * 2^-24, a float in [0, 1) with 24 random bits
//   normal()        Box–Muller on two uniforms (double precision), one value per call
//   below(n)        Lemire's nearly-divisionless bounded integer in [0, n)
// The state is four uint64 words, saved into checkpoints so that a resumed run continues the
// exact same random stream.
#pragma once

#include <array>
#include <cstdint>

namespace slm {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double normal();
  uint64_t below(uint64_t n);

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace slm
