// (bindings) Quantizers, k-means, metrics, usage statistics and search.
//
// Every compute call releases the GIL. Training reports progress through the core's
// ProgressCallback; the callback re-acquires the GIL to print (verbose) and to check for
// Ctrl-C, and turns a pending KeyboardInterrupt into an exception that unwinds train().
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>

#include "arrays.h"
#include "py_communicator.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/factory.h"
#include "vq/core/index_io.h"
#include "vq/core/kmeans.h"
#include "vq/core/scalar_quantizer.h"
#include "vq/core/search.h"

namespace vq::py {

namespace {

// None → identity; (d,) → diagonal; (d, d) → full PSD.
Metric metric_from(const pyb::object& obj, size_t dim) {
  if (obj.is_none()) return Metric();
  pyb::array a = require_numeric(obj, "metric");
  if (a.ndim() == 1) {
    auto v = as_float_vector(a, "metric", dim);
    return Metric::diagonal(std::vector<float>(v.data(), v.data() + dim));
  }
  if (a.ndim() == 2) {
    auto h = as_float_matrix(a, "metric", dim);
    if (static_cast<size_t>(h.shape(0)) != dim)
      throw pyb::value_error("metric: expected a (" + std::to_string(dim) + ", " +
                             std::to_string(dim) + ") matrix");
    return Metric::full(std::vector<float>(h.data(), h.data() + dim * dim), dim);
  }
  throw pyb::value_error("metric: expected None, a (dim,) diagonal or a (dim, dim) matrix");
}

// Progress → optional stderr lines; Ctrl-C → KeyboardInterrupt out of train().
ProgressCallback make_progress(bool verbose) {
  return [verbose](const ProgressEvent& e) {
    pyb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw pyb::error_already_set();
    if (!verbose) return;
    auto sys = pyb::module_::import("sys");
    std::string line = "[vqcodec] " + e.stage + " " + std::to_string(e.step) +
                       (e.total ? "/" + std::to_string(e.total) : std::string()) +
                       "  objective " + std::to_string(e.objective);
    if (e.perplexity > 0) line += "  perplexity " + std::to_string(e.perplexity);
    sys.attr("stderr").attr("write")(line + "\n");
  };
}

struct FitArgs {
  Metric metric;
  FloatArray weights;
  bool has_weights = false;
};

void fit(Quantizer& q, const pyb::object& x_obj, const pyb::object& metric_obj,
         const pyb::object& weights_obj, int iters, uint64_t seed, const pyb::object& threads,
         bool verbose, const pyb::object& comm_obj) {
  auto x = as_float_matrix(x_obj, "X", q.dim());
  TrainOptions opt;
  opt.metric = metric_from(metric_obj, q.dim());
  FloatArray w;
  if (!weights_obj.is_none()) {
    w = as_float_vector(weights_obj, "weights", static_cast<size_t>(x.shape(0)));
    opt.weights = {w.data(), static_cast<size_t>(w.shape(0))};
  }
  if (iters < 1) throw pyb::value_error("iters must be >= 1");
  opt.iterations = iters;
  opt.seed = seed;
  opt.threads = threads.is_none() ? 0 : threads.cast<int>();
  opt.progress = make_progress(verbose);
  const std::unique_ptr<Communicator> comm = communicator_from(comm_obj);
  opt.comm = comm.get();
  pyb::gil_scoped_release release;
  q.train(view_of(x), opt);
}

pyb::array encode(const Quantizer& q, const pyb::object& x_obj) {
  auto x = as_float_matrix(x_obj, "X", q.dim());
  Codes codes;
  {
    pyb::gil_scoped_release release;
    codes = q.encode(view_of(x));
  }
  return codes_to_numpy(codes);
}

pyb::array_t<float> decode(const Quantizer& q, const pyb::object& codes_obj) {
  if (!q.is_trained()) throw pyb::value_error(q.describe() + ": quantizer is not trained");
  Codes codes = as_codes(codes_obj, q.book_bits(), "codes");
  pyb::array_t<float> out({codes.n, q.dim()});
  MatrixView<float> view(out.mutable_data(), codes.n, q.dim());
  pyb::gil_scoped_release release;
  q.decode(codes, view);
  return out;
}

pyb::tuple search(const std::shared_ptr<Quantizer>& q, const pyb::object& queries_obj,
                  const pyb::object& codes_obj, size_t k, const std::string& distance,
                  const pyb::object& threads) {
  const SearchMetric sm = parse_search_metric(distance);
  auto queries = as_float_matrix(queries_obj, "queries", q->dim());
  if (!q->is_trained()) throw pyb::value_error(q->describe() + ": quantizer is not trained");
  Codes codes = as_codes(codes_obj, q->book_bits(), "codes");
  const int nthreads = threads.is_none() ? 0 : threads.cast<int>();
  SearchResult r;
  {
    pyb::gil_scoped_release release;
    CodeIndex index(q, sm);
    index.add(codes);
    r = index.search(view_of(queries), k, nthreads);
  }
  pyb::array_t<float> d({r.nq, r.k});
  pyb::array_t<int64_t> i({r.nq, r.k});
  std::copy(r.distances.begin(), r.distances.end(), d.mutable_data());
  std::copy(r.labels.begin(), r.labels.end(), i.mutable_data());
  return pyb::make_tuple(d, i);
}

// Read-only numpy views of the codebooks, kept alive by the quantizer object.
pyb::list codebooks(const pyb::object& self) {
  const auto& q = self.cast<const Quantizer&>();
  pyb::list out;
  if (!q.is_trained()) return out;
  auto readonly = [&](const float* data, std::vector<size_t> shape) {
    pyb::array a(pyb::dtype::of<float>(), shape, {}, data, self);
    pyb::detail::array_proxy(a.ptr())->flags &= ~pyb::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    out.append(a);
  };
  if (auto* cq = dynamic_cast<const CodebookQuantizer*>(&q)) {
    for (const Codebook& b : cq->books()) readonly(b.entries.data(), {b.size(), b.dim});
  } else if (auto* sq = dynamic_cast<const ScalarQuantizer*>(&q)) {
    readonly(sq->levels().data(), {sq->levels().size()});
  }
  return out;
}

pyb::list usage(const Quantizer& q, const pyb::object& codes_obj) {
  Codes codes = as_codes(codes_obj, q.book_bits(), "codes");
  pyb::list out;
  for (size_t m = 0; m < codes.num_books(); ++m) out.append(codebook_usage(codes, m));
  return out;
}

pyb::tuple kmeans_py(const pyb::object& x_obj, size_t k, int iters, uint64_t seed,
                     const pyb::object& metric_obj, const pyb::object& weights_obj,
                     const pyb::object& threads, const std::string& init,
                     size_t max_points_per_centroid, int progressive_steps, bool verbose,
                     const pyb::object& comm_obj) {
  auto x = as_float_matrix(x_obj, "X");
  const size_t d = static_cast<size_t>(x.shape(1));
  KMeansOptions opt;
  opt.k = k;
  opt.iterations = iters;
  opt.seed = seed;
  opt.threads = threads.is_none() ? 0 : threads.cast<int>();
  opt.metric = metric_from(metric_obj, d);
  opt.max_points_per_centroid = max_points_per_centroid;
  if (init == "k-means++")
    opt.init = KMeansInit::kPlusPlus;
  else if (init == "random")
    opt.init = KMeansInit::kRandom;
  else
    throw pyb::value_error("init must be 'k-means++' or 'random', got '" + init + "'");
  FloatArray w;
  if (!weights_obj.is_none()) {
    w = as_float_vector(weights_obj, "weights", static_cast<size_t>(x.shape(0)));
    opt.weights = {w.data(), static_cast<size_t>(w.shape(0))};
  }
  opt.progress = make_progress(verbose);
  const std::unique_ptr<Communicator> comm = communicator_from(comm_obj);
  opt.comm = comm.get();
  KMeansResult result;
  std::vector<int32_t> labels;
  {
    pyb::gil_scoped_release release;
    result = progressive_steps > 0 ? kmeans_progressive(view_of(x), opt, progressive_steps) : kmeans(view_of(x), opt);
    labels = assign_to_centroids(view_of(x), result.centroids.view(), opt.metric, opt.threads);
  }
  pyb::array_t<float> c({result.centroids.rows(), d});
  std::copy(result.centroids.storage().begin(), result.centroids.storage().end(), c.mutable_data());
  pyb::array_t<int32_t> a(labels.size());
  std::copy(labels.begin(), labels.end(), a.mutable_data());
  return pyb::make_tuple(c, a);
}

}  // namespace

void bind_core(pyb::module_& m) {
  using namespace pybind11::literals;

  pyb::class_<CodebookUsage>(m, "CodebookUsage", "How often each code of one codebook is used.")
      .def_property_readonly("counts", [](const CodebookUsage& u) {
        pyb::array_t<uint64_t> a(u.counts.size());
        std::copy(u.counts.begin(), u.counts.end(), a.mutable_data());
        return a;
      })
      .def_readonly("entropy_bits", &CodebookUsage::entropy_bits)
      .def_readonly("perplexity", &CodebookUsage::perplexity)
      .def_readonly("dead", &CodebookUsage::dead)
      .def("__repr__", [](const CodebookUsage& u) {
        return "CodebookUsage(size=" + std::to_string(u.counts.size()) +
               ", perplexity=" + std::to_string(u.perplexity) + ", dead=" + std::to_string(u.dead) + ")";
      });

  pyb::class_<Quantizer, std::shared_ptr<Quantizer>>(m, "Quantizer")
      .def_property_readonly("spec", &Quantizer::describe)
      .def_property_readonly("dim", &Quantizer::dim)
      .def_property_readonly("bits_per_vector", &Quantizer::bits_per_vector)
      .def_property_readonly("book_bits", &Quantizer::book_bits)
      .def_property_readonly("is_trained", &Quantizer::is_trained)
      .def_property_readonly("has_lookup_tables", &Quantizer::has_lookup_tables)
      .def("fit", &fit, "X"_a, "metric"_a = pyb::none(), "weights"_a = pyb::none(),
           "iters"_a = 20, "seed"_a = 0, "threads"_a = pyb::none(), "verbose"_a = false, "comm"_a = pyb::none())
      .def("encode", &encode, "X"_a)
      .def("decode", &decode, "codes"_a)
      .def("search", &search, "queries"_a, "codes"_a, "k"_a = 10, "distance"_a = "l2",
           "threads"_a = pyb::none())
      .def("codebooks", &codebooks)
      .def("usage", &usage, "codes"_a);

  // The one spec grammar (vq/core/factory.h) for the Python classes: they name their
  // configuration through it instead of spelling spec strings themselves.
  m.def("quantizer_spec", [](const std::string& family, const std::vector<size_t>& numbers,
                             size_t beam, size_t group, size_t rotation) {
    QuantizerSpec spec;
    spec.family = family;
    spec.numbers = numbers;
    spec.beam = beam;
    spec.group = group;
    spec.rotation = rotation;
    const std::string text = spec.to_string();
    (void)parse_quantizer_spec(text);  // rejects what the grammar does not have
    return text;
  }, "family"_a, "numbers"_a, "beam"_a = 0, "group"_a = 0, "rotation"_a = 0);

  m.def("make_quantizer", [](const std::string& spec, size_t dim) {
    return std::shared_ptr<Quantizer>(make_quantizer(spec, dim));
  }, "spec"_a, "dim"_a);

  m.def("kmeans", &kmeans_py, "X"_a, "k"_a, "iters"_a = 20, "seed"_a = 0,
        "metric"_a = pyb::none(), "weights"_a = pyb::none(), "threads"_a = pyb::none(),
        "init"_a = "k-means++", "max_points_per_centroid"_a = 256, "progressive_steps"_a = 0,
        "verbose"_a = false, "comm"_a = pyb::none());
}

}  // namespace vq::py
