// (bindings) CodeIndex: a persistent, searchable collection of codes (vq/core/search.h,
// vq/core/index_io.h).
//
// The index owns its own copy of the quantizer, taken at construction: the Python object the
// caller passed may be fit() again later, which must not change the codebooks the stored codes
// refer to. A reader-writer lock lets any number of threads search at once (the GIL is released
// while they scan) while add() waits for them to finish.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <shared_mutex>

#include "arrays.h"
#include "vq/core/index_io.h"
#include "vq/core/io.h"

namespace vq::py {

namespace pyb = pybind11;

namespace {

std::shared_ptr<Quantizer> copy_of(const Quantizer& q) {
  if (!q.is_trained()) throw pyb::value_error(q.describe() + ": quantizer is not trained");
  return std::shared_ptr<Quantizer>(quantizer_from_bytes(quantizer_to_bytes(q)));
}

class PyIndex {
 public:
  PyIndex(const Quantizer& q, const std::string& distance)
      : index_(std::make_unique<CodeIndex>(copy_of(q), parse_search_metric(distance))) {}
  explicit PyIndex(CodeIndex&& index) : index_(std::make_unique<CodeIndex>(std::move(index))) {}

  void add(const pyb::handle& codes_obj) {
    const Codes codes = as_codes(codes_obj, index_->quantizer().book_bits(), "codes");
    pyb::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    index_->add(codes);
  }

  pyb::tuple search(const pyb::handle& queries_obj, size_t k, const pyb::object& threads) const {
    const FloatArray queries = as_float_matrix(queries_obj, "queries", index_->quantizer().dim());
    if (k < 1) throw pyb::value_error("k must be >= 1");
    const int nthreads = threads.is_none() ? 0 : threads.cast<int>();
    SearchResult r;
    {
      pyb::gil_scoped_release release;
      std::shared_lock lock(mutex_);
      r = index_->search(view_of(queries), k, nthreads);
    }
    pyb::array_t<float> d({r.nq, r.k});
    pyb::array_t<int64_t> i({r.nq, r.k});
    std::copy(r.distances.begin(), r.distances.end(), d.mutable_data());
    std::copy(r.labels.begin(), r.labels.end(), i.mutable_data());
    return pyb::make_tuple(d, i);
  }

  size_t size() const {
    std::shared_lock lock(mutex_);
    return index_->size();
  }
  std::string distance() const { return search_metric_name(index_->metric()); }
  // A copy, for the same reason the constructor takes one.
  std::shared_ptr<Quantizer> quantizer() const { return copy_of(index_->quantizer()); }

  pyb::array codes() const {
    Codes c;
    {
      pyb::gil_scoped_release release;
      std::shared_lock lock(mutex_);
      c = index_->codes();
    }
    return codes_to_numpy(c);
  }

  void save(const std::string& path) const {
    pyb::gil_scoped_release release;
    std::shared_lock lock(mutex_);
    save_index(path, *index_);
  }

  pyb::bytes to_bytes() const {
    std::vector<uint8_t> b;
    {
      pyb::gil_scoped_release release;
      std::shared_lock lock(mutex_);
      b = index_to_bytes(*index_);
    }
    return pyb::bytes(reinterpret_cast<const char*>(b.data()), b.size());
  }

 private:
  std::unique_ptr<CodeIndex> index_;
  mutable std::shared_mutex mutex_;
};

}  // namespace

void bind_index(pyb::module_& m) {
  using namespace pybind11::literals;
  pyb::class_<PyIndex>(m, "CodeIndex")
      .def(pyb::init<const Quantizer&, const std::string&>(), "quantizer"_a, "distance"_a = "l2")
      .def("add", &PyIndex::add, "codes"_a)
      .def("search", &PyIndex::search, "queries"_a, "k"_a = 10, "threads"_a = pyb::none())
      .def("__len__", &PyIndex::size)
      .def_property_readonly("distance", &PyIndex::distance)
      .def("quantizer", &PyIndex::quantizer)
      .def("codes", &PyIndex::codes)
      .def("save", &PyIndex::save, "path"_a)
      .def("to_bytes", &PyIndex::to_bytes);
  m.def("load_index", [](const std::string& path) {
    std::unique_ptr<PyIndex> out;
    {
      pyb::gil_scoped_release release;
      out = std::make_unique<PyIndex>(load_index(path));
    }
    return out;
  }, "path"_a);
  m.def("index_from_bytes", [](const pyb::bytes& b) {
    const std::string s = b;
    return std::make_unique<PyIndex>(index_from_bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}));
  }, "data"_a);
}

}  // namespace vq::py
