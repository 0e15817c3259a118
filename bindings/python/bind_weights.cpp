// (bindings) vq::weights: compress a weight matrix under H and multiply straight from codes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "vq/weights/compress.h"
#include "vq/weights/gemv.h"

namespace pyb = pybind11;

namespace vq::py {

namespace {

pyb::array_t<float> to_numpy(const Matrix& m) {
  pyb::array_t<float> out({m.rows(), m.cols()});
  std::copy(m.storage().begin(), m.storage().end(), out.mutable_data());
  return out;
}

pyb::array_t<float> matvec(const weights::GemvKernel& k, const pyb::object& x) {
  const FloatArray xa = as_float_vector(x, "x", k.cols());
  pyb::array_t<float> y(k.rows());
  {
    pyb::gil_scoped_release release;
    k.matvec(Span<const float>(xa.data(), k.cols()), Span<float>(y.mutable_data(), k.rows()));
  }
  return y;
}

pyb::array_t<float> matmul(const weights::GemvKernel& k, const pyb::object& x) {
  const FloatArray xa = as_float_matrix(x, "X", k.cols());
  const MatrixView<const float> xv = view_of(xa);
  pyb::array_t<float> y({xv.rows(), k.rows()});
  {
    pyb::gil_scoped_release release;
    k.matmul(xv, MatrixView<float>(y.mutable_data(), xv.rows(), k.rows()));
  }
  return y;
}

}  // namespace

void bind_weights(pyb::module_& m) {
  using weights::CompressedMatrix;
  pyb::class_<CompressedMatrix>(m, "CompressedMatrix")
      .def_property_readonly("scheme", [](const CompressedMatrix& c) { return c.scheme.str(); })
      .def_property_readonly("shape", [](const CompressedMatrix& c) { return pyb::make_tuple(c.rows, c.cols); })
      .def_property_readonly("bits_per_weight", &CompressedMatrix::bits_per_weight)
      .def("decode", [](const CompressedMatrix& c) {
        Matrix d;
        {
          pyb::gil_scoped_release release;
          d = c.decode();
        }
        return to_numpy(d);
      })
      .def("matvec", [](const CompressedMatrix& c, const pyb::object& x) { return matvec(weights::GemvKernel(c), x); })
      .def("matmul", [](const CompressedMatrix& c, const pyb::object& x) { return matmul(weights::GemvKernel(c), x); });
  pyb::class_<weights::GemvKernel>(m, "GemvKernel")
      .def(pyb::init([](const CompressedMatrix& c, const std::string& precision) {
             VQ_CHECK(precision == "float" || precision == "int8", "GemvKernel: precision must be 'float' or 'int8', got '",
                      precision, "'");
             return weights::GemvKernel(c, precision == "int8" ? weights::LutPrecision::kInt8 : weights::LutPrecision::kFloat);
           }),
           pyb::arg("matrix"), pyb::arg("precision") = "float")
      .def_property_readonly("precision",
                             [](const weights::GemvKernel& k) {
                               return k.precision() == weights::LutPrecision::kInt8 ? "int8" : "float";
                             })
      .def("matvec", &matvec)
      .def("matmul", &matmul);
  m.def("scheme_deprecation_note", &weights::Scheme::deprecation_note, pyb::arg("scheme"));
  m.def(
      "compress_weights",
      [](const pyb::object& w, const pyb::object& h, const pyb::object& x, const std::string& scheme, float damp,
         uint64_t seed, bool act_order, int aq_rounds, size_t aq_beam, int aq_refine_passes, int threads) {
        const FloatArray wa = as_float_matrix(w, "W");
        const MatrixView<const float> wv = view_of(wa);
        std::vector<float> hv;
        VQ_CHECK(h.is_none() || x.is_none(), "compress_weights: give H or X, not both");
        if (!h.is_none()) {
          const FloatArray ha = as_float_matrix(h, "H", wv.cols());
          VQ_CHECK(view_of(ha).rows() == wv.cols(), "compress_weights: H must be (in_features, in_features)");
          hv.assign(ha.data(), ha.data() + wv.cols() * wv.cols());
        } else if (!x.is_none()) {
          const FloatArray xa = as_float_matrix(x, "X", wv.cols());
          hv = weights::hessian_from_inputs(view_of(xa));
        }
        weights::CompressOptions opt;
        opt.damp = damp;
        opt.seed = seed;
        opt.act_order = act_order;
        VQ_CHECK(aq_rounds >= 1, "compress_weights: aq_rounds must be >= 1, got ", aq_rounds);
        VQ_CHECK(aq_beam >= 1, "compress_weights: aq_beam must be >= 1, got ", aq_beam);
        opt.aq_rounds = aq_rounds;
        opt.aq_beam = aq_beam;
        VQ_CHECK(aq_refine_passes >= 0, "compress_weights: aq_refine_passes must be >= 0, got ", aq_refine_passes);
        opt.aq_refine_passes = aq_refine_passes;
        opt.threads = threads;
        pyb::gil_scoped_release release;
        return weights::compress(wv, hv, scheme, opt);
      },
      pyb::arg("W"), pyb::arg("H") = pyb::none(), pyb::arg("X") = pyb::none(), pyb::arg("scheme") = "AQ2x8d8",
      pyb::arg("damp") = 0.01f, pyb::arg("seed") = 1234, pyb::arg("act_order") = true,
      pyb::arg("aq_rounds") = weights::CompressOptions{}.aq_rounds, pyb::arg("aq_beam") = weights::CompressOptions{}.aq_beam,
      pyb::arg("aq_refine_passes") = weights::CompressOptions{}.aq_refine_passes, pyb::arg("threads") = 0);
}

}  // namespace vq::py
