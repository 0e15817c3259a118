// (bindings) Save / load through the .vqc container; bytes for pickling.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "vq/core/io.h"

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
}

}  // namespace vq::py
