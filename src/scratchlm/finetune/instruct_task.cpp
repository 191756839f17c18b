// instruct_task.cpp — chapter 7's losses over collated batches (see instruct_task.h).
#include "scratchlm/finetune/instruct_task.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "scratchlm/kernels/cross_entropy.h"
#include "scratchlm/train/distributed.h"
#include "scratchlm/util/error.h"

namespace slm {

namespace {

bool has_targets(const CollatedBatch& b) {
  for (int32_t t : b.targets)
    if (t != kIgnoreIndex) return true;
  return false;
}

// Target tokens (not kIgnoreIndex) in rows [lo, hi) of a batch.
int64_t targets_in(const CollatedBatch& b, int64_t lo, int64_t hi) {
  return std::count_if(b.targets.begin() + lo * b.T, b.targets.begin() + hi * b.T,
                       [](int32_t t) { return t != kIgnoreIndex; });
}

// Rows [lo, hi) of a batch.
CollatedBatch rows_of(const CollatedBatch& b, int64_t lo, int64_t hi) {
  CollatedBatch out;
  out.B = hi - lo;
  out.T = b.T;
  out.inputs.assign(b.inputs.begin() + lo * b.T, b.inputs.begin() + hi * b.T);
  out.targets.assign(b.targets.begin() + lo * b.T, b.targets.begin() + hi * b.T);
  return out;
}

// instruction_loss across data-parallel ranks.
double instruction_loss_ranks(GPT& model, const std::vector<TokenizedExample>& xs, int64_t batch, int32_t pad,
                              int64_t max_len, bool mask, int64_t max_batches, bool drop_last) {
  const int64_t n_ex = static_cast<int64_t>(xs.size()), G = global_batch(batch);
  int64_t n = drop_last ? n_ex / G : (n_ex + G - 1) / G;
  if (max_batches > 0) n = std::min(n, max_batches);
  std::vector<double> part(static_cast<size_t>(2 * n), 0.0);  // per batch: loss x targets, targets
  std::vector<const TokenizedExample*> rows;
  for (int64_t i = 0; i < n; ++i) {
    rows.clear();
    for (int64_t j = i * G; j < std::min(n_ex, (i + 1) * G); ++j) rows.push_back(&xs[static_cast<size_t>(j)]);
    const CollatedBatch b = collate_instruction_batch(rows, pad, kIgnoreIndex, max_len, mask);
    const auto [lo, hi] = rank_rows(b.B, batch);
    const int64_t count = targets_in(b, lo, hi);
    if (count == 0) continue;
    const CollatedBatch mine = rows_of(b, lo, hi);
    part[2 * i] = static_cast<double>(count) * model.forward(mine.inputs.data(), mine.targets.data(), mine.B, mine.T);
    part[2 * i + 1] = static_cast<double>(count);
  }
  Communicator::world().allreduce_sum(part.data(), part.size());
  double sum = 0.0;
  int64_t used = 0;
  for (int64_t i = 0; i < n; ++i)
    if (part[2 * i + 1] > 0) sum += part[2 * i] / part[2 * i + 1], ++used;
  return used ? sum / static_cast<double>(used) : std::nan("");
}

}  // namespace

double InstructTask::train_batch(uint64_t epoch, uint64_t index, float grad_scale, int64_t& seen) {
  double share = 1.0;
  if (global_batch(o_.batch) == o_.batch) {
    b_ = collate_instruction_batch(batches_.rows(epoch, index), o_.pad, kIgnoreIndex, o_.max_len, o_.mask_prompt);
    model_.next_dropout_rows(0, b_.B);
  } else {
    const CollatedBatch g =
        collate_instruction_batch(batches_.rows(epoch, index), o_.pad, kIgnoreIndex, o_.max_len, o_.mask_prompt);
    const auto [lo, hi] = rank_rows(g.B, o_.batch);
    const int64_t total = targets_in(g, 0, g.B), mine = targets_in(g, lo, hi);
    if (total == 0) fail("the batch has no target tokens (all are -100)");
    b_ = rows_of(g, lo, hi);
    model_.next_dropout_rows(lo, g.B);
    share = static_cast<double>(mine) / static_cast<double>(total);
    if (mine == 0) {  // nothing to learn from in this rank's rows: no gradient, no loss
      seen += b_.B * b_.T;
      b_ = {};
      return 0.0;
    }
  }
  const double loss =
      model_.forward(b_.inputs.data(), b_.targets.data(), b_.B, b_.T, true, grad_scale * static_cast<float>(share));
  model_.backward();
  seen += b_.B * b_.T;  // the book: input_batch.numel()
  return loss * share;
}

std::string InstructTask::data_digest() const {
  std::string out;
  for (const auto* xs : {&train_, &val_}) {
    std::vector<int32_t> flat;
    for (const auto& e : *xs)
      flat.push_back(static_cast<int32_t>(e.prompt_len)), flat.push_back(-2),
          flat.insert(flat.end(), e.ids.begin(), e.ids.end());
    out +=
        fmt::format("{:016x}/", digest_values(flat.size(), [&](size_t i) { return static_cast<uint32_t>(flat[i]); }));
  }
  return out;
}

double instruction_loss(GPT& model, const std::vector<TokenizedExample>& xs, int64_t batch, int32_t pad,
                        int64_t max_len, bool mask, int64_t max_batches, bool drop_last) {
  if (Communicator::world().distributed())
    return instruction_loss_ranks(model, xs, batch, pad, max_len, mask, max_batches, drop_last);
  const int64_t n_ex = static_cast<int64_t>(xs.size());
  int64_t n = drop_last ? n_ex / batch : (n_ex + batch - 1) / batch;
  if (max_batches > 0) n = std::min(n, max_batches);
  double sum = 0.0;
  int64_t used = 0;
  std::vector<const TokenizedExample*> rows;
  for (int64_t i = 0; i < n; ++i) {
    rows.clear();
    for (int64_t j = i * batch; j < std::min(n_ex, (i + 1) * batch); ++j) rows.push_back(&xs[static_cast<size_t>(j)]);
    const CollatedBatch b = collate_instruction_batch(rows, pad, kIgnoreIndex, max_len, mask);
    if (!has_targets(b)) continue;
    sum += model.forward(b.inputs.data(), b.targets.data(), b.B, b.T);
    ++used;
  }
  return used ? sum / static_cast<double>(used) : std::nan("");
}

}  // namespace slm
