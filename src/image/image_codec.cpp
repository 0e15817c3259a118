// Encoded image files: token coding (fixed-length, zstd, adaptive arithmetic), the alpha plane,
// and the validation of everything read back.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>

#include "core/zstd_frame.h"
#include "image/range_coder.h"
#include "vq/core/bitpack.h"
#include "vq/core/limits.h"
#include "vq/image/image_codec.h"

namespace vq::image {
namespace {

constexpr const char* kKind = "image";
constexpr int kZstdLevel = 9;
constexpr size_t kMaxTokensPerPatch = 1024;
using detail::kProbInit;
using detail::RangeDecoder;
using detail::RangeEncoder;

// The token model, shared by encoder and decoder so they cannot drift apart. Patches in raster
// order; per patch, level by level:
//   0. (adaptive-depth grids, levels l >= 1) flag "the patch goes on to level l", probability
//      context (l, state of the left patch, state of the upper patch), a state being "absent",
//      "stopped before l" or "has level l" — the stop symbol: a patch ends at its first 0 flag;
// then per token slot s (level, group) of the level, with L and A the same slot's tokens in the
// left and upper neighbour patches (when they exist and reach that level):
//   1. flag "token == L", probability context (s, L == A);
//   2. if not, and A exists and differs from L: flag "token == A", context s;
//   3. if neither: the token's bits, most significant first, through a bit tree of 2^bits
//      probabilities per slot (node 1 is the root, node k's children are 2k and 2k+1).
// Flat image regions repeat tokens from patch to patch; the flags code those in a fraction of
// a bit, and everything else costs about the order-0 entropy of its slot.
struct TokenModel {
  explicit TokenModel(const TokenGrid& g)
      : tp(g.tokens_per_patch()), tree(size_t{1} << g.bits), bits(g.bits), same_left(tp * 2, kProbInit),
        same_above(tp, kProbInit), probs(tp * tree, kProbInit), more(g.levels * 9, kProbInit) {}

  // Codes token (r, c, s) of level `level` through coder `code(prob, bit) -> bit`: the encoder
  // passes the bit and gets it back, the decoder ignores the argument and returns the decoded bit.
  template <class Code>
  uint16_t token(const TokenGrid& g, size_t r, size_t c, size_t s, size_t level, unsigned value, Code&& code) {
    const size_t i = r * g.cols + c;
    const bool has_left = c > 0 && g.patch_depth(i - 1) > level;
    const bool has_above = r > 0 && g.patch_depth(i - g.cols) > level;
    const uint16_t left = has_left ? g.tokens[(i - 1) * tp + s] : 0;
    const uint16_t above = has_above ? g.tokens[(i - g.cols) * tp + s] : 0;
    if (has_left) {
      const size_t ctx = s * 2 + (has_above && above == left);
      if (code(same_left[ctx], unsigned(value == left))) return left;
    }
    if (has_above && (!has_left || above != left)) {
      if (code(same_above[s], unsigned(value == above))) return above;
    }
    uint16_t* p = &probs[s * tree];
    size_t node = 1;
    for (int k = bits - 1; k >= 0; --k) node = 2 * node + code(p[node], (value >> k) & 1u);
    return uint16_t(node - tree);
  }

  // Context of the "goes on to level l" flag of patch (r, c).
  size_t more_context(const TokenGrid& g, size_t r, size_t c, size_t level) const {
    const size_t i = r * g.cols + c;
    const size_t left = c == 0 ? 0 : g.patch_depth(i - 1) > level ? 2 : 1;
    const size_t above = r == 0 ? 0 : g.patch_depth(i - g.cols) > level ? 2 : 1;
    return level * 9 + left * 3 + above;
  }

