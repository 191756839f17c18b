// grad_sync.h — the gradient sum of one data-parallel optimizer step (distributed.h's ranks).
//
// Each rank's gradient buffer holds its slice's gradients, already weighted by the slice's share
// of the global batch, so the global gradient is their sum. The buffer is cut into buckets: runs
// of parameters whose gradients become final at the same point of the backward pass (the head and
// final LayerNorm first, then each transformer block from the last down, the embeddings last; see
// GPT::set_backward_hook). During the last micro-batch of a step a bucket's sum is started as soon
// as its gradients are final, so communication overlaps the rest of the backward pass.
//
// Without ZeRO each bucket is all-reduced: every rank gets the whole sum and runs the same AdamW
// update. With --zero 1 the buffer is split into one contiguous shard per rank (in rank order);
// each bucket is reduce-scattered (a rank gets the sum over its part of the bucket only), a rank
// keeps AdamW's m and v for its shard only and updates those weights, and the updated weights are
// all-gathered (through the gradient buffer, free by then) so every rank again holds the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scratchlm/model/params.h"
#include "scratchlm/train/distributed.h"

namespace slm {

class GradientSync {
 public:
  GradientSync(ParamStore& store, Communicator& comm, int64_t n_layers, bool zero);

  bool zero() const { return zero_; }
  // This rank's shard of the gradient buffer (the whole buffer without ZeRO).
  size_t shard_begin() const { return shard_begin_; }
  size_t shard_end() const { return shard_end_; }
  // Every rank's shard as MPI counts and displacements (for gathering optimizer state).
  const std::vector<int>& shard_counts() const { return shard_counts_; }
  const std::vector<int>& shard_displs() const { return shard_displs_; }

  // Before each micro-batch: whether its backward pass is the step's last (whose final gradients
  // are summed as they come).
  void arm(bool last) { armed_ = last; }
  // GPT's backward hook: the gradients of `stage` (and all stages above it) are final.
  void ready(int64_t stage);
  // After the last micro-batch: starts what is left and waits. Then the buffer holds the sum
  // (without ZeRO), or this rank's shard of it at its place (with ZeRO; the rest is garbage).
  void finish();

  // ZeRO: the global gradient norm from the shards (sums in double; AdamW applies the clipping,
  // adamw.h clip_factor).
  double norm_of_shards();
  // ZeRO, after AdamW updated this rank's shard of the weights: every rank's shard to every rank.
  void gather_params();

 private:
  struct Bucket {
    size_t begin = 0, end = 0;  // in the gradient buffer
    int64_t stage = -1;         // -1: final only after the whole backward pass
    bool started = false;
    std::vector<int> counts, displs;  // ZeRO: each rank's part of the bucket
  };
  void start(Bucket& b);

  ParamStore& store_;
  Communicator& comm_;
  bool zero_ = false, armed_ = false;
  std::vector<Bucket> buckets_;  // in the order they are started: stage descending, -1 last
  size_t shard_begin_ = 0, shard_end_ = 0;
  std::vector<int> shard_counts_, shard_displs_;
};

}  // namespace slm
