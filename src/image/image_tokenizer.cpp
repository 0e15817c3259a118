// Training, encoding and decoding of the image tokenizer; the model file. The heavy lifting is
// the core's: PatchTransform turns pixels into vectors, the residual quantizer does the rest.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/residual_beam.h"
#include "kernels/distances.h"
#include "kernels/subspace_search.h"

#include "util/atomic_file.h"
#include "vq/core/embedded_model.h"
#include "vq/core/factory.h"
#include "vq/core/group_residual_quantizer.h"
#include "vq/core/io.h"
#include "vq/core/residual_quantizer.h"
#include "vq/core/rng.h"
#include "vq/image/image_tokenizer.h"
#include "util/parallel.h"

namespace vq::image {
namespace {

constexpr const char* kModelKind = "image_model";
constexpr const char* kQuantizerChunk = "IQNT";
// Where model files written before model hashes keep their identity (model_ref.h).
constexpr const char* kLegacyIdKey = "image.model_id";

// Metadata of a model file that is the caller's: not the container's, the model's or (in files
// written before embedded models) its quantizer's.
bool caller_key(const std::string& key) {
  return key.rfind("vq.", 0) != 0 && key.rfind("image.", 0) != 0 && key.rfind("quantizer.", 0) != 0;
}

// Patches per batch when encoding / decoding: 512 × 192 floats (384 KiB) of residuals stay in
// L2 through all levels, and each level's sgemm still has 512 rows to amortise its packing.
constexpr size_t kBatch = 512;

// Mirror image (left-right), for training augmentation.
Image mirrored(const Image& im) {
  Image out = im;
  const size_t c = im.channels;
  for (size_t y = 0; y < im.height; ++y)
    for (size_t x = 0; x < im.width; ++x)
      std::copy_n(&im.pixels[(y * im.width + x) * c], c, &out.pixels[(y * im.width + (im.width - 1 - x)) * c]);
  return out;
}

size_t parse_size(const ContainerReader& in, const std::string& key) {
  const std::string& s = in.meta_at(key);
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  VQ_CHECK(pos == s.size() && !s.empty() && s[0] != '-', in.name(), ": metadata ", key, " = '", s,
           "' is not a non-negative integer");
  return static_cast<size_t>(v);
}

float parse_float(const ContainerReader& in, const std::string& key) {
  const std::string& s = in.meta_at(key);
  size_t pos = 0;
  float v = 0;
  try {
    v = std::stof(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  VQ_CHECK(pos == s.size() && !s.empty(), in.name(), ": metadata ", key, " = '", s, "' is not a number");
  return v;
}

}  // namespace

void TokenGrid::validate(const char* who) const {
  VQ_CHECK(patch >= 2 && width >= 1 && height >= 1, who, ": bad grid geometry ", width, "×", height,
           " patch ", patch);
  VQ_CHECK(rows == (height + patch - 1) / patch && cols == (width + patch - 1) / patch, who, ": grid ",
           rows, "×", cols, " does not cover ", width, "×", height, " with ", patch, "-pixel patches");
  VQ_CHECK(levels >= 1 && groups >= 1 && bits >= 1 && bits <= 16, who, ": bad token layout: levels ",
           levels, ", groups ", groups, ", bits ", int(bits));
  VQ_CHECK(tokens.size() == token_count(), who, ": ", tokens.size(), " tokens, expected ", token_count());
  const uint32_t limit = uint32_t{1} << bits;
  for (size_t i = 0; i < tokens.size(); ++i)
    VQ_CHECK(tokens[i] < limit, who, ": token ", i, " = ", tokens[i], " exceeds ", bits, " bits");
  if (depth.empty()) return;
  VQ_CHECK(depth.size() == rows * cols, who, ": ", depth.size(), " patch depths for ", rows * cols, " patches");
  const size_t tp = tokens_per_patch();
  for (size_t i = 0; i < depth.size(); ++i) {
    VQ_CHECK(depth[i] >= 1 && depth[i] <= levels, who, ": patch ", i, " has depth ", depth[i], ", not 1..", levels);
    for (size_t s = depth[i] * groups; s < tp; ++s)
      VQ_CHECK(tokens[i * tp + s] == 0, who, ": patch ", i, " has a token past its depth ", depth[i]);
  }
}

TokenGrid TokenGrid::truncated(size_t keep) const {
  VQ_CHECK(keep >= 1 && keep <= levels, "TokenGrid::truncated: levels must be 1..", levels, ", got ", keep);
  TokenGrid out = *this;
  out.levels = keep;
  const size_t old_tp = tokens_per_patch(), new_tp = out.tokens_per_patch();
  out.tokens.resize(rows * cols * new_tp);
  for (size_t i = 0; i < rows * cols; ++i)
    std::copy_n(&tokens[i * old_tp], new_tp, &out.tokens[i * new_tp]);
  for (uint16_t& d : out.depth) d = static_cast<uint16_t>(std::min<size_t>(d, keep));
  return out;
}

// Whitened books of a greedy RVQ in the subspace search's form, built once per model.
struct ImageTokenizer::Greedy {
  kernels::SubspaceBooks books;
};

namespace {

// The entries of an RVQ's books whitened under its metric: the space of the subspace search.
std::vector<Matrix> whitened_entries(const ResidualQuantizer& rvq) {
  std::vector<Matrix> entries;
  for (vq::detail::WhitenedBook& b : vq::detail::whiten_books(rvq.books(), rvq.metric()))
    entries.push_back(std::move(b.entries));
  return entries;
}

}  // namespace

ImageTokenizer::ImageTokenizer(size_t patch, std::unique_ptr<Quantizer> q, float chroma, float high)
    : transform_(patch), chroma_weight_(chroma), high_frequency_weight_(high) {
  VQ_CHECK(q->dim() == transform_.dim(), "ImageTokenizer: quantizer ", q->describe(), " has dim ",
           q->dim(), ", patches of ", patch, " pixels need ", transform_.dim());
  if (const auto* rvq = dynamic_cast<const ResidualQuantizer*>(q.get())) {
    levels_ = rvq->levels();
    groups_ = 1;
    bits_ = rvq->bits();
  } else if (const auto* grvq = dynamic_cast<const GroupResidualQuantizer*>(q.get())) {
    levels_ = grvq->levels();
    groups_ = grvq->groups();
    bits_ = grvq->bits();
  } else {
    VQ_THROW("ImageTokenizer: quantizer ", q->describe(),
             " is not residual: use RVQ<L>x<bits> or GRVQ<G>x<L>x<bits> so levels can be dropped");
  }
  // Slot l·G + g (level-major) is book g·L + l of a GRVQ (group-major), book l of an RVQ.
  for (size_t l = 0; l < levels_; ++l)
    for (size_t g = 0; g < groups_; ++g) slot_to_book_.push_back(g * levels_ + l);
  quantizer_ = std::move(q);
  const auto* rvq = dynamic_cast<const ResidualQuantizer*>(quantizer_.get());
  if (rvq && rvq->beam() == 1 && quantizer_->is_trained()) {
    greedy_ = std::make_shared<Greedy>(
        Greedy{kernels::SubspaceBooks(whitened_entries(*rvq))});
  }
}

ImageTokenizer ImageTokenizer::train(const std::vector<Image>& images, const ImageTrainOptions& o) {
  VQ_CHECK(!images.empty(), "ImageTokenizer::train: no training images");
  for (const auto& [key, value] : o.metadata)
    VQ_CHECK(caller_key(key), "ImageTokenizer::train: metadata key '", key,
             "' is reserved (vq., image. and quantizer. keys belong to the file format)");
  const PatchTransform transform(o.patch);
  std::unique_ptr<Quantizer> q = make_quantizer(o.quantizer, transform.dim());

  std::vector<Matrix> parts;
  size_t total = 0;
  for (const Image& im : images) {
    parts.push_back(transform.forward(im));
    total += parts.back().rows();
    if (o.flips) {
      parts.push_back(transform.forward(mirrored(im)));
      total += parts.back().rows();
    }
  }
  const size_t n = o.max_patches == 0 ? total : std::min(total, o.max_patches);
  std::vector<size_t> pick;
  if (n < total) {
    pick = sample_without_replacement(total, n, o.seed);
    std::sort(pick.begin(), pick.end());
  }
  Matrix x(n, transform.dim());
  size_t base = 0, part = 0, k = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t src = pick.empty() ? i : pick[i];
    while (src >= base + parts[part].rows()) base += parts[part++].rows();
    const float* row = parts[part].row_ptr(src - base);
    std::copy_n(row, transform.dim(), x.row_ptr(k++));
  }
  parts.clear();

  TrainOptions t;
  t.metric = Metric::diagonal(transform.weights(o.chroma_weight, o.high_frequency_weight));
  t.seed = o.seed;
  t.threads = o.threads;
  t.iterations = o.iterations;
  t.progress = o.progress;
  q->train(x, t);
  ImageTokenizer model(o.patch, std::move(q), o.chroma_weight, o.high_frequency_weight);
  model.metadata_ = o.metadata;
  model.ref_.hash = model_hash(model.to_bytes());
  return model;
}

void ImageTokenizer::write(ContainerWriter& out) const {
  for (const auto& [key, value] : metadata_) out.set_meta(key, value);
  out.set_meta("vq.kind", kModelKind);
  out.set_meta("image.patch", std::to_string(patch()));
  out.set_meta("image.color", "ycbcr-bt601");
  out.set_meta("image.transform", "dct");
  out.set_meta("image.chroma_weight", std::to_string(chroma_weight_));
  out.set_meta("image.high_frequency_weight", std::to_string(high_frequency_weight_));
  if (!ref_.legacy_id.empty()) out.set_meta(kLegacyIdKey, ref_.legacy_id);
  embed_quantizer(out, kQuantizerChunk, *quantizer_);
}

std::vector<uint8_t> ImageTokenizer::to_bytes() const {
  ContainerWriter out;
  write(out);
  return out.to_bytes();
}

void ImageTokenizer::save(const std::string& path) const { write_file_atomic(path, to_bytes()); }

ImageTokenizer ImageTokenizer::read(const ContainerReader& in) {
  const std::string kind = in.meta_or("vq.kind", "");
  VQ_CHECK(kind == kModelKind, in.name(), ": holds '", kind, "', not an image model (", kModelKind, ")");
  VQ_CHECK(in.meta_or("image.color", "") == "ycbcr-bt601" && in.meta_or("image.transform", "") == "dct",
           in.name(), ": unknown image transform '", in.meta_or("image.color", ""), "' / '",
           in.meta_or("image.transform", ""), "'");
  const size_t patch = parse_size(in, "image.patch");
  VQ_CHECK(patch >= 2 && patch <= 64, in.name(), ": image.patch = ", patch, " is outside 2..64");
  const float chroma = parse_float(in, "image.chroma_weight");
  const float high = parse_float(in, "image.high_frequency_weight");
  // Files written before embedded models keep the quantizer in the model's own container.
  ImageTokenizer model(patch, in.has(kQuantizerChunk) ? read_embedded_quantizer(in, kQuantizerChunk) : read_quantizer(in),
                       chroma, high);
  for (const auto& [key, value] : in.meta())
    if (caller_key(key)) model.metadata_[key] = value;
  // The legacy id is taken as the file records it: it was computed over a serialization that
  // later libraries cannot reproduce (model_ref.h), and the CRCs and the self-test guard the rest.
  model.ref_ = identify_model(in, kLegacyIdKey);
  return model;
}

ImageTokenizer ImageTokenizer::load(const std::string& path) {
  return read(ContainerReader::from_file(path));
}

TokenGrid ImageTokenizer::empty_grid(const Image& image, size_t levels) const {
  if (levels == 0) levels = levels_;
  VQ_CHECK(levels >= 1 && levels <= levels_, "ImageTokenizer::encode: levels must be 1..", levels_,
           " (the model's depth), got ", levels);
  TokenGrid g;
  g.width = image.width;
  g.height = image.height;
  g.patch = patch();
  g.rows = transform_.grid_rows(image.height);
  g.cols = transform_.grid_cols(image.width);
  g.levels = levels;
  g.groups = groups_;
  g.bits = bits_;
  g.grey = image.channels <= 2;
  g.tokens.assign(g.rows * g.cols * g.tokens_per_patch(), 0);
  return g;
}

TokenGrid ImageTokenizer::encode(const Image& image, size_t levels) const {
  if (greedy_) return encode_greedy(image, levels, -1.f);
  TokenGrid g = empty_grid(image, levels);
  const Codes codes = quantizer_->encode(transform_.forward(image));
  const size_t tp = g.tokens_per_patch();
  for (size_t i = 0; i < codes.n; ++i)
    for (size_t s = 0; s < tp; ++s) g.tokens[i * tp + s] = codes(i, slot_to_book_[s]);
  return g;
}

TokenGrid ImageTokenizer::encode_adaptive(const Image& image, float min_gain, size_t levels) const {
  VQ_CHECK(greedy_, "ImageTokenizer::encode_adaptive: needs an RVQ model with greedy encoding, this one is ",
           quantizer_->describe());
  VQ_CHECK(min_gain >= 0.f && std::isfinite(min_gain), "ImageTokenizer::encode_adaptive: min_gain must be >= 0, got ",
           min_gain);
  return encode_greedy(image, levels, min_gain);
}

// Streams the grid in batches of kBatch patches (OpenMP over batches): a batch is transformed,
// whitened, put in the search's dimension order and taken through every level while its
// residuals (kBatch × 3p² floats) stay in cache; no grid-sized coefficient matrix is allocated.
// Per level, the still-active patches' residuals are the rows of one matrix and the exact
// nearest entry comes from the subspace search (subspace_search.h: one sgemm over the
// dimensions the level's book lives in, bounds and exact rescoring for the rest); patches that
// stop are compacted out. The residual arithmetic is the core's greedy RVQ encoder's (whitened
// residual minus the whitened entry), so the tokens are the quantizer's codes up to float
// rounding of exact ties.
TokenGrid ImageTokenizer::encode_greedy(const Image& image, size_t levels, float min_gain) const {
  image.validate("ImageTokenizer::encode");
  TokenGrid g = empty_grid(image, levels);
  levels = g.levels;
  const Metric& metric = quantizer_->metric();
  const size_t n = g.rows * g.cols, d = transform_.dim();
  const bool adaptive = min_gain >= 0.f;
  // Per-pixel gain to per-patch squared error in the whitened space (the DCT is orthonormal).
  const float limit = min_gain * float(patch() * patch());
  if (adaptive) g.depth.assign(n, static_cast<uint16_t>(levels));
  const kernels::SubspaceBooks& books = greedy_->books;
  vq::detail::for_each_batch(n, kBatch, 0, [&](size_t begin, size_t count) {
    Matrix coefs(count, d);
    transform_.forward_patches(image, begin, coefs.view());
    if (!metric.is_identity()) coefs = metric.whiten(coefs.view());
    const size_t r = books.dim();
    Matrix res(count, r);
    for (size_t i = 0; i < count; ++i)
      for (size_t j = 0; j < r; ++j) res(i, j) = coefs(i, books.order()[j]);
    kernels::SubspaceScratch scratch;
    std::vector<uint32_t> active(count);
    std::iota(active.begin(), active.end(), uint32_t(begin));
    std::vector<int32_t> labels(count);
    std::vector<float> dist(count), err(count);
    for (size_t i = 0; i < count; ++i) err[i] = kernels::dot(res.row_ptr(i), res.row_ptr(i), r);
    size_t m = count;
    for (size_t l = 0; l < levels && m > 0; ++l) {
      books.nearest(l, MatrixView<const float>(res.data(), m, r), Span<int32_t>(labels.data(), m),
                    Span<float>(dist.data(), m), scratch);
      size_t kept = 0;
      for (size_t i = 0; i < m; ++i) {
        const size_t p = active[i];
        if (adaptive && l > 0 && err[i] - dist[i] < limit) {  // level l is not worth its token
          g.depth[p] = static_cast<uint16_t>(l);
          continue;
        }
        g.tokens[p * levels + l] = static_cast<uint16_t>(labels[i]);
        if (l + 1 == levels) continue;
        // Compaction in place: row `kept` <= row i, so each source is read before it is overwritten.
        const float* src = res.row_ptr(i);
        const float* e = books.entry(l, size_t(labels[i]));
        float* dst = res.row_ptr(kept);
        for (size_t j = 0; j < r; ++j) dst[j] = src[j] - e[j];
        err[kept] = dist[i];
        active[kept++] = static_cast<uint32_t>(p);
      }
      m = kept;
    }
  });
  return g;
}

void ImageTokenizer::check_grid(const TokenGrid& grid, const char* who) const {
  grid.validate(who);
  VQ_CHECK(grid.patch == patch() && grid.groups == groups_ && grid.bits == bits_ && grid.levels <= levels_, who,
           ": tokens for patch ", grid.patch, ", ", grid.groups, " groups, ", int(grid.bits), " bits, ", grid.levels,
           " levels do not fit this model (patch ", patch(), ", ", groups_, " groups, ", int(bits_), " bits, ",
           levels_, " levels)");
}

void ImageTokenizer::add_tokens(const TokenGrid& grid, size_t first, MatrixView<float> coefs) const {
  const auto& books = dynamic_cast<const CodebookQuantizer&>(*quantizer_).books();
  const size_t tp = grid.tokens_per_patch();
  for (size_t q = 0; q < coefs.rows(); ++q) {
    float* o = coefs.row_ptr(q);
    const uint16_t* t = &grid.tokens[(first + q) * tp];
    const size_t used = grid.patch_depth(first + q) * grid.groups;
    for (size_t s = 0; s < used; ++s) {
      const Codebook& b = books[slot_to_book_[s]];
      const float* e = b.entry(t[s]);
      for (size_t j = 0; j < b.dim; ++j) o[b.offset + j] += e[j];
    }
  }
}

std::vector<float> ImageTokenizer::coarse_dc(const TokenGrid& grid) const {
  const auto& books = dynamic_cast<const CodebookQuantizer&>(*quantizer_).books();
  const size_t n = grid.rows * grid.cols, tp = grid.tokens_per_patch(), pp = patch() * patch();
  std::vector<float> dc(n * 3, 0.f);
  for (size_t i = 0; i < n; ++i)
    for (size_t s = 0; s < grid.patch_depth(i) * grid.groups; ++s) {
      const Codebook& b = books[slot_to_book_[s]];
      const float* e = b.entry(grid.tokens[i * tp + s]);
      for (size_t ch = 0; ch < 3; ++ch)
        if (ch * pp >= b.offset && ch * pp < b.offset + b.dim) dc[i * 3 + ch] += e[ch * pp - b.offset];
    }
  return dc;
}

Refinement ImageTokenizer::refine(const Image& image, const TokenGrid& grid, float step) const {
  image.validate("ImageTokenizer::refine");
  check_grid(grid, "ImageTokenizer::refine");
  VQ_CHECK(grid.width == image.width && grid.height == image.height, "ImageTokenizer::refine: a grid of a ",
           grid.width, "×", grid.height, " image for a ", image.width, "×", image.height, " one");
  const size_t d = transform_.dim(), pp = patch() * patch();
  Refinement r(step, grid.rows * grid.cols, d);
  std::vector<float> source_dc(r.patches * 3), token_dc(r.patches * 3);
  vq::detail::for_each_batch(r.patches, kBatch, 0, [&](size_t begin, size_t count) {
    Matrix coefs(count, d), coarse(count, d);
    transform_.forward_patches(image, begin, coefs.view());
    add_tokens(grid, begin, coarse.view());
    for (size_t i = 0; i < count; ++i) {
      float* x = coefs.row_ptr(i);
      const float* c = coarse.row_ptr(i);
      for (size_t ch = 0; ch < 3; ++ch) {
        source_dc[(begin + i) * 3 + ch] = x[ch * pp];
        token_dc[(begin + i) * 3 + ch] = c[ch * pp];
      }
      // A grey source decodes to luma only: its chroma error costs nothing, so it gets no levels.
      for (size_t j = 0; j < d; ++j) x[j] = grid.grey && j >= pp ? 0.f : x[j] - c[j];
    }
    r.quantize(coefs.view(), begin);
  });
  r.quantize_dc(source_dc, token_dc, grid.cols, grid.grey);
  return r;
}

// Batches as in encode: coefficients of kBatch patches at a time, summed and inverted in cache.
Image ImageTokenizer::decode(const TokenGrid& grid, const Refinement* refinement) const {
  check_grid(grid, "ImageTokenizer::decode");
  const size_t d = transform_.dim();
  std::vector<float> dc;
  if (refinement) {
    refinement->validate("ImageTokenizer::decode");
    VQ_CHECK(refinement->patches == grid.rows * grid.cols && refinement->dim == d, "ImageTokenizer::decode: a "
             "refinement of ", refinement->patches, " × ", refinement->dim, " levels for ", grid.rows * grid.cols,
             " patches × ", d);
    dc = refinement->reconstruct_dc(coarse_dc(grid), grid.cols);
  }
  Image out(grid.width, grid.height, grid.grey ? 1 : 3);
  vq::detail::for_each_batch(grid.rows * grid.cols, kBatch, 0, [&](size_t begin, size_t count) {
    Matrix coefs(count, d);
    add_tokens(grid, begin, coefs.view());
    if (refinement) refinement->add_to(coefs.view(), begin, dc);
    transform_.inverse_patches(coefs.view(), begin, out);
  });
  return out;
}

}  // namespace vq::image
