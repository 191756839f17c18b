// test_sampler.cpp — the next-token sampler of book chapter 5.3 (greedy, temperature, top-k) and
// its extras (top-p, min-p, repetition penalty): the book's 9-word example, exact distributions
// against a plain double-precision reference, empirical frequencies, determinism and resume,
// config validation, bad logits, and the speed at GPT-2's V = 50257 (printed, not asserted).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "scratchlm/generate/sampler.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

using slm::Sampler;
using slm::SamplerConfig;

namespace {

// Chapter 5.3: "every effort moves you" -> next_token_logits over a 9-word vocabulary.
const std::vector<float> kBookLogits = {4.51f, 0.89f, -1.90f, 6.75f, 1.63f, -1.62f, -1.89f, 6.28f, 1.79f};
const char* const kBookVocab[] = {"closer", "every", "effort", "forward", "inches", "moves", "pizza", "toward", "you"};
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<double> softmax(const std::vector<float>& l, double T = 1.0) {
  double m = -kInf, s = 0;
  for (float v : l) m = std::max(m, double(v));
  std::vector<double> p(l.size());
  for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::exp((l[i] - m) / T);
  for (auto& v : p) v /= s;
  return p;
}

double entropy(const std::vector<float>& p) {
  double h = 0;
  for (float v : p)
    if (v > 0) h -= v * std::log(double(v));
  return h;
}

SamplerConfig cfg(float T, int k = 0, float top_p = 1.0f, float min_p = 0.0f, float rep = 1.0f, uint64_t seed = 0) {
  SamplerConfig c;
  c.temperature = T;
  c.top_k = k;
  c.top_p = top_p;
  c.min_p = min_p;
  c.repetition_penalty = rep;
  c.seed = seed;
  return c;
}

std::vector<float> dist(const SamplerConfig& c, const std::vector<float>& l, std::vector<int32_t> ctx = {}) {
  Sampler s(c);
  std::vector<float> p;
  s.distribution(l.data(), int64_t(l.size()), ctx, p);
  return p;
}

std::vector<int> counts(Sampler& s, const std::vector<float>& l, int n, std::vector<int32_t> ctx = {}) {
  std::vector<int> c(l.size(), 0);
  for (int i = 0; i < n; ++i) ++c.at(s.sample(l.data(), int64_t(l.size()), ctx));
  return c;
}

// The documented pipeline, written plainly in double with full sorts.
std::vector<double> reference(const SamplerConfig& c, std::vector<float> lf, const std::vector<int32_t>& ctx) {
  const size_t V = lf.size();
  std::vector<double> l(lf.begin(), lf.end());
  std::set<int32_t> distinct(ctx.begin(), ctx.end());
  for (int32_t t : distinct) {
    float v = lf[t];  // the penalty is applied in float, as the library does
    lf[t] = v > 0 ? v / c.repetition_penalty : v * c.repetition_penalty;
    l[t] = lf[t];
  }
  std::vector<double> p(V, 0.0);
  if (c.temperature == 0) {
    p[std::max_element(l.begin(), l.end()) - l.begin()] = 1;
    return p;
  }
  if (c.top_k > 0 && size_t(c.top_k) < V) {
    std::vector<double> s = l;
    std::sort(s.begin(), s.end(), std::greater<double>());
    for (auto& v : l)
      if (v < s[c.top_k - 1]) v = -kInf;
  }
  const double m = *std::max_element(l.begin(), l.end());
  double z = 0;
  for (size_t i = 0; i < V; ++i) z += p[i] = std::exp((l[i] - m) / c.temperature);
  for (auto& v : p) v /= z;
  if (c.top_p < 1) {
    std::vector<int> o(V);
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int a, int b) { return p[a] > p[b]; });
    double cum = 0;
    for (int id : o) {
      double before = cum;
      cum += p[id];
      if (before >= c.top_p) p[id] = 0;
    }
  }
  double pmax = *std::max_element(p.begin(), p.end());
  for (auto& v : p)
    if (v < c.min_p * pmax) v = 0;
  z = std::accumulate(p.begin(), p.end(), 0.0);
  for (auto& v : p) v /= z;
  return p;
}

}  // namespace

