#include "vq/weights/compressed_matrix.h"

#include <cmath>
#include <cstring>

#include "vq/core/bitpack.h"

namespace vq::weights {

namespace {

// Reads a decimal number at text[pos]; throws naming what was expected.
uint32_t read_number(const std::string& text, size_t& pos, const char* what) {
  size_t end = pos;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) && end - pos < 9) ++end;
  VQ_CHECK(end > pos, "scheme '", text, "': expected ", what, " at position ", pos);
  const auto value = static_cast<uint32_t>(std::stoul(text.substr(pos, end - pos)));
  pos = end;
  return value;
}

void expect(const std::string& text, size_t& pos, char c, const char* what) {
  VQ_CHECK(pos < text.size() && text[pos] == c, "scheme '", text, "': expected '", c, "' before ", what,
           " at position ", pos);
  ++pos;
}

const char* kind_name(SchemeKind k) {
  switch (k) {
    case SchemeKind::kAQ: return "AQ";
    case SchemeKind::kRTN: return "RTN";
    case SchemeKind::kGPTQ: return "GPTQ";
    case SchemeKind::kCDQ: return "CDQ";
  }
  return "?";
}

size_t ceil_log2(size_t n) {
  size_t b = 0;
  while ((size_t{1} << b) < n) ++b;
  return b;
}

}  // namespace

Scheme Scheme::parse(const std::string& text) {
  Scheme s;
  size_t pos = 0;
  if (text.rfind("AQ", 0) == 0) {
    s.kind = SchemeKind::kAQ;
    pos = 2;
    s.books = read_number(text, pos, "the number of codebooks M");
    expect(text, pos, 'x', "the bits per code");
    s.bits = read_number(text, pos, "the bits per code");
    // 'd' and 'c' are the letters; 'g' and 'r' are the old spelling (deprecation_note()).
    const bool old_spelling = pos < text.size() && text[pos] == 'g';
    expect(text, pos, old_spelling ? 'g' : 'd', "the code dimension");
    s.group = read_number(text, pos, "the code dimension d");
    if (pos < text.size() && text[pos] == (old_spelling ? 'r' : 'c')) {
      ++pos;
      s.row_groups = read_number(text, pos, "the number of row clusters C");
    }
    VQ_CHECK(s.books >= 1 && s.books <= 8, "scheme '", text, "': M = ", s.books, " codebooks, expected 1..8");
    VQ_CHECK(s.bits >= 1 && s.bits <= 16, "scheme '", text, "': ", s.bits, " bits per code, expected 1..16");
    VQ_CHECK(s.group >= 1 && s.group <= 64, "scheme '", text, "': code dimension ", s.group, ", expected 1..64");
    VQ_CHECK(s.row_groups >= 1 && s.row_groups <= 256, "scheme '", text, "': ", s.row_groups,
             " row clusters, expected 1..256");
  } else {
    bool known = false;
    for (SchemeKind k : {SchemeKind::kRTN, SchemeKind::kGPTQ, SchemeKind::kCDQ}) {
      const std::string name = kind_name(k);
      if (text.rfind(name, 0) == 0) {
        s.kind = k;
        pos = name.size();
        known = true;
        break;
      }
    }
    VQ_CHECK(known, "scheme '", text, "': unknown kind (expected AQ<M>x<b>d<d>[c<C>], RTN<b>g<G>, ",
             "GPTQ<b>g<G> or CDQ<b>g<G>)");
    s.bits = read_number(text, pos, "the bits per weight");
    expect(text, pos, 'g', "the group size");
    s.group = read_number(text, pos, "the group size G");
    VQ_CHECK(s.bits >= 2 && s.bits <= 8, "scheme '", text, "': ", s.bits, " bits per weight, expected 2..8");
    VQ_CHECK(s.group >= 1, "scheme '", text, "': group size must be >= 1");
  }
  VQ_CHECK(pos == text.size(), "scheme '", text, "': unexpected '", text.substr(pos), "' at position ", pos);
  return s;
}

