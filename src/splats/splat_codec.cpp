// The splat codec (format and rationale in include/vq/splats/splat_codec.h).
#include "vq/splats/splat_codec.h"

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/zstd_frame.h"
#include "util/atomic_file.h"
#include "vq/core/embedded_model.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/kmeans.h"
#include "vq/core/limits.h"

namespace vq::splats {
namespace {

// Scenes written before embedded models carry each quantizer as a blob inside its SATT chunk,
// at most this large.
constexpr size_t kMaxQuantizerBytes = size_t{64} << 20;
constexpr const char* kQuantizerChunk = "SQNT";
constexpr uint64_t kMaxCount = uint64_t{1} << 28;

// ---- zstd blobs ----------------------------------------------------------------------------

void put_blob(ByteWriter& w, Span<const uint8_t> raw, int level) {
  const std::vector<uint8_t> frame = vq::detail::zstd_compress(raw, level);
  w.u64(raw.size());
  w.u64(frame.size());
  w.raw(frame);
}

// Reads a blob whose decompressed size must be at most max_raw (known from the counts, so a
// forged size cannot make us allocate more than the data can legitimately need).
std::vector<uint8_t> get_blob(ByteReader& r, uint64_t max_raw, const std::string& what) {
  const uint64_t raw = r.u64();
  const uint64_t stored = r.count(r.remaining(), (what + " stored size").c_str());
  VQ_CHECK(raw <= max_raw, r.context(), ": ", what, ": claims ", raw, " bytes, at most ", max_raw, " expected");
  return vq::detail::zstd_decompress_exact(r.raw(stored), raw, r.context() + ": " + what);
}

// ---- positions -----------------------------------------------------------------------------

uint64_t spread3(uint64_t v) {  // bits of v (21 at most) to every third bit
  v &= 0x1fffff;
  v = (v | v << 32) & 0x1f00000000ffffULL;
  v = (v | v << 16) & 0x1f0000ff0000ffULL;
  v = (v | v << 8) & 0x100f00f00f00f00fULL;
  v = (v | v << 4) & 0x10c30c30c30c30c3ULL;
  v = (v | v << 2) & 0x1249249249249249ULL;
  return v;
}
uint64_t compact3(uint64_t v) {
  v &= 0x1249249249249249ULL;
  v = (v ^ (v >> 2)) & 0x10c30c30c30c30c3ULL;
  v = (v ^ (v >> 4)) & 0x100f00f00f00f00fULL;
  v = (v ^ (v >> 8)) & 0x1f0000ff0000ffULL;
  v = (v ^ (v >> 16)) & 0x1f00000000ffffULL;
  v = (v ^ (v >> 32)) & 0x1fffff;
  return v;
}

// Quantizes positions, sorts by Morton code and writes SPOS. Returns the Gaussians' order.
std::vector<uint32_t> encode_positions(const SplatScene& s, int bits, int level, ByteWriter& w) {
  const size_t n = s.count;
  float lo[3], step[3];
  const uint32_t top = (uint32_t{1} << bits) - 1;
  for (int a = 0; a < 3; ++a) {
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
      mn = std::min(mn, s.positions[i * 3 + a]);
      mx = std::max(mx, s.positions[i * 3 + a]);
    }
    lo[a] = mn;
    step[a] = mx > mn ? (mx - mn) / top : 1.f;
  }
  std::vector<uint64_t> morton(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t m = 0;
    for (int a = 0; a < 3; ++a) {
      const float q = std::round((s.positions[i * 3 + a] - lo[a]) / step[a]);
      m |= spread3(static_cast<uint64_t>(std::clamp(q, 0.f, static_cast<float>(top)))) << a;
    }
    morton[i] = m;
  }
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return morton[a] != morton[b] ? morton[a] < morton[b] : a < b;
  });
  // Deltas of the sorted codes: k low bits raw (they are nearly uniform), the rest as varints
  // that zstd squeezes. k = floor(log2(mean delta)) is the Golomb-Rice choice.
  std::vector<uint64_t> delta(n);
  long double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    delta[i] = morton[order[i]] - (i ? morton[order[i - 1]] : 0);
    sum += delta[i];
  }
  const long double mean = n ? sum / n : 0;
  int k = 0;
  while (k < 56 && std::ldexp(1.0L, k + 1) <= mean) ++k;
  std::vector<uint8_t> low((n * k + 7) / 8, 0), high;
  high.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    for (int b = 0; b < k; ++b)
      if ((delta[i] >> b) & 1) {
        const size_t bit = i * k + b;
        low[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
      }
    uint64_t h = delta[i] >> k;
    do {
      high.push_back(static_cast<uint8_t>((h & 0x7f) | (h > 0x7f ? 0x80 : 0)));
      h >>= 7;
    } while (h);
  }
  w.u8(static_cast<uint8_t>(bits));
  for (float v : lo) w.f32(v);
  for (float v : step) w.f32(v);
  w.u8(static_cast<uint8_t>(k));
  put_blob(w, low, level);
  put_blob(w, high, level);
  return order;
}

