// PLY parsing and writing for splat scenes. The header is parsed line by line into a property
// list; each property is then bound to a destination (a column of one of the scene's arrays or
// an extra property), so the row loop is the same for reading and writing and for every
// encoding. Every count is checked against the bytes the file holds before allocating.
#include "vq/splats/ply.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

#include "util/atomic_file.h"
#include "vq/core/limits.h"

namespace vq::splats {
namespace {

constexpr size_t kMaxHeaderBytes = 1 << 20;  // real 3DGS headers are ~2 KB
constexpr size_t kMaxProperties = 4096;

struct TypeInfo {
  PlyType type;
  const char* name;
  const char* alias;  // the sized names of PLY 1.0 as written by some tools ("float32")
  size_t size;
  double lo, hi;      // integer range (unused for floats)
};
constexpr TypeInfo kTypes[] = {
    {PlyType::kInt8, "char", "int8", 1, -128.0, 127.0},
    {PlyType::kUInt8, "uchar", "uint8", 1, 0.0, 255.0},
    {PlyType::kInt16, "short", "int16", 2, -32768.0, 32767.0},
    {PlyType::kUInt16, "ushort", "uint16", 2, 0.0, 65535.0},
    {PlyType::kInt32, "int", "int32", 4, -2147483648.0, 2147483647.0},
    {PlyType::kUInt32, "uint", "uint32", 4, 0.0, 4294967295.0},
    {PlyType::kFloat32, "float", "float32", 4, 0, 0},
    {PlyType::kFloat64, "double", "float64", 8, 0, 0},
};
const TypeInfo& info(PlyType t) { return kTypes[static_cast<size_t>(t)]; }
bool is_float(PlyType t) { return t == PlyType::kFloat32 || t == PlyType::kFloat64; }

// Where one property's values live in the scene: a float column (base[i*stride + offset]) for
// the standard attributes, or an extra property's doubles.
template <class F, class D>
struct Slot {
  F* base = nullptr;
  size_t stride = 0;
  D* extra = nullptr;
  PlyType type = PlyType::kFloat32;
};

// Standard attribute of a property name: array, its row width and the column; false if none.
struct StdAttr {
  int array = -1;  // 0 positions, 1 normals, 2 dc, 3 rest, 4 opacity, 5 scales, 6 rotations
  size_t column = 0;
};

bool parse_index(std::string_view s, size_t& out) {
  if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::stoul(std::string(s));
  return true;
}

bool standard_attr(std::string_view name, size_t rest_count, StdAttr& a) {
  static constexpr std::string_view xyz[] = {"x", "y", "z"}, nxyz[] = {"nx", "ny", "nz"};
  for (size_t k = 0; k < 3; ++k) {
    if (name == xyz[k]) { a = {0, k}; return true; }
    if (name == nxyz[k]) { a = {1, k}; return true; }
  }
  if (name == "opacity") { a = {4, 0}; return true; }
  struct Prefix { std::string_view p; int array; size_t limit; };
  const Prefix prefixes[] = {{"f_dc_", 2, 3}, {"f_rest_", 3, rest_count}, {"scale_", 5, 3}, {"rot_", 6, 4}};
  for (const Prefix& p : prefixes) {
    size_t k = 0;
    if (name.substr(0, p.p.size()) == p.p && parse_index(name.substr(p.p.size()), k) && k < p.limit) {
      a = {p.array, k};
      return true;
    }
  }
  return false;
}

size_t array_width(const SplatScene& s, int array) {
  switch (array) {
    case 0: case 1: case 2: case 5: return 3;
    case 3: return s.sh_rest_dim();
    case 4: return 1;
    default: return 4;
  }
}

template <class Scene>
auto array_ptr(Scene& s, int array) {
  switch (array) {
    case 0: return s.positions.data();
    case 1: return s.normals.data();
    case 2: return s.sh_dc.data();
    case 3: return s.sh_rest.data();
    case 4: return s.opacity.data();
    case 5: return s.scales.data();
    default: return s.rotations.data();
  }
}

// Binds layout to the scene's arrays, checking that every attribute appears exactly once.
template <class Scene, class F = std::conditional_t<std::is_const_v<Scene>, const float, float>,
          class D = std::conditional_t<std::is_const_v<Scene>, const double, double>>
std::vector<Slot<F, D>> bind(Scene& s, const std::vector<PlyProperty>& layout, const std::string& where) {
  std::vector<Slot<F, D>> slots;
  std::vector<std::vector<int>> seen(7);
  for (int a = 0; a < 7; ++a) seen[a].assign(array_width(s, a), 0);
  std::vector<int> extra_seen(s.extras.size(), 0);
  for (const PlyProperty& p : layout) {
    Slot<F, D> slot;
    slot.type = p.type;
    StdAttr a;
    if (standard_attr(p.name, s.sh_rest_dim(), a)) {
      VQ_CHECK(p.type == PlyType::kFloat32, where, ": standard attribute '", p.name, "' must be written as float");
      VQ_CHECK(a.array != 1 || !s.normals.empty(), where, ": layout names '", p.name, "' but the scene has no normals");
      VQ_CHECK(seen[a.array][a.column]++ == 0, where, ": property '", p.name, "' appears twice");
      slot.stride = array_width(s, a.array);
      // An empty scene's arrays have no storage: no offset into a null pointer.
      F* base = array_ptr(s, a.array);
      slot.base = base ? base + a.column : nullptr;
    } else {
      size_t j = 0;
      while (j < s.extras.size() && s.extras[j].property.name != p.name) ++j;
      VQ_CHECK(j < s.extras.size(), where, ": layout names '", p.name, "', which is neither a 3DGS attribute of SH degree ",
               s.sh_degree, " nor an extra property");
      VQ_CHECK(s.extras[j].property.type == p.type, where, ": extra property '", p.name, "' has type ",
               ply_type_name(s.extras[j].property.type), " but the layout says ", ply_type_name(p.type));
      VQ_CHECK(extra_seen[j]++ == 0, where, ": property '", p.name, "' appears twice");
      slot.extra = s.extras[j].values.data();
    }
    slots.push_back(slot);
  }
  for (int a = 0; a < 7; ++a) {
    if (a == 1 && s.normals.empty()) continue;
    for (size_t k = 0; k < seen[a].size(); ++k)
      VQ_CHECK(seen[a][k] == 1, where, ": layout lacks a standard attribute (array ", a, ", column ", k, ")");
  }
  for (size_t j = 0; j < extra_seen.size(); ++j)
    VQ_CHECK(extra_seen[j] == 1, where, ": layout lacks extra property '", s.extras[j].property.name, "'");
  return slots;
}

// ---- header ------------------------------------------------------------------------------

struct Header {
  PlyFormat format = PlyFormat::kBinaryLittleEndian;
  size_t count = 0;
  std::vector<PlyProperty> properties;
  std::vector<std::string> comments;
  size_t data_offset = 0;
};

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) w.push_back(line.substr(i, j - i));
    i = j;
  }
  return w;
}