std::string Scheme::str() const {
  std::string out = kind_name(kind);
  // Appended piece by piece: GCC 12 gives a false -Wrestrict on chains of std::string '+'.
  if (is_aq()) out.append(std::to_string(books)).append("x");
  out.append(std::to_string(bits)).append(is_aq() ? "d" : "g").append(std::to_string(group));
  if (is_aq() && row_groups > 1) out.append("c").append(std::to_string(row_groups));
  return out;
}

std::string Scheme::deprecation_note(const std::string& text) {
  if (text.rfind("AQ", 0) != 0 || text.find('g') == std::string::npos) return "";
  std::string canonical;
  try {
    canonical = parse(text).str();
  } catch (const Error&) {
    return "";  // not a scheme at all: parse() reports that
  }
  return "scheme '" + text + "' is the old spelling of '" + canonical +
         "' (AQ schemes now write the code dimension as d and row clusters as c; g and r mean "
         "scale group and rotation in quantizer specs)";
}

void Scheme::check_shape(size_t rows, size_t cols) const {
  VQ_CHECK(rows >= 1 && cols >= 1, "compress: empty matrix (", rows, " x ", cols, ")");
  VQ_CHECK(cols % group == 0, "scheme ", str(), ": in_features = ", cols, " is not a multiple of the group size ", group);
  VQ_CHECK(rows <= UINT32_MAX && cols <= UINT32_MAX, "compress: matrix too large");
  if (is_aq()) {
    VQ_CHECK(rows >= row_groups, "scheme ", str(), ": ", rows, " rows cannot form ", row_groups, " row groups");
  }
}

size_t CompressedMatrix::row_code_bytes() const {
  if (scheme.is_aq()) return cols / scheme.group * scheme.books * code_bytes();
  return (cols * scheme.bits + 7) / 8;
}

size_t CompressedMatrix::codebook_floats() const {
  return scheme.is_aq() ? scheme.books * (size_t{1} << scheme.bits) * scheme.group : 0;
}

uint32_t CompressedMatrix::aq_code(size_t r, size_t j, size_t m) const {
  const size_t idx = r * (cols / scheme.group) * scheme.books + j * scheme.books + m;
  if (code_bytes() == 1) return codes[idx];
  return uint32_t(codes[2 * idx]) | uint32_t(codes[2 * idx + 1]) << 8;
}

double CompressedMatrix::bits_per_weight() const {
  double bits = 0.0;
  if (scheme.is_aq()) {
    // Codes are counted at their nominal width (b bits), not the byte they occupy in memory.
    bits = double(rows) * double(cols / scheme.group) * scheme.books * scheme.bits;
    bits += double(scheme.row_groups) * double(codebook_floats()) * 16.0;  // fp16 codebooks
    bits += double(rows) * 16.0;                                            // fp16 scales
  } else {
    bits = double(rows) * double(cols) * scheme.bits;
    bits += double(rows) * double(cols / scheme.group) * (16.0 + scheme.bits);  // fp16 scale + zero
  }
  if (!row_order.empty()) bits += double(rows) * double(ceil_log2(rows));
  return bits / (double(rows) * double(cols));
}