std::vector<float> decode_positions(ByteReader r, size_t n) {
  const int bits = r.u8();
  VQ_CHECK(bits >= 1 && bits <= 21, r.context(), ": position bits ", bits, " not in 1..21");
  float lo[3], step[3];
  for (float& v : lo) v = r.f32();
  for (float& v : step) v = r.f32();
  for (int a = 0; a < 3; ++a)
    VQ_CHECK(std::isfinite(lo[a]) && std::isfinite(step[a]) && step[a] > 0, r.context(), ": bad position grid");
  const int k = r.u8();
  VQ_CHECK(k <= 56, r.context(), ": delta split ", k, " > 56");
  const std::vector<uint8_t> low = get_blob(r, (n * k + 7) / 8, "position low bits");
  VQ_CHECK(low.size() == (n * k + 7) / 8, r.context(), ": position low bits: ", low.size(), " bytes for ", n, " Gaussians");
  const std::vector<uint8_t> high = get_blob(r, n * 10, "position high parts");
  r.expect_end();
  std::vector<uint64_t> codes(n);
  uint64_t code = 0;
  size_t hp = 0;
  const uint64_t limit = bits == 21 ? ~uint64_t{0} >> 1 : (uint64_t{1} << (3 * bits)) - 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t h = 0;
    for (int shift = 0;; shift += 7) {
      VQ_CHECK(hp < high.size() && shift < 63, r.context(), ": position deltas end early or overflow at Gaussian ", i);
      const uint8_t byte = high[hp++];
      h |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    uint64_t d = 0;
    for (int b = 0; b < k; ++b) {
      const size_t bit = i * k + b;
      d |= static_cast<uint64_t>((low[bit / 8] >> (bit % 8)) & 1) << b;
    }
    VQ_CHECK(h <= (limit >> k), r.context(), ": position delta out of range at Gaussian ", i);
    d |= h << k;
    VQ_CHECK(d <= limit - code || (i == 0 && d <= limit), r.context(), ": position code out of range at Gaussian ", i);
    code += d;
    codes[i] = code;
  }
  VQ_CHECK(hp == high.size(), r.context(), ": ", high.size() - hp, " bytes of position data left over");
  std::vector<float> pos(n * 3);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) pos[i * 3 + a] = lo[a] + step[a] * static_cast<float>(compact3(codes[i] >> a));
  return pos;
}

// ---- attributes ----------------------------------------------------------------------------

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

size_t attribute_dim(size_t a) {
  static constexpr size_t dims[] = {3, 4, 1, 3, 9, 15, 21};
  return dims[a];
}
int attribute_degree(size_t a) { return a >= 4 ? static_cast<int>(a) - 3 : 0; }

// Row i of attribute a in its coding space, for Gaussian g of the scene.
void gather(const SplatScene& s, size_t a, size_t g, float* out) {
  switch (a) {
    case 0: std::copy_n(&s.scales[g * 3], 3, out); break;
    case 1: {
      const float* q = &s.rotations[g * 4];
      const float norm2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
      if (!(norm2 > 0)) {  // a zero quaternion renders as the identity
        std::copy_n(std::array<float, 4>{1, 0, 0, 0}.data(), 4, out);
        break;
      }
      const float f = (q[0] < 0 ? -1.f : 1.f) / std::sqrt(norm2);
      for (int j = 0; j < 4; ++j) out[j] = f * q[j];
      break;
    }
    case 2: out[0] = sigmoid(s.opacity[g]); break;
    case 3: std::copy_n(&s.sh_dc[g * 3], 3, out); break;
    default: {
      // Degree l occupies coefficients [l² - 1, (l+1)² - 1) of each channel.
      const int l = attribute_degree(a);
      const size_t k = sh_rest_per_channel(s.sh_degree), first = l * l - 1, m = 2 * l + 1;
      for (size_t ch = 0; ch < 3; ++ch)
        for (size_t j = 0; j < m; ++j) out[ch * m + j] = s.sh_rest[g * 3 * k + ch * k + first + j];
    }
  }
}