Header parse_header(Span<const uint8_t> bytes, const std::string& name) {
  Header h;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), std::min(bytes.size(), kMaxHeaderBytes));
  size_t pos = 0, line_no = 0;
  bool have_format = false, have_element = false, done = false;
  while (!done) {
    const size_t eol = text.find('\n', pos);
    VQ_CHECK(eol != std::string_view::npos, name, ": PLY header ", bytes.size() > kMaxHeaderBytes ? "longer than 1 MiB" : "truncated",
             " (no end_header line)");
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    ++line_no;
    const auto w = split_words(line);
    const std::string at = name + ": header line " + std::to_string(line_no);
    if (line_no == 1) {
      VQ_CHECK(line == "ply", name, ": not a PLY file (first line is not 'ply')");
      continue;
    }
    VQ_CHECK(!w.empty(), at, ": empty line");
    if (w[0] == "comment") {
      const size_t c = line.find("comment") + 7;
      h.comments.emplace_back(c < line.size() ? line.substr(c + 1) : std::string_view());
    } else if (w[0] == "obj_info") {
      // informational only; not carried
    } else if (w[0] == "format") {
      VQ_CHECK(!have_format && !have_element, at, ": 'format' must come once, before any element");
      VQ_CHECK(w.size() == 3, at, ": expected 'format <encoding> 1.0'");
      if (w[1] == "ascii") h.format = PlyFormat::kAscii;
      else if (w[1] == "binary_little_endian") h.format = PlyFormat::kBinaryLittleEndian;
      else if (w[1] == "binary_big_endian") h.format = PlyFormat::kBinaryBigEndian;
      else VQ_THROW(at, ": unknown PLY format '", w[1], "'");
      VQ_CHECK(w[2] == "1.0", at, ": unsupported PLY version '", w[2], "'");
      have_format = true;
    } else if (w[0] == "element") {
      VQ_CHECK(w.size() == 3, at, ": expected 'element <name> <count>'");
      VQ_CHECK(!have_element, at, ": element '", w[1], "': a splat PLY has exactly one element, 'vertex'");
      VQ_CHECK(w[1] == "vertex", at, ": element '", w[1], "' is not supported (a splat PLY holds one 'vertex' element)");
      const auto r = std::from_chars(w[2].data(), w[2].data() + w[2].size(), h.count);
      VQ_CHECK(r.ec == std::errc() && r.ptr == w[2].data() + w[2].size(), at, ": bad vertex count '", w[2], "'");
      have_element = true;
    } else if (w[0] == "property") {
      VQ_CHECK(have_element, at, ": property before any element");
      VQ_CHECK(w.size() >= 2 && w[1] != "list", at, ": list properties are not supported in a splat PLY");
      VQ_CHECK(w.size() == 3, at, ": expected 'property <type> <name>'");
      const TypeInfo* t = nullptr;
      for (const TypeInfo& ti : kTypes)
        if (w[1] == ti.name || w[1] == ti.alias) t = &ti;
      VQ_CHECK(t, at, ": unknown property type '", w[1], "'");
      for (const PlyProperty& p : h.properties)
        VQ_CHECK(p.name != w[2], at, ": property '", w[2], "' appears twice");
      VQ_CHECK(h.properties.size() < kMaxProperties, at, ": more than ", kMaxProperties, " properties");
      h.properties.push_back({std::string(w[2]), t->type});
    } else if (w[0] == "end_header") {
      VQ_CHECK(w.size() == 1, at, ": junk after end_header");
      done = true;
    } else {
      VQ_THROW(at, ": unknown header keyword '", w[0], "'");
    }
  }
  VQ_CHECK(have_format, name, ": PLY header has no 'format' line");
  VQ_CHECK(have_element, name, ": PLY header has no 'element vertex' line");
  VQ_CHECK(!h.properties.empty(), name, ": vertex element has no properties");
  h.data_offset = pos;
  return h;
}