  size_t tp, tree;
  int bits;
  std::vector<uint16_t> same_left, same_above, probs, more;
};

// Runs the model over the whole grid. Encoding (const grid): g is complete and code() writes
// each decision. Decoding: g.tokens are zero, g.depth (adaptive grids) is sized, and both are
// filled patch by patch in raster order, so the neighbours the contexts look at are always
// decoded already.
template <class Grid, class Code>
void code_grid(Grid& g, Code&& code) {
  constexpr bool decoding = !std::is_const_v<Grid>;
  TokenModel model(g);
  const size_t tp = model.tp;
  for (size_t r = 0; r < g.rows; ++r)
    for (size_t c = 0; c < g.cols; ++c) {
      const size_t i = r * g.cols + c;
      size_t depth = g.levels;
      for (size_t l = 0; l < g.levels; ++l) {
        if (l > 0 && g.adaptive()) {
          const unsigned more = decoding ? 0u : unsigned(g.depth[i] > l);
          if (!code(model.more[model.more_context(g, r, c, l)], more)) {
            depth = l;
            break;
          }
        }
        for (size_t s = l * g.groups; s < (l + 1) * g.groups; ++s) {
          const uint16_t t = model.token(g, r, c, s, l, decoding ? 0u : g.tokens[i * tp + s], code);
          if constexpr (decoding) g.tokens[i * tp + s] = t;
        }
      }
      if constexpr (decoding)
        if (g.adaptive()) g.depth[i] = static_cast<uint16_t>(depth);
    }
}

std::vector<uint8_t> arithmetic_encode(const TokenGrid& g) {
  RangeEncoder rc;
  code_grid(g, [&rc](uint16_t& prob, unsigned bit) {
    rc.bit(prob, bit);
    return bit;
  });
  return rc.finish();
}

void arithmetic_decode(Span<const uint8_t> in, TokenGrid& g) {
  RangeDecoder rc(in);
  code_grid(g, [&rc](uint16_t& prob, unsigned) { return rc.bit(prob); });
}

// ---- fixed / zstd layouts ------------------------------------------------------------------

// The whole grid as one bit stream (bitpack.h layout with a single "vector" of token_count()
// codes): no padding between patches, so the payload is exactly ceil(token_count · bits / 8).
std::vector<uint8_t> pack_tight(const TokenGrid& g) {
  Codes c(1, std::vector<uint8_t>(g.token_count(), g.bits));
  c.data = g.tokens;
  return pack_codes(c);
}

// Level-plane-major bytes: all patches' slot-0 tokens, then slot 1, ...; low bytes of every
// token first, then (bits > 8) the high bytes.
std::vector<uint8_t> planes(const TokenGrid& g) {
  const size_t n = g.rows * g.cols, tp = g.tokens_per_patch(), planes = g.bits > 8 ? 2 : 1;
  std::vector<uint8_t> out(n * tp * planes);
  for (size_t s = 0; s < tp; ++s)
    for (size_t i = 0; i < n; ++i) {
      const uint16_t t = g.tokens[i * tp + s];
      out[s * n + i] = uint8_t(t);
      if (planes == 2) out[n * tp + s * n + i] = uint8_t(t >> 8);
    }
  return out;
}

void from_planes(const std::vector<uint8_t>& bytes, TokenGrid& g) {
  const size_t n = g.rows * g.cols, tp = g.tokens_per_patch(), planes = g.bits > 8 ? 2 : 1;
  for (size_t s = 0; s < tp; ++s)
    for (size_t i = 0; i < n; ++i)
      g.tokens[i * tp + s] =
          uint16_t(bytes[s * n + i] | (planes == 2 ? unsigned(bytes[n * tp + s * n + i]) << 8 : 0u));
}

size_t meta_size(const ContainerReader& in, const std::string& key, size_t lo, size_t hi) {
  const std::string& s = in.meta_at(key);
  size_t v = 0;
  bool ok = !s.empty() && s.size() <= 12;
  for (char ch : s) {
    ok = ok && ch >= '0' && ch <= '9';
    if (ok) v = v * 10 + size_t(ch - '0');
  }
  VQ_CHECK(ok && v >= lo && v <= hi, in.name(), ": metadata ", key, " = '", s, "' is not an integer in ",
           lo, "..", hi);
  return v;
}

}  // namespace

const char* token_coding_name(TokenCoding coding) {
  switch (coding) {
    case TokenCoding::kFixed: return "fixed";
    case TokenCoding::kZstd: return "zstd";
    case TokenCoding::kArithmetic: return "arithmetic";
  }
  return "?";
}

TokenCoding parse_token_coding(const std::string& name) {
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kZstd, TokenCoding::kArithmetic})
    if (name == token_coding_name(c)) return c;
  VQ_THROW("unknown token coding '", name, "': use fixed, zstd or arithmetic");
}