void scatter(SplatScene& s, size_t a, size_t g, const float* in) {
  switch (a) {
    case 0: std::copy_n(in, 3, &s.scales[g * 3]); break;
    case 1: {
      // Unit length and w >= 0 again (a sum of codebook entries is neither).
      const float norm = std::sqrt(in[0] * in[0] + in[1] * in[1] + in[2] * in[2] + in[3] * in[3]);
      const float f = (in[0] < 0 ? -1.f : 1.f) / norm;
      for (int j = 0; j < 4; ++j) s.rotations[g * 4 + j] = norm > 0 ? f * in[j] : (j == 0 ? 1.f : 0.f);
      break;
    }
    case 2: {
      const float alpha = std::clamp(in[0], 1e-6f, 1 - 1e-6f);
      s.opacity[g] = std::log(alpha / (1 - alpha));
      break;
    }
    case 3: std::copy_n(in, 3, &s.sh_dc[g * 3]); break;
    default: {
      const int l = attribute_degree(a);
      const size_t k = sh_rest_per_channel(s.sh_degree), first = l * l - 1, m = 2 * l + 1;
      for (size_t ch = 0; ch < 3; ++ch)
        for (size_t j = 0; j < m; ++j) s.sh_rest[g * 3 * k + ch * k + first + j] = in[ch * m + j];
    }
  }
}

// The spec with its codebook width reduced so that 2^bits <= n (k-means needs n >= k).
std::string fit_spec(const std::string& spec, size_t n) {
  QuantizerSpec q = parse_quantizer_spec(spec);
  if (q.family == "SQ" || q.family == "NF" || q.family == "FP") return spec;
  size_t& bits = q.numbers.back();
  while (bits > 1 && (size_t{1} << bits) > n) --bits;
  return q.to_string();
}

void write_codes_streams(ByteWriter& w, const Codes& codes, int level) {
  w.u32(static_cast<uint32_t>(codes.num_books()));
  for (uint8_t b : codes.bits) w.u8(b);
  const size_t m = codes.num_books();
  for (size_t book = 0; book < m; ++book) {
    // One stream per book: low bytes, then high bytes for wide books (byte planes compress
    // better than interleaved 16-bit values).
    const bool wide = codes.bits[book] > 8;
    std::vector<uint8_t> bytes(codes.n * (wide ? 2 : 1));
    for (size_t i = 0; i < codes.n; ++i) {
      const uint16_t c = codes.data[i * m + book];
      bytes[i] = static_cast<uint8_t>(c & 0xff);
      if (wide) bytes[codes.n + i] = static_cast<uint8_t>(c >> 8);
    }
    put_blob(w, bytes, level);
  }
}

Codes read_codes_streams(ByteReader& r, size_t n, const std::vector<uint8_t>& expect_bits, const std::string& what) {
  const uint32_t m = r.u32();
  VQ_CHECK(m == expect_bits.size(), r.context(), ": ", what, ": ", m, " code books, the quantizer has ", expect_bits.size());
  std::vector<uint8_t> bits(m);
  for (uint8_t& b : bits) b = r.u8();
  VQ_CHECK(bits == expect_bits, r.context(), ": ", what, ": code widths differ from the quantizer's");
  Codes codes(n, bits);
  for (size_t book = 0; book < m; ++book) {
    const bool wide = bits[book] > 8;
    const std::vector<uint8_t> bytes = get_blob(r, n * (wide ? 2 : 1), what + " codes");
    VQ_CHECK(bytes.size() == n * (wide ? 2 : 1), r.context(), ": ", what, ": code stream of ", bytes.size(),
             " bytes for ", n, " Gaussians");
    for (size_t i = 0; i < n; ++i)
      codes.data[i * m + book] = static_cast<uint16_t>(bytes[i] | (wide ? bytes[n + i] << 8 : 0));
  }
  codes.validate();
  return codes;
}

