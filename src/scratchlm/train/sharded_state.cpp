// sharded_state.cpp — gathering a sharded optimizer state on rank 0 piece by piece (see
// sharded_state.h).
#include "scratchlm/train/sharded_state.h"

#include <algorithm>

#include "scratchlm/train/distributed.h"

namespace slm {

namespace {
enum Request : uint64_t { kDone = 0, kRange = 1 };
}  // namespace

ShardedStateGather::ShardedStateGather(Communicator& comm, const float* m, const float* v,
                                       const std::vector<int>& counts, const std::vector<int>& displs)
    : comm_(comm), m_(m), v_(v), counts_(counts), displs_(displs) {}

// Every rank sends its part of [first, first + count) of m (which 0) or v (1); rank 0 receives the
// range into dst.
void ShardedStateGather::gather_range(int which, size_t first, size_t count, float* dst) {
  const size_t R = counts_.size();
  std::vector<int> part(R), at(R);
  for (size_t r = 0; r < R; ++r) {
    const size_t b = static_cast<size_t>(displs_[r]), e = b + static_cast<size_t>(counts_[r]);
    const size_t lo = std::clamp(b, first, first + count), hi = std::clamp(e, first, first + count);
    part[r] = static_cast<int>(hi - lo);
    at[r] = static_cast<int>(lo - first);
  }
  const size_t me = static_cast<size_t>(comm_.rank());
  const size_t my_first = std::clamp(static_cast<size_t>(displs_[me]), first, first + count);
  const float* mine = (which ? v_ : m_) + (my_first - static_cast<size_t>(displs_[me]));
  comm_.gatherv_to_root(mine, dst, part, at);
}

void ShardedStateGather::run(OptimizerState state, const std::function<void(const OptimizerState&)>& save) {
  if (!comm_.root()) {
    for (;;) {
      uint64_t req[4] = {kDone, 0, 0, 0};
      comm_.broadcast(req, 4);
      if (req[0] == kDone) return;
      gather_range(static_cast<int>(req[1]), req[2], req[3], nullptr);
    }
  }
  struct Release {  // tells the other ranks that the save is over, however it ends
    Communicator& c;
    ~Release() {
      uint64_t req[4] = {kDone, 0, 0, 0};
      c.broadcast(req, 4);
    }
  } release{comm_};
  state.m = state.v = nullptr;
  state.gather = [this](int which, size_t first, size_t count, float* dst) {
    uint64_t req[4] = {kRange, static_cast<uint64_t>(which), first, count};
    comm_.broadcast(req, 4);
    gather_range(which, first, count, dst);
  };
  save(state);
}

}  // namespace slm