TEST(Sampler, ArgmaxPicksLargestLowestIdOnTies) {
  EXPECT_EQ(slm::argmax(kBookLogits.data(), 9), 3);
  const float ties[] = {1.0f, 5.0f, -2.0f, 5.0f, 5.0f};
  EXPECT_EQ(slm::argmax(ties, 5), 1);
  const float neg[] = {-kInf, -3.0f, -1.0f};
  EXPECT_EQ(slm::argmax(neg, 3), 2);
  const float bad[] = {1.0f, std::nanf("")};
  EXPECT_THROW(slm::argmax(bad, 2), slm::Error);
  EXPECT_THROW(slm::argmax(ties, 0), slm::Error);
}

TEST(Sampler, GreedyIsArgmaxAndIgnoresFiltersAndRng) {
  // The book: with greedy decoding "forward" (id 3) is chosen.
  for (const auto& c : {cfg(0), cfg(0, 3), cfg(0, 1, 0.1f), cfg(0, 0, 0.5f, 0.9f), cfg(0, 2, 0.3f, 0.5f, 1.0f, 7)}) {
    Sampler s(c);
    const auto before = s.rng_state();
    for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(kBookLogits.data(), 9, {}), 3);
    EXPECT_EQ(s.rng_state(), before) << "greedy must not draw random numbers";
    const auto p = dist(c, kBookLogits);
    for (int i = 0; i < 9; ++i) EXPECT_EQ(p[i], i == 3 ? 1.0f : 0.0f);
  }
  const std::vector<float> ties = {0.5f, 2.0f, 2.0f, -1.0f};
  Sampler s(cfg(0));
  EXPECT_EQ(s.sample(ties.data(), 4, {}), 1);
}

TEST(Sampler, BookExampleFrequenciesMatchSoftmax) {
  const auto exact = softmax(kBookLogits);
  EXPECT_NEAR(exact[3], 0.5721, 1e-4);  // the book's printed probas: forward 0.5721, toward 0.3576
  EXPECT_NEAR(exact[7], 0.3576, 1e-4);
  const auto p = dist(cfg(1.0f), kBookLogits);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(p[i], exact[i], 1e-6);

  Sampler s1000(cfg(1.0f, 0, 1, 0, 1, 123));
  const auto c1000 = counts(s1000, kBookLogits, 1000);
  const int book[] = {73, 0, 0, 582, 2, 0, 0, 343, 0};
  for (int i = 0; i < 9; ++i) std::printf("  %-8s ours %4d   book (torch RNG) %4d\n", kBookVocab[i], c1000[i], book[i]);

  Sampler s(cfg(1.0f, 0, 1, 0, 1, 42));
  const auto c = counts(s, kBookLogits, 10000);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(c[i] / 10000.0, exact[i], 0.02) << kBookVocab[i];
}

TEST(Sampler, BookTopK3KeepsOnlyThreeTokens) {
  // The book: top_k = 3 keeps 6.75 (forward), 6.28 (toward), 4.51 (closer) ->
  // softmax [0.0615, 0, 0, 0.5775, 0, 0, 0, 0.3610, 0].
  const auto p = dist(cfg(1.0f, 3), kBookLogits);
  const double book[] = {0.0615, 0, 0, 0.5775, 0, 0, 0, 0.3610, 0};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(p[i], book[i], 1e-4) << kBookVocab[i];
  Sampler s(cfg(1.0f, 3, 1, 0, 1, 9));
  const auto c = counts(s, kBookLogits, 1000);
  for (int i = 0; i < 9; ++i)
    if (i != 0 && i != 3 && i != 7) {
      EXPECT_EQ(c[i], 0) << kBookVocab[i];
    }
  EXPECT_GT(c[0], 0);
  EXPECT_GT(c[3], 0);
  EXPECT_GT(c[7], 0);
}

TEST(Sampler, TopKKeepsTiesWithTheKthValueLikeTheBook) {
  const std::vector<float> l = {3.0f, 2.0f, 2.0f, 1.0f, 2.0f};
  const auto p = dist(cfg(1.0f, 2), l);
  EXPECT_GT(p[0], 0);
  EXPECT_GT(p[1], 0);
  EXPECT_GT(p[2], 0);
  EXPECT_GT(p[4], 0);
  EXPECT_EQ(p[3], 0);
  EXPECT_EQ(dist(cfg(1.0f, 5), l), dist(cfg(1.0f), l));  // k >= V is off
}

