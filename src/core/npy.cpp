#include "vq/core/npy.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string_view>

#include "util/atomic_file.h"

namespace vq {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlign = 64;  // numpy >= 1.14 aligns the data start to 64 bytes

static_assert(std::endian::native == std::endian::little,
              ".npy data is little-endian and is copied without byte swapping");

struct DTypeInfo {
  NpyDType dtype;
  const char* descr;
  char kind;  // numpy's kind character: 'f', 'i', 'u'
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {NpyDType::kFloat16, "<f2", 'f', 2}, {NpyDType::kFloat32, "<f4", 'f', 4},
    {NpyDType::kFloat64, "<f8", 'f', 8}, {NpyDType::kInt8, "|i1", 'i', 1},
    {NpyDType::kUInt8, "|u1", 'u', 1},   {NpyDType::kInt16, "<i2", 'i', 2},
    {NpyDType::kUInt16, "<u2", 'u', 2},  {NpyDType::kInt32, "<i4", 'i', 4},
    {NpyDType::kInt64, "<i8", 'i', 8},
};

const DTypeInfo& info(NpyDType dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (d.dtype == dtype) return d;
  VQ_THROW("npy: invalid dtype enum value ", static_cast<int>(dtype));
}

// Maps a descr to a dtype. The byte-order character must be '<' (or '|' / '=' for one-byte
// types, where order is meaningless); everything else gets a specific message.
NpyDType parse_descr(const std::string& descr, const std::string& where) {
  VQ_CHECK(descr.size() >= 2, where, ": unsupported dtype '", descr, "'");
  const char order = descr[0];
  const std::string type = descr.substr(1);
  VQ_CHECK(order != '>' && order != '!', where, ": big-endian dtype '", descr,
           "' is not supported; convert with arr.astype(arr.dtype.newbyteorder('<'))");
  VQ_CHECK(type[0] != 'O', where,
           ": object arrays ('", descr, "') are not supported (they hold pickled Python objects)");
  for (const DTypeInfo& d : kDTypes) {
    if (type != d.descr + 1) continue;
    const bool order_ok = order == '<' || (d.size == 1 && (order == '|' || order == '='));
    VQ_CHECK(order_ok, where, ": unsupported byte order in dtype '", descr, "'");
    return d.dtype;
  }
  VQ_THROW(where, ": unsupported dtype '", descr,
           "' (supported: float16/32/64, int8, uint8, int16, uint16, int32, int64)");
}

// A strict parser for the header's Python dict literal. It only knows the grammar numpy
// writes: quoted keys, a quoted string, True/False and a tuple of non-negative integers.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string where) : text_(text), where_(std::move(where)) {}

