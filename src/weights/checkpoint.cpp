#include "vq/weights/checkpoint.h"

#include <cstring>

#include "vq/core/limits.h"
#include "vq/core/npy.h"

namespace vq::weights {

namespace {

std::vector<uint8_t> to_f16(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = float_to_half(v[i]);
    out[2 * i] = uint8_t(h);
    out[2 * i + 1] = uint8_t(h >> 8);
  }
  return out;
}

std::vector<uint8_t> to_i32(const std::vector<uint32_t>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// AQLM's code tensors hold each b-bit code as a signed int8 (b <= 8) / int16 integer: codes
// >= 2^(b-1) are stored minus 2^b (aqlm.utils.pack_int_data), and readers take the value mod 2^b
// (unpack_int_data). For b = 8 and 16 that is the unsigned code's bit pattern; for other b the
// bytes differ from ours (code 12 of a 4-bit book is stored as -4).
std::vector<uint8_t> pack_aqlm_codes(const CompressedMatrix& m) {
  const int64_t K = int64_t{1} << m.scheme.bits;
  std::vector<uint8_t> out(m.codes.size());
  const size_t cb = m.code_bytes();
  for (size_t i = 0; i < m.codes.size() / cb; ++i) {
    int64_t v = m.codes[cb * i];
    if (cb == 2) v |= int64_t(m.codes[2 * i + 1]) << 8;
    if (v >= K / 2) v -= K;
    const uint16_t bits = uint16_t(int16_t(v));  // two's complement, truncated to cb bytes
    out[cb * i] = uint8_t(bits);
    if (cb == 2) out[cb * i + 1] = uint8_t(bits >> 8);
  }
  return out;
}

// The inverse: every stored integer mod 2^b (AQLM readers accept any value that way).
std::vector<uint8_t> unpack_aqlm_codes(Span<const uint8_t> bytes, const Scheme& s) {
  const uint32_t mask = (uint32_t{1} << s.bits) - 1;
  std::vector<uint8_t> out(bytes.begin(), bytes.end());
  if (s.bits <= 8) {
    for (uint8_t& c : out) c = uint8_t(c & mask);
  } else {
    for (size_t i = 1; i < out.size(); i += 2) out[i] = uint8_t(out[i] & (mask >> 8));
  }
  return out;
}

const std::string kSchemeKey = "vqcodec.scheme.";
const std::string kShapeKey = "vqcodec.shape.";
const std::string kNameKey = "vqcodec.name.";

// The tensor's bytes after checking its dtype and shape.
Span<const uint8_t> tensor(const SafetensorsFile& f, const std::string& name, DType dtype,
                           const std::vector<uint64_t>& shape) {
  VQ_CHECK(f.contains(name), "compressed layer: tensor '", name, "' is missing");
  const TensorInfo& t = f.info(name);
  VQ_CHECK(t.dtype == dtype, "compressed layer: tensor '", name, "' is ", dtype_name(t.dtype), ", expected ",
           dtype_name(dtype));
  VQ_CHECK(t.shape == shape, "compressed layer: tensor '", name, "' has an unexpected shape");
  return f.bytes(name);
}

}  // namespace

CompressedLayout compressed_layout(const std::string& base, const Scheme& scheme, size_t rows, size_t cols) {
  scheme.check_shape(rows, cols);
  CompressedLayout out;
  out.metadata[kSchemeKey + base] = scheme.str();
  out.metadata[kShapeKey + base] = std::to_string(rows) + "," + std::to_string(cols);
  const uint64_t r = rows, c = cols, g = scheme.group;
  std::vector<TensorSpec>& t = out.tensors;
  if (scheme.is_aq()) {
    const uint64_t M = scheme.books, K = uint64_t{1} << scheme.bits;
    t.push_back({base + ".codes", scheme.bits <= 8 ? DType::kI8 : DType::kI16, {r, c / g, M}});
    t.push_back({base + ".codebooks", DType::kF16, {scheme.row_groups * M, K, 1, g}});
    t.push_back({base + ".scales", DType::kF16, {r, 1, 1, 1}});
    if (scheme.row_groups > 1) {
      t.push_back({base + ".row_order", DType::kI32, {r}});
      t.push_back({base + ".row_groups", DType::kI32, {scheme.row_groups + 1}});
    }
  } else {
    t.push_back({base + ".qweight", DType::kU8, {r, (c * scheme.bits + 7) / 8}});
    t.push_back({base + ".scales", DType::kF16, {r, c / g}});
    t.push_back({base + ".zeros", DType::kU8, {r, c / g}});
  }
  return out;
}

std::vector<std::vector<uint8_t>> compressed_tensor_bytes(const CompressedMatrix& m) {
  m.validate();
  const bool grouped = m.scheme.is_aq() && m.scheme.row_groups > 1;
  VQ_CHECK(grouped || m.row_order.empty(), "compressed matrix: a row order needs a row-grouped AQ scheme, not ",
           m.scheme.str());
  std::vector<std::vector<uint8_t>> out;
  if (m.scheme.is_aq())
    out = {pack_aqlm_codes(m), to_f16(m.codebooks), to_f16(m.scales)};
  else
    out = {m.codes, to_f16(m.scales), m.zeros};
  if (grouped) {
    std::vector<uint32_t> order = m.row_order;
    if (order.empty())  // (stored order = output order)
      for (uint32_t r = 0; r < m.rows; ++r) order.push_back(r);
    out.push_back(to_i32(order));
    out.push_back(to_i32(m.group_begin));
  }
  return out;
}

void write_compressed(SafetensorsWriter& out, const std::string& base, const CompressedMatrix& m) {
  const CompressedLayout layout = compressed_layout(base, m.scheme, m.rows, m.cols);
  std::vector<std::vector<uint8_t>> bytes = compressed_tensor_bytes(m);
  for (const auto& [k, v] : layout.metadata) out.set_metadata(k, v);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const TensorSpec& t = layout.tensors[i];
    out.add(t.name, t.dtype, t.shape, std::move(bytes[i]));
  }
}

