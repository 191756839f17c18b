// bf16_weights.h — the bf16 copies of a model's matmul weights for mixed-precision training
// (--precision bf16, issue 15): the four Conv1D weights of every block (the output head rounds
// its weight in each pass instead, kernels/cross_entropy.h). The fp32 weights in the ParamStore stay the master copy
// that AdamW updates and checkpoints save; the copies are refreshed from them once per optimizer step (refresh(): one
// pass over the trainable matmul weights, rounded to nearest even), so a resumed run rebuilds exactly the copies the
// straight run had.
#pragma once

#include <string>
#include <vector>

#include "scratchlm/tensor/bf16.h"

namespace slm {

class ParamStore;

class Bf16Weights {
 public:
  // Copies of the named parameters of store (each present in it), rounded from the current weights.
  Bf16Weights(const ParamStore& store, const std::vector<std::string>& names);
  // The copy of parameter `name` (nullptr when it has none).
  const bf16_t* get(const std::string& name) const;
  // The same, to write: an optimizer that updates the weight may round it into its copy in the
  // same pass (train/adamw.h), instead of refresh()'s second pass over the weights.
  bf16_t* get_mutable(const std::string& name) { return const_cast<bf16_t*>(get(name)); }
  // Round the trainable ones (all, when `all`) again from the store's weights.
  void refresh(const ParamStore& store, bool all = false);
  size_t bytes() const { return data_.size() * sizeof(bf16_t); }

 private:
  struct Entry {
    std::string name;
    size_t offset = 0, numel = 0;  // into data_
  };
  std::vector<Entry> entries_;
  std::vector<bf16_t> data_;
};

}  // namespace slm
