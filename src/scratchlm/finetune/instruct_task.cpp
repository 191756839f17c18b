// instruct_task.cpp — chapter 7's losses over collated batches (see instruct_task.h).
#include "scratchlm/finetune/instruct_task.h"

#include <algorithm>
#include <cmath>

#include "scratchlm/kernels/cross_entropy.h"

namespace slm {

namespace {

bool has_targets(const CollatedBatch& b) {
  for (int32_t t : b.targets)
    if (t != kIgnoreIndex) return true;
  return false;
}

}  // namespace

double instruction_loss(GPT& model, const std::vector<TokenizedExample>& xs, int64_t batch, int32_t pad,
                        int64_t max_len, bool mask, int64_t max_batches, bool drop_last) {
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
