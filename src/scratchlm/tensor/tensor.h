// tensor.h — the Tensor type: an owning, contiguous, 64-byte-aligned float32 array with a shape.
//
// Deliberately small (llm.c style): no strides, no autograd, no dtype zoo. Layers take raw
// pointers plus shapes; Tensor only owns memory and remembers the shape. Chapter 2–4 tensors
// (embeddings, activations, weights) are all of this kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace slm {

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape);  // zero-filled
  Tensor(std::initializer_list<int64_t> shape) : Tensor(std::vector<int64_t>(shape)) {}

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t ndim() const { return shape_.size(); }
  size_t numel() const { return numel_; }
  size_t bytes() const { return numel_ * sizeof(float); }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator[](size_t i) { return data_[i]; }
  float operator[](size_t i) const { return data_[i]; }

  void fill(float v);
  void zero();
  // Same element count, new shape (BadInput error otherwise).
  void reshape(std::vector<int64_t> shape);
  std::string shape_str() const;

  static size_t numel_of(const std::vector<int64_t>& shape);

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::vector<int64_t> shape_;
  size_t numel_ = 0;
  std::unique_ptr<float[], Free> data_;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace slm
