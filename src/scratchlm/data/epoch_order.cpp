// epoch_order.cpp — the shuffled order of an epoch (see epoch_order.h).
#include "scratchlm/data/epoch_order.h"

#include <numeric>
#include <utility>

#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

namespace slm {

std::vector<uint32_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch) {
  if (n > UINT32_MAX) fail("too many examples ({}) for one epoch", n);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  Rng rng(seed + epoch);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

}  // namespace slm
