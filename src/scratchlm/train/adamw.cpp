// adamw.cpp — AdamW and gradient clipping (see adamw.h).
#include "scratchlm/train/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "scratchlm/util/error.h"

namespace slm {

AdamW::AdamW(ParamStore& store, const AdamWConfig& cfg, size_t shard_begin, size_t shard_end)
    : store_(store), cfg_(cfg), begin_(shard_begin), end_(std::min(shard_end, store.grad_numel())) {
  if (!store.grads_enabled()) fail_internal("AdamW needs gradients enabled on the model");
  if (begin_ > end_) fail_internal("AdamW: an empty shard [{}, {})", begin_, end_);
  m_ = Tensor({static_cast<int64_t>(end_ - begin_)});
  v_ = Tensor({static_cast<int64_t>(end_ - begin_)});
}

void AdamW::load_checkpoint_state(const std::string& dir) {
  if (!sharded()) {
    load_optimizer_state(dir, store_, m_.data(), v_.data(), t_);
    return;
  }
  std::vector<float> m(store_.grad_numel()), v(store_.grad_numel());
  load_optimizer_state(dir, store_, m.data(), v.data(), t_);
  std::copy(m.begin() + static_cast<int64_t>(begin_), m.begin() + static_cast<int64_t>(end_), m_.data());
  std::copy(v.begin() + static_cast<int64_t>(begin_), v.begin() + static_cast<int64_t>(end_), v_.data());
}

namespace {

// The update of n weights (adamw.h), and with kCopy their bf16 copies rounded from the results (a
// separate instantiation: the fp32 loop stays exactly the code it was).
template <bool kCopy>
void update(float* w, bf16_t* w16, const float* g, float gs, float* m, float* v, int64_t n, float keep, float b1,
            float b2, float eps, float bc2_sqrt, float step_size) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    w[i] *= keep;
    const float gi = g[i] * gs;  // (gs = 1: g exactly)
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    w[i] -= step_size * m[i] / denom;
    if constexpr (kCopy) w16[i] = f32_to_bf16_vec(w[i]);
  }
}

}  // namespace

void AdamW::step(float lr, Bf16Weights* copies, float grad_scale) {
  ++t_;
  const float b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
  const float bc1 = 1.0f - std::pow(b1, static_cast<float>(t_));
  const float bc2_sqrt = std::sqrt(1.0f - std::pow(b2, static_cast<float>(t_)));
  const float step_size = lr / bc1;
  for (const auto& p : store_.params()) {
    if (!p.trainable || p.grad_offset == SIZE_MAX) continue;
    const bool decay = cfg_.decay == DecayMode::All || p.shape.size() >= 2;
    const float keep = decay ? 1.0f - lr * cfg_.weight_decay : 1.0f;
    // The part of the parameter in the shard (all of it without ZeRO).
    const size_t lo = std::max(p.grad_offset, begin_), hi = std::min(p.grad_offset + p.numel, end_);
    if (lo >= hi) continue;
    float* w = store_.data_all() + p.offset + (lo - p.grad_offset);
    const float* g = store_.grad_all() + lo;
    float* m = m_.data() + (lo - begin_);
    float* v = v_.data() + (lo - begin_);
    const int64_t n = static_cast<int64_t>(hi - lo);
    bf16_t* w16 = copies ? copies->get_mutable(p.name) : nullptr;
    if (w16)
      update<true>(w, w16 + (lo - p.grad_offset), g, grad_scale, m, v, n, keep, b1, b2, eps, bc2_sqrt, step_size);
    else
      update<false>(w, nullptr, g, grad_scale, m, v, n, keep, b1, b2, eps, bc2_sqrt, step_size);
  }
}

double sum_of_squares(const float* g, int64_t n) {
  // Fixed-size blocks, each summed in kLanes interleaved partial sums that are then added in one
  // order; the blocks' sums added in order. The same bits for any thread count and any ISA: each
  // lane is its own chain (g^2 is exact in double, so a fused multiply-add changes nothing), and the
  // independent chains let the loop run at memory speed instead of one add's latency per element.
  constexpr int64_t kBlock = 1 << 16, kLanes = 32;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(nb), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t begin = b * kBlock, end = std::min(begin + kBlock, n);
    double lane[kLanes] = {};
    int64_t i = begin;
    for (; i + kLanes <= end; i += kLanes)
#pragma omp simd
      for (int64_t j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(g[i + j]) * g[i + j];
    for (int64_t j = 0; i < end; ++i, ++j) lane[j] += static_cast<double>(g[i]) * g[i];
    for (int64_t width = kLanes / 2; width > 0; width /= 2)
      for (int64_t j = 0; j < width; ++j) lane[j] += lane[j + width];
    part[static_cast<size_t>(b)] = lane[0];
  }
  double ss = 0.0;
  for (double s : part) ss += s;
  return ss;
}

float clip_factor(double norm, double max_norm) {
  if (!(max_norm > 0.0) || !std::isfinite(norm)) return 1.0f;
  const double coef = max_norm / (norm + 1e-6);
  return coef < 1.0 ? static_cast<float>(coef) : 1.0f;
}

double grad_norm(ParamStore& store) {
  return std::sqrt(sum_of_squares(store.grad_all(), static_cast<int64_t>(store.grad_numel())));
}

double clip_grad_norm(ParamStore& store, double max_norm) {
  const double norm = grad_norm(store);
  const float c = clip_factor(norm, max_norm);
  if (c != 1.0f) {
    float* g = store.grad_all();
    const int64_t n = static_cast<int64_t>(store.grad_numel());
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) g[i] *= c;
  }
  return norm;
}

}  // namespace slm