  void parse(std::string& descr, bool& fortran, std::vector<size_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        once(have_descr, key);
        skip_space();
        VQ_CHECK(peek() == '\'' || peek() == '"', where_, ": 'descr' is not a simple type string "
                 "at header offset ", pos_, " (structured dtypes are not supported)");
        descr = quoted();
      } else if (key == "fortran_order") {
        once(have_fortran, key);
        fortran = boolean();
      } else if (key == "shape") {
        once(have_shape, key);
        shape = tuple();
      } else {
        VQ_THROW(where_, ": unexpected header key '", key, "'");
      }
      skip_space();
      if (peek() == ',') ++pos_;
      else VQ_CHECK(peek() == '}', where_, ": expected ',' or '}' at header offset ", pos_);
    }
    ++pos_;  // '}'
    for (; pos_ < text_.size(); ++pos_)
      VQ_CHECK(text_[pos_] == ' ' || text_[pos_] == '\n', where_,
               ": unexpected character after the header dict at header offset ", pos_);
    VQ_CHECK(have_descr && have_fortran && have_shape, where_,
             ": header must have 'descr', 'fortran_order' and 'shape'");
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  void expect(char c) {
    skip_space();
    VQ_CHECK(peek() == c, where_, ": expected '", c, "' at header offset ", pos_);
    ++pos_;
  }
  void once(bool& seen, const std::string& key) {
    VQ_CHECK(!seen, where_, ": header key '", key, "' appears twice");
    seen = true;
  }
  std::string quoted() {
    skip_space();
    const char q = peek();
    VQ_CHECK(q == '\'' || q == '"', where_, ": expected a quoted string at header offset ", pos_);
    const size_t end = text_.find(q, pos_ + 1);
    VQ_CHECK(end != std::string_view::npos, where_, ": unterminated string at header offset ", pos_);
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    VQ_THROW(where_, ": expected True or False at header offset ", pos_);
  }
  size_t integer() {
    skip_space();
    VQ_CHECK(peek() >= '0' && peek() <= '9', where_, ": expected a dimension at header offset ", pos_);
    size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const size_t digit = static_cast<size_t>(peek() - '0');
      VQ_CHECK(v <= (SIZE_MAX - digit) / 10, where_, ": dimension too large at header offset ", pos_);
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literal, as old numpy wrote
    return v;
  }
  std::vector<size_t> tuple() {
    std::vector<size_t> dims;
    expect('(');
    skip_space();
    if (peek() == ')') {
      ++pos_;
      return dims;
    }
    while (true) {
      VQ_CHECK(dims.size() < 32, where_, ": more than 32 dimensions");  // numpy's own limit
      dims.push_back(integer());
      skip_space();
      if (peek() == ')') break;
      expect(',');
      skip_space();
      if (peek() == ')') break;
    }
    ++pos_;
    // Python needs "(n,)" for a 1-tuple; "(n)" is just an integer in parentheses.
    return dims;
  }

  std::string_view text_;
  std::string where_;
  size_t pos_ = 0;
};

std::string shape_string(const std::vector<size_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// count() with an overflow check, for shapes read from files.
size_t checked_count(const std::vector<size_t>& shape, size_t item, const std::string& where) {
  size_t n = 1;
  for (size_t d : shape) {
    VQ_CHECK(d == 0 || n <= SIZE_MAX / d, where, ": shape ", shape_string(shape), " overflows");
    n *= d;
  }
  VQ_CHECK(n <= SIZE_MAX / item, where, ": shape ", shape_string(shape), " overflows");
  return n;
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// The element at p as double: exact for every supported type except int64 beyond 2^53.
double element(NpyDType dtype, const uint8_t* p) {
  switch (dtype) {
    case NpyDType::kFloat16: return half_to_float(load<uint16_t>(p));
    case NpyDType::kFloat32: return load<float>(p);
    case NpyDType::kFloat64: return load<double>(p);
    case NpyDType::kInt8: return load<int8_t>(p);
    case NpyDType::kUInt8: return load<uint8_t>(p);
    case NpyDType::kInt16: return load<int16_t>(p);
    case NpyDType::kUInt16: return load<uint16_t>(p);
    case NpyDType::kInt32: return load<int32_t>(p);
    case NpyDType::kInt64: return static_cast<double>(load<int64_t>(p));
  }
  VQ_THROW("npy: invalid dtype");
}

}  // namespace

size_t npy_item_size(NpyDType dtype) { return info(dtype).size; }
const char* npy_descr(NpyDType dtype) { return info(dtype).descr; }

size_t NpyArray::count() const {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  return n;
}

NpyHeader read_npy_header(Span<const uint8_t> bytes, const std::string& name) {
  VQ_CHECK(!bytes.empty(), name, ": empty input (not a .npy file)");
  VQ_CHECK(bytes.size() >= kMagicSize + 4 && std::memcmp(bytes.data(), kMagic, kMagicSize) == 0,
           name, ": not a .npy file (bad magic)");
  const uint8_t major = bytes[6], minor = bytes[7];
  VQ_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, name, ": .npy format version ",
           int(major), ".", int(minor), " is not supported (1.0, 2.0 and 3.0 are)");
  const size_t len_size = major == 1 ? 2 : 4;
  VQ_CHECK(bytes.size() >= 8 + len_size, name, ": truncated .npy header");
  const size_t header_len = major == 1 ? load<uint16_t>(bytes.data() + 8) : load<uint32_t>(bytes.data() + 8);
  const size_t data_start = 8 + len_size;
  VQ_CHECK(header_len <= bytes.size() - data_start, name, ": header length ", header_len,
           " exceeds the ", bytes.size() - data_start, " bytes after the preamble");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + data_start), header_len);
  if (major < 3)  // v1/v2 headers are latin-1 / ASCII; v3 allows UTF-8 (only in field names)
    for (char c : header)
      VQ_CHECK(static_cast<unsigned char>(c) < 0x80, name, ": non-ASCII byte in a v", int(major),
               " header");

  std::string descr;
  bool fortran = false;
  NpyHeader h;
  HeaderParser(header, name).parse(descr, fortran, h.shape);
  h.dtype = parse_descr(descr, name);
  VQ_CHECK(!fortran || h.shape.size() <= 1, name, ": Fortran-order arrays are not supported; ",
           "save with np.ascontiguousarray(x)");
  const size_t item = npy_item_size(h.dtype);
  h.data_offset = data_start + header_len;
  h.data_size = checked_count(h.shape, item, name) * item;
  return h;
}

