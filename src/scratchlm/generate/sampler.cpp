// sampler.cpp — next-token decoding (book chapter 5.3) with top-p, min-p and repetition penalty.
// The pipeline and its order are documented in sampler.h.
#include "scratchlm/generate/sampler.h"

#include "scratchlm/kernels/fastmath.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "scratchlm/util/error.h"

namespace slm {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPosInf = std::numeric_limits<float>::infinity();

void check_vocab(int64_t V) {
  if (V <= 0) fail("sampler: vocabulary size must be > 0 (got {})", V);
  if (V > std::numeric_limits<int32_t>::max()) fail("sampler: vocabulary size {} does not fit token ids", V);
}

// exp(x) for x <= 0 or -inf (a masked token): fastmath.h's vectorizable exp, with exactly 0 below
// -87 (weights under 1e-38 of the largest, which is 1, cannot matter to sampling).
inline float exp_nonpos(float x) {
  const bool under = !(x >= -87.0f);
  return under ? 0.0f : fast_expf(x);
}

// Max of x[0..n) (no NaN present).
float max_value(const float* x, int64_t n) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// Whether any of x[0..16) is >= t.
inline bool any_at_least(const float* x, float t) {
  int any = 0;
#pragma omp simd reduction(| : any)
  for (int j = 0; j < 16; ++j) any |= x[j] >= t;
  return any != 0;
}

// The k-th largest of x[0..n) counting duplicates (1 <= k < n); scratch holds n floats. Small k:
// one pass with a min-heap of the k largest so far (most values fail the first compare);
// otherwise nth_element on a copy.
float kth_largest(const float* x, int64_t n, int64_t k, float* scratch) {
  if (k <= 4096 && k * 8 <= n) {
    auto gt = std::greater<float>();  // min-heap: scratch[0] is the smallest kept value
    std::copy(x, x + k, scratch);
    std::make_heap(scratch, scratch + k, gt);
    auto offer = [&](float v) {
      if (v > scratch[0]) {
        std::pop_heap(scratch, scratch + k, gt);
        scratch[k - 1] = v;
        std::push_heap(scratch, scratch + k, gt);
      }
    };
    int64_t i = k;
    for (; i < n && i % 16 != 0; ++i) offer(x[i]);
    for (; i + 16 <= n; i += 16)  // skip blocks of 16 with a vectorized test; few blocks pass
      if (any_at_least(x + i, std::nextafter(scratch[0], kPosInf)))
        for (int j = 0; j < 16; ++j) offer(x[i + j]);
    for (; i < n; ++i) offer(x[i]);
    return scratch[0];
  }
  std::copy(x, x + n, scratch);
  std::nth_element(scratch, scratch + (k - 1), scratch + n, std::greater<float>());
  return scratch[k - 1];
}

}  // namespace

void SamplerConfig::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    fail("sampler: temperature must be a finite number >= 0 (got {}; 0 means greedy)", temperature);
  if (top_k < 0) fail("sampler: top_k must be >= 0 (got {}; 0 turns it off)", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("sampler: top_p must be in (0, 1] (got {}; 1 turns it off)", top_p);
  if (!(min_p >= 0.0f && min_p < 1.0f)) fail("sampler: min_p must be in [0, 1) (got {}; 0 turns it off)", min_p);
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    fail("sampler: repetition_penalty must be a finite number > 0 (got {}; 1 turns it off)", repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    fail("sampler: presence_penalty must be between -2 and 2 (got {}; 0 turns it off)", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    fail("sampler: frequency_penalty must be between -2 and 2 (got {}; 0 turns it off)", frequency_penalty);
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) fail("sampler: logit_bias token id {} is negative", id);
    if (!(bias >= -100.0f && bias <= 100.0f))
      fail("sampler: logit_bias of token {} must be between -100 and 100 (got {})", id, bias);
  }
}

int32_t argmax(const float* logits, int64_t V) {
  check_vocab(V);
  int nan = 0;  // vectorized passes: NaN check, max, then the first position of the max
#pragma omp simd reduction(| : nan)
  for (int64_t i = 0; i < V; ++i) nan |= logits[i] != logits[i];
  if (nan)
    fail("sampler: logit of token {} is NaN",
         std::find_if(logits, logits + V, [](float v) { return v != v; }) - logits);
  return static_cast<int32_t>(std::find(logits, logits + V, max_value(logits, V)) - logits);
}

Sampler::Sampler(const SamplerConfig& config) : cfg_(config), rng_(config.seed) { cfg_.validate(); }

