// gpt_classify.cpp — the GPT as a classifier (chapter 6.5): the score head over each example's
// read positions, its cross-entropy, and the gradient it hands to backward() (see gpt.h).
#include <algorithm>
#include <cmath>

#include "scratchlm/model/gpt.h"
#include "scratchlm/util/error.h"

namespace slm {

float GPT::classify(const ClassBatch& cb, float* out_logits, bool with_loss, bool with_grad, float grad_scale) {
  if (!cfg_.is_classifier()) fail("this model has no classification head (it is a language model)");
  if (with_grad && !store_.grads_enabled()) fail_internal("classify(with_grad) needs gradients enabled");
  with_loss = with_loss || with_grad;
  const int64_t B = cb.B, T = cb.T, E = cb.E, C = cfg_.emb_dim, K = cfg_.num_labels;
  auto n_of = [](const std::vector<int32_t>& v) { return static_cast<int64_t>(v.size()); };
  if (n_of(cb.tokens) != B * T || n_of(cb.row_start) != E + 1 || n_of(cb.read_from) != B || n_of(cb.read_to) != B ||
      n_of(cb.labels) != E || E <= 0 || cb.row_start[0] != 0 || cb.row_start[static_cast<size_t>(E)] != B)
    fail_internal("classify: an inconsistent batch (B {}, T {}, E {})", B, T, E);
  for (int64_t e = 0; e < E; ++e)
    if (cb.row_start[e] >= cb.row_start[e + 1]) fail_internal("classify: example {} has no rows", e);
  for (int64_t r = 0; r < B; ++r)
    if (cb.read_from[r] < 0 || cb.read_from[r] > cb.read_to[r] || cb.read_to[r] >= T)
      fail_internal("read positions {}..{} outside a row of {}", cb.read_from[r], cb.read_to[r], T);
  if (with_loss)
    for (int32_t y : cb.labels)
      if (y < 0 || y >= K) fail("class label {} is out of range for {} classes", y, K);
  forward_hidden(cb.tokens.data(), B, T);
  last_tokens_.assign(cb.tokens.begin(), cb.tokens.end());
  last_count_ = E;
  // Each example's feature: the mean of the final-norm outputs at its read positions.
  std::vector<float> feat(static_cast<size_t>(E * C), 0.0f), inv_n(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    float* f = feat.data() + e * C;
    int64_t n = 0;
    for (int64_t r = cb.row_start[e]; r < cb.row_start[e + 1]; ++r)
      for (int64_t t = cb.read_from[r]; t <= cb.read_to[r]; ++t, ++n) {
        const float* h = acts_.lnf + (r * T + t) * C;
        for (int64_t c = 0; c < C; ++c) f[c] += h[c];
      }
    inv_n[e] = 1.0f / static_cast<float>(n);
    for (int64_t c = 0; c < C; ++c) f[c] *= inv_n[e];
  }
  std::vector<float> logits(static_cast<size_t>(E * K));
  for (int64_t e = 0; e < E; ++e) {
    const float* h = feat.data() + e * C;
    for (int64_t k = 0; k < K; ++k) {
      const float* w = head_w_ + k * C;
      float acc = 0.0f;
      for (int64_t c = 0; c < C; ++c) acc += h[c] * w[c];
      logits[e * K + k] = acc;
    }
    if (score_lora_.on()) score_lora_.apply_vec(h, logits.data() + e * K, lora_vec_.data());
  }
  if (out_logits) std::copy(logits.begin(), logits.end(), out_logits);
  if (!with_loss) return 0.0f;
  double loss = 0.0;
  if (with_grad) std::fill_n(acts_.dlnf, B * T * C, 0.0f);
  const float dscale = grad_scale / static_cast<float>(E);
  std::vector<float> dz(static_cast<size_t>(K)), dh(static_cast<size_t>(C));
  for (int64_t e = 0; e < E; ++e) {
    const float* z = logits.data() + e * K;
    const int32_t y = cb.labels[static_cast<size_t>(e)];
    const float mx = *std::max_element(z, z + K);
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(z[k] - mx));
    loss += std::log(sum) + mx - z[y];
    if (!with_grad) continue;
    const float* h = feat.data() + e * C;
    std::fill(dh.begin(), dh.end(), 0.0f);
    for (int64_t k = 0; k < K; ++k) {
      const float d =
          (static_cast<float>(std::exp(static_cast<double>(z[k] - mx)) / sum) - (k == y ? 1.0f : 0.0f)) * dscale;
      const float* w = head_w_ + k * C;
      for (int64_t c = 0; c < C; ++c) dh[c] += d * w[c];
      if (g_head_)
        for (int64_t c = 0; c < C; ++c) g_head_[k * C + c] += d * h[c];
      dz[static_cast<size_t>(k)] = d;
    }
    if (score_lora_.on()) score_lora_backward(h, dz.data(), dh.data());
    // The mean's gradient: every read position gets dh / n.
    for (int64_t r = cb.row_start[e]; r < cb.row_start[e + 1]; ++r)
      for (int64_t t = cb.read_from[r]; t <= cb.read_to[r]; ++t) {
        float* dx = acts_.dlnf + (r * T + t) * C;
        for (int64_t c = 0; c < C; ++c) dx[c] += dh[c] * inv_n[e];
      }
  }
  have_head_grad_ = with_grad;
  return static_cast<float>(loss / static_cast<double>(E));
}

// The score head's adapter for one row: z += s (h A) B. Given dz: gB += s u^T dz, du = s B dz,
// gA += h du^T, dh += A du (all tiny: r x K).
void GPT::score_lora_backward(const float* h, const float* dz, float* dh) {
  const LoraAdapter& a = score_lora_;
  const int64_t C = a.in, K = a.out, r = a.r;
  std::vector<float> u(static_cast<size_t>(r), 0.0f), du(static_cast<size_t>(r), 0.0f);
  for (int64_t j = 0; j < r; ++j)
    for (int64_t c = 0; c < C; ++c) u[j] += h[c] * a.A[c * r + j];
  for (int64_t j = 0; j < r; ++j)
    for (int64_t k = 0; k < K; ++k) {
      if (a.gB) a.gB[j * K + k] += a.scale * u[j] * dz[k];
      du[j] += a.scale * a.B[j * K + k] * dz[k];
    }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < r; ++j) {
      if (a.gA) a.gA[c * r + j] += h[c] * du[j];
      dh[c] += a.A[c * r + j] * du[j];
    }
}

}  // namespace slm