uint64_t parse_count(const ContainerReader& in, const std::string& key, uint64_t limit) {
  const std::string& v = in.meta_at(key);
  uint64_t x = 0;
  VQ_CHECK(!v.empty() && v.size() <= 20 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }),
           in.name(), ": metadata ", key, " = '", v, "' is not a number");
  x = std::stoull(v);
  VQ_CHECK(x <= limit, in.name(), ": metadata ", key, " = ", x, " exceeds ", limit);
  return x;
}

}  // namespace

// Presets. Attributes are ordered scale, rotation, opacity, colour, sh1, sh2, sh3. Trained
// codebook codes come out nearly uniform (k-means equalises usage), so each code costs about
// its width; positions cost about 3·bits − log2(n) + 2 bits. "medium" is sized for ≥ 20× below
// a degree-3 PLY (≤ 12.4 bytes/Gaussian); "high" for SPZ's size at a far better PSNR; "low" for
// about 8 bytes/Gaussian. Figures on the synthetic scenes: BENCHMARKS.md.
SplatCodecOptions SplatCodecOptions::preset(std::string_view quality) {
  SplatCodecOptions o;
  if (quality == "low") {
    o.position_bits = 13;
    o.specs = {"RVQ2x6", "RVQ2x6", "VQ5", "RVQ2x6", "VQ8", "VQ7", "VQ6"};
  } else if (quality == "medium") {
    o.position_bits = 14;
    o.specs = {"RVQ2x7", "RVQ2x7", "VQ6", "RVQ2x7", "VQ9", "VQ8", "VQ8"};
  } else if (quality == "high") {
    o.position_bits = 16;
    o.specs = {"RVQ3x8", "RVQ3x8", "VQ8", "RVQ2x8", "RVQ2x8", "RVQ2x8", "RVQ2x8"};
  } else {
    VQ_THROW("splat codec: unknown quality '", quality, "' (low, medium, high)");
  }
  return o;
}

std::vector<float> importance_weights(const SplatScene& s) {
  const size_t n = s.count;
  std::vector<float> area(n);
  for (size_t i = 0; i < n; ++i) {
    float l[3] = {s.scales[i * 3], s.scales[i * 3 + 1], s.scales[i * 3 + 2]};
    std::sort(l, l + 3);
    area[i] = l[1] + l[2];  // log of the area of the two largest axes
  }
  std::vector<float> tmp = area;
  std::nth_element(tmp.begin(), tmp.begin() + n / 2, tmp.end());
  const float median = n ? tmp[n / 2] : 0.f;
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) {
    const float rel = std::exp(std::clamp(area[i] - median, -std::log(64.f), std::log(64.f)));
    w[i] = std::max(sigmoid(s.opacity[i]) * std::sqrt(rel), 1e-3f);
  }
  return w;
}