// Sets up the scene's shape for the header's properties: SH degree from the f_rest count,
// required attributes present, normals all or none. Types of standard attributes become float.
// Returns whether the file has normals. Allocates nothing: the count is not yet checked.
bool shape_scene(const Header& h, SplatScene& s, const std::string& name) {
  size_t rest = 0;
  bool normals[3] = {false, false, false};
  for (const PlyProperty& p : h.properties)
    if (p.name.rfind("f_rest_", 0) == 0) {
      size_t k = 0;
      VQ_CHECK(parse_index(std::string_view(p.name).substr(7), k), name, ": malformed SH property name '", p.name, "'");
      rest = std::max(rest, k + 1);
    }
  int degree = -1;
  for (int d = 0; d <= 3; ++d)
    if (3 * sh_rest_per_channel(d) == rest) degree = d;
  VQ_CHECK(degree >= 0, name, ": highest f_rest index is ", rest - 1, "; a 3DGS scene has 0, 9, 24 or 45 f_rest properties");
  s.sh_degree = degree;
  s.count = h.count;
  std::vector<std::vector<int>> seen(7);
  for (int a = 0; a < 7; ++a) seen[a].assign(array_width(s, a), 0);
  for (const PlyProperty& p : h.properties) {
    StdAttr a;
    if (standard_attr(p.name, rest, a)) {
      VQ_CHECK(is_float(p.type), name, ": property '", p.name, "' has type ", ply_type_name(p.type),
               "; 3DGS attributes must be float or double");
      seen[a.array][a.column] = 1;
      if (a.array == 1) normals[a.column] = true;
      s.layout.push_back({p.name, PlyType::kFloat32});
    } else {
      s.extras.push_back({p, {}});
      s.layout.push_back(p);
    }
  }
  static const char* names[] = {"x y z", "nx ny nz", "f_dc_0..2", "f_rest_*", "opacity", "scale_0..2", "rot_0..3"};
  for (int a = 0; a < 7; ++a) {
    if (a == 1 && !normals[0] && !normals[1] && !normals[2]) continue;
    for (size_t k = 0; k < seen[a].size(); ++k)
      VQ_CHECK(seen[a][k], name, ": missing 3DGS property (", names[a], ", #", k, ")");
  }
  s.comments = h.comments;
  return normals[0];
}

