// Metric: the H in d_H(x, x̂) = (x − x̂)ᵀ H (x − x̂), the one idea under every quantizer here.
//
//   identity  H = I                     plain L2 (tokenizers, codecs)
//   diagonal  H = diag(h), h >= 0       per-dimension weights (luma over chroma, band weights)
//   full      H symmetric PSD, d×d      LLM weights (H = XᵀX/n), KV keys (H = E[qqᵀ])
//
// A metric is immutable once built. For diagonal and full metrics it caches a factor L with
// H = L Lᵀ (L is d×r, r = rank(H)), so whiten(x) = Lᵀx turns d_H into plain squared L2 in r
// dimensions: quantizers that act on whole vectors train and assign in the whitened space and
// keep centroids in the original space (the H-weighted mean is the plain mean, so centroid
// updates need no whitening). Singular H is allowed (r < d); indefinite H is rejected.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq {

class Metric {
 public:
  enum class Kind : uint8_t { kIdentity = 0, kDiagonal = 1, kFull = 2 };

  Metric() = default;  // identity, any dimension
  static Metric identity() { return Metric(); }
  // h: size d, every entry finite and >= 0, not all zero.
  static Metric diagonal(std::vector<float> h);
  // h: d×d row-major, symmetric (to 1e-4 relative) and positive semi-definite (eigenvalues
  // >= -1e-6·max eigenvalue; tiny negative ones are clamped to zero). Throws vq::Error otherwise.
  static Metric full(std::vector<float> h, size_t d);
  // Full metric from samples: H = Σ w_i s_i s_iᵀ / Σ w_i + damp·mean(diag)·I (the GPTQ/AQLM
  // calibration Hessian when s are layer inputs, A²ATS's E[qqᵀ] when s are queries).
  static Metric from_samples(MatrixView<const float> samples, float damp = 0.f);

  Kind kind() const { return kind_; }
  bool is_identity() const { return kind_ == Kind::kIdentity; }
  // Dimension the metric was built for; 0 for identity (fits any dimension).
  size_t dim() const { return dim_; }
  // Rank of H: columns of the whitening factor (dim() for diagonal; d for identity of dim d).
  size_t whitened_dim(size_t d) const { return kind_ == Kind::kFull ? rank_ : d; }
  // Throws unless the metric applies to vectors of dimension d.
  void check_dim(size_t d, const char* who) const;

  // Diagonal entries h (size d) for a diagonal metric; H row-major (d*d) for a full metric.
  const std::vector<float>& values() const { return h_; }

  // (a − b)ᵀ H (a − b) for vectors of size d.
  float distance(const float* a, const float* b, size_t d) const;
  // vᵀ H v.
  float norm2(const float* v, size_t d) const;
  // out (n × whitened_dim(d)) = x Lᵀ-whitened rows: ||whiten(a) − whiten(b)||² = d_H(a, b).
  Matrix whiten(MatrixView<const float> x) const;
  // The metric restricted to dimensions [offset, offset + len): the diagonal block of H.
  Metric block(size_t offset, size_t len) const;

  std::string describe() const;  // "identity", "diagonal(d=64)", "full(d=128,rank=120)"

  // Serialised form used by the container: kind byte, u64 d, d or d*d floats.
  std::vector<uint8_t> serialize() const;
  static Metric deserialize(Span<const uint8_t> bytes);

 private:
  Kind kind_ = Kind::kIdentity;
  size_t dim_ = 0;
  size_t rank_ = 0;
  std::vector<float> h_;       // diag h or full H
  std::vector<float> factor_;  // diag: sqrt(h) (size d); full: Lᵀ as r×d row-major
};

}  // namespace vq
