// ImageTokenizer: image <-> grid of discrete tokens, a learned residual VQ over DCT patches.
//
//   image --PatchTransform(p)--> (rows·cols) × 3p² coefficients --RVQ / GRVQ--> tokens
//
// The quantizer is any residual quantizer from the core (make_quantizer: "RVQ<L>x<bits>",
// "GRVQ<G>x<L>x<bits>") trained under a diagonal Metric H = PatchTransform::weights(chroma,
// high-frequency): errors in luma and in low frequencies cost more than in chroma and high
// frequencies. One model serves every depth: tokens of level l refine levels < l, so a grid
// encoded with all L levels can be cut to its first N levels (fewer tokens, lower quality) and
// decoded with the same model.
//
// TokenGrid layout: tokens is rows × cols × (levels · groups) uint16, row-major. For patch (r, c)
// the tokens are level 0's G tokens (groups 0..G−1), then level 1's, ... — so keeping the first
// N levels is keeping a prefix of every patch's tokens. RVQ has G = 1.
//
// Rate-adaptive depth (encode_adaptive, RVQ models): each patch keeps only the levels that are
// worth their token (each lowers its error by at least a given gain), recorded in TokenGrid::depth (rows × cols, 1..levels); the
// tokens of a patch's levels >= its depth are 0 and carry nothing. Such a grid is a compressed
// image, not a fixed-length token sequence: only the arithmetic coding stores it (image_codec.h).
//
// Alpha is not tokenized: the encoded file keeps it losslessly beside the tokens (image_codec.h).
// Grey sources are tokenized as RGB with zero chroma and decoded back to grey.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/model_ref.h"
#include "vq/core/progress.h"
#include "vq/core/quantizer.h"
#include "vq/image/image.h"
#include "vq/image/patch_transform.h"
#include "vq/image/refinement.h"

namespace vq::image {

// The bundled default model, by its name relative to the models folder (models.h).
inline constexpr const char* kDefaultModelName = "default/image.vqc";

struct TokenGrid {
  size_t width = 0, height = 0;  // the image the grid covers (patches overhang by padding)
  size_t patch = 0;              // patch side in pixels
  size_t rows = 0, cols = 0;     // ceil(height / patch), ceil(width / patch)
  size_t levels = 0;             // residual levels kept
  size_t groups = 1;             // tokens per level per patch
  uint8_t bits = 0;              // bits per token (every book of the model has the same width)
  bool grey = false;             // decode to one channel
  std::vector<uint16_t> tokens;  // rows * cols * levels * groups (layout above)
  // Levels used per patch (rows * cols, each 1..levels), raster order; empty: every patch uses
  // all `levels`. Tokens of levels >= depth[i] must be 0.
  std::vector<uint16_t> depth;

  bool adaptive() const { return !depth.empty(); }
  size_t patch_depth(size_t i) const { return depth.empty() ? levels : depth[i]; }

  size_t tokens_per_patch() const { return levels * groups; }
  size_t token_count() const { return rows * cols * tokens_per_patch(); }
  // Throws unless sizes agree, every token is < 2^bits, depths are 1..levels and the tokens
  // past a patch's depth are 0.
  void validate(const char* who) const;
  // The first `levels` levels (1 <= levels <= this->levels); depths are capped at `levels`.
  TokenGrid truncated(size_t levels) const;
};

struct ImageTrainOptions {
  size_t patch = 8;
  std::string quantizer = "RVQ8x10";  // RVQ or GRVQ spec (factory.h grammar), over 3·patch² dims
  float chroma_weight = 0.5f;         // H weight of Cb and Cr against Y (1)
  float high_frequency_weight = 1.f;  // H weight of the highest DCT frequency against DC (1: flat)
  size_t max_patches = 200000;        // training patches drawn (seeded) from all images; 0: all
  bool flips = true;                  // also train on horizontal mirror images
  uint64_t seed = 1234;
  int threads = 0;
  int iterations = 20;
  ProgressCallback progress;
  // Caller keys written into the model file (provenance: "train.images", ...); part of the
  // model, so its hash is the same trained in memory and saved.
  Metadata metadata;
};

class ImageTokenizer {
 public:
  // images: at least one; patches from all of them, subsampled to max_patches.
  static ImageTokenizer train(const std::vector<Image>& images, const ImageTrainOptions& options);

  // Model file: "vq.kind" = "image_model", keys "image.patch", "image.chroma_weight",
  // "image.high_frequency_weight", "image.color" = "ycbcr-bt601", "image.transform" = "dct",
  // the caller keys of metadata(), and the quantizer embedded as chunk "IQNT"
  // (embedded_model.h). Model files written before embedded models hold the quantizer's keys
  // and chunks in their own container (io.h write_quantizer) and their legacy id in
  // "image.model_id" (model_ref.h); both are read, and a model read from such a file writes its
  // legacy id back when saved.
  void save(const std::string& path) const;  // atomic
  std::vector<uint8_t> to_bytes() const;
  static ImageTokenizer load(const std::string& path);
  // The quantizer's self-test runs here.
  static ImageTokenizer read(const ContainerReader& in);