void CompressedMatrix::validate() const {
  scheme.check_shape(rows, cols);
  const size_t groups = scheme.is_aq() ? scheme.row_groups : 1;
  VQ_CHECK(codes.size() == rows * row_code_bytes(), "compressed matrix: ", codes.size(), " code bytes, expected ",
           rows * row_code_bytes());
  VQ_CHECK(group_begin.size() == groups + 1 && group_begin.front() == 0 && group_begin.back() == rows,
           "compressed matrix: row-group offsets do not cover the ", rows, " rows");
  for (size_t g = 0; g < groups; ++g)
    VQ_CHECK(group_begin[g] < group_begin[g + 1], "compressed matrix: row group ", g, " is empty or out of order");
  if (!row_order.empty()) {
    VQ_CHECK(row_order.size() == rows, "compressed matrix: row_order has ", row_order.size(), " entries, expected ", rows);
    std::vector<uint8_t> seen(rows, 0);
    for (uint32_t r : row_order) {
      VQ_CHECK(r < rows && !seen[r], "compressed matrix: row_order is not a permutation (", r, ")");
      seen[r] = 1;
    }
  }
  auto finite = [](const std::vector<float>& v, const char* what) {
    for (float x : v) VQ_CHECK(std::isfinite(x), "compressed matrix: non-finite value in ", what);
  };
  finite(scales, "scales");
  finite(codebooks, "codebooks");
  if (scheme.is_aq()) {
    VQ_CHECK(codebooks.size() == groups * codebook_floats(), "compressed matrix: ", codebooks.size(),
             " codebook floats, expected ", groups * codebook_floats());
    VQ_CHECK(scales.size() == rows, "compressed matrix: ", scales.size(), " scales, expected ", rows);
    VQ_CHECK(zeros.empty(), "compressed matrix: AQ has no zero points");
    if (scheme.bits < 8 || (scheme.bits > 8 && scheme.bits < 16)) {
      const uint32_t limit = 1u << scheme.bits;
      for (size_t r = 0; r < rows; ++r)
        for (size_t j = 0; j < cols / scheme.group; ++j)
          for (size_t m = 0; m < scheme.books; ++m)
            VQ_CHECK(aq_code(r, j, m) < limit, "compressed matrix: code ", aq_code(r, j, m), " of row ", r,
                     " is out of range for ", scheme.bits, "-bit codebooks");
    }
  } else {
    const size_t ng = rows * (cols / scheme.group);
    VQ_CHECK(codebooks.empty(), "compressed matrix: scalar schemes have no codebooks");
    VQ_CHECK(scales.size() == ng && zeros.size() == ng, "compressed matrix: ", scales.size(), " scales and ",
             zeros.size(), " zero points, expected ", ng);
    for (uint8_t z : zeros)
      VQ_CHECK(z < (1u << scheme.bits), "compressed matrix: zero point ", int(z), " out of range");
    // Padding bits of each row's stream must be zero (the core bitpack rule).
    const size_t used = cols * scheme.bits, total = row_code_bytes() * 8;
    if (used < total)
      for (size_t r = 0; r < rows; ++r)
        VQ_CHECK((codes[(r + 1) * row_code_bytes() - 1] >> (8 - (total - used))) == 0,
                 "compressed matrix: non-zero padding bits in the codes of row ", r);
  }
}

Matrix CompressedMatrix::decode() const {
  Matrix out(rows, cols);
  const size_t g = scheme.group;
  for (size_t rg = 0; rg + 1 < group_begin.size(); ++rg) {
    const float* books = scheme.is_aq() ? codebooks.data() + rg * codebook_floats() : nullptr;
    for (size_t r = group_begin[rg]; r < group_begin[rg + 1]; ++r) {
      float* dst = out.row_ptr(row_order.empty() ? r : row_order[r]);
      if (scheme.is_aq()) {
        const size_t k = size_t{1} << scheme.bits;
        for (size_t j = 0; j < cols / g; ++j) {
          float* d = dst + j * g;
          for (size_t m = 0; m < scheme.books; ++m) {
            const float* e = books + (m * k + aq_code(r, j, m)) * g;
            for (size_t t = 0; t < g; ++t) d[t] += e[t];
          }
          for (size_t t = 0; t < g; ++t) d[t] *= scales[r];
        }
      } else {
        const uint8_t* row = codes.data() + r * row_code_bytes();
        const size_t b = scheme.bits, ng = cols / g;
        for (size_t c = 0; c < cols; ++c) {
          const size_t bit = c * b;
          uint32_t word = 0;
          std::memcpy(&word, row + bit / 8, std::min<size_t>(4, row_code_bytes() - bit / 8));
          const uint32_t q = (word >> (bit % 8)) & ((1u << b) - 1);
          const size_t gi = r * ng + c / g;
          dst[c] = scales[gi] * (float(q) - float(zeros[gi]));
        }
      }
    }
  }
  return out;
}

}  // namespace vq::weights
