// Quantizer: THE interface. A quantizer is trained once and is then a pure function between
// float vectors and codes.
//
//   train(x, options)    x: n × dim() float rows. Learns codebooks under options.metric
//                        (identity / diagonal / full H) and options.weights (one per row).
//   encode(x) -> Codes   n × num_books() indices; uses the metric the quantizer was trained with.
//   decode(codes, out)   out: n × dim() floats.
//   lookup_tables(q)     per-book tables for search over codes (capability: has_lookup_tables()).
//   describe()           the configuration in the name grammar ("PQ16x8", "RVQ8x8b4"); it
//                        round-trips through make_quantizer(describe(), dim) (factory.h).
//   save / load          through the .vqc container (io.h).
//
// Argument order everywhere: inputs, then outputs. All methods but train() are const and safe
// to call from several threads at once.
#pragma once

#include <memory>
#include <string>

#include "vq/core/communicator.h"
#include "vq/core/lookup_table.h"
#include "vq/core/metric.h"
#include "vq/core/progress.h"
#include "vq/types.h"

namespace vq {

class ContainerWriter;
class ContainerReader;

struct TrainOptions {
  Metric metric;                   // identity by default
  Span<const float> weights;       // empty, or one weight >= 0 per training row
  uint64_t seed = 1234;
  int threads = 0;                 // 0: OpenMP default
  int iterations = 20;             // Lloyd iterations per k-means run
  // k-means subsampling (see KMeansOptions); 0 = use every training vector.
  size_t max_points_per_centroid = 256;
  ProgressCallback progress;       // optional
  // Distributed training (communicator.h): x and weights are this rank's rows, and every rank
  // ends with the same codebooks. Null: this process alone. Quantizers that cannot train this
  // way (supports_distributed_training() false) refuse a communicator of more than one rank.
  const Communicator* comm = nullptr;
};

class Quantizer {
 public:
  virtual ~Quantizer() = default;

  virtual std::string describe() const = 0;
  virtual size_t dim() const = 0;
  // Bits of each codebook (size num_books()); Codes returned by encode() carry the same.
  virtual std::vector<uint8_t> book_bits() const = 0;
  size_t num_books() const { return book_bits().size(); }
  size_t bits_per_vector() const;
  virtual bool is_trained() const = 0;
  // The metric the quantizer was trained with (identity before training).
  virtual const Metric& metric() const = 0;

  virtual void train(MatrixView<const float> x, const TrainOptions& options) = 0;
  virtual bool supports_distributed_training() const { return false; }
  virtual Codes encode(MatrixView<const float> x) const = 0;
  virtual void decode(const Codes& codes, MatrixView<float> out) const = 0;
  Matrix decode(const Codes& codes) const;

  virtual bool has_lookup_tables() const { return false; }
  // Tables for one query (size dim()). Throws vq::Error if !has_lookup_tables().
  virtual LookupTable lookup_tables(Span<const float> query, SearchMetric metric) const;

  // Quantizer-specific state (codebooks, scales, metric) as chunks; io.h adds the metadata,
  // the describe string and self-test samples around it.
  virtual void save_state(ContainerWriter& out) const = 0;
  virtual void load_state(const ContainerReader& in) = 0;

 protected:
  // Shared argument validation: trained, x.cols() == dim(), finite values, etc.
  void check_trained(const char* who) const;
  void check_input(MatrixView<const float> x, const char* who) const;
  void check_codes(const Codes& codes, const char* who) const;
  void check_output(const Codes& codes, MatrixView<float> out, const char* who) const;
  // Collective under options.comm: every rank throws if any rank's input is bad. Returns the
  // global number of training rows.
  size_t check_train_input(MatrixView<const float> x, const TrainOptions& options) const;
};

}  // namespace vq
