// bf16_weights.cpp — the bf16 copies of the matmul weights (see bf16_weights.h).
#include "scratchlm/model/bf16_weights.h"

#include "scratchlm/kernels/matmul_bf16.h"
#include "scratchlm/model/params.h"
#include "scratchlm/util/error.h"

namespace slm {

Bf16Weights::Bf16Weights(const ParamStore& store, const std::vector<std::string>& names) {
  size_t n = 0;
  for (const std::string& name : names) {
    const Param* p = store.find(name);
    if (!p) fail_internal("bf16 copy of a parameter the model lacks: {}", name);
    entries_.push_back({name, n, p->numel});
    n += p->numel;
  }
  data_.resize(n);
  refresh(store, true);
}

const bf16_t* Bf16Weights::get(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return data_.data() + e.offset;
  return nullptr;
}

void Bf16Weights::refresh(const ParamStore& store, bool all) {
  for (const Entry& e : entries_) {
    const Param* p = store.find(e.name);
    if (!all && !p->trainable) continue;  // a frozen weight never changes
    f32_to_bf16_array(store.data(e.name), data_.data() + e.offset, static_cast<int64_t>(e.numel));
  }
}

}  // namespace slm