std::vector<uint8_t> encode_tokens(const TokenGrid& grid, TokenCoding coding) {
  grid.validate("encode_tokens");
  VQ_CHECK(!grid.adaptive() || coding == TokenCoding::kArithmetic, "encode_tokens: a grid with "
           "adaptive depth is stored only with arithmetic coding, not ", token_coding_name(coding));
  switch (coding) {
    case TokenCoding::kFixed: return pack_tight(grid);
    case TokenCoding::kZstd: return vq::detail::zstd_compress(planes(grid), kZstdLevel);
    case TokenCoding::kArithmetic: return arithmetic_encode(grid);
  }
  VQ_THROW("encode_tokens: bad coding");
}

void decode_tokens(Span<const uint8_t> payload, TokenCoding coding, TokenGrid& g) {
  const size_t n = g.rows * g.cols, tp = g.tokens_per_patch();
  const std::string what = std::string("token payload (") + token_coding_name(coding) + ")";
  VQ_CHECK(!g.adaptive() || coding == TokenCoding::kArithmetic, what, ": adaptive depth needs arithmetic coding");
  switch (coding) {
    case TokenCoding::kFixed: {
      const size_t expect = (uint64_t(n) * tp * g.bits + 7) / 8;
      VQ_CHECK(payload.size() == expect, what, ": ", payload.size(), " bytes, expected ", expect);
      g.tokens = unpack_codes(payload, 1, std::vector<uint8_t>(n * tp, g.bits)).data;
      break;
    }
    case TokenCoding::kZstd: {
      g.tokens.assign(n * tp, 0);
      from_planes(vq::detail::zstd_decompress_exact(payload, n * tp * (g.bits > 8 ? 2 : 1), what), g);
      break;
    }
    case TokenCoding::kArithmetic: {
      // Each binary decision costs at least log2(2048 / 2017) ≈ 1/45 bit and each token takes at
      // least one, so a payload of B bytes cannot hold more than ~360·B tokens: a count beyond
      // that is corrupt metadata, and rejecting it bounds the allocation by the file size.
      VQ_CHECK(uint64_t(n) * tp <= (uint64_t(payload.size()) + 8) * 8 * 46, what, ": ", payload.size(),
               " bytes cannot hold ", n * tp, " tokens");
      g.tokens.assign(n * tp, 0);
      if (g.adaptive()) g.depth.assign(n, static_cast<uint16_t>(g.levels));
      arithmetic_decode(payload, g);
      break;
    }
  }
  g.validate(what.c_str());
}

namespace {

// The finest refinement step whose whole file (e as it stands, arithmetic-coded tokens) fits in
// target_bpp. File size falls as the step grows (up to coding noise), so bisection on log(step):
// 12 halvings of the 14-octave range put the step within 1 % of the boundary.
float step_for_rate(const Image& image, const ImageTokenizer& model, EncodedImage& e, double target_bpp) {
  const double budget = target_bpp * double(image.pixel_count()) / 8.0;
  auto fits = [&](float step) {
    e.refinement = model.refine(image, e.grid, step);
    ContainerWriter out;
    write_encoded_image(out, e, TokenCoding::kArithmetic);
    return double(out.to_bytes().size()) <= budget;
  };
  if (fits(kMinRefinementStep)) return kMinRefinementStep;
  double lo = std::log(double(kMinRefinementStep)), hi = std::log(double(kMaxRefinementStep));
  for (int i = 0; i < 12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (fits(float(std::exp(mid))) ? hi : lo) = mid;
  }
  return float(std::exp(hi));
}

}  // namespace