SplatEncodeStats encode_splats(const SplatScene& s, const SplatCodecOptions& o, ContainerWriter& out) {
  const auto t0 = std::chrono::steady_clock::now();
  s.validate();
  VQ_CHECK(s.count >= 2, "splat codec: need at least 2 Gaussians, got ", s.count);
  VQ_CHECK(s.count <= kMaxCount, "splat codec: ", s.count, " Gaussians exceed the limit of ", kMaxCount);
  VQ_CHECK(o.position_bits >= 1 && o.position_bits <= 21, "splat codec: position_bits ", o.position_bits, " not in 1..21");
  VQ_CHECK(o.sh_degree >= -1 && o.sh_degree <= 3, "splat codec: sh_degree ", o.sh_degree, " not in -1..3");
  VQ_CHECK(o.iterations >= 1, "splat codec: iterations must be >= 1");
  VQ_CHECK(o.zstd_level >= 1 && o.zstd_level <= ZSTD_maxCLevel(), "splat codec: zstd level ", o.zstd_level, " not in 1..",
           ZSTD_maxCLevel());
  const int degree = o.sh_degree < 0 ? s.sh_degree : std::min(o.sh_degree, s.sh_degree);
  const size_t n = s.count;
  SplatEncodeStats stats;
  stats.count = n;

  ByteWriter pos;
  const std::vector<uint32_t> order = encode_positions(s, o.position_bits, o.zstd_level, pos);
  stats.bytes.emplace_back("positions", pos.size());
  stats.seconds.emplace_back("positions", since(t0));
  out.add("SPOS", pos.take());

  const std::vector<float> importance = importance_weights(s);
  std::vector<float> weights(n), area_weights(n);
  for (size_t i = 0; i < n; ++i) {
    weights[i] = importance[order[i]];
    // Opacity itself is what is being coded: weigh its error by size alone.
    area_weights[i] = std::max(importance[order[i]] / sigmoid(s.opacity[order[i]]), 1e-3f);
  }
  out.set_meta("vq.kind", "splats");
  out.set_meta("splats.count", std::to_string(n));
  out.set_meta("splats.sh_degree", std::to_string(degree));
  out.set_meta("splats.source_sh_degree", std::to_string(s.sh_degree));
  out.set_meta("splats.normals", s.normals.empty() ? "0" : "1");
  out.set_meta("splats.position_bits", std::to_string(o.position_bits));
  for (size_t a = 0; a < kSplatAttributes.size(); ++a) {
    if (attribute_degree(static_cast<int>(a)) > degree) continue;
    const auto ta = std::chrono::steady_clock::now();
    const size_t d = attribute_dim(a);
    Matrix x(n, d);
    for (size_t i = 0; i < n; ++i) gather(s, a, order[i], x.row_ptr(i));
    const std::string spec = fit_spec(o.specs[a], n);
    std::unique_ptr<Quantizer> q = make_quantizer(spec, d);
    // Train on every stride-th Gaussian of the Morton order (a spatially even sample): residual
    // quantizers re-encode their whole training set per level, which would cost as much as
    // encoding the scene again.
    const std::vector<uint8_t> book_bits = q->book_bits();
    const size_t k = size_t{1} << *std::max_element(book_bits.begin(), book_bits.end());
    const size_t stride = std::max<size_t>(1, n / std::max(o.max_points_per_centroid * k, k));
    const size_t rows = (n + stride - 1) / stride;
    Matrix xt(rows, d);
    std::vector<float> wt(rows);
    const std::vector<float>& wsrc = a == 2 ? area_weights : weights;
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(x.row_ptr(r * stride), d, xt.row_ptr(r));
      wt[r] = wsrc[r * stride];
    }
    TrainOptions t;
    t.weights = wt;
    t.seed = o.seed + a;
    t.threads = o.threads;
    t.iterations = o.iterations;
    t.max_points_per_centroid = o.max_points_per_centroid;
    q->train(xt, t);
    const Codes codes = q->encode(x);
    const size_t quantizer_bytes = embed_quantizer(out, kQuantizerChunk, *q, o.zstd_level);
    ByteWriter w;
    w.str(kSplatAttributes[a]);
    write_codes_streams(w, codes, o.zstd_level);
    stats.bytes.emplace_back(kSplatAttributes[a], quantizer_bytes + w.size());
    stats.seconds.emplace_back(kSplatAttributes[a], since(ta));
    double entropy = 0;
    for (size_t b = 0; b < codes.num_books(); ++b) entropy += codebook_usage(codes, b).entropy_bits;
    stats.code_entropy_bits.emplace_back(kSplatAttributes[a], entropy);
    out.set_meta(std::string("splats.spec.") + kSplatAttributes[a], q->describe());
    out.add("SATT", w.take());
    if (o.progress) o.progress({std::string("splats ") + kSplatAttributes[a], a + 1, kSplatAttributes.size(), 0, 0});
  }
  stats.total_seconds = since(t0);
  return stats;
}