TEST(Sampler, TemperatureFlattensAndSharpens) {
  const auto p1 = dist(cfg(1.0f), kBookLogits), p5 = dist(cfg(5.0f), kBookLogits), p01 = dist(cfg(0.1f), kBookLogits);
  EXPECT_GT(entropy(p5), entropy(p1));
  EXPECT_LT(entropy(p01), entropy(p1));
  for (float T : {0.1f, 5.0f}) {
    const auto exact = softmax(kBookLogits, T);
    const auto p = T == 5.0f ? p5 : p01;
    for (int i = 0; i < 9; ++i) EXPECT_NEAR(p[i], exact[i], 1e-6);
  }
  // Book: at T = 5 "pizza" gets sampled about 4% of the time; at T = 0.1 nearly always "forward".
  Sampler s5(cfg(5.0f, 0, 1, 0, 1, 5)), s01(cfg(0.1f, 0, 1, 0, 1, 5));
  const auto c5 = counts(s5, kBookLogits, 10000), c01 = counts(s01, kBookLogits, 10000);
  EXPECT_NEAR(c5[6] / 10000.0, softmax(kBookLogits, 5)[6], 0.01);
  EXPECT_GT(c01[3], 9800);
  // A tiny temperature must not overflow into NaN.
  const auto tiny = dist(cfg(1e-30f), kBookLogits);
  EXPECT_EQ(tiny[3], 1.0f);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  // Top token (id 2) has 60%: top_p = 0.5 keeps only it.
  const std::vector<float> l = {std::log(0.3f), std::log(0.1f), std::log(0.6f)};
  auto p = dist(cfg(1.0f, 0, 0.5f), l);
  EXPECT_EQ(p, (std::vector<float>{0, 0, 1}));
  Sampler s(cfg(1.0f, 0, 0.5f, 0, 1, 3));
  EXPECT_EQ(counts(s, l, 1000)[2], 1000);
  // 0.7 needs the 0.3 token too, renormalized to 2/3 : 1/3.
  p = dist(cfg(1.0f, 0, 0.7f), l);
  EXPECT_NEAR(p[2], 2.0 / 3, 1e-6);
  EXPECT_NEAR(p[0], 1.0 / 3, 1e-6);
  EXPECT_EQ(p[1], 0);
  // 0.95 keeps all three; a tiny top_p still keeps the top token.
  EXPECT_GT(dist(cfg(1.0f, 0, 0.95f), l)[1], 0);
  EXPECT_EQ(dist(cfg(1.0f, 0, 1e-6f), l)[2], 1.0f);
}

TEST(Sampler, MinPRemovesLowTokens) {
  const std::vector<float> l = {std::log(0.05f), std::log(0.5f), std::log(0.3f), std::log(0.15f)};
  auto p = dist(cfg(1.0f, 0, 1, 0.2f), l);  // floor 0.2 * 0.5 = 0.1: drops 0.05
  EXPECT_EQ(p[0], 0);
  EXPECT_NEAR(p[1], 0.5 / 0.95, 1e-6);
  EXPECT_NEAR(p[3], 0.15 / 0.95, 1e-6);
  p = dist(cfg(1.0f, 0, 1, 0.5f), l);  // floor 0.25: keeps 0.5 and 0.3
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(p[2], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(p[3], 0);
}

TEST(Sampler, RepetitionPenaltyCtrlStyle) {
  const std::vector<float> l = {2.0f, 1.0f, -1.0f, 0.5f};
  const std::vector<int32_t> ctx = {0, 0, 2, 0};  // token 0 repeated: penalized once, not three times
  const auto p = dist(cfg(1.0f, 0, 1, 0, 2.0f), l, ctx);
  const auto exact = softmax({1.0f, 1.0f, -2.0f, 0.5f});  // 2/2, 1, -1*2, 0.5
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[i], exact[i], 1e-6);
  const auto plain = dist(cfg(1.0f), l);
  EXPECT_LT(p[0], plain[0]);  // positive logit divided
  EXPECT_LT(p[2], plain[2]);  // negative logit multiplied (dividing would have raised it)
  Sampler g(cfg(0, 0, 1, 0, 4.0f));
  EXPECT_EQ(g.sample(l.data(), 4, ctx), 1);  // greedy sees the penalized logits: 0.5, 1, -4, 0.5
  EXPECT_EQ(g.sample(l.data(), 4, {}), 0);
  const std::vector<int32_t> bad = {4};
  EXPECT_THROW(g.sample(l.data(), 4, bad), slm::Error);
}

