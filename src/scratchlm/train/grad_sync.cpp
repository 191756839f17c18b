// grad_sync.cpp — bucketed gradient sums and ZeRO-1 shards across ranks (see grad_sync.h).
#include "scratchlm/train/grad_sync.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "scratchlm/train/adamw.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

// A bucket is at most this many floats (16 MB): a large matrix is summed in pieces (MPI's
// all-reduce keeps a temporary buffer of a bucket's size).
constexpr size_t kMaxBucket = size_t{1} << 22;

// When a parameter's gradient is final in GPT::backward: its block's stage, n_layers for the head
// and the final LayerNorm, -1 (the end) for the embeddings.
int64_t stage_of(const std::string& name, int64_t n_layers) {
  if (name.rfind("h.", 0) == 0) return std::stoll(name.substr(2));
  if (name.rfind("ln_f.", 0) == 0 || name.rfind("lm_head.", 0) == 0 || name.rfind("score.", 0) == 0) return n_layers;
  return -1;
}

}  // namespace

GradientSync::GradientSync(ParamStore& store, Communicator& comm, int64_t n_layers, bool zero)
    : store_(store), comm_(comm), zero_(zero) {
  const size_t n = store.grad_numel();
  // Runs of parameters with the same stage, in buffer order (padding included).
  std::vector<const Param*> params;
  for (const auto& p : store.params())
    if (p.trainable && p.grad_offset != SIZE_MAX) params.push_back(&p);
  std::sort(params.begin(), params.end(),
            [](const Param* a, const Param* b) { return a->grad_offset < b->grad_offset; });
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t stage = stage_of(params[i]->name, n_layers);
    const size_t end = i + 1 < params.size() ? params[i + 1]->grad_offset : n;
    if (!buckets_.empty() && buckets_.back().stage == stage && buckets_.back().end == params[i]->grad_offset &&
        end - buckets_.back().begin <= kMaxBucket)
      buckets_.back().end = end;
    else
      buckets_.push_back({params[i]->grad_offset, end, stage, false, {}, {}});
  }
  std::vector<Bucket> split;
  for (const Bucket& b : buckets_)
    for (size_t s = b.begin; s < b.end; s += kMaxBucket)
      split.push_back({s, std::min(b.end, s + kMaxBucket), b.stage, false, {}, {}});
  buckets_ = std::move(split);
  std::stable_sort(buckets_.begin(), buckets_.end(), [](const Bucket& a, const Bucket& b) {
    const int64_t sa = a.stage < 0 ? INT64_MIN : a.stage, sb = b.stage < 0 ? INT64_MIN : b.stage;
    return sa > sb;
  });
  // Shards: contiguous, in rank order, on 16-float boundaries (parameters start on them).
  const int R = comm.size();
  shard_begin_ = 0;
  shard_end_ = n;
  for (int r = 0; r < R; ++r) {
    const auto [b, e] = zero ? even_part(static_cast<int64_t>(n / 16), r, R) : std::pair<int64_t, int64_t>{0, 0};
    const size_t sb = static_cast<size_t>(b) * 16, se = r == R - 1 ? n : static_cast<size_t>(e) * 16;
    if (se - sb > static_cast<size_t>(INT32_MAX)) fail("the optimizer shard of rank {} is too large for MPI", r);
    shard_counts_.push_back(static_cast<int>(se - sb));
    shard_displs_.push_back(static_cast<int>(std::min<size_t>(sb, INT32_MAX)));
    if (zero && r == comm.rank()) {
      shard_begin_ = sb;
      shard_end_ = se;
    }
  }
  if (!zero) return;
  for (Bucket& b : buckets_)
    for (int r = 0; r < R; ++r) {
      const size_t lo = std::clamp<size_t>(shard_displs_[r], b.begin, b.end);
      const size_t hi = std::clamp<size_t>(static_cast<size_t>(shard_displs_[r]) + shard_counts_[r], b.begin, b.end);
      b.counts.push_back(static_cast<int>(hi - lo));
      b.displs.push_back(static_cast<int>(lo - b.begin));
    }
}

void GradientSync::start(Bucket& b) {
  b.started = true;
  float* g = store_.grad_all() + b.begin;
  if (zero_)
    comm_.start_reduce_scatter(g, b.counts);
  else
    comm_.start_allreduce(g, b.end - b.begin);
}

void GradientSync::ready(int64_t stage) {
  if (!armed_) return;
  // In the fixed order (every rank starts the same collectives in the same order): all buckets of
  // this stage and those above it that have not started yet.
  for (Bucket& b : buckets_) {
    if (b.stage < stage) break;
    if (!b.started) start(b);
  }
  comm_.progress();
}

void GradientSync::finish() {
  for (Bucket& b : buckets_)
    if (!b.started) start(b);
  comm_.wait_all("the gradient sum");
  for (Bucket& b : buckets_) b.started = false;
  armed_ = false;
  if (!zero_) return;
  // A reduce-scatter in place leaves this rank's part at the start of the bucket: move it home.
  const size_t r = static_cast<size_t>(comm_.rank());
  for (const Bucket& b : buckets_)
    if (b.counts[r] > 0 && b.displs[r] > 0) {
      float* g = store_.grad_all() + b.begin;
      std::memmove(g + b.displs[r], g, sizeof(float) * static_cast<size_t>(b.counts[r]));
    }
}

double GradientSync::norm_of_shards() {
  double ss = sum_of_squares(store_.grad_all() + shard_begin_, static_cast<int64_t>(shard_end_ - shard_begin_));
  comm_.allreduce_sum(&ss, 1);
  return std::sqrt(ss);
}

void GradientSync::gather_params() {
  float* g = store_.grad_all();
  float* w = store_.data_all();
  // This rank's updated weights into their places in the gradient buffer...
  for (const auto& p : store_.params()) {
    if (!p.trainable || p.grad_offset == SIZE_MAX) continue;
    const size_t lo = std::max(p.grad_offset, shard_begin_), hi = std::min(p.grad_offset + p.numel, shard_end_);
    if (lo < hi) std::memcpy(g + lo, w + p.offset + (lo - p.grad_offset), sizeof(float) * (hi - lo));
  }
  // ...every rank's to every rank...
  for (Bucket& b : buckets_) comm_.start_allgatherv(g + b.begin, b.counts, b.displs);
  comm_.wait_all("the parameter all-gather");
  // ...and back into the weights.
  for (const auto& p : store_.params())
    if (p.trainable && p.grad_offset != SIZE_MAX) std::memcpy(w + p.offset, g + p.grad_offset, sizeof(float) * p.numel);
}

}  // namespace slm
