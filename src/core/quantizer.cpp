#include "vq/core/quantizer.h"

#include <cmath>

#include "vq/core/limits.h"

namespace vq {

void Codes::validate() const {
  VQ_CHECK(data.size() == n * bits.size(), "codes: ", data.size(), " indices for ", n,
           " vectors × ", bits.size(), " books");
  for (size_t m = 0; m < bits.size(); ++m)
    VQ_CHECK(bits[m] >= 1 && bits[m] <= 16, "codes: book ", m, " has ", int(bits[m]),
             " bits; expected 1..16");
  const size_t books = bits.size();
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < books; ++m)
      VQ_CHECK(bits[m] == 16 || data[i * books + m] < (1u << bits[m]), "codes: vector ", i,
               " book ", m, ": index ", data[i * books + m], " out of range for ", int(bits[m]),
               " bits");
}

size_t Quantizer::bits_per_vector() const {
  size_t s = 0;
  for (uint8_t b : book_bits()) s += b;
  return s;
}

Matrix Quantizer::decode(const Codes& codes) const {
  Matrix out(codes.n, dim());
  decode(codes, out.view());
  return out;
}

LookupTable Quantizer::lookup_tables(Span<const float>, SearchMetric) const {
  VQ_THROW(describe(), ": this quantizer has no lookup tables (has_lookup_tables() is false); "
           "search its decoded vectors instead");
}

void Quantizer::check_trained(const char* who) const {
  VQ_CHECK(is_trained(), describe(), "::", who, ": quantizer is not trained");
}

void Quantizer::check_input(MatrixView<const float> x, const char* who) const {
  check_trained(who);
  VQ_CHECK(x.cols() == dim(), describe(), "::", who, ": input has ", x.cols(),
           " columns, quantizer dimension is ", dim());
  for (size_t i = 0; i < x.rows(); ++i) {
    const float* r = x.row_ptr(i);
    for (size_t j = 0; j < x.cols(); ++j)
      VQ_CHECK(std::isfinite(r[j]), describe(), "::", who, ": non-finite value ", r[j],
               " at row ", i, ", column ", j);
  }
  check_squared_norms(x, describe() + "::" + who);
}

void Quantizer::check_codes(const Codes& codes, const char* who) const {
  check_trained(who);
  VQ_CHECK(codes.bits == book_bits(), describe(), "::", who, ": codes have ", codes.num_books(),
           " books of other widths than this quantizer's ", num_books());
  codes.validate();
}

void Quantizer::check_output(const Codes& codes, MatrixView<float> out, const char* who) const {
  check_codes(codes, who);
  VQ_CHECK(out.rows() == codes.n && out.cols() == dim(), describe(), "::", who,
           ": output is ", out.rows(), "×", out.cols(), ", expected ", codes.n, "×", dim());
}

size_t Quantizer::check_train_input(MatrixView<const float> x, const TrainOptions& options) const {
  const Communicator& comm = options.comm ? *options.comm : self_communicator();
  VQ_CHECK(comm.size() == 1 || supports_distributed_training(), describe(),
           "::train: this quantizer does not train across processes (", comm.size(), " ranks)");
  // Each rank checks its own rows; every rank then throws if any failed, so that no rank is left
  // waiting in the trainer's first collective.
  // Messages name global rows: under several ranks, this rank's first row is row `first`.
  const size_t first = comm.size() > 1 ? global_rows(comm, x.rows()).offset : 0;
  std::string error;
  double weight = 0.0;
  try {
    VQ_CHECK(comm.size() > 1 || !x.empty(), describe(), "::train: empty training set (", x.rows(), "×", x.cols(), ")");
    VQ_CHECK(x.cols() == dim() || (x.rows() == 0 && comm.size() > 1), describe(), "::train: training set has ",
             x.cols(), " columns, quantizer dimension is ", dim());
    for (size_t i = 0; i < x.rows(); ++i) {
      const float* r = x.row_ptr(i);
      for (size_t j = 0; j < x.cols(); ++j)
        VQ_CHECK(std::isfinite(r[j]), describe(), "::train: non-finite value ", r[j], " at row ", first + i,
                 ", column ", j);
    }
    check_squared_norms(x, describe() + "::train", first);
    if (!options.weights.empty()) {
      VQ_CHECK(options.weights.size() == x.rows(), describe(), "::train: ", options.weights.size(),
               " weights for ", x.rows(), " training vectors");
      for (size_t i = 0; i < options.weights.size(); ++i) {
        const float w = options.weights[i];
        VQ_CHECK(std::isfinite(w) && w >= 0.f, describe(), "::train: weight ", first + i, " is ", w,
                 "; weights must be finite and >= 0");
        weight += w;
      }
    } else {
      weight = static_cast<double>(x.rows());
    }
    options.metric.check_dim(dim(), "train");
  } catch (const Error& e) {
    error = e.what();
  }
  throw_if_any_failed(comm, error);
  if (comm.size() == 1) {
    VQ_CHECK(weight > 0, describe(), "::train: all weights are zero");
    return x.rows();
  }
  std::vector<double> totals{static_cast<double>(x.rows()), weight};
  comm.allreduce_sum(totals);
  VQ_CHECK(totals[0] > 0, describe(), "::train: empty training set on every rank");
  VQ_CHECK(totals[1] > 0, describe(), "::train: all weights are zero");
  return static_cast<size_t>(totals[0]);
}

}  // namespace vq