  size_t patch() const { return transform_.patch(); }
  size_t levels() const { return levels_; }
  size_t groups() const { return groups_; }
  uint8_t bits() const { return bits_; }
  const Quantizer& quantizer() const { return *quantizer_; }
  const PatchTransform& transform() const { return transform_; }
  float chroma_weight() const { return chroma_weight_; }
  float high_frequency_weight() const { return high_frequency_weight_; }
  // What encoded images record to find the model again and never decode with another
  // (model_ref.h): where it was read from, the hash of its file (of to_bytes() for a model trained
  // in memory) and its legacy id, if its file has one.
  const ModelRef& ref() const { return ref_; }
  // The caller keys of its file (ImageTrainOptions::metadata).
  const Metadata& metadata() const { return metadata_; }

  // levels: 1..levels(), 0 = all. For an RVQ model with greedy encoding (beam 1) this runs the
  // tokenizer's own level-by-level search (batches of patches, an exact nearest-entry search
  // per level that runs its GEMM over the dimensions the level's codebook lives in and bounds
  // the rest: src/image/subspace_search.h); other models use the quantizer's own encode. Both
  // give the quantizer's codes, except where two entries are within float rounding of each
  // other (on the four evaluation photos: 2 of 42,135 patches, where the tokenizer's choice was
  // the closer one in double precision).
  TokenGrid encode(const Image& image, size_t levels = 0) const;
  // Rate-adaptive depth (greedy RVQ models only): a patch stops before the first level l >= 1
  // that would lower its weighted squared error by less than min_gain (under the model's metric
  // H, per pixel: Σ_j h_j (x_j − x̂_j)² / p², in 8-bit luma units², so 1 ≈ an MSE of 1 in luma),
  // or after `levels` levels (0 = all). A token then buys at least min_gain·p² of error, the
  // equal-slope rule of rate–distortion allocation with every token costing about the same.
  // Patches that stopped leave the search, so encoding gets cheaper as min_gain grows. Every
  // patch keeps at least one level, and its first k tokens equal encode()'s, so the result is
  // the fixed-depth grid cut patch by patch.
  TokenGrid encode_adaptive(const Image& image, float min_gain, size_t levels = 0) const;
  // Whether encode_adaptive works with this model (an RVQ with beam width 1).
  bool supports_adaptive() const { return greedy_ != nullptr; }
  // The scalar refinement (refinement.h) of a grid of this image: the image's patch
  // coefficients minus the grid's reconstruction, quantized with luma step `step`. Grey
  // sources get no chroma levels.
  Refinement refine(const Image& image, const TokenGrid& grid, float step) const;
  // grid: patch and groups must match the model and grid.levels <= levels(). Returns RGB, or
  // grey when grid.grey. Each patch sums its own depth's levels, plus the refinement's
  // dequantized levels when one is given (it must cover the grid).
  Image decode(const TokenGrid& grid, const Refinement* refinement = nullptr) const;

 private:
  ImageTokenizer(size_t patch, std::unique_ptr<Quantizer> q, float chroma, float high);
  PatchTransform transform_;
  std::shared_ptr<const Quantizer> quantizer_;
  float chroma_weight_, high_frequency_weight_;
  size_t levels_ = 0, groups_ = 1;
  uint8_t bits_ = 0;
  // Code column of the quantizer for token slot t (level-major order above).
  std::vector<size_t> slot_to_book_;
  // Greedy RVQ search state (whitened books), set for RVQ models with beam 1, else null.
  struct Greedy;
  std::shared_ptr<const Greedy> greedy_;
  TokenGrid empty_grid(const Image& image, size_t levels) const;
  void check_grid(const TokenGrid& grid, const char* who) const;
  // coefs (patches first .. first + rows − 1) += the grid's token reconstruction.
  void add_tokens(const TokenGrid& grid, size_t first, MatrixView<float> coefs) const;
  // Each patch's Y, Cb, Cr DC coefficient in the grid's reconstruction (patches × 3).
  std::vector<float> coarse_dc(const TokenGrid& grid) const;
  // The greedy level-by-level search; min_gain < 0: no early stop.
  TokenGrid encode_greedy(const Image& image, size_t levels, float min_gain) const;
  void write(ContainerWriter& out) const;
  Metadata metadata_;
  ModelRef ref_;
};

}  // namespace vq::image