// Sizes the arrays for h.count Gaussians; called once the count is known to fit the file.
void allocate(SplatScene& s, bool normals) {
  const size_t n = s.count;
  s.positions.resize(n * 3);
  if (normals) s.normals.resize(n * 3);
  s.sh_dc.resize(n * 3);
  s.sh_rest.resize(n * s.sh_rest_dim());
  s.opacity.resize(n);
  s.scales.resize(n * 3);
  s.rotations.resize(n * 4);
  for (ExtraProperty& e : s.extras) e.values.resize(n);
}

// ---- value I/O ---------------------------------------------------------------------------

template <class T>
T load(const uint8_t* p, bool swap) {
  std::array<uint8_t, sizeof(T)> b;
  std::memcpy(b.data(), p, sizeof(T));
  if (swap) std::reverse(b.begin(), b.end());
  return std::bit_cast<T>(b);
}

template <class T>
void store(uint8_t* p, T v, bool swap) {
  auto b = std::bit_cast<std::array<uint8_t, sizeof(T)>>(v);
  if (swap) std::reverse(b.begin(), b.end());
  std::memcpy(p, b.data(), sizeof(T));
}

double load_value(const uint8_t* p, PlyType t, bool swap) {
  switch (t) {
    case PlyType::kInt8: return load<int8_t>(p, swap);
    case PlyType::kUInt8: return load<uint8_t>(p, swap);
    case PlyType::kInt16: return load<int16_t>(p, swap);
    case PlyType::kUInt16: return load<uint16_t>(p, swap);
    case PlyType::kInt32: return load<int32_t>(p, swap);
    case PlyType::kUInt32: return load<uint32_t>(p, swap);
    case PlyType::kFloat32: return load<float>(p, swap);
    case PlyType::kFloat64: return load<double>(p, swap);
  }
  return 0;
}

void store_value(uint8_t* p, PlyType t, double v, bool swap) {
  switch (t) {
    case PlyType::kInt8: store(p, static_cast<int8_t>(v), swap); break;
    case PlyType::kUInt8: store(p, static_cast<uint8_t>(v), swap); break;
    case PlyType::kInt16: store(p, static_cast<int16_t>(v), swap); break;
    case PlyType::kUInt16: store(p, static_cast<uint16_t>(v), swap); break;
    case PlyType::kInt32: store(p, static_cast<int32_t>(v), swap); break;
    case PlyType::kUInt32: store(p, static_cast<uint32_t>(v), swap); break;
    case PlyType::kFloat32: store(p, static_cast<float>(v), swap); break;
    case PlyType::kFloat64: store(p, v, swap); break;
  }
}

// Stores one parsed value into its slot; v was read as type slot.type.
void put(const Slot<float, double>& slot, size_t i, double v, const std::string& name, const std::string& prop) {
  VQ_CHECK(std::isfinite(v), name, ": vertex ", i, ", property '", prop, "': non-finite value");
  if (slot.extra) {
    slot.extra[i] = v;
    return;
  }
  const float f = static_cast<float>(v);
  VQ_CHECK(std::isfinite(f), name, ": vertex ", i, ", property '", prop, "': ", v, " overflows float");
  slot.base[i * slot.stride] = f;
}

constexpr bool kHostBigEndian = std::endian::native == std::endian::big;

void read_binary(Span<const uint8_t> bytes, const Header& h, SplatScene& s, const std::string& name) {
  // The scene's layout has the file's order; the slots take the file's types (standard
  // attributes may be double in the file and become float in the scene).
  auto io = bind(s, s.layout, name);
  for (size_t k = 0; k < io.size(); ++k) io[k].type = h.properties[k].type;
  const bool swap = (h.format == PlyFormat::kBinaryBigEndian) != kHostBigEndian;
  const uint8_t* p = bytes.data() + h.data_offset;
  for (size_t i = 0; i < h.count; ++i)
    for (size_t k = 0; k < io.size(); ++k) {
      put(io[k], i, load_value(p, io[k].type, swap), name, h.properties[k].name);
      p += ply_type_size(io[k].type);
    }
}

