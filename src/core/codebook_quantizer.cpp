#include "vq/core/codebook_quantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/distances.h"
#include "vq/core/container.h"

namespace vq {
namespace {

// Entries read from a file must keep every distance the encoders compute finite. Encoders work
// in the metric's whitened space, so that is where the entries are measured: with the sum S of
// the books' largest whitened entry norms, any reconstruction has whitened norm <= S, and
// (2S)^2 < FLT_MAX keeps ||x - x_hat||_H^2 in range for any input of whitened norm <= S. A damaged
// or forged book with a NaN, an infinity or an entry near 1e19, or a metric whose weights blow
// finite entries up, would otherwise make every candidate distance inf or NaN, and the beam
// search would find no nearest entry at all.
void check_loaded_magnitudes(const std::vector<Codebook>& books, const Metric& metric, size_t dim,
                             const std::string& context) {
  double sum = 0;
  for (size_t m = 0; m < books.size(); ++m) {
    const Codebook& b = books[m];
    for (size_t k = 0; k < b.entries.rows(); ++k)
      for (size_t j = 0; j < b.dim; ++j)
        VQ_CHECK(std::isfinite(b.entry(k)[j]), context, ": codebook ", m, " entry ", k,
                 " holds a non-finite value");
    Matrix whitened;
    if (!metric.is_identity()) {
      const Metric block = b.offset == 0 && b.dim == dim ? metric : metric.block(b.offset, b.dim);
      try {
        whitened = block.whiten(b.entries.view());
      } catch (const Error&) {
        VQ_THROW(context, ": codebook ", m, " overflows float once the stored metric is applied");
      }
    }
    const MatrixView<const float> e = metric.is_identity() ? b.entries.view() : whitened.view();
    double largest = 0;
    for (size_t k = 0; k < e.rows(); ++k) {
      double norm2 = 0;
      for (size_t j = 0; j < e.cols(); ++j) norm2 += double(e(k, j)) * e(k, j);
      largest = std::max(largest, norm2);
    }
    sum += std::sqrt(largest);
  }
  VQ_CHECK(4 * sum * sum < double(std::numeric_limits<float>::max()), context,
           ": codebook entries too large (whitened norms summing to ", sum,
           "): distances would overflow float");
}

}  // namespace

CodebookQuantizer::CodebookQuantizer(size_t dim, std::vector<uint8_t> bits)
    : dim_(dim), bits_(std::move(bits)) {
  VQ_CHECK(dim_ > 0, "quantizer dimension must be > 0");
  VQ_CHECK(!bits_.empty(), "quantizer needs at least one codebook");
  for (uint8_t b : bits_) VQ_CHECK(b >= 1 && b <= 16, "codebook bits must be 1..16, got ", int(b));
}

void CodebookQuantizer::set_books(std::vector<Codebook> books, Metric metric) {
  VQ_CHECK(books.size() == bits_.size(), describe(), ": ", books.size(), " codebooks, expected ",
           bits_.size());
  std::vector<bool> covered(dim_, false);
  for (size_t m = 0; m < books.size(); ++m) {
    const Codebook& b = books[m];
    VQ_CHECK(b.bits == bits_[m], describe(), ": codebook ", m, " has ", int(b.bits),
             " bits, expected ", int(bits_[m]));
    VQ_CHECK(b.dim > 0 && b.offset <= dim_ && b.dim <= dim_ - b.offset, describe(), ": codebook ",
             m, " spans [", b.offset, ", ", b.offset + b.dim, ") outside [0, ", dim_, ")");
    VQ_CHECK(b.entries.rows() == b.size() && b.entries.cols() == b.dim, describe(),
             ": codebook ", m, " entries are ", b.entries.rows(), "×", b.entries.cols(),
             ", expected ", b.size(), "×", b.dim);
    for (float v : b.entries.storage())
      VQ_CHECK(std::isfinite(v), describe(), ": codebook ", m, " has a non-finite entry");
    for (size_t j = b.offset; j < b.offset + b.dim; ++j) covered[j] = true;
  }
  for (size_t j = 0; j < dim_; ++j)
    VQ_CHECK(covered[j], describe(), ": dimension ", j, " is not covered by any codebook");
  metric.check_dim(dim_, "set_books");
  books_ = std::move(books);
  metric_ = std::move(metric);
  transposed_.assign(books_.size(), {});
  entry_norms_.assign(books_.size(), {});
  for (size_t m = 0; m < books_.size(); ++m) {
    const Codebook& b = books_[m];
    transposed_[m].resize(b.dim * b.size());
    entry_norms_[m].resize(b.size());
    for (size_t k = 0; k < b.size(); ++k) {
      for (size_t j = 0; j < b.dim; ++j) transposed_[m][j * b.size() + k] = b.entry(k)[j];
      entry_norms_[m][k] = kernels::dot(b.entry(k), b.entry(k), b.dim);
    }
  }
  trained_ = true;
}

void CodebookQuantizer::accumulate(const uint16_t* codes, float* out_row) const {
  for (size_t m = 0; m < books_.size(); ++m) {
    const Codebook& b = books_[m];
    const float* e = b.entry(codes[m]);
    float* o = out_row + b.offset;
    for (size_t j = 0; j < b.dim; ++j) o[j] += e[j];
  }
}

void CodebookQuantizer::decode(const Codes& codes, MatrixView<float> out) const {
  check_output(codes, out, "decode");
  const auto n = static_cast<int64_t>(codes.n);
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t i = 0; i < n; ++i) {
    float* o = out.row_ptr(i);
    std::fill(o, o + dim_, 0.f);
    accumulate(codes.row(i), o);
  }
}