double Sampler::prepare(const float* logits, int64_t V, std::span<const int32_t> context, size_t generated_from) {
  check_vocab(V);
  if (static_cast<int64_t>(buf_.size()) < V) {  // grow once; later calls reuse the buffers
    buf_.resize(V);
    tmp_.resize(V);
    idx_.resize(V);
    ord_.resize(V);
    seen_.assign(V, 0);
  }
  float* buf = buf_.data();
  int32_t* idx = idx_.data();

  int bad = 0;  // branch-free pass (vectorizes); the offender is looked up only on error
#pragma omp simd reduction(| : bad)
  for (int64_t i = 0; i < V; ++i) {
    const float l = logits[i];
    bad |= !(l < kPosInf);  // NaN or +inf
    buf[i] = l;
  }
  if (bad)
    for (int64_t i = 0; i < V; ++i) {
      if (std::isnan(logits[i])) fail("sampler: logit of token {} is NaN", i);
      if (logits[i] == kPosInf) fail("sampler: logit of token {} is +inf", i);
    }

  // 0. logit_bias.
  for (const auto& [id, bias] : cfg_.logit_bias) {
    if (id >= V) fail("sampler: logit_bias token id {} is outside the vocabulary [0, {})", id, V);
    buf[id] += bias;
  }

  // 1. Repetition penalty, once per distinct context token.
  for (const int32_t t : context)
    if (t < 0 || t >= V) fail("sampler: context token id {} is outside the vocabulary [0, {})", t, V);
  const float r = cfg_.repetition_penalty;
  if (r != 1.0f) {
    for (const int32_t t : context) {
      if (seen_[t]) continue;
      seen_[t] = 1;
      buf[t] = buf[t] > 0.0f ? buf[t] / r : buf[t] * r;
    }
    for (const int32_t t : context) seen_[t] = 0;
  }
  // 1b. Presence and frequency penalties over the generated tokens: the frequency penalty once per
  //     occurrence, the presence penalty once per distinct token (seen_ marks it).
  if ((cfg_.presence_penalty != 0.0f || cfg_.frequency_penalty != 0.0f) && generated_from < context.size()) {
    const auto gen = context.subspan(generated_from);
    for (const int32_t t : gen) {
      if (seen_[t] == 0) buf[t] -= cfg_.presence_penalty;
      buf[t] -= cfg_.frequency_penalty;
      seen_[t] = 1;
    }
    for (const int32_t t : gen) seen_[t] = 0;
  }

  const float m = max_value(buf, V);
  if (m == kNegInf) fail("sampler: all {} logits are -inf", V);

  // 2. Greedy.
  if (cfg_.temperature == 0.0f) {
    const int64_t best = std::find(buf, buf + V, m) - buf;  // the lowest id holding the max
    idx[0] = static_cast<int32_t>(best);
    buf[best] = 1.0f;
    n_ = 1;
    return 1.0;
  }

  // 4. Top-k threshold on the logits (order-equivalent to logits / T): keep values >= the k-th
  //    largest, so ties with it survive, as with the book's `logits < min_val -> -inf`.
  float thr = kNegInf;
  const int64_t k = cfg_.top_k;
  if (k > 0 && k < V) thr = kth_largest(buf, V, k, tmp_.data());

  // 3 + 5. Temperature and the (unnormalized) softmax: w = exp((l - max) / T), w(max) = 1.
  const float T = cfg_.temperature;
  double total = 0.0;
  int64_t n = 0;
  if (thr == kNegInf) {  // every id is a candidate (-inf ones get weight 0): one dense pass
#pragma omp simd
    for (int64_t i = 0; i < V; ++i) buf[i] = exp_nonpos((buf[i] - m) / T);
#pragma omp simd reduction(+ : total)
    for (int64_t i = 0; i < V; ++i) total += buf[i];
    std::iota(idx, idx + V, 0);
    n = V;
  } else {  // top-k: only the survivors
    int64_t i = 0;
    for (; i + 16 <= V; i += 16)
      if (any_at_least(buf + i, thr))
        for (int64_t j = i; j < i + 16; ++j)
          if (buf[j] >= thr) idx[n++] = static_cast<int32_t>(j);
    for (; i < V; ++i)
      if (buf[i] >= thr) idx[n++] = static_cast<int32_t>(i);
    for (int64_t j = 0; j < n; ++j) {
      const int32_t id = idx[j];
      const float w = exp_nonpos((buf[id] - m) / T);
      buf[id] = w;
      total += w;
    }
  }

  // Keeps the candidates accepted by `keep`, in id order, and returns their weight sum.
  auto compact = [&](auto keep) {
    int64_t out = 0;
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {  // branch-free: the keep decisions are unpredictable
      const int32_t id = idx[j];
      const bool kept = keep(id);
      idx[out] = id;
      out += kept;
      sum += kept ? buf[id] : 0.0f;
    }
    n = out;
    return sum;
  };

  // 6. Top-p. In the strict order (weight desc, id asc) the kept prefix ends at the first token
  //    whose preceding mass reaches top_p. No full sort: (a) a histogram of the mass over the top
  //    12 bits of the weights' float patterns (monotone for w >= 0) finds the bucket holding the
  //    cut; (b) within that bucket, a quickselect on mass over 64-bit keys (weight bits << 32 | ~id,
  //    so one integer compare is the strict order) narrows the cut to <= 32 keys, which are sorted.
  //    Invariant of (b): mass before ord[lo] = above < target, and the cut is <= hi.
  if (cfg_.top_p < 1.0f && n > 1) {
    const double target = static_cast<double>(cfg_.top_p) * total;
    std::array<double, 2048> bucket_mass{};  // float bits >> 20 of a finite w >= 0 is < 2048
    for (int64_t j = 0; j < n; ++j) {
      const float w = buf[idx[j]];
      bucket_mass[std::bit_cast<uint32_t>(w) >> 20] += w;
    }
    double above = 0.0;
    int bucket = 2047;
    while (bucket > 0 && above + bucket_mass[bucket] < target) above += bucket_mass[bucket--];
    uint64_t* ord = ord_.data();
    int64_t nk = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t id = idx[j];
      const uint32_t bits = std::bit_cast<uint32_t>(buf[id]);
      if (static_cast<int>(bits >> 20) == bucket && bits != 0)
        ord[nk++] = (uint64_t{bits} << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(id));
    }
    auto weight = [](uint64_t key) { return std::bit_cast<float>(static_cast<uint32_t>(key >> 32)); };
    int64_t lo = 0, hi = nk;
    while (hi - lo > 32) {
      const int64_t mid = lo + (hi - lo) / 4;
      std::nth_element(ord + lo, ord + mid, ord + hi, std::greater<uint64_t>());
      double mass = above;
      for (int64_t i = lo; i < mid; ++i) mass += weight(ord[i]);
      if (mass >= target) {
        hi = mid;
      } else {
        above = mass;
        lo = mid;
      }
    }
    std::sort(ord + lo, ord + hi, std::greater<uint64_t>());
    int64_t cut = hi;
    for (int64_t i = lo; i < hi; ++i) {
      if (above >= target && i > 0) {  // the mass before token i already reaches top_p: drop i and the rest
        cut = i;
        break;
      }
      above += weight(ord[i]);
    }
    // ord[cut - 1] is the last kept token; every bucket above is kept, every one below dropped.
    // (If rounding made the cut land past this bucket's end, the bucket's last token ends it.)
    if (cut > 0) {
      const float wl = weight(ord[cut - 1]);
      const int32_t last = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(ord[cut - 1]));
      total = compact([&](int32_t id) { return buf[id] > wl || (buf[id] == wl && id <= last); });
    }
  }

  // 7. Min-p: p < min_p * p_max  <=>  w < min_p * w_max (w_max is the top token's exp(0) = 1).
  if (cfg_.min_p > 0.0f && n > 1) {
    float wmax = 0.0f;
    for (int64_t j = 0; j < n; ++j) wmax = std::max(wmax, buf[idx[j]]);
    const float floor_w = cfg_.min_p * wmax;
    total = compact([&](int32_t id) { return buf[id] >= floor_w; });
  }

  n_ = n;
  return total;
}

int32_t Sampler::sample(const float* logits, int64_t V, std::span<const int32_t> context, size_t generated_from) {
  const double total = prepare(logits, V, context, generated_from);
  if (cfg_.temperature == 0.0f) return idx_[0];
  // 8. Inverse CDF in increasing id order. u < total; should rounding (total may have been summed
  //    in another order) leave the running sum short of u, the last token with weight > 0 is it.
  const double u = rng_.uniform_double() * total;
  double cum = 0.0;
  int32_t last_positive = idx_[0];
  for (int64_t j = 0; j < n_; ++j) {
    const int32_t id = idx_[j];
    const float w = buf_[id];
    if (w <= 0.0f) continue;
    cum += w;
    last_positive = id;
    if (cum > u) return id;
  }
  return last_positive;
}

void Sampler::distribution(const float* logits, int64_t V, std::span<const int32_t> context, std::vector<float>& probs,
                           size_t generated_from) {
  const double total = prepare(logits, V, context, generated_from);
  probs.assign(V, 0.0f);
  for (int64_t j = 0; j < n_; ++j) {
    const int32_t id = idx_[j];
    probs[id] = static_cast<float>(buf_[id] / total);
  }
}

}  // namespace slm