SplatScene decode_splats(const ContainerReader& in) {
  VQ_CHECK(in.meta_or("vq.kind", "") == "splats", in.name(), ": not a splat scene (vq.kind = '",
           in.meta_or("vq.kind", ""), "')");
  uint64_t payload = 0;
  for (const auto& c : in.chunks()) payload += c.length;
  // A real scene's codes take several bytes per Gaussian even after zstd; requiring at least
  // 1/64 byte per Gaussian bounds what a forged count can make us allocate (~250 bytes per
  // Gaussian decoded) by 16 000× the file's size. (A scene of millions of identical Gaussians
  // could compress below that and would be refused.)
  const uint64_t n = parse_count(in, "splats.count", std::min<uint64_t>(kMaxCount, 64 * payload + 4096));
  VQ_CHECK(n >= 1, in.name(), ": scene has no Gaussians");
  SplatScene s;
  s.count = n;
  s.sh_degree = static_cast<int>(parse_count(in, "splats.sh_degree", 3));
  const std::string normals = in.meta_at("splats.normals");
  VQ_CHECK(normals == "0" || normals == "1", in.name(), ": splats.normals must be 0 or 1");
  // position 3, colour 3, opacity 1, scale 3, rotation 4, the SH rest and normals: float32 each.
  check_decoded_size(saturating_product({n, 14 + s.sh_rest_dim() + (normals == "1" ? 3u : 0u), sizeof(float)}),
                     detail::concat(in.name(), ": a scene of ", n, " Gaussians"));
  VQ_CHECK(in.count("SPOS") == 1, in.name(), ": expected one SPOS chunk, found ", in.count("SPOS"));
  s.positions = decode_positions(in.chunk("SPOS"), n);
  if (normals == "1") s.normals.assign(n * 3, 0.f);
  s.sh_dc.resize(n * 3);
  s.sh_rest.resize(n * s.sh_rest_dim());
  s.opacity.resize(n);
  s.scales.resize(n * 3);
  s.rotations.resize(n * 4);
  std::vector<int> seen(kSplatAttributes.size(), 0);
  // One buffer for every attribute's decoded rows (the widest is 21 floats): 1M Gaussians
  // would otherwise touch ~220 MB of fresh pages in per-attribute matrices.
  std::vector<float> rows(n * 21);
  // Each SATT chunk's quantizer is the SQNT chunk of the same index; scenes written before
  // embedded models have no SQNT chunks and a quantizer blob in each SATT.
  const bool embedded = in.has(kQuantizerChunk);
  VQ_CHECK(!embedded || in.count(kQuantizerChunk) == in.count("SATT"), in.name(), ": ", in.count(kQuantizerChunk),
           " quantizer chunks (", kQuantizerChunk, ") for ", in.count("SATT"), " attributes (SATT)");
  for (size_t c = 0; c < in.count("SATT"); ++c) {
    ByteReader r = in.chunk("SATT", c);
    const std::string name = r.str();
    size_t a = 0;
    while (a < kSplatAttributes.size() && name != kSplatAttributes[a]) ++a;
    VQ_CHECK(a < kSplatAttributes.size(), r.context(), ": unknown attribute '", name, "'");
    VQ_CHECK(attribute_degree(a) <= s.sh_degree, r.context(), ": attribute ", name, " beyond SH degree ", s.sh_degree);
    VQ_CHECK(seen[a]++ == 0, r.context(), ": attribute ", name, " appears twice");
    const std::unique_ptr<Quantizer> q =
        embedded ? read_embedded_quantizer(in, kQuantizerChunk, c)
                 : quantizer_from_bytes(get_blob(r, kMaxQuantizerBytes, name + " quantizer"));
    VQ_CHECK(q->dim() == attribute_dim(a), r.context(), ": ", name, " quantizer has dim ", q->dim(), ", expected ",
             attribute_dim(a));
    const Codes codes = read_codes_streams(r, n, q->book_bits(), name);
    r.expect_end();
    const MatrixView<float> x(rows.data(), n, attribute_dim(a));
    q->decode(codes, x);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) scatter(s, a, i, x.row_ptr(i));
  }
  for (size_t a = 0; a < kSplatAttributes.size(); ++a)
    VQ_CHECK(seen[a] || attribute_degree(a) > s.sh_degree, in.name(), ": attribute ", kSplatAttributes[a], " missing");
  s.validate();
  return s;
}

SplatEncodeStats encode_splats_file(const std::string& ply_path, const std::string& vqc_path,
                                    const SplatCodecOptions& options) {
  const SplatScene scene = read_ply(ply_path);
  ContainerWriter out;
  SplatEncodeStats stats = encode_splats(scene, options, out);
  out.write(vqc_path);
  return stats;
}

SplatScene decode_splats_file(const std::string& vqc_path) {
  return decode_splats(ContainerReader::from_file(vqc_path));
}

}  // namespace vq::splats
