// params.cpp — the named parameter registry (see params.h).
#include "scratchlm/model/params.h"

#include "scratchlm/util/error.h"

namespace slm {

void ParamStore::add(const std::string& name, std::vector<int64_t> shape) {
  if (finalized_) fail_internal("parameter '{}' added after finalize()", name);
  if (index_.count(name)) fail_internal("parameter '{}' declared twice", name);
  Param p;
  p.name = name;
  p.numel = Tensor::numel_of(shape);
  p.shape = std::move(shape);
  p.offset = params_.empty() ? 0 : params_.back().offset + ((params_.back().numel + 15) / 16) * 16;
  index_[name] = params_.size();
  params_.push_back(std::move(p));
}

void ParamStore::finalize() {
  size_t total = params_.empty() ? 0 : params_.back().offset + ((params_.back().numel + 15) / 16) * 16;
  data_ = Tensor({static_cast<int64_t>(total)});
  finalized_ = true;
}

const Param* ParamStore::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &params_[it->second];
}

float* ParamStore::data(std::string_view name) {
  const Param* p = find(name);
  if (!p) fail_internal("no parameter named '{}'", name);
  return data_.data() + p->offset;
}
const float* ParamStore::data(std::string_view name) const {
  const Param* p = find(name);
  if (!p) fail_internal("no parameter named '{}'", name);
  return data_.data() + p->offset;
}

void ParamStore::set_trainable(std::string_view name, bool trainable) {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) fail_internal("no parameter named '{}'", name);
  params_[it->second].trainable = trainable;
}

void ParamStore::enable_grads() {
  size_t off = 0;
  for (auto& p : params_) {
    if (p.trainable) {
      p.grad_offset = off;
      off += ((p.numel + 15) / 16) * 16;
    } else {
      p.grad_offset = SIZE_MAX;
    }
  }
  grad_ = Tensor({static_cast<int64_t>(off)});
  grads_on_ = true;
}

float* ParamStore::grad(std::string_view name) {
  if (!grads_on_) return nullptr;
  const Param* p = find(name);
  if (!p) fail_internal("no parameter named '{}'", name);
  return p->grad_offset == SIZE_MAX ? nullptr : grad_.data() + p->grad_offset;
}

size_t ParamStore::trainable_numel() const {
  size_t n = 0;
  for (const auto& p : params_)
    if (p.trainable) n += p.numel;
  return n;
}

void ParamStore::zero_grad() {
  if (grads_on_) grad_.zero();
}

}  // namespace slm
