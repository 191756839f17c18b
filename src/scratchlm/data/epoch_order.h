// epoch_order.h — the one shuffle rule of every trainer (chapter 5's DataLoader(shuffle=True),
// chapters 6 and 7 likewise): the order of epoch `epoch` (0-based) is a Fisher-Yates shuffle of
// 0..n-1 drawn from Rng(seed + epoch). It depends only on (seed, epoch), so a resumed run
// recomputes the order of the epoch it stopped in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace slm {

std::vector<uint32_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch);

}  // namespace slm
