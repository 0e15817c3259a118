// Models inside other files (embedded_model.h): quantizers embedded as chunks come back as the
// same function, stored as is or zstd-compressed, several per file; an embedded quantizer whose
// state does not reproduce its self-test codes, a payload that is not a quantizer and damaged
// compressed data are rejected with errors that name the chunk.
#include <gtest/gtest.h>

#include <functional>

#include "container_edit.h"
#include "error_text.h"
#include "test_data.h"
#include "vq/core/embedded_model.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"

namespace vq {
namespace {

void expect_same_function(const Quantizer& a, const Quantizer& b) {
  ASSERT_EQ(a.describe(), b.describe());
  const Matrix x = testdata::clustered(200, a.dim(), 91, 16);
  const Codes ca = a.encode(x);
  EXPECT_EQ(ca.data, b.encode(x).data);
  EXPECT_EQ(a.decode(ca).storage(), b.decode(ca).storage());
}

TEST(EmbeddedModel, QuantizersRoundTripAsIsAndCompressed) {
  const auto pq = testdata::trained_quantizer("PQ4x4", 16, 1);
  const auto rvq = testdata::trained_quantizer("RVQ2x6", 8, 2);
  ContainerWriter out;
  out.set_meta("vq.kind", "test_domain");
  const size_t raw = embed_quantizer(out, "XQNT", *pq);
  const size_t packed = embed_quantizer(out, "XQNT", *rvq, 9);
  out.add("XDAT", {1, 2, 3});
  EXPECT_EQ(raw, quantizer_to_bytes(*pq).size()) << "level 0 stores the quantizer's container as is";
  EXPECT_LT(packed, quantizer_to_bytes(*rvq).size());
  const std::vector<uint8_t> bytes = out.to_bytes();
  const ContainerReader in = ContainerReader::from_bytes(bytes, "domain.vqc");
  expect_same_function(*pq, *read_embedded_quantizer(in, "XQNT", 0));
  expect_same_function(*rvq, *read_embedded_quantizer(in, "XQNT", 1));
  // The nested container is named by the path to it and is the quantizer's own file.
  const ContainerReader sub = read_embedded_container(in, "XQNT", 1);
  EXPECT_EQ(sub.name(), "domain.vqc: chunk 'XQNT' #1");
  EXPECT_EQ(sub.meta_at("quantizer.spec"), rvq->describe());
  EXPECT_NE(testdata::error_of([&] { (void)read_embedded_quantizer(in, "XQNT", 2); }).find("no chunk 'XQNT' #2"),
            std::string::npos);
}

TEST(EmbeddedModel, SelfTestRejectsAQuantizerThatDoesNotReproduceItsCodes) {
  // The codebooks of one training run with the self-test samples of another, inside the second
  // embedded chunk: every CRC is valid, only the state and its samples disagree.
  const auto a = testdata::trained_quantizer("PQ4x4", 16, 3);
  const auto b = testdata::trained_quantizer("PQ4x4", 16, 4);
  ContainerWriter out;
  embed_quantizer(out, "XQNT", *a);
  embed_quantizer(out, "XQNT", *a);
  const std::vector<uint8_t> bad = testdata::with_foreign_self_test(out.to_bytes(), "XQNT", 1, quantizer_to_bytes(*b));
  const ContainerReader in = ContainerReader::from_bytes(bad, "scene.vqc");
  expect_same_function(*a, *read_embedded_quantizer(in, "XQNT", 0));
  const std::string what = testdata::error_of([&] { (void)read_embedded_quantizer(in, "XQNT", 1); });
  EXPECT_NE(what.find("scene.vqc: chunk 'XQNT' #1: quantizer self-test failed"), std::string::npos) << what;
  // Damaged codebooks (valid CRCs) in the first: caught the same way.
  const std::vector<uint8_t> negated = testdata::with_negated_first_book(out.to_bytes(), "XQNT", 0);
  const ContainerReader n = ContainerReader::from_bytes(negated, "scene.vqc");
  const std::string why = testdata::error_of([&] { (void)read_embedded_quantizer(n, "XQNT", 0); });
  EXPECT_NE(why.find("scene.vqc: chunk 'XQNT' #0: quantizer self-test failed"), std::string::npos) << why;
}

TEST(EmbeddedModel, RejectsPayloadsThatAreNotQuantizers) {
  const auto q = testdata::trained_quantizer("VQ5", 4, 5);
  ContainerWriter other;
  other.set_meta("vq.kind", "codes");
  ContainerWriter out;
  embed_container(out, "XQNT", other.to_bytes());
  embed_container(out, "XQNT", quantizer_to_bytes(*q), 3);
  out.add("XQNT", {0x89, 'V', 'Q', 'C'});  // a container cut short
  const std::vector<uint8_t> bytes = out.to_bytes();
  const ContainerReader in = ContainerReader::from_bytes(bytes, "f.vqc");
  EXPECT_NE(testdata::error_of([&] { (void)read_embedded_quantizer(in, "XQNT", 0); }).find("f.vqc: chunk 'XQNT' #0: holds 'codes', not a quantizer"),
            std::string::npos);
  EXPECT_NO_THROW((void)read_embedded_quantizer(in, "XQNT", 1));
  EXPECT_THROW((void)read_embedded_quantizer(in, "XQNT", 2), Error);
  // Damaged zstd data: a flipped byte in the compressed frame, or the frame cut short.
  for (size_t cut : {size_t{0}, size_t{9}}) {
    const std::vector<uint8_t> damaged = testdata::edit_chunk(bytes, "XQNT", 1, [&](std::vector<uint8_t>& p) {
      if (cut) p.resize(p.size() - cut);
      else p[p.size() / 2] ^= 0x5a;
    });
    const ContainerReader d = ContainerReader::from_bytes(damaged, "f.vqc");
    EXPECT_NE(testdata::error_of([&] { (void)read_embedded_quantizer(d, "XQNT", 1); }).find("f.vqc: chunk 'XQNT' #1"),
              std::string::npos) << "cut " << cut;
  }
}

}  // namespace
}  // namespace vq
