// (bindings) numpy ↔ vq conversions (arrays.h): every binding file converts through these, so
// a wrong dtype is a TypeError and a wrong shape a ValueError everywhere, in one wording.
#include "arrays.h"

#include <cstring>

namespace vq::py {

namespace {

std::string dtype_name(const pyb::array& a) { return pyb::str(a.dtype()).cast<std::string>(); }

}  // namespace

pyb::array require_numeric(const pyb::handle& obj, const char* name) {
  if (!pyb::isinstance<pyb::array>(obj) && !pyb::isinstance<pyb::list>(obj) &&
      !pyb::isinstance<pyb::tuple>(obj))
    throw pyb::type_error(std::string(name) + ": expected a numpy array, got " +
                          std::string(pyb::str(obj.get_type().attr("__name__"))));
  auto a = pyb::array::ensure(obj);
  if (!a) throw pyb::type_error(std::string(name) + ": cannot be converted to a numpy array");
  return a;
}

FloatArray as_float_matrix(const pyb::handle& obj, const char* name, size_t cols) {
  pyb::array a = require_numeric(obj, name);
  const char kind = a.dtype().kind();
  if (kind != 'f')
    throw pyb::type_error(std::string(name) + ": expected a float32 or float64 array, got dtype " +
                          dtype_name(a));
  if (a.ndim() != 2)
    throw pyb::value_error(std::string(name) + ": expected a 2-D array (n, dim), got " +
                           std::to_string(a.ndim()) + "-D");
  if (cols && static_cast<size_t>(a.shape(1)) != cols)
    throw pyb::value_error(std::string(name) + ": expected " + std::to_string(cols) +
                           " columns, got " + std::to_string(a.shape(1)));
  return FloatArray::ensure(a);
}

FloatArray as_float_vector(const pyb::handle& obj, const char* name, size_t size) {
  pyb::array a = require_numeric(obj, name);
  if (a.dtype().kind() != 'f' && a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    throw pyb::type_error(std::string(name) + ": expected a numeric array, got dtype " +
                          dtype_name(a));
  if (a.ndim() != 1)
    throw pyb::value_error(std::string(name) + ": expected a 1-D array, got " +
                           std::to_string(a.ndim()) + "-D");
  if (size && static_cast<size_t>(a.shape(0)) != size)
    throw pyb::value_error(std::string(name) + ": expected " + std::to_string(size) +
                           " values, got " + std::to_string(a.shape(0)));
  return FloatArray::ensure(a);
}

MatrixView<const float> view_of(const FloatArray& a) {
  return {a.data(), static_cast<size_t>(a.shape(0)), static_cast<size_t>(a.shape(1))};
}

Codes as_codes(const pyb::handle& obj, const std::vector<uint8_t>& bits, const char* name) {
  pyb::array a = require_numeric(obj, name);
  const char kind = a.dtype().kind();
  if (kind != 'u' && kind != 'i')
    throw pyb::type_error(std::string(name) + ": expected an integer array, got dtype " +
                          dtype_name(a));
  if (a.ndim() != 2 || static_cast<size_t>(a.shape(1)) != bits.size())
    throw pyb::value_error(std::string(name) + ": expected shape (n, " +
                           std::to_string(bits.size()) + ")");
  auto wide = pyb::array_t<int64_t, pyb::array::c_style | pyb::array::forcecast>::ensure(a);
  Codes codes(static_cast<size_t>(a.shape(0)), bits);
  const int64_t* src = wide.data();
  for (size_t i = 0; i < codes.data.size(); ++i) {
    if (src[i] < 0 || src[i] > 0xFFFF)
      throw pyb::value_error(std::string(name) + ": code " + std::to_string(src[i]) +
                             " at flat index " + std::to_string(i) + " is out of range");
    codes.data[i] = static_cast<uint16_t>(src[i]);
  }
  codes.validate();
  return codes;
}

pyb::array codes_to_numpy(const Codes& codes) {
  const size_t n = codes.n, m = codes.num_books();
  bool narrow = true;
  for (uint8_t b : codes.bits) narrow = narrow && b <= 8;
  if (narrow) {
    pyb::array_t<uint8_t> out({n, m});
    uint8_t* dst = out.mutable_data();
    for (size_t i = 0; i < codes.data.size(); ++i) dst[i] = static_cast<uint8_t>(codes.data[i]);
    return out;
  }
  pyb::array_t<uint16_t> out({n, m});
  if (!codes.data.empty()) std::memcpy(out.mutable_data(), codes.data.data(), codes.data.size() * 2);
  return out;
}

pyb::array_t<uint8_t, pyb::array::c_style> as_uint8_array(const pyb::handle& obj, const char* name) {
  pyb::array a = require_numeric(obj, name);
  if (!a.dtype().is(pyb::dtype::of<uint8_t>()))
    throw pyb::type_error(std::string(name) + ": expected a uint8 array, got dtype " + dtype_name(a));
  return pyb::array_t<uint8_t, pyb::array::c_style>::ensure(a);
}

pyb::array_t<uint16_t, pyb::array::c_style> as_unsigned_array(const pyb::handle& obj, const char* name) {
  pyb::array a = require_numeric(obj, name);
  if (a.dtype().kind() != 'u' || a.dtype().itemsize() > 2)
    throw pyb::type_error(std::string(name) + ": expected a uint8 or uint16 array, got dtype " + dtype_name(a));
  return pyb::array_t<uint16_t, pyb::array::c_style | pyb::array::forcecast>::ensure(a);
}

}  // namespace vq::py
