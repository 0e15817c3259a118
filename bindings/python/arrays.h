// (bindings) numpy ↔ vq views: dtype, contiguity and shape checks in one place, one wording.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "vq/types.h"

namespace vq::py {

namespace pyb = pybind11;

// A numpy array from an array, list or tuple (no copy for an array); anything else raises
// TypeError naming `name`.
pyb::array require_numeric(const pyb::handle& obj, const char* name);

// A float32 C-contiguous 2-D array: X itself when it already is one (zero copy), else a
// converted copy. float64 and float16 are converted; integer, bool and object arrays raise
// TypeError, wrong rank ValueError. `cols` = 0 accepts any width.
using FloatArray = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;
FloatArray as_float_matrix(const pyb::handle& obj, const char* name, size_t cols = 0);
FloatArray as_float_vector(const pyb::handle& obj, const char* name, size_t size = 0);
MatrixView<const float> view_of(const FloatArray& a);

// Codes from an (n, M) unsigned or non-negative signed integer array; values are range-checked
// against the quantizer's book widths by Codes::validate().
Codes as_codes(const pyb::handle& obj, const std::vector<uint8_t>& bits, const char* name);
// (n, M) numpy array of the smallest unsigned dtype that holds the codes (uint8 or uint16).
pyb::array codes_to_numpy(const Codes& codes);

// A C-contiguous uint8 array of any shape (images); other dtypes raise TypeError.
pyb::array_t<uint8_t, pyb::array::c_style> as_uint8_array(const pyb::handle& obj, const char* name);
// A C-contiguous uint16 copy of a uint8 or uint16 array (token grids); other dtypes raise TypeError.
pyb::array_t<uint16_t, pyb::array::c_style> as_unsigned_array(const pyb::handle& obj, const char* name);

}  // namespace vq::py