std::vector<std::string> compressed_layers(const SafetensorsFile& f) {
  std::vector<std::string> out;
  for (const auto& [k, v] : f.metadata())
    if (k.rfind(kSchemeKey, 0) == 0) out.push_back(k.substr(kSchemeKey.size()));
  return out;
}

std::pair<std::string, std::string> dense_name_entry(const std::string& base, const std::string& name) {
  return {kNameKey + base, name};
}

std::string dense_name(const SafetensorsFile& f, const std::string& base) {
  const auto it = f.metadata().find(kNameKey + base);
  if (it == f.metadata().end()) return base + ".weight";
  VQ_CHECK(!it->second.empty(), "compressed layer '", base, "': empty tensor name in the metadata");
  return it->second;
}

CompressedMatrix read_compressed(const SafetensorsFile& f, const std::string& base) {
  const auto& md = f.metadata();
  const auto s = md.find(kSchemeKey + base), sh = md.find(kShapeKey + base);
  VQ_CHECK(s != md.end() && sh != md.end(), "compressed layer '", base, "': no scheme/shape in the metadata");
  CompressedMatrix m;
  m.scheme = Scheme::parse(s->second);
  unsigned long long rows = 0, cols = 0;
  char tail = 0;
  VQ_CHECK(std::sscanf(sh->second.c_str(), "%llu,%llu%c", &rows, &cols, &tail) == 2, "compressed layer '", base,
           "': bad shape '", sh->second, "'");
  m.rows = rows;
  m.cols = cols;
  m.scheme.check_shape(m.rows, m.cols);
  // The codes are ~16× smaller than the float32 matrix they decode to.
  check_decoded_size(saturating_product({rows, cols, sizeof(float)}),
                     detail::concat("compressed layer '", base, "' (", rows, "×", cols, ")"));
  auto f16 = [](Span<const uint8_t> b) {
    std::vector<float> v(b.size() / 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = half_to_float(uint16_t(b[2 * i] | b[2 * i + 1] << 8));
    return v;
  };
  const uint64_t g = m.scheme.group;
  if (m.scheme.is_aq()) {
    const uint64_t M = m.scheme.books, K = uint64_t{1} << m.scheme.bits;
    const Span<const uint8_t> c =
        tensor(f, base + ".codes", m.code_bytes() == 1 ? DType::kI8 : DType::kI16, {rows, cols / g, M});
    m.codes = unpack_aqlm_codes(c, m.scheme);
    m.codebooks = f16(tensor(f, base + ".codebooks", DType::kF16, {m.scheme.row_groups * M, K, 1, g}));
    m.scales = f16(tensor(f, base + ".scales", DType::kF16, {rows, 1, 1, 1}));
  } else {
    const uint64_t ng = cols / g;
    const Span<const uint8_t> c = tensor(f, base + ".qweight", DType::kU8, {rows, m.row_code_bytes()});
    m.codes.assign(c.begin(), c.end());
    m.scales = f16(tensor(f, base + ".scales", DType::kF16, {rows, ng}));
    const Span<const uint8_t> z = tensor(f, base + ".zeros", DType::kU8, {rows, ng});
    m.zeros.assign(z.begin(), z.end());
  }
  if (f.contains(base + ".row_order")) {
    const size_t R = m.scheme.is_aq() ? m.scheme.row_groups : 1;
    const Span<const uint8_t> o = tensor(f, base + ".row_order", DType::kI32, {rows});
    const Span<const uint8_t> gb = tensor(f, base + ".row_groups", DType::kI32, {R + 1});
    m.row_order.resize(rows);
    m.group_begin.resize(R + 1);
    std::memcpy(m.row_order.data(), o.data(), o.size());
    std::memcpy(m.group_begin.data(), gb.data(), gb.size());
  } else {
    m.group_begin = {0, uint32_t(rows)};
  }
  m.validate();
  return m;
}

}  // namespace vq::weights