TEST(Sampler, SeedsAndResume) {
  auto run = [](Sampler& s, int n) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) out.push_back(s.sample(kBookLogits.data(), 9, {}));
    return out;
  };
  Sampler a(cfg(1.5f, 0, 1, 0, 1, 11)), b(cfg(1.5f, 0, 1, 0, 1, 11)), c(cfg(1.5f, 0, 1, 0, 1, 12));
  const auto sa = run(a, 200);
  EXPECT_EQ(sa, run(b, 200));
  EXPECT_NE(sa, run(c, 200));

  // Save after 10 draws, continue 50; a fresh sampler restored from the state repeats those 50.
  Sampler d(cfg(1.5f, 0, 1, 0, 1, 99));
  run(d, 10);
  const auto state = d.rng_state();
  const auto cont = run(d, 50);
  Sampler e(cfg(1.5f, 0, 1, 0, 1, 12345));
  e.set_rng_state(state);
  EXPECT_EQ(run(e, 50), cont);
  d.set_rng_state(state);
  EXPECT_EQ(run(d, 50), cont);
}

TEST(Sampler, DrawIsInverseCdfInIdOrderWithOneUniform) {
  const auto p = dist(cfg(1.0f), kBookLogits);
  slm::Rng rng(77);
  Sampler s(cfg(1.0f, 0, 1, 0, 1, 77));
  for (int i = 0; i < 500; ++i) {
    const double u = rng.uniform_double();
    double cum = 0;
    int expect = 8;
    for (int t = 0; t < 9; ++t)
      if ((cum += p[t]) > u) {
        expect = t;
        break;
      }
    const int got = s.sample(kBookLogits.data(), 9, {});
    if (std::abs(cum - u) > 1e-5) {  // skip float-rounding edges
      EXPECT_EQ(got, expect) << "draw " << i;
    }
  }
  EXPECT_EQ(s.rng_state(), rng.state());
}

TEST(Sampler, DistributionMatchesReferenceOnRandomConfigs) {
  slm::Rng rng(2024);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t V = trial < 20 ? 5000 : 1 + int64_t(rng.below(300));
    std::vector<float> l(V);
    const double scale = 0.5 + 4 * rng.uniform_double();
    for (auto& v : l) v = float(rng.normal() * scale);
    if (trial % 2 == 0)
      for (auto& v : l) v = std::round(v * 4) / 4;  // quarter steps: many exact ties
    if (V > 3) l[rng.below(V)] = -kInf;
    std::vector<int32_t> ctx(rng.below(20));
    for (auto& t : ctx) t = int32_t(rng.below(V));
    SamplerConfig c;
    c.temperature = rng.below(8) == 0 ? 0.0f : float(0.2 + 2 * rng.uniform_double());
    c.top_k = rng.below(2) ? int(rng.below(V + 5)) : 0;
    c.top_p = rng.below(2) ? float(0.05 + 0.95 * rng.uniform_double()) : 1.0f;
    c.min_p = rng.below(3) == 0 ? float(0.3 * rng.uniform_double()) : 0.0f;
    c.repetition_penalty = rng.below(2) ? float(0.5 + 1.5 * rng.uniform_double()) : 1.0f;
    const auto got = dist(c, l, ctx);
    const auto want = reference(c, l, ctx);
    for (int64_t i = 0; i < V; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5) << "trial " << trial << " id " << i << " V " << V << " T " << c.temperature
                                         << " k " << c.top_k << " p " << c.top_p << " min_p " << c.min_p;
      if (want[i] == 0 || want[i] > 1e-12) {  // (weights below ~1e-38 of the max may round to 0)
        ASSERT_EQ(got[i] > 0, want[i] > 0) << "trial " << trial << " id " << i;
      }
    }
  }
}

TEST(Sampler, ReusesBuffersAcrossVocabSizes) {
  const SamplerConfig c = cfg(0.8f, 4, 0.95f, 0.01f, 1.3f);
  Sampler s(c);
  std::vector<float> big(50257), p;
  slm::Rng rng(3);
  for (auto& v : big) v = float(rng.normal());
  const std::vector<int32_t> ctx = {3, 7};
  s.distribution(kBookLogits.data(), 9, ctx, p);
  const auto small_first = p;
  s.distribution(big.data(), int64_t(big.size()), ctx, p);
  EXPECT_EQ(p, dist(c, big, ctx));
  s.distribution(kBookLogits.data(), 9, ctx, p);
  EXPECT_EQ(p, small_first);
  EXPECT_EQ(p.size(), 9u);
}

