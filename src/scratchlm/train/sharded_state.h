// sharded_state.h — a ZeRO-1 run's optimizer state (each rank holds AdamW's m and v for its shard of
// the parameters, grad_sync.h) written to rank 0's checkpoint piece by piece, so that rank 0 never
// holds the whole state: the data-parallel side of chapter 5.4's torch.save of the optimizer.
//
// Rank 0 saves with an OptimizerState whose `gather` asks the ranks for one range of m or v at a
// time (a broadcast request, then a gather of each rank's part of the range); the other ranks
// serve those requests until rank 0 says it is done — also when its save fails, so no rank hangs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "scratchlm/io/checkpoint.h"

namespace slm {

class Communicator;

class ShardedStateGather {
 public:
  // m and v: this rank's shard, elements [begin, end) of the gradient-buffer layout; counts /
  // displs: every rank's shard (grad_sync.h's shard_counts / shard_displs).
  ShardedStateGather(Communicator& comm, const float* m, const float* v, const std::vector<int>& counts,
                     const std::vector<int>& displs);
  // Rank 0: runs save(state) with state.gather set, then releases the other ranks (also when save
  // throws). Other ranks: serve rank 0's requests until it is done; save is not called.
  void run(OptimizerState state, const std::function<void(const OptimizerState&)>& save);

 private:
  void gather_range(int which, size_t first, size_t count, float* dst);
  Communicator& comm_;
  const float *m_, *v_;
  std::vector<int> counts_, displs_;
};

}  // namespace slm
