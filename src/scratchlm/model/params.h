// params.h — the named parameter registry: every weight of a model lives in one contiguous fp32
// buffer under its Hugging Face GPT-2 name (wte.weight, h.0.attn.c_attn.weight, ...), in the
// Hugging Face layout, with a trainable flag. Gradients live in a second buffer that covers only
// the trainable parameters (frozen ones get no gradient memory and no optimizer state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scratchlm/tensor/tensor.h"

namespace slm {

struct Param {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // into the data buffer
  size_t numel = 0;
  bool trainable = true;
  size_t grad_offset = SIZE_MAX;  // into the grad buffer; SIZE_MAX when frozen or grads are off
};

class ParamStore {
 public:
  // Declare parameters (before finalize()).
  void add(const std::string& name, std::vector<int64_t> shape);
  // Allocate the data buffer (zeroed).
  void finalize();

  const std::vector<Param>& params() const { return params_; }
  std::vector<Param>& params() { return params_; }
  const Param* find(std::string_view name) const;
  float* data(std::string_view name);
  const float* data(std::string_view name) const;
  float* data_all() { return data_.data(); }
  const float* data_all() const { return data_.data(); }
  size_t numel() const { return data_.numel(); }

  // Mark trainable/frozen by predicate on the name; call enable_grads() afterwards.
  void set_trainable(std::string_view name, bool trainable);
  // (Re)allocate the gradient buffer for the trainable parameters, zeroed.
  void enable_grads();
  bool grads_enabled() const { return grads_on_; }
  // Gradient of a parameter, or nullptr when it is frozen (or grads are off).
  float* grad(std::string_view name);
  float* grad_all() { return grad_.data(); }
  size_t grad_numel() const { return grads_on_ ? grad_.numel() : 0; }
  size_t trainable_numel() const;
  void zero_grad();

 private:
  std::vector<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  Tensor data_, grad_;
  bool finalized_ = false, grads_on_ = false;
};

}  // namespace slm
