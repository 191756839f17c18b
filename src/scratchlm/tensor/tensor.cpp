// tensor.cpp — the Tensor type (see tensor.h).
#include "scratchlm/tensor/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "scratchlm/util/error.h"

namespace slm {

void Tensor::Free::operator()(float* p) const { std::free(p); }

size_t Tensor::numel_of(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("negative dimension in shape {}", shape_to_string(shape));
    n *= static_cast<size_t>(d);
  }
  return n;
}

Tensor::Tensor(std::vector<int64_t> shape) : shape_(std::move(shape)), numel_(numel_of(shape_)) {
  size_t bytes = ((numel_ * sizeof(float) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  data_.reset(static_cast<float*>(p));
}

Tensor::Tensor(const Tensor& other) : Tensor(other.shape_) {
  if (numel_) std::memcpy(data_.get(), other.data_.get(), bytes());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

void Tensor::fill(float v) {
  for (size_t i = 0; i < numel_; ++i) data_[i] = v;
}

void Tensor::zero() {
  if (numel_) std::memset(data_.get(), 0, bytes());
}

void Tensor::reshape(std::vector<int64_t> shape) {
  if (numel_of(shape) != numel_) fail("cannot reshape {} to {}", shape_to_string(shape_), shape_to_string(shape));
  shape_ = std::move(shape);
}

std::string Tensor::shape_str() const { return shape_to_string(shape_); }

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace slm
