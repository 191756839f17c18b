// window_dataset.h — the book's sliding-window dataset and data loader (chapter 2.6,
// GPTDatasetV1 + create_dataloader_v1; the train/val split of chapter 5.1.3).
//
// Windows: for i in range(0, N - L, S): inputs = tokens[i:i+L], targets = tokens[i+1:i+L+1], so
// there are ceil((N - L) / S) windows when N > L, else none. S < L overlaps windows, S > L skips
// tokens.
// Split: split_idx = int(train_ratio * N) with train_ratio = 1 - val_fraction (double precision,
// truncated like Python's int()); train = tokens[:split_idx], val = tokens[split_idx:].
// Loader: batches of B consecutive entries of the epoch's order. Without shuffling the order is
// 0, 1, 2, ...; with shuffling it is a Fisher-Yates permutation drawn from slm::Rng(seed + epoch):
//   order = [0, 1, ..., W-1]; for i = W-1 down to 1: swap(order[i], order[rng.below(i + 1)])
// so every epoch has its own, reproducible order. drop_last drops a final partial batch (the
// book's train loader); otherwise it is yielded with fewer rows (the book's val loader).
// The position (epoch, batch index within the epoch) is all the state there is: saving it and
// restoring it into a loader built with the same data and options continues identically.
#pragma once

#include <cstdint>
#include <vector>

#include "scratchlm/data/shards.h"

namespace slm {

// Number of windows: len(range(0, n - max_length, stride)).
size_t num_windows(size_t n, size_t max_length, size_t stride);

struct TokenSplit {
  TokenArray train, val;
};
// split_idx = int((1 - val_fraction) * N); val_fraction in [0, 1] (BadInput error otherwise).
size_t split_index(size_t n, double val_fraction);
TokenSplit split_tokens(const TokenArray& tokens, double val_fraction = 0.1);

class WindowDataset {
 public:
  WindowDataset() = default;
  // stride 0 means stride = max_length. max_length must be >= 1 (BadInput error).
  WindowDataset(TokenArray tokens, size_t max_length, size_t stride = 0);

  size_t size() const { return windows_; }
  size_t max_length() const { return max_length_; }
  size_t stride() const { return stride_; }
  size_t num_tokens() const { return tokens_.size(); }
  const TokenArray& tokens() const { return tokens_; }
  // Window idx's L inputs and L targets (idx < size(), else an Internal error).
  void get(size_t idx, int32_t* inputs, int32_t* targets) const;

 private:
  TokenArray tokens_;
  size_t max_length_ = 0, stride_ = 0, windows_ = 0;
};

struct LoaderOptions {
  size_t batch_size = 1;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = true;
};

// Where a loader is: the next batch to produce is batch `batch` of epoch `epoch`.
struct LoaderState {
  uint64_t epoch = 0;
  uint64_t batch = 0;
  bool operator==(const LoaderState&) const = default;
};

struct Batch {
  size_t rows = 0, cols = 0;      // rows <= batch_size (fewer only for a kept last batch)
  std::vector<int32_t> inputs;    // [rows, cols], row-major
  std::vector<int32_t> targets;   // [rows, cols]
  uint64_t epoch = 0, index = 0;  // which batch this is
};

class DataLoader {
 public:
  DataLoader(WindowDataset dataset, LoaderOptions options);

  const WindowDataset& dataset() const { return ds_; }
  const LoaderOptions& options() const { return opt_; }
  // Batches per epoch: floor(W / B) with drop_last, else ceil(W / B).
  size_t batches_per_epoch() const;

  // The next batch; then advances, rolling over to the next epoch after the last batch. A
  // BadInput error when an epoch has no batches (too few tokens for one batch).
  void next(Batch& out);
  Batch next() {
    Batch b;
    next(b);
    return b;
  }
  // Batch `index` of `epoch`, without moving (index < batches_per_epoch()).
  void batch_at(uint64_t epoch, uint64_t index, Batch& out);

  LoaderState state() const { return pos_; }
  // BadInput error when state.batch >= batches_per_epoch() (a state from different data/options).
  void set_state(const LoaderState& s);

  // The window order of an epoch (identity without shuffling).
  std::vector<uint32_t> epoch_order(uint64_t epoch) const;

 private:
  const std::vector<uint32_t>& order_for(uint64_t epoch);

  WindowDataset ds_;
  LoaderOptions opt_;
  LoaderState pos_;
  std::vector<uint32_t> order_;  // cached order of order_epoch_
  uint64_t order_epoch_ = UINT64_MAX;
};

}  // namespace slm
