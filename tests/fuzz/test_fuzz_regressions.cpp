// Inputs the fuzz campaign (scripts/fuzz.sh) found to break a reader, one test per failure, each
// rebuilding its input from a valid file so it does not depend on the fuzzer's bytes. The
// fuzzer's own reproducers are replayed too, by the fuzz_replay.<target> tests
// (fuzz/regressions/<target>/).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <string>

#include "container_edit.h"
#include "vq/audio/audio_codec.h"
#include "vq/core/container.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/rng.h"
#include "vq/image/image.h"
#include "vq/splats/ply.h"

namespace vq {
namespace {

std::vector<uint8_t> trained_quantizer(const std::string& spec) {
  Rng rng(7);
  Matrix x(200, 8);
  for (float& v : x.storage()) v = static_cast<float>(rng.normal());
  const std::unique_ptr<Quantizer> q = make_quantizer(spec, 8);
  TrainOptions o;
  o.iterations = 2;
  o.threads = 1;
  q->train(x.view(), o);
  return quantizer_to_bytes(*q);
}

// The same file with chunk `type`'s payload changed by `edit`, re-framed so the CRCs are valid
// and only the reader's own checks stand between the change and the encoder.
std::vector<uint8_t> with_payload(const std::vector<uint8_t>& file, const std::string& type,
                                  const std::function<void(std::vector<uint8_t>&)>& edit) {
  const ContainerReader in = ContainerReader::from_bytes(file);
  ContainerWriter out;
  for (const auto& [key, v] : in.meta()) out.set_meta(key, v);
  for (const auto& info : in.chunks()) {
    if (info.type == "META" || info.type == "END ") continue;
    const Span<const uint8_t> p = in.payload(info.type);
    std::vector<uint8_t> payload(p.begin(), p.end());
    if (info.type == type) edit(payload);
    out.add(info.type, std::move(payload));
  }
  return out.to_bytes();
}

// The first value of codebook `book` replaced by `value`.
std::vector<uint8_t> with_book_entry(const std::vector<uint8_t>& file, size_t book, float value) {
  return with_payload(file, "BOOK", [&](std::vector<uint8_t>& payload) {
    // u64 count, then per book: u64 offset, u64 dim, u8 bits, (2^bits × dim) f32.
    size_t at = 8;
    for (size_t m = 0; m < book; ++m) {
      uint64_t dim = 0;
      std::memcpy(&dim, payload.data() + at + 8, 8);
      at += 17 + (size_t{1} << payload[at + 16]) * dim * 4;
    }
    std::memcpy(payload.data() + at + 17, &value, 4);
  });
}

void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& words) {
  try {
    (void)quantizer_from_bytes(bytes);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

// An entry of 8e32 squares beyond float range: every encoder distance became inf or NaN, the
// beam search found no nearest entry and indexed the codebook with "no label" (-1) during the
// load-time self-test (UBSan: pointer overflow in residual_beam.cpp). Found in AQ and RVQ files
// by the decode_vectors, quantizer and image_model targets.
TEST(FuzzRegressions, CodebookEntryWhoseSquareOverflowsIsRejectedAtLoad) {
  for (const char* spec : {"AQ2x3", "RVQ2x3", "VQ4", "PQ2x3"}) {
    SCOPED_TRACE(spec);
    const std::vector<uint8_t> good = trained_quantizer(spec);
    ASSERT_NO_THROW((void)quantizer_from_bytes(good));
    const size_t last_book = make_quantizer(spec, 8)->num_books() - 1;
    expect_rejected(with_book_entry(good, last_book, 8.1e32f), "too large");
    expect_rejected(with_book_entry(good, 0, std::numeric_limits<float>::quiet_NaN()), "non-finite");
    expect_rejected(with_book_entry(good, 0, std::numeric_limits<float>::infinity()), "non-finite");
  }
}

// A self-test sample of 1.3e38 (finite, so nothing rejected it) squares beyond float range: the
// load-time self-test encoded it, every distance was inf or NaN and the beam search indexed the
// codebook with "no label" (UBSan in residual_beam.cpp). Found by the decode_vectors target.
TEST(FuzzRegressions, SelfTestSampleWhoseSquareOverflowsIsRejectedAtLoad) {
  const std::vector<uint8_t> good = trained_quantizer("AQ2x3");
  for (float value : {1.3e38f, 7.8e34f, std::numeric_limits<float>::quiet_NaN()}) {
    expect_rejected(with_payload(good, "SELF", [&](std::vector<uint8_t>& p) { std::memcpy(p.data() + 12, &value, 4); }),
                    "self-test sample 0");
  }
}

// Metric weights near 1e38 (finite, positive, so Metric::diagonal took them) over ordinary entries:
// the entries passed the load-time magnitude check, which measured them before the metric, but
// whitened they overflowed, no self-test sample had a finite distance to any entry, and the
// debug check in kernels::nearest aborted. Found by the image_model target, whose tokenizer
// stores an RVQ with per-channel weights.
TEST(FuzzRegressions, MetricThatOverflowsTheEntriesIsRejectedAtLoad) {
  Rng rng(7);
  Matrix x(200, 8);
  for (float& v : x.storage()) v = static_cast<float>(rng.normal());
  const std::unique_ptr<Quantizer> q = make_quantizer("RVQ2x3", 8);
  TrainOptions o;
  o.iterations = 2;
  o.threads = 1;
  o.metric = Metric::diagonal(std::vector<float>(8, 2.f));
  q->train(x.view(), o);
  const std::vector<uint8_t> good = quantizer_to_bytes(*q);
  ASSERT_NO_THROW((void)quantizer_from_bytes(good));
  auto with_weights = [&](float h) {
    // MTRC: u8 kind, u64 d, d f32 weights.
    return with_payload(good, "MTRC", [&](std::vector<uint8_t>& p) {
      for (size_t j = 0; j < 8; ++j) std::memcpy(p.data() + 9 + 4 * j, &h, 4);
    });
  };
  // 1e37: each whitened entry fits float but their sum does not; 3e38: single entries overflow.
  expect_rejected(with_weights(1e37f), "distances would overflow float");
  expect_rejected(with_weights(3e38f), "overflows float once the stored metric is applied");
}

// The input side of the same failure: rows within float range whose whitened squared norm is
// not are refused where every metric meets, so no encoder sees an all-inf distance row.
TEST(FuzzRegressions, WhitenedRowsBeyondFloatRangeAreRefused) {
  const Metric m = Metric::diagonal(std::vector<float>(4, 1e30f));
  Matrix x(2, 4);
  x.storage().assign(8, 1.f);
  EXPECT_NO_THROW((void)m.whiten(x.view()));
  x(1, 2) = 1e5f;
  try {
    (void)m.whiten(x.view());
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1 has a squared norm beyond float range"), std::string::npos) << e.what();
  }
}

// A self-test frame of finite but enormous coefficients (1e30) in the bundled audio model: the
// envelope the model decodes for it is far too small, its gains 2^-env blew the coefficients up
// until no shape entry had a finite distance, and the beam search's debug check aborted (release
// builds threw there). The normalised coefficients are now bounded before the shape search.
// Found by the audio_model target.
TEST(FuzzRegressions, AudioFrameBeyondTheShapeSearchRangeIsRejected) {
  std::ifstream f(std::string(VQ_SOURCE_DIR) + "/models/audio_default.vqc", std::ios::binary);
  const std::vector<uint8_t> good((std::istreambuf_iterator<char>(f)), {});
  ASSERT_FALSE(good.empty());
  ASSERT_NO_THROW((void)audio::AudioModel::from_bytes(good));
  const std::vector<uint8_t> bad = testdata::edit_chunk(good, "ATST", 0, [](std::vector<uint8_t>& p) {
    // u32 frames, u32 tokens per frame, then the first frame's 480 coefficients.
    for (size_t k = 0; k < audio::AudioModel::kHop; ++k) {
      const float v = (k % 2 ? -1e30f : 1e30f);
      std::memcpy(p.data() + 8 + 4 * k, &v, 4);
    }
  });
  try {
    (void)audio::AudioModel::from_bytes(bad);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beyond what the shape search can compare"), std::string::npos) << e.what();
  }
}

// A codebook of dimension 0 in a PQ file made the reader copy zero floats from a null vector
// (UBSan: null pointer passed to memcpy in ByteReader::f32s). Found by the decode_vectors target.
TEST(FuzzRegressions, EmptyArrayReadsCopyNothing) {
  ByteReader r(Span<const uint8_t>(), "empty");
  EXPECT_TRUE(r.f32s(0).empty());
  EXPECT_TRUE(r.u16s(0).empty());
}

// "RVQ429844402x8" in a file's quantizer.spec made the factory allocate a 430 MB bit-width
// vector and spend over a second filling it, before any codebook data was read (libFuzzer
// timeouts). Found by the quantizer_spec target.
TEST(FuzzRegressions, QuantizerSpecWithAHugeCodebookCountIsRejectedBeforeAllocating) {
  for (const char* spec : {"RVQ429844402x8", "GRVQ2x55555554x8", "AQ100000x8", "PQ8192x4"}) {
    try {
      (void)make_quantizer(spec, 8192);
      FAIL() << spec << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("codebooks (at most"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW((void)make_quantizer("PQ4096x4", 8192));
}

// A PLY with "element vertex 00": the reader bound each attribute to an offset into the empty
// scene's null storage (UBSan: non-zero offset applied to a null pointer). Found by the
// ply_ascii target.
TEST(FuzzRegressions, PlyWithNoVerticesBindsNoStorage) {
  for (const char* format : {"ascii", "binary_little_endian"}) {
    std::string text = std::string("ply\nformat ") + format + " 1.0\nelement vertex 00\n";
    for (const char* p : {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                          "rot_0", "rot_1", "rot_2", "rot_3"})
      text += std::string("property float ") + p + "\n";
    text += "end_header\n";
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    try {
      EXPECT_EQ(splats::parse_ply(bytes, "empty.ply").count, 0u);
    } catch (const Error&) {  // rejecting an empty scene is as good
    }
  }
}

// A PNG of a width × height grey image whose IDAT holds `pixels` (filtered rows) zlib-compressed.
std::vector<uint8_t> grey_png(uint32_t width, uint32_t height, const std::vector<uint8_t>& pixels) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto chunk = [&png](const char* type, const std::vector<uint8_t>& data) {
    for (int i = 3; i >= 0; --i) png.push_back(static_cast<uint8_t>(data.size() >> (8 * i)));
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    const uLong crc = crc32(0L, png.data() + start, static_cast<uInt>(png.size() - start));
    for (int i = 3; i >= 0; --i) png.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  };
  std::vector<uint8_t> ihdr(13, 0);
  for (int i = 0; i < 4; ++i) {
    ihdr[3 - i] = static_cast<uint8_t>(width >> (8 * i));
    ihdr[7 - i] = static_cast<uint8_t>(height >> (8 * i));
  }
  ihdr[8] = 8;  // bit depth; colour type 0 (grey), no interlace
  chunk("IHDR", ihdr);
  uLongf size = compressBound(static_cast<uLong>(pixels.size()));
  std::vector<uint8_t> z(size);
  EXPECT_EQ(compress(z.data(), &size, pixels.data(), static_cast<uLong>(pixels.size())), Z_OK);
  z.resize(size);
  chunk("IDAT", z);
  chunk("IEND", {});
  return png;
}

void expect_image_rejected(const std::vector<uint8_t>& bytes, const std::string& words) {
  try {
    (void)image::decode_image(bytes, "test.png");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

// A 101-byte PNG whose IDAT chunk claims 1 GB: stb_image allocated the claimed length before
// finding the file shorter (libFuzzer: malloc(1073741868) in stbi_load_from_memory). Found by the
// image_reader target, as were the variants below once the first was fixed.
TEST(FuzzRegressions, PngChunkLongerThanTheFileIsRejectedBeforeDecoding) {
  std::vector<uint8_t> png = grey_png(24, 4, std::vector<uint8_t>(4 * 25, 0));  // filter 0, black
  ASSERT_NO_THROW((void)image::decode_image(png, "test.png"));
  const size_t idat_length = 8 + 25;  // signature, IHDR chunk
  // The same after image data the check has begun to inflate (IDAT cut short of its stream's
  // end): the zlib stream must be freed on the way out. The first version of the check leaked
  // it (LeakSanitizer, image_reader target).
  const size_t length = size_t{png[idat_length + 2]} << 8 | png[idat_length + 3];
  std::vector<uint8_t> cut(png.begin(), png.begin() + static_cast<ptrdiff_t>(idat_length + 8 + length - 4));
  cut[idat_length + 3] = static_cast<uint8_t>(length - 4);
  cut.insert(cut.end(), {0, 0, 0, 0, 0x40, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0});  // CRC, a 1 GB chunk, CRC
  expect_image_rejected(cut, "claims");
  // A second IDAT claiming 650 MB after a complete image stream: stb reads every chunk, so the
  // lengths are checked to the end, not only while there is data to inflate.
  std::vector<uint8_t> second(png.begin(), png.end() - 12);  // without IEND
  second.insert(second.end(), {0x27, 0, 0, 0, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0, 0});
  expect_image_rejected(second, "claims");
  png[idat_length] = 0x40;  // 0x40xxxxxx: just over 1 GB
  expect_image_rejected(png, "claims");
}

// A file ending inside a chunk header: stb pads the missing bytes with zeros, so the three bytes
// "41 00 00" read as a 0x41000000-byte chunk, allocated before anything else (libFuzzer:
// malloc(1090519040) from 54- and 56-byte PNGs). Every cut point of a header is refused.
TEST(FuzzRegressions, PngEndingInsideAChunkHeaderIsRejected) {
  const std::vector<uint8_t> png = grey_png(24, 4, std::vector<uint8_t>(4 * 25, 0));
  std::vector<uint8_t> body(png.begin(), png.end() - 12);  // without IEND
  for (size_t cut = 1; cut < 12; ++cut) {
    std::vector<uint8_t> bytes = body;
    const uint8_t header[12] = {0x41, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0};
    bytes.insert(bytes.end(), header, header + cut);
    expect_image_rejected(bytes, "truncated inside the chunk header");
  }
}

// The same reader's other unbounded allocation: stb inflates IDAT into a buffer it doubles for
// as long as the stream produces bytes. 64 MB of zeros compress to 64 KB; a 1×1 image needs 2.
TEST(FuzzRegressions, PngDataInflatingBeyondItsHeaderIsRejectedBeforeDecoding) {
  expect_image_rejected(grey_png(1, 1, std::vector<uint8_t>(64 << 20, 0)), "decompression bomb");
}

}  // namespace
}  // namespace vq