EncodedImage encode_image(const Image& image, const ImageTokenizer& model, const ImageEncodeOptions& o,
                          const std::string& model_name) {
  image.validate("encode_image");
  VQ_CHECK(o.step == 0.f || (std::isfinite(o.step) && o.step >= kMinRefinementStep), "encode_image: refinement step "
           "must be 0 (none) or >= ", kMinRefinementStep, ", got ", o.step);
  VQ_CHECK(o.bpp >= 0.0 && std::isfinite(o.bpp), "encode_image: target bpp must be >= 0, got ", o.bpp);
  EncodedImage e;
  e.grid = o.min_gain >= 0.f ? model.encode_adaptive(image, o.min_gain, o.levels) : model.encode(image, o.levels);
  e.source_channels = image.channels;
  if (image.has_alpha()) {
    const Image a = alpha_plane(image);
    if (std::any_of(a.pixels.begin(), a.pixels.end(), [](uint8_t v) { return v != 255; }))
      e.alpha = a.pixels;
    else
      e.source_channels = image.channels - 1;  // fully opaque: nothing to keep
  }
  e.model = model.ref();
  if (!model_name.empty()) e.model.name = model_name;
  const float step = o.bpp > 0.0 ? step_for_rate(image, model, e, o.bpp) : o.step;
  if (step > 0.f) e.refinement = model.refine(image, e.grid, step);
  return e;
}

void write_encoded_image(ContainerWriter& out, const EncodedImage& e, TokenCoding coding) {
  const TokenGrid& g = e.grid;
  g.validate("write_encoded_image");
  VQ_CHECK(e.alpha.empty() || e.alpha.size() == g.width * g.height, "write_encoded_image: alpha plane of ",
           e.alpha.size(), " bytes for ", g.width, "×", g.height);
  out.set_meta("vq.kind", kKind);
  out.set_meta("image.width", std::to_string(g.width));
  out.set_meta("image.height", std::to_string(g.height));
  out.set_meta("image.channels", std::to_string(e.source_channels));
  out.set_meta("image.patch", std::to_string(g.patch));
  out.set_meta("image.rows", std::to_string(g.rows));
  out.set_meta("image.cols", std::to_string(g.cols));
  out.set_meta("image.levels", std::to_string(g.levels));
  out.set_meta("image.groups", std::to_string(g.groups));
  out.set_meta("image.bits", std::to_string(g.bits));
  write_model_ref(out, e.model);
  out.set_meta("image.token_coding", token_coding_name(coding));
  out.set_meta("image.depth", g.adaptive() ? "adaptive" : "fixed");
  out.add("ITOK", encode_tokens(g, coding));
  if (!e.refinement.empty()) {
    char step[32];
    std::snprintf(step, sizeof step, "%.9g", double(e.refinement.step));
    out.set_meta("image.refinement", "scalar");
    out.set_meta("image.refinement_step", step);
    out.add("IREF", encode_refinement(e.refinement, g.rows, g.cols, g.patch));
  }
  if (!e.alpha.empty()) {
    ByteWriter w;
    w.u64(e.alpha.size());
    w.raw(vq::detail::zstd_compress(e.alpha, kZstdLevel));
    out.add("ALPH", w.take());
  }
}

