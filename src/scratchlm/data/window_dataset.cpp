// window_dataset.cpp — sliding-window dataset, train/val split and data loader (see
// window_dataset.h; chapter 2.6's GPTDatasetV1 / create_dataloader_v1, chapter 5.1.3's split).
#include "scratchlm/data/window_dataset.h"

#include <cmath>
#include <numeric>
#include <utility>

#include "scratchlm/data/epoch_order.h"
#include "scratchlm/tensor/rng.h"
#include "scratchlm/util/error.h"

namespace slm {

size_t num_windows(size_t n, size_t max_length, size_t stride) {
  if (stride == 0) stride = max_length;
  if (stride == 0 || n <= max_length) return 0;
  return (n - max_length - 1) / stride + 1;  // len(range(0, n - L, S))
}

size_t split_index(size_t n, double val_fraction) {
  if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
    fail("the validation fraction must be between 0 and 1, got {}", val_fraction);
  const double train_ratio = 1.0 - val_fraction;
  size_t idx = static_cast<size_t>(std::floor(train_ratio * static_cast<double>(n)));
  return std::min(idx, n);
}

TokenSplit split_tokens(const TokenArray& tokens, double val_fraction) {
  size_t idx = split_index(tokens.size(), val_fraction);
  return {tokens.slice(0, idx), tokens.slice(idx, tokens.size())};
}

// ------------------------------------------------------------------ WindowDataset

WindowDataset::WindowDataset(TokenArray tokens, size_t max_length, size_t stride)
    : tokens_(std::move(tokens)), max_length_(max_length), stride_(stride == 0 ? max_length : stride) {
  if (max_length == 0) fail("the window length (max_length) must be at least 1");
  windows_ = num_windows(tokens_.size(), max_length_, stride_);
}

void WindowDataset::get(size_t idx, int32_t* inputs, int32_t* targets) const {
  if (idx >= windows_) fail_internal("window {} is out of range: the dataset has {} windows", idx, windows_);
  const size_t start = idx * stride_;
  tokens_.copy_to(start, max_length_, inputs);
  tokens_.copy_to(start + 1, max_length_, targets);
}

// ------------------------------------------------------------------ DataLoader

DataLoader::DataLoader(WindowDataset dataset, LoaderOptions options) : ds_(std::move(dataset)), opt_(options) {
  if (opt_.batch_size == 0) fail("the batch size must be at least 1");
  if (ds_.size() > UINT32_MAX) fail("too many windows ({}) for one data loader", ds_.size());
}

size_t DataLoader::batches_per_epoch() const {
  const size_t w = ds_.size(), b = opt_.batch_size;
  return opt_.drop_last ? w / b : (w + b - 1) / b;
}

std::vector<uint32_t> DataLoader::epoch_order(uint64_t epoch) const {
  if (opt_.shuffle) return slm::epoch_order(ds_.size(), opt_.seed, epoch);
  std::vector<uint32_t> order(ds_.size());
  std::iota(order.begin(), order.end(), 0u);
  return order;
}

const std::vector<uint32_t>& DataLoader::order_for(uint64_t epoch) {
  if (order_epoch_ != epoch) {
    order_ = epoch_order(epoch);
    order_epoch_ = epoch;
  }
  return order_;
}

void DataLoader::batch_at(uint64_t epoch, uint64_t index, Batch& out) {
  const size_t per_epoch = batches_per_epoch();
  if (per_epoch == 0)
    fail(
        "not enough tokens for one batch: {} tokens give {} windows of {} + 1 tokens (stride {}), fewer than "
        "the batch size {}{}",
        ds_.num_tokens(), ds_.size(), ds_.max_length(), ds_.stride(), opt_.batch_size,
        opt_.drop_last ? " (the last partial batch is dropped)" : "");
  if (index >= per_epoch) fail_internal("batch {} is out of range: an epoch has {} batches", index, per_epoch);
  const auto& order = order_for(epoch);
  const size_t first = index * opt_.batch_size;
  const size_t rows = std::min(opt_.batch_size, ds_.size() - first);
  const size_t L = ds_.max_length();
  out.rows = rows;
  out.cols = L;
  out.epoch = epoch;
  out.index = index;
  out.inputs.resize(rows * L);
  out.targets.resize(rows * L);
  for (size_t r = 0; r < rows; ++r) ds_.get(order[first + r], out.inputs.data() + r * L, out.targets.data() + r * L);
}

void DataLoader::next(Batch& out) {
  batch_at(pos_.epoch, pos_.batch, out);
  if (++pos_.batch >= batches_per_epoch()) {
    pos_.batch = 0;
    ++pos_.epoch;
  }
}

void DataLoader::set_state(const LoaderState& s) {
  if (s.batch >= batches_per_epoch())
    fail(
        "data loader position batch {} of epoch {} does not exist: an epoch has {} batches (was it saved with "
        "other data or options?)",
        s.batch, s.epoch, batches_per_epoch());
  pos_ = s;
}

}  // namespace slm
