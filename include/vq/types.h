// Basic value types shared by every layer: matrix views, code arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vq/error.h"

namespace vq {

using idx_t = int64_t;
template <class T>
using Span = std::span<T>;

// A non-owning n×d row-major matrix. Row i starts at data + i*stride (stride >= cols), so
// a view can address a column block of a wider matrix without copying.
template <class T>
class MatrixView {
 public:
  MatrixView() = default;
  MatrixView(T* data, size_t rows, size_t cols) : MatrixView(data, rows, cols, cols) {}
  MatrixView(T* data, size_t rows, size_t cols, size_t stride)
      : data_(data), rows_(rows), cols_(cols), stride_(stride) {
    VQ_CHECK(stride >= cols, "MatrixView: stride ", stride, " < cols ", cols);
  }
  // Implicit view-to-const conversion.
  template <class U>
    requires std::is_same_v<const U, T>
  MatrixView(const MatrixView<U>& o)  // NOLINT(google-explicit-constructor)
      : data_(o.data()), rows_(o.rows()), cols_(o.cols()), stride_(o.stride()) {}

  T* data() const { return data_; }
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t stride() const { return stride_; }
  bool contiguous() const { return stride_ == cols_; }
  bool empty() const { return rows_ == 0 || cols_ == 0; }
  T* row_ptr(size_t i) const { return data_ + i * stride_; }
  Span<T> row(size_t i) const { return {data_ + i * stride_, cols_}; }
  T& operator()(size_t i, size_t j) const { return data_[i * stride_ + j]; }
  // Rows [begin, begin + count). Checked: a slice past the end is a caller's bug that would
  // otherwise read out of bounds far from where it was made.
  MatrixView rows_slice(size_t begin, size_t count) const {
    VQ_CHECK(begin <= rows_ && count <= rows_ - begin, "rows_slice(", begin, ", ", count, ") of a view with ",
             rows_, " rows");
    return {data_ + begin * stride_, count, cols_, stride_};
  }
  // Columns [begin, begin + count) of every row (checked like rows_slice).
  MatrixView cols_slice(size_t begin, size_t count) const {
    VQ_CHECK(begin <= cols_ && count <= cols_ - begin, "cols_slice(", begin, ", ", count, ") of a view with ",
             cols_, " columns");
    return {data_ + begin, rows_, count, stride_};
  }

 private:
  T* data_ = nullptr;
  size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

// An owning n×d row-major float matrix (contiguous).
class Matrix {
 public:
  Matrix() = default;
  Matrix(size_t rows, size_t cols, float fill = 0.f) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float* row_ptr(size_t i) { return data_.data() + i * cols_; }
  const float* row_ptr(size_t i) const { return data_.data() + i * cols_; }
  float& operator()(size_t i, size_t j) { return data_[i * cols_ + j]; }
  float operator()(size_t i, size_t j) const { return data_[i * cols_ + j]; }
  MatrixView<float> view() { return {data_.data(), rows_, cols_}; }
  MatrixView<const float> view() const { return {data_.data(), rows_, cols_}; }
  operator MatrixView<const float>() const { return view(); }  // NOLINT
  std::vector<float>& storage() { return data_; }
  const std::vector<float>& storage() const { return data_; }

 private:
  size_t rows_ = 0, cols_ = 0;
  std::vector<float> data_;
};

// Codes of n vectors under M codebooks: an n×M row-major array of indices.
// Codebook m has 2^bits[m] entries (1 <= bits[m] <= 16), so every index fits in uint16_t.
// This is the unpacked working form; bitpack.h turns it into the packed on-disk form.
struct Codes {
  size_t n = 0;                // number of vectors
  std::vector<uint8_t> bits;   // size M: bits of each codebook
  std::vector<uint16_t> data;  // size n*M, row-major: data[i*M + m] is vector i's code in book m

  Codes() = default;
  Codes(size_t n_vectors, std::vector<uint8_t> bits_per_book)
      : n(n_vectors), bits(std::move(bits_per_book)), data(n * bits.size(), 0) {}

  size_t num_books() const { return bits.size(); }
  size_t bits_per_vector() const {
    size_t s = 0;
    for (uint8_t b : bits) s += b;
    return s;
  }
  uint16_t* row(size_t i) { return data.data() + i * bits.size(); }
  const uint16_t* row(size_t i) const { return data.data() + i * bits.size(); }
  uint16_t operator()(size_t i, size_t m) const { return data[i * bits.size() + m]; }
  uint16_t& operator()(size_t i, size_t m) { return data[i * bits.size() + m]; }
  // Throws vq::Error if any index is out of range of its codebook or sizes disagree.
  void validate() const;
};

}  // namespace vq