NpyArray read_npy_from_bytes(Span<const uint8_t> bytes, const std::string& name) {
  const NpyHeader h = read_npy_header(bytes, name);
  const size_t left = bytes.size() - h.data_offset;
  VQ_CHECK(left == h.data_size, name, ": shape ", shape_string(h.shape), " of ", npy_descr(h.dtype), " needs ",
           h.data_size, " data bytes, file has ", left);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  const uint8_t* data = bytes.data() + h.data_offset;
  a.bytes.assign(data, data + h.data_size);
  return a;
}

void npy_to_float(NpyDType dtype, Span<const uint8_t> bytes, Span<float> out) {
  const size_t item = npy_item_size(dtype);
  VQ_CHECK(bytes.size() == out.size() * item, "npy_to_float: ", bytes.size(), " bytes for ", out.size(), " values");
  if (dtype == NpyDType::kFloat32) {
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(element(dtype, bytes.data() + i * item));
}

NpyArray read_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  VQ_CHECK(!bytes.empty(), path, ": empty file (not a .npy file)");
  return read_npy_from_bytes(bytes, path);
}

std::vector<uint8_t> npy_to_bytes(const NpyArray& a) {
  const size_t item = npy_item_size(a.dtype);
  VQ_CHECK(a.bytes.size() == checked_count(a.shape, item, "npy_to_bytes") * item, "npy_to_bytes: ",
           a.bytes.size(), " data bytes for shape ", shape_string(a.shape), " of ", npy_descr(a.dtype));
  std::string header = std::string("{'descr': '") + npy_descr(a.dtype) +
                       "', 'fortran_order': False, 'shape': " + shape_string(a.shape) + ", }";
  // Pad with spaces and a final '\n' so magic + version + length + header is a multiple of 64;
  // version 2.0 (4-byte length) only when the padded header does not fit a u16.
  const auto padded = [&](size_t prefix) {
    return (prefix + header.size() + 1 + kAlign - 1) / kAlign * kAlign - prefix;
  };
  size_t len_size = 2, header_len = padded(10);
  if (header_len > 65535) len_size = 4, header_len = padded(12);
  header.append(header_len - header.size() - 1, ' ');
  header += '\n';
  std::vector<uint8_t> out(kMagic, kMagic + kMagicSize);
  out.push_back(len_size == 2 ? 1 : 2);
  out.push_back(0);
  for (size_t i = 0; i < len_size; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), a.bytes.begin(), a.bytes.end());
  return out;
}

void write_npy(const std::string& path, const NpyArray& array) {
  write_file_atomic(path, npy_to_bytes(array));
}

Matrix read_matrix_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  VQ_CHECK(!bytes.empty(), path, ": empty file (not a .npy file)");
  return read_matrix_npy_from_bytes(bytes, path);
}