TEST(Sampler, ValidateErrors) {
  auto expect_bad = [](const SamplerConfig& c, const std::string& field) {
    try {
      c.validate();
      ADD_FAILURE() << "no error for " << field;
    } catch (const slm::Error& e) {
      EXPECT_EQ(e.kind(), slm::ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
    EXPECT_THROW(Sampler{c}, slm::Error);
  };
  expect_bad(cfg(1, 0, 0.0f), "top_p");
  expect_bad(cfg(1, 0, 1.5f), "top_p");
  expect_bad(cfg(1, 0, std::nanf("")), "top_p");
  expect_bad(cfg(-1), "temperature");
  expect_bad(cfg(std::nanf("")), "temperature");
  expect_bad(cfg(kInf), "temperature");
  expect_bad(cfg(1, -2), "top_k");
  expect_bad(cfg(1, 0, 1, 1.0f), "min_p");
  expect_bad(cfg(1, 0, 1, -0.1f), "min_p");
  expect_bad(cfg(1, 0, 1, 0, 0.0f), "repetition_penalty");
  expect_bad(cfg(1, 0, 1, 0, -1.0f), "repetition_penalty");
  EXPECT_NO_THROW(cfg(0, 0, 1.0f, 0.99f, 0.5f).validate());
  EXPECT_NO_THROW(SamplerConfig{}.validate());
}

TEST(Sampler, BadLogits) {
  Sampler s(cfg(1.0f));
  const float nan[] = {1, std::nanf(""), 2};
  const float pinf[] = {1, kInf, 2};
  const float ninf[] = {-kInf, -kInf};
  EXPECT_THROW(s.sample(nan, 3, {}), slm::Error);
  EXPECT_THROW(s.sample(pinf, 3, {}), slm::Error);
  EXPECT_THROW(s.sample(ninf, 2, {}), slm::Error);
  EXPECT_THROW(s.sample(nan, 0, {}), slm::Error);
  // -inf is a mask: never drawn.
  const std::vector<float> masked = {-kInf, 0.0f, -kInf, 0.0f};
  Sampler t(cfg(3.0f, 0, 1, 0, 1, 1));
  const auto c = counts(t, masked, 2000);
  EXPECT_EQ(c[0] + c[2], 0);
  EXPECT_GT(c[1], 800);
}

TEST(Sampler, SpeedAtGpt2Vocab) {
  const int64_t V = 50257;
  slm::Rng rng(5);
  std::vector<float> l(V);
  for (auto& v : l) v = float(rng.normal() * 3);
  std::vector<int32_t> ctx(256);
  for (auto& t : ctx) t = int32_t(rng.below(V));
  struct Case {
    const char* name;
    SamplerConfig c;
  };
  const Case cases[] = {{"top_k=50 top_p=0.9", cfg(1.0f, 50, 0.9f, 0, 1, 1)},
                        {"top_k=50 top_p=0.9 rep=1.2 ctx=256", cfg(1.0f, 50, 0.9f, 0, 1.2f, 1)},
                        {"T=1 (plain)", cfg(1.0f, 0, 1, 0, 1, 1)},
                        {"top_p=0.9 (no top_k)", cfg(1.0f, 0, 0.9f, 0, 1, 1)},
                        {"min_p=0.05", cfg(1.0f, 0, 1, 0.05f, 1, 1)},
                        {"greedy", cfg(0.0f)}};
  for (const auto& cs : cases) {
    Sampler s(cs.c);
    int64_t sum = s.sample(l.data(), V, ctx);  // warm-up (grows the buffers)
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) {
      l[i] += 0.001f;  // vary the input a little
      const int32_t id = s.sample(l.data(), V, ctx);
      ASSERT_GE(id, 0);
      ASSERT_LT(id, V);
      sum += id;
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  V=50257 %-36s %8.1f us/call (1000 calls: %.1f ms; checksum %lld)\n", cs.name, us / 1000, us / 1000,
                static_cast<long long>(sum));
  }
}
