// An encoded image file (.vqc, "vq.kind" = "image"): a token grid, optionally entropy coded, plus
// what decoding needs besides the model.
//
// Metadata: "image.width", "image.height", "image.channels" (of the source: 1..4), "image.patch",
// "image.rows", "image.cols", "image.levels", "image.groups", "image.bits", the model reference
// "model.name" and "model.hash" (model_ref.h: models.h open_model() finds the model by it;
// files written before model references have "image.model" and "image.model_id" instead, read
// as the same reference), "image.token_coding" ("fixed", "zstd" or "arithmetic"), "image.depth" ("fixed": every patch
// has image.levels levels; "adaptive": each patch its own depth, coded in the arithmetic stream
// by stop flags — files without the key are "fixed").
//
// Chunk "ITOK": the tokens, in the coding named by image.token_coding:
//   fixed       the rows·cols·levels·groups tokens of `bits` bits in grid order as one bit stream
//               (bitpack.h bit order), zero-padded to a byte: ceil(token_count · bits / 8) bytes —
//               the tokenizer's fixed-length rate
//   zstd        zstd frame of the fixed payload, tokens reordered level-plane-major (all patches'
//               level-0 tokens, then level 1, ...) and split into low and high bytes
//   arithmetic  adaptive binary arithmetic coding (LZMA-style range coder, 11-bit probabilities)
//               of each token, patches in raster order: first "same as the left neighbour's token
//               in this slot?", then "same as the upper neighbour's?", else its bits through a
//               bit tree per slot (level, group) — the model is spelled out in image_codec.cpp;
//               for adaptive depth a "goes on to the next level" flag before each level >= 1
//               (a 0 is the patch's stop symbol)
// Chunk "IREF" (only when "image.refinement" = "scalar"; files without the key have none): the
// scalar refinement's levels (refinement.h), coded as refinement.cpp describes, with its luma step
// in "image.refinement_step" (a decimal float, written with 9 significant digits so it reads back
// exactly).
// Chunk "ALPH" (only for sources with alpha): u64 length + zstd frame of the width·height alpha
// bytes — alpha is kept losslessly.
#pragma once

#include <string>
#include <vector>

#include "vq/core/container.h"
#include "vq/image/image.h"
#include "vq/image/image_tokenizer.h"

namespace vq::image {

enum class TokenCoding { kFixed, kZstd, kArithmetic };
const char* token_coding_name(TokenCoding coding);
TokenCoding parse_token_coding(const std::string& name);  // throws on an unknown name

// Token payload of a grid in a coding, and back (grid supplies shape and bits; tokens filled).
// An adaptive-depth grid (grid.depth non-empty) needs kArithmetic; to decode one, size
// grid.depth (any values) before the call and it is filled too.
std::vector<uint8_t> encode_tokens(const TokenGrid& grid, TokenCoding coding);
void decode_tokens(Span<const uint8_t> payload, TokenCoding coding, TokenGrid& grid);

struct EncodedImage {
  TokenGrid grid;
  Refinement refinement;       // empty: tokens only
  size_t source_channels = 3;
  std::vector<uint8_t> alpha;  // width·height bytes when the source had alpha, else empty
  ModelRef model;              // the model that made the tokens
};

struct ImageEncodeOptions {
  size_t levels = 0;     // token levels, 1..the model's (0: all)
  float min_gain = -1.f;  // >= 0: rate-adaptive depth (ImageTokenizer::encode_adaptive), stored
                          // with arithmetic coding only; < 0: every patch gets `levels` levels
  float step = 0.f;       // > 0: a scalar refinement with this luma step on top of the tokens
  double bpp = 0.0;       // > 0: a refinement whose step is chosen for this rate (overrides step):
                          // the finest step whose whole file (arithmetic-coded tokens) fits in
                          // bpp bits per pixel, found by bisection on log(step) to within 1 %;
                          // the coarsest step (kMaxRefinementStep) when nothing fits
};

// Tokens of image under model (and its refinement), alpha kept when the image has it. The result
// refers to the model by model.ref(), named model_name (models.h: a bundled model's name relative
// to the models folder, or a path) unless that is empty.
EncodedImage encode_image(const Image& image, const ImageTokenizer& model, const ImageEncodeOptions& options,
                          const std::string& model_name = "");

// Fills the metadata and chunks of an encoded image file with the tokens in `coding`.
void write_encoded_image(ContainerWriter& out, const EncodedImage& image, TokenCoding coding);
// Reads and validates it (shape keys against each other and against the ITOK payload).
EncodedImage read_encoded_image(const ContainerReader& in);
// The decoded image, alpha re-attached. Throws vq::Error naming both models unless
// encoded.model matches model.ref().
Image decode_image(const EncodedImage& encoded, const ImageTokenizer& model);

}  // namespace vq::image