Matrix read_matrix_npy_from_bytes(Span<const uint8_t> bytes, const std::string& path) {
  const NpyArray a = read_npy_from_bytes(bytes, path);
  VQ_CHECK(a.shape.size() == 1 || a.shape.size() == 2, path, ": expected a 2-D array (n, d), got ",
           a.shape.size(), "-D shape ", shape_string(a.shape));
  Matrix m(a.shape[0], a.shape.size() == 2 ? a.shape[1] : 1);
  npy_to_float(a.dtype, a.bytes, {m.data(), a.count()});
  return m;
}

void write_npy(const std::string& path, MatrixView<const float> x) {
  NpyArray a;
  a.dtype = NpyDType::kFloat32;
  a.shape = {x.rows(), x.cols()};
  a.bytes.resize(x.rows() * x.cols() * sizeof(float));
  for (size_t i = 0; i < x.rows() && x.cols() > 0; ++i)
    std::memcpy(a.bytes.data() + i * x.cols() * sizeof(float), x.row_ptr(i), x.cols() * sizeof(float));
  write_npy(path, a);
}

void write_codes_npy(const std::string& path, const Codes& codes) {
  codes.validate();
  const bool narrow = std::all_of(codes.bits.begin(), codes.bits.end(), [](uint8_t b) { return b <= 8; });
  NpyArray a;
  a.dtype = narrow ? NpyDType::kUInt8 : NpyDType::kUInt16;
  a.shape = {codes.n, codes.num_books()};
  if (narrow) {
    a.bytes.assign(codes.data.begin(), codes.data.end());  // each value < 256, checked above
  } else if (!codes.data.empty()) {
    a.bytes.resize(codes.data.size() * sizeof(uint16_t));
    std::memcpy(a.bytes.data(), codes.data.data(), a.bytes.size());
  }
  write_npy(path, a);
}

Codes read_codes_npy(const std::string& path, std::vector<uint8_t> bits) {
  const NpyArray a = read_npy(path);
  const char kind = info(a.dtype).kind;
  VQ_CHECK(kind == 'i' || kind == 'u', path, ": token arrays must have an integer dtype, got ",
           npy_descr(a.dtype));
  VQ_CHECK(a.shape.size() == 2 && a.shape[1] == bits.size(), path, ": expected shape (n, ",
           bits.size(), ") for ", bits.size(), " codebooks, got ", shape_string(a.shape));
  Codes codes(a.shape[0], std::move(bits));
  for (size_t i = 0; i < a.count(); ++i) {
    const double v = element(a.dtype, a.bytes.data() + i * npy_item_size(a.dtype));  // exact for every integer dtype in the range that matters
    VQ_CHECK(v >= 0 && v <= 65535, path, ": token ", static_cast<int64_t>(v), " at row ",
             i / codes.num_books(), ", column ", i % codes.num_books(), " is out of range");
    codes.data[i] = static_cast<uint16_t>(v);
  }
  codes.validate();
  return codes;
}

uint16_t float_to_half(float value) {
  uint32_t x = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffff;
  if (x >= 0x7f800000) {  // inf or NaN; keep the top NaN payload bits and force a quiet NaN
    return x == 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((x >> 13) & 0x3ff);
  }
  if (x >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds (ties-to-even) past 65504 to inf
  if (x < 0x38800000) {
    // Below the smallest normal half (2^-14): adding 0.5f puts the value's 2^-24 units into
    // the float mantissa, and the FPU's own round-to-nearest-even does the rounding.
    const float shifted = std::bit_cast<float>(x) + 0.5f;
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(shifted) - 0x3f000000u);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest
  // even by adding 0xfff plus the lowest kept bit before truncating.
  const uint32_t odd = (x >> 13) & 1;
  x += (static_cast<uint32_t>(15 - 127) << 23) + 0xfff + odd;
  return sign | static_cast<uint16_t>(x >> 13);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace vq
