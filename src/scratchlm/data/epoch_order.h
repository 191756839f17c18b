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

// The book's DataLoader(shuffle=True, drop_last=True) over a list of examples: micro-batch
// `index` of `epoch` is `batch` pointers into `examples` in that epoch's order (computed once per
// epoch); an incomplete last batch is dropped.
template <typename T>
class EpochBatches {
 public:
  EpochBatches(const std::vector<T>& examples, int64_t batch, uint64_t seed)
      : examples_(examples), batch_(static_cast<size_t>(batch)), seed_(seed) {}
  int64_t batches_per_epoch() const { return static_cast<int64_t>(examples_.size() / batch_); }
  const std::vector<const T*>& rows(uint64_t epoch, uint64_t index) {
    if (order_.empty() || epoch_ != epoch) {
      order_ = epoch_order(examples_.size(), seed_, epoch);
      epoch_ = epoch;
    }
    rows_.clear();
    for (size_t j = 0; j < batch_; ++j) rows_.push_back(&examples_[order_[static_cast<size_t>(index) * batch_ + j]]);
    return rows_;
  }

 private:
  const std::vector<T>& examples_;
  size_t batch_;
  uint64_t seed_, epoch_ = 0;
  std::vector<uint32_t> order_;
  std::vector<const T*> rows_;
};

}  // namespace slm
