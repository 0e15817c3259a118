// (bindings) vq::image: the image tokenizer / codec on numpy arrays. Images are (H, W) or
// (H, W, C) uint8 arrays (C = 1..4, stb_image's channel convention); tokens are (rows, cols,
// levels·groups) uint8 / uint16 arrays as `vq encode --tokens` writes them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>

#include "arrays.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/image/image_tokenizer.h"

namespace pyb = pybind11;

namespace vq::py {

namespace {

using image::Image;
using image::ImageTokenizer;
using image::TokenGrid;

Image to_image(const pyb::object& obj) {
  const auto a = as_uint8_array(obj, "image");
  VQ_CHECK(a.ndim() == 2 || (a.ndim() == 3 && a.shape(2) >= 1 && a.shape(2) <= 4),
           "image: shape must be (H, W) or (H, W, C) with C = 1..4, got ", a.ndim(), " dimensions");
  Image im(size_t(a.shape(1)), size_t(a.shape(0)), a.ndim() == 2 ? 1 : size_t(a.shape(2)));
  im.validate("image");
  std::memcpy(im.pixels.data(), a.data(), im.pixels.size());
  return im;
}

pyb::array to_numpy(const Image& im) {
  std::vector<pyb::ssize_t> shape = {pyb::ssize_t(im.height), pyb::ssize_t(im.width)};
  if (im.channels > 1) shape.push_back(pyb::ssize_t(im.channels));
  pyb::array_t<uint8_t> out(shape);
  std::memcpy(out.mutable_data(), im.pixels.data(), im.pixels.size());
  return out;
}

pyb::array tokens_to_numpy(const TokenGrid& g) {
  const std::vector<pyb::ssize_t> shape = {pyb::ssize_t(g.rows), pyb::ssize_t(g.cols), pyb::ssize_t(g.tokens_per_patch())};
  if (g.bits <= 8) {
    pyb::array_t<uint8_t> out(shape);
    std::copy(g.tokens.begin(), g.tokens.end(), out.mutable_data());
    return out;
  }
  pyb::array_t<uint16_t> out(shape);
  std::copy(g.tokens.begin(), g.tokens.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_image(pyb::module_& m) {
  m.def("read_image", [](const std::string& path) { return to_numpy(image::read_image(path)); }, pyb::arg("path"));
  m.def("write_png", [](const std::string& path, const pyb::object& img) { image::write_png(path, to_image(img)); },
        pyb::arg("path"), pyb::arg("image"));
  pyb::class_<ImageTokenizer>(m, "ImageModel")
      .def(pyb::init([](const std::string& path) { return ImageTokenizer::load(path); }), pyb::arg("path"))
      .def_property_readonly("patch", &ImageTokenizer::patch)
      .def_property_readonly("levels", &ImageTokenizer::levels)
      .def_property_readonly("groups", &ImageTokenizer::groups)
      .def_property_readonly("bits", [](const ImageTokenizer& t) { return int(t.bits()); })
      .def_property_readonly("hash", [](const ImageTokenizer& t) { return format_model_hash(*t.ref().hash); })
      .def_property_readonly("quantizer", [](const ImageTokenizer& t) { return t.quantizer().describe(); })
      .def(
          "tokens",
          [](const ImageTokenizer& t, const pyb::object& img, size_t levels) {
            const Image im = to_image(img);
            TokenGrid g;
            {
              pyb::gil_scoped_release release;
              g = t.encode(im, levels);
            }
            return tokens_to_numpy(g);
          },
          pyb::arg("image"), pyb::arg("levels") = 0)
      .def(
          "from_tokens",
          [](const ImageTokenizer& t, const pyb::object& tokens, size_t width, size_t height, bool grey) {
            const auto a = as_unsigned_array(tokens, "from_tokens: tokens");
            VQ_CHECK(a.ndim() == 3 && a.shape(2) % pyb::ssize_t(t.groups()) == 0,
                     "from_tokens: tokens must be (rows, cols, levels·groups) with groups = ", t.groups());
            TokenGrid g;
            g.width = width;
            g.height = height;
            g.patch = t.patch();
            g.rows = size_t(a.shape(0));
            g.cols = size_t(a.shape(1));
            g.levels = size_t(a.shape(2)) / t.groups();
            g.groups = t.groups();
            g.bits = t.bits();
            g.grey = grey;
            g.tokens.assign(a.data(), a.data() + a.size());
            Image im;
            {
              pyb::gil_scoped_release release;
              im = t.decode(g);  // validates the grid against the model and the image size
            }
            return to_numpy(im);
          },
          pyb::arg("tokens"), pyb::arg("width"), pyb::arg("height"), pyb::arg("grey") = false)
      .def(
          "compress",
          [](const ImageTokenizer& t, const pyb::object& img, size_t levels, pyb::object min_gain,
             const std::string& coding, pyb::object step, pyb::object bpp) {
            const Image im = to_image(img);
            std::vector<uint8_t> bytes;
            {
              image::ImageEncodeOptions o;
              o.levels = levels;
              o.min_gain = min_gain.is_none() ? -1.f : min_gain.cast<float>();
              VQ_CHECK(min_gain.is_none() || o.min_gain >= 0.f, "compress: min_gain must be >= 0 or None");
              o.step = step.is_none() ? 0.f : step.cast<float>();
              VQ_CHECK(step.is_none() || o.step > 0.f, "compress: step must be > 0 or None");
              o.bpp = bpp.is_none() ? 0.0 : bpp.cast<double>();
              VQ_CHECK(bpp.is_none() || o.bpp > 0.0, "compress: bpp must be > 0 or None");
              VQ_CHECK(step.is_none() || bpp.is_none(), "compress: give step or bpp, not both");
              pyb::gil_scoped_release release;
              ContainerWriter w;
              write_encoded_image(w, image::encode_image(im, t, o), image::parse_token_coding(coding));
              bytes = w.to_bytes();
            }
            return pyb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          pyb::arg("image"), pyb::arg("levels") = 0, pyb::arg("min_gain") = pyb::none(),
          pyb::arg("coding") = "arithmetic", pyb::arg("step") = pyb::none(), pyb::arg("bpp") = pyb::none())
      .def(
          "decompress",
          [](const ImageTokenizer& t, const pyb::bytes& data) {
            const std::string s = data;
            Image im;
            {
              pyb::gil_scoped_release release;
              const image::EncodedImage e = image::read_encoded_image(
                  ContainerReader::from_bytes(Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
              im = image::decode_image(e, t);
            }
            return to_numpy(im);
          },
          pyb::arg("data"))
      // encode/decode meant bytes here and codes everywhere else: compress/decompress now.
      .def("encode", [](const pyb::object& self, const pyb::args& args, const pyb::kwargs& kwargs) {
        if (PyErr_WarnEx(PyExc_DeprecationWarning, "ImageModel.encode() is now compress(): it returns bytes", 1) < 0)
          throw pyb::error_already_set();
        return self.attr("compress")(*args, **kwargs);
      })
      .def("decode", [](const pyb::object& self, const pyb::args& args, const pyb::kwargs& kwargs) {
        if (PyErr_WarnEx(PyExc_DeprecationWarning, "ImageModel.decode() is now decompress(): it reads bytes", 1) < 0)
          throw pyb::error_already_set();
        return self.attr("decompress")(*args, **kwargs);
      });
}

}  // namespace vq::py