void read_ascii(Span<const uint8_t> bytes, const Header& h, SplatScene& s, const std::string& name) {
  auto io = bind(s, s.layout, name);
  for (size_t k = 0; k < io.size(); ++k) io[k].type = h.properties[k].type;
  const char* p = reinterpret_cast<const char*>(bytes.data()) + h.data_offset;
  const char* end = reinterpret_cast<const char*>(bytes.data()) + bytes.size();
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  for (size_t i = 0; i < h.count; ++i) {
    const std::string at = name + ": vertex " + std::to_string(i);
    for (size_t k = 0; k < io.size(); ++k) {
      while (p < end && blank(*p)) ++p;
      VQ_CHECK(p < end, at, ": file ends before property '", h.properties[k].name, "'");
      VQ_CHECK(*p != '\n', at, ": line ends before property '", h.properties[k].name, "' (", k, " of ",
               io.size(), " values)");
      const char* tok = p;
      while (p < end && !blank(*p) && *p != '\n') ++p;
      double v = 0;
      std::from_chars_result r{};
      const PlyType t = io[k].type;
      if (t == PlyType::kFloat32) {
        float f = 0;
        r = std::from_chars(tok, p, f);
        v = f;
      } else if (t == PlyType::kFloat64) {
        r = std::from_chars(tok, p, v);
      } else {
        int64_t iv = 0;
        r = std::from_chars(tok, p, iv);
        VQ_CHECK(r.ec == std::errc() && r.ptr == p, at, ": property '", h.properties[k].name, "': bad integer '",
                 std::string(tok, p), "'");
        v = static_cast<double>(iv);
        VQ_CHECK(v >= info(t).lo && v <= info(t).hi, at, ": property '", h.properties[k].name, "': ", iv,
                 " is out of range for ", ply_type_name(t));
      }
      VQ_CHECK(r.ec == std::errc() && r.ptr == p, at, ": property '", h.properties[k].name, "': bad number '",
               std::string(tok, p), "'");
      put(io[k], i, v, name, h.properties[k].name);
    }
    while (p < end && blank(*p)) ++p;
    VQ_CHECK(p == end || *p == '\n', at, ": more than ", io.size(), " values on the line");
    if (p < end) ++p;
  }
  while (p < end && (blank(*p) || *p == '\n')) ++p;
  VQ_CHECK(p == end, name, ": data after the last of ", h.count, " vertices");
}

}  // namespace

size_t ply_type_size(PlyType t) { return info(t).size; }
const char* ply_type_name(PlyType t) { return info(t).name; }

void SplatScene::validate() const {
  VQ_CHECK(sh_degree >= 0 && sh_degree <= 3, "splat scene: SH degree ", sh_degree, " is not in 0..3");
  const size_t n = count;
  auto check = [&](const std::vector<float>& v, size_t width, const char* what, bool optional) {
    if (optional && v.empty()) return;
    VQ_CHECK(v.size() == n * width, "splat scene: ", what, " has ", v.size(), " values, expected ", n * width);
    for (size_t i = 0; i < v.size(); ++i)
      VQ_CHECK(std::isfinite(v[i]), "splat scene: ", what, " of Gaussian ", i / width, " is not finite");
  };
  check(positions, 3, "positions", false);
  check(normals, 3, "normals", true);
  check(sh_dc, 3, "sh_dc", false);
  check(sh_rest, sh_rest_dim(), "sh_rest", false);
  check(opacity, 1, "opacity", false);
  check(scales, 3, "scales", false);
  check(rotations, 4, "rotations", false);
  for (const ExtraProperty& e : extras) {
    VQ_CHECK(e.values.size() == n, "splat scene: extra property '", e.property.name, "' has ", e.values.size(),
             " values, expected ", n);
    StdAttr a;
    VQ_CHECK(!standard_attr(e.property.name, sh_rest_dim(), a), "splat scene: extra property '", e.property.name,
             "' has the name of a 3DGS attribute");
    const TypeInfo& t = info(e.property.type);
    for (double v : e.values) {
      VQ_CHECK(std::isfinite(v), "splat scene: extra property '", e.property.name, "' has a non-finite value");
      if (!is_float(e.property.type))
        VQ_CHECK(v >= t.lo && v <= t.hi && v == std::floor(v), "splat scene: extra property '", e.property.name,
                 "': ", v, " is not a ", t.name);
    }
  }
  if (!layout.empty()) bind(*this, layout, "splat scene layout");
}

std::vector<PlyProperty> standard_layout(const SplatScene& s) {
  std::vector<PlyProperty> l;
  auto add = [&](const std::string& n) { l.push_back({n, PlyType::kFloat32}); };
  for (const char* n : {"x", "y", "z"}) add(n);
  if (!s.normals.empty())
    for (const char* n : {"nx", "ny", "nz"}) add(n);
  for (int k = 0; k < 3; ++k) add("f_dc_" + std::to_string(k));
  for (size_t k = 0; k < s.sh_rest_dim(); ++k) add("f_rest_" + std::to_string(k));
  add("opacity");
  for (int k = 0; k < 3; ++k) add("scale_" + std::to_string(k));
  for (int k = 0; k < 4; ++k) add("rot_" + std::to_string(k));
  for (const ExtraProperty& e : s.extras) l.push_back(e.property);
  return l;
}

