// PYBIND11_MODULE(_vqcodec): the compiled half of the `vqcodec` package. The public Python API
// (classes with named arguments, docstrings) lives in vqcodec/__init__.py on top of this.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "vq/error.h"
#include "vq/core/models.h"
#include "vq/simd.h"
#include "vq/version.h"

namespace vq::py {
void bind_core(pybind11::module_& m);
void bind_io(pybind11::module_& m);
void bind_index(pybind11::module_& m);
void bind_weights(pybind11::module_& m);
void bind_kv(pybind11::module_& m);
void bind_image(pybind11::module_& m);
}  // namespace vq::py

PYBIND11_MODULE(_vqcodec, m) {
  m.doc() = "vqcodec native module (use the `vqcodec` package, not this module directly)";
  // vq::Error is bad input or a malformed file: a ValueError subclass in Python.
  pybind11::register_exception<vq::Error>(m, "VQError", PyExc_ValueError);
  m.attr("__version__") = vq::version();
  m.def("simd_level", [] { return vq::simd_level_name(vq::simd_level()); },
        "The SIMD level the kernels run at: 'scalar', 'avx2' or 'avx512' (VQ_SIMD caps it).");
  m.def("models_dir", &vq::models_dir, "The folder of the bundled default models.");
  vq::py::bind_core(m);
  vq::py::bind_io(m);
  vq::py::bind_index(m);
  vq::py::bind_weights(m);
  vq::py::bind_kv(m);
  vq::py::bind_image(m);
}