EncodedImage read_encoded_image(const ContainerReader& in) {
  const std::string kind = in.meta_or("vq.kind", "");
  VQ_CHECK(kind == kKind, in.name(), ": holds '", kind, "', not an encoded image");
  EncodedImage e;
  TokenGrid& g = e.grid;
  g.width = meta_size(in, "image.width", 1, kMaxPixels);
  g.height = meta_size(in, "image.height", 1, kMaxPixels);
  VQ_CHECK(uint64_t(g.width) * g.height <= kMaxPixels, in.name(), ": ", g.width, "×", g.height,
           " exceeds ", kMaxPixels, " pixels");
  e.source_channels = meta_size(in, "image.channels", 1, 4);
  check_decoded_size(ImageHeader{g.width, g.height, e.source_channels}.decoded_bytes(),
                     vq::detail::concat(in.name(), ": a ", g.width, "×", g.height, " image"));
  g.grey = e.source_channels <= 2;
  g.patch = meta_size(in, "image.patch", 2, 64);
  g.rows = meta_size(in, "image.rows", 1, kMaxPixels);
  g.cols = meta_size(in, "image.cols", 1, kMaxPixels);
  VQ_CHECK(g.rows == (g.height + g.patch - 1) / g.patch && g.cols == (g.width + g.patch - 1) / g.patch,
           in.name(), ": grid ", g.rows, "×", g.cols, " does not match a ", g.width, "×", g.height,
           " image in ", g.patch, "-pixel patches");
  g.levels = meta_size(in, "image.levels", 1, kMaxTokensPerPatch);
  g.groups = meta_size(in, "image.groups", 1, kMaxTokensPerPatch);
  VQ_CHECK(g.levels * g.groups <= kMaxTokensPerPatch, in.name(), ": ", g.levels * g.groups,
           " tokens per patch (limit ", kMaxTokensPerPatch, ")");
  g.bits = uint8_t(meta_size(in, "image.bits", 1, 16));
  if (std::optional<ModelRef> ref = read_model_ref(in)) {
    e.model = std::move(*ref);
  } else {
    // Written before model references: the model's location ("default": the bundled model) and
    // its legacy id, which the model file records under the same key (model_ref.h).
    const std::string location = in.meta_or("image.model", "");
    e.model.name = location == "default" ? kDefaultModelName : location;
    e.model.legacy_key = "image.model_id";
    e.model.legacy_id = in.meta_at("image.model_id");
  }
  const TokenCoding coding = parse_token_coding(in.meta_at("image.token_coding"));
  const std::string depth = in.meta_or("image.depth", "fixed");
  VQ_CHECK(depth == "fixed" || depth == "adaptive", in.name(), ": image.depth = '", depth,
           "' is not fixed or adaptive");
  if (depth == "adaptive") g.depth.assign(g.rows * g.cols, static_cast<uint16_t>(g.levels));
  decode_tokens(in.payload("ITOK"), coding, g);
  const std::string refinement = in.meta_or("image.refinement", "none");
  VQ_CHECK(refinement == "none" || refinement == "scalar", in.name(), ": image.refinement = '", refinement,
           "' is not none or scalar");
  VQ_CHECK((refinement == "scalar") == in.has("IREF"), in.name(), ": image.refinement = ", refinement,
           in.has("IREF") ? " but an IREF chunk is present" : " but no IREF chunk");
  if (refinement == "scalar") {
    const std::string& text = in.meta_at("image.refinement_step");
    char* end = nullptr;
    e.refinement.step = std::strtof(text.c_str(), &end);
    VQ_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(e.refinement.step) &&
             e.refinement.step >= kMinRefinementStep, in.name(), ": image.refinement_step = '", text,
             "' is not a step >= ", kMinRefinementStep);
    decode_refinement(in.payload("IREF"), g.rows, g.cols, g.patch, e.refinement);
  }
  const bool wants_alpha = e.source_channels == 2 || e.source_channels == 4;
  VQ_CHECK(wants_alpha == in.has("ALPH"), in.name(), ": image.channels = ", e.source_channels,
           wants_alpha ? " but no ALPH chunk" : " but an ALPH chunk is present");
  if (wants_alpha) {
    ByteReader r = in.chunk("ALPH");
    const uint64_t n = r.u64();
    VQ_CHECK(n == uint64_t(g.width) * g.height, in.name(), ": ALPH holds ", n, " bytes for a ",
             g.width, "×", g.height, " image");
    e.alpha = vq::detail::zstd_decompress_exact(r.raw(r.remaining()), n, in.name() + ": ALPH");
  }
  return e;
}

Image decode_image(const EncodedImage& e, const ImageTokenizer& model) {
  check_model(e.model, model.ref(), "decode_image: the tokens");
  Image colour = model.decode(e.grid, e.refinement.empty() ? nullptr : &e.refinement);
  if (e.alpha.empty()) return colour;
  Image out(colour.width, colour.height, colour.channels + 1);
  const size_t c = colour.channels;
  for (size_t i = 0; i < colour.pixel_count(); ++i) {
    std::copy_n(&colour.pixels[i * c], c, &out.pixels[i * (c + 1)]);
    out.pixels[i * (c + 1) + c] = e.alpha[i];
  }
  return out;
}

}  // namespace vq::image