SplatScene parse_ply(Span<const uint8_t> bytes, const std::string& name) {
  const Header h = parse_header(bytes, name);
  SplatScene s;
  const bool normals = shape_scene(h, s, name);
  const size_t remaining = bytes.size() - h.data_offset;
  if (h.format == PlyFormat::kAscii) {
    // Every value takes at least one character and one separator.
    VQ_CHECK(h.count <= remaining / (2 * h.properties.size()), name, ": header claims ", h.count,
             " vertices but only ", remaining, " bytes of ASCII data follow");
  } else {
    size_t stride = 0;
    for (const PlyProperty& p : h.properties) stride += ply_type_size(p.type);
    VQ_CHECK(h.count <= remaining / stride, name, ": truncated: header claims ", h.count, " vertices of ", stride,
             " bytes but only ", remaining, " bytes follow the header (", remaining / stride, " vertices)");
    VQ_CHECK(h.count * stride == remaining, name, ": ", remaining - h.count * stride,
             " bytes of trailing data after ", h.count, " vertices");
  }
  // Every property becomes a float32 in memory, whatever its type in the file.
  check_decoded_size(saturating_product({h.count, h.properties.size(), sizeof(float)}),
                     detail::concat(name, ": a scene of ", h.count, " vertices × ", h.properties.size(), " properties"));
  allocate(s, normals);
  if (h.format == PlyFormat::kAscii) read_ascii(bytes, h, s, name);
  else read_binary(bytes, h, s, name);
  return s;
}

SplatScene read_ply(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_ply(bytes, path);
}

std::vector<uint8_t> ply_to_bytes(const SplatScene& s, PlyFormat format) {
  s.validate();
  const std::vector<PlyProperty> layout = s.layout.empty() ? standard_layout(s) : s.layout;
  const auto slots = bind(s, layout, "write_ply");
  std::string head = "ply\nformat ";
  head += format == PlyFormat::kAscii ? "ascii" : format == PlyFormat::kBinaryBigEndian ? "binary_big_endian"
                                                                                        : "binary_little_endian";
  head += " 1.0\n";
  for (const std::string& c : s.comments) {
    VQ_CHECK(c.find('\n') == std::string::npos && c.find('\r') == std::string::npos,
             "write_ply: comment contains a line break");
    head += "comment " + c + "\n";
  }
  head += "element vertex " + std::to_string(s.count) + "\n";
  size_t stride = 0;
  for (const PlyProperty& p : layout) {
    head += std::string("property ") + ply_type_name(p.type) + " " + p.name + "\n";
    stride += ply_type_size(p.type);
  }
  head += "end_header\n";
  std::vector<uint8_t> out(head.begin(), head.end());
  auto value = [&](size_t k, size_t i) -> double {
    return slots[k].extra ? slots[k].extra[i] : slots[k].base[i * slots[k].stride];
  };
  if (format == PlyFormat::kAscii) {
    char buf[64];
    for (size_t i = 0; i < s.count; ++i) {
      for (size_t k = 0; k < slots.size(); ++k) {
        const double v = value(k, i);
        std::to_chars_result r{};
        // Shortest representation that reads back to the same value of the property's type.
        if (slots[k].type == PlyType::kFloat32) r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
        else if (slots[k].type == PlyType::kFloat64) r = std::to_chars(buf, buf + sizeof buf, v);
        else r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
        if (k) out.push_back(' ');
        out.insert(out.end(), buf, r.ptr);
      }
      out.push_back('\n');
    }
  } else {
    const bool swap = (format == PlyFormat::kBinaryBigEndian) != kHostBigEndian;
    std::vector<uint8_t> row(stride);
    out.reserve(out.size() + s.count * stride);
    for (size_t i = 0; i < s.count; ++i) {
      size_t pos = 0;
      for (size_t k = 0; k < slots.size(); ++k) {
        store_value(row.data() + pos, slots[k].type, value(k, i), swap);
        pos += ply_type_size(slots[k].type);
      }
      out.insert(out.end(), row.begin(), row.end());
    }
  }
  return out;
}

void write_ply(const std::string& path, const SplatScene& scene, PlyFormat format) {
  const std::vector<uint8_t> bytes = ply_to_bytes(scene, format);
  write_file_atomic(path, bytes);
}

}  // namespace vq::splats