bool CodebookQuantizer::books_disjoint() const {
  std::vector<bool> used(dim_, false);
  for (const Codebook& b : books_)
    for (size_t j = b.offset; j < b.offset + b.dim; ++j) {
      if (used[j]) return false;
      used[j] = true;
    }
  return true;
}

namespace {

// out row i = q_i · every entry of a book given transposed (dim × K), accumulated one query
// dimension at a time (the kernel keeps tiles of 64 or 32 entries in registers; same bits).
void book_products(const float* queries, size_t n, size_t query_stride, const float* transposed, size_t dim,
                   size_t K, float* out, size_t out_stride) {
  if (K % 32 == 0) return kernels::transposed_products(queries, n, query_stride, transposed, dim, K, out, out_stride);
  for (size_t i = 0; i < n; ++i) {
    const float* q = queries + i * query_stride;
    float* t = out + i * out_stride;
    std::fill(t, t + K, 0.f);
    for (size_t j = 0; j < dim; ++j) {
      const float qj = q[j];
      const float* col = transposed + j * K;
      for (size_t k = 0; k < K; ++k) t[k] += qj * col[k];
    }
  }
}

}  // namespace

LookupTable CodebookQuantizer::lookup_tables(Span<const float> query, SearchMetric metric) const {
  check_trained("lookup_tables");
  VQ_CHECK(query.size() == dim_, describe(), "::lookup_tables: query has ", query.size(),
           " values, quantizer dimension is ", dim_);
  check_input(MatrixView<const float>(query.data(), 1, dim_), "lookup_tables");  // finite, norm in range
  LookupTable lut;
  lut.metric = metric;
  lut.offsets.reserve(books_.size() + 1);
  lut.offsets.push_back(0);
  for (const Codebook& b : books_) lut.offsets.push_back(lut.offsets.back() + b.size());
  lut.values.resize(lut.offsets.back());
  // L2 splits into per-book terms only when books own disjoint dimensions; otherwise use
  // ||q − x̂||² = ||q||² − 2 q·x̂ + ||x̂||², with ||x̂||² stored per vector by the index.
  const bool exact_l2 = metric == SearchMetric::kL2 && books_disjoint();
  for (size_t m = 0; m < books_.size(); ++m) {
    const Codebook& b = books_[m];
    const size_t K = b.size();
    const float* q = query.data() + b.offset;
    float* t = lut.values.data() + lut.offsets[m];
    book_products(q, 1, 0, transposed_[m].data(), b.dim, K, t, 0);
    if (exact_l2) {  // ||q_m − c||² = ||q_m||² − 2 q_m·c + ||c||²
      const float qn = kernels::dot(q, q, b.dim);
      const float* norms = entry_norms_[m].data();
      for (size_t k = 0; k < K; ++k) t[k] = std::max(0.f, qn - 2.f * t[k] + norms[k]);
    } else if (metric == SearchMetric::kL2) {
      for (size_t k = 0; k < K; ++k) t[k] *= -2.f;
    }
  }
  if (metric == SearchMetric::kL2 && !exact_l2) {
    lut.bias = kernels::dot(query.data(), query.data(), dim_);
    lut.add_norms = true;
  }
  return lut;
}

void CodebookQuantizer::inner_product_tables(const float* queries, size_t n, size_t query_stride, float* out,
                                             size_t out_stride) const {
  check_trained("inner_product_tables");
  size_t offset = 0;
  for (size_t m = 0; m < books_.size(); ++m) {
    const Codebook& b = books_[m];
    book_products(queries + b.offset, n, query_stride, transposed_[m].data(), b.dim, b.size(), out + offset,
                  out_stride);
    offset += b.size();
  }
}

std::vector<float> CodebookQuantizer::decoded_norms(const Codes& codes) const {
  check_codes(codes, "decoded_norms");
  std::vector<float> norms(codes.n);
  const auto n = static_cast<int64_t>(codes.n);
#pragma omp parallel if (n > 4096)
  {
    std::vector<float> row(dim_);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      std::fill(row.begin(), row.end(), 0.f);
      accumulate(codes.row(i), row.data());
      norms[i] = kernels::dot(row.data(), row.data(), dim_);
    }
  }
  return norms;
}

void CodebookQuantizer::save_state(ContainerWriter& out) const {
  check_trained("save");
  out.add("MTRC", metric_.serialize());
  ByteWriter w;
  w.u64(books_.size());
  for (const Codebook& b : books_) {
    w.u64(b.offset);
    w.u64(b.dim);
    w.u8(b.bits);
    w.f32s(b.entries.storage());
  }
  out.add("BOOK", w.take());
}

void CodebookQuantizer::load_state(const ContainerReader& in) {
  Metric metric = Metric::deserialize(in.payload("MTRC"));
  metric.check_dim(dim_, "load_state");
  ByteReader r = in.chunk("BOOK");
  const auto count = r.count(bits_.size(), "codebook count");
  VQ_CHECK(count == bits_.size(), r.context(), ": ", count, " codebooks, ", describe(),
           " has ", bits_.size());
  std::vector<Codebook> books(count);
  for (Codebook& b : books) {
    b.offset = r.count(dim_, "codebook offset");
    b.dim = r.count(dim_, "codebook dimension");
    b.bits = r.u8();
    VQ_CHECK(b.bits >= 1 && b.bits <= 16, r.context(), ": codebook bits ", int(b.bits),
             " outside 1..16");
    b.entries = Matrix(b.size(), b.dim);
    b.entries.storage() = r.f32s(b.size() * b.dim);
  }
  r.expect_end();
  check_loaded_magnitudes(books, metric, dim_, r.context());
  set_books(std::move(books), std::move(metric));
}

}  // namespace vq
