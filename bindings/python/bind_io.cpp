// (bindings) Save / load through the .vqc container; bytes for pickling.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "vq/core/io.h"
#include "vq/core/limits.h"

namespace vq::py {

namespace pyb = pybind11;

void bind_io(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("save", [](const Quantizer& q, const std::string& path) {
    pyb::gil_scoped_release release;
    save_quantizer(path, q);
  }, "quantizer"_a, "path"_a);
  m.def("load", [](const std::string& path) {
    std::unique_ptr<Quantizer> q;
    {
      pyb::gil_scoped_release release;
      q = load_quantizer(path);
    }
    return std::shared_ptr<Quantizer>(std::move(q));
  }, "path"_a);
  m.def("to_bytes", [](const Quantizer& q) {
    const auto bytes = quantizer_to_bytes(q);
    return pyb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }, "quantizer"_a);
  m.def("from_bytes", [](const pyb::bytes& b) {
    const std::string s = b;
    auto q = quantizer_from_bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    return std::shared_ptr<Quantizer>(std::move(q));
  }, "data"_a);
  // What `vq encode` writes for vectors and `vq decode` reads (io.h CodesFile).
  m.def("save_codes", [](const Quantizer& q, const pyb::handle& codes_obj, const std::string& path,
                         const std::string& source) {
    const Codes codes = as_codes(codes_obj, q.book_bits(), "codes");
    pyb::gil_scoped_release release;
    save_codes(path, q, codes, source);
  }, "quantizer"_a, "codes"_a, "path"_a, "source"_a = "");
  m.def("load_codes", [](const std::string& path) {
    CodesFile f;
    {
      pyb::gil_scoped_release release;
      f = load_codes(path);
    }
    return pyb::make_tuple(std::shared_ptr<Quantizer>(std::move(f.quantizer)), codes_to_numpy(f.codes), f.source);
  }, "path"_a);
  m.def("set_max_decoded_bytes", &set_max_decoded_bytes, "bytes"_a);
  m.def("max_decoded_bytes", &max_decoded_bytes);
}

}  // namespace vq::py
