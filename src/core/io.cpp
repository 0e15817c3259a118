#include "vq/core/io.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/self_test_samples.h"
#include "vq/core/bitpack.h"
#include "vq/core/factory.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

constexpr size_t kSelfTestVectors = 8;      // how many samples a file carries
constexpr size_t kSelfTestCandidates = 32;  // how many are tried to find them
constexpr uint64_t kSelfTestSeed = 0x5E1F7E57;
// Relative size of the nudges used to reject candidates that lie near a decision boundary.
constexpr float kStabilityNudge = 1e-3f;

void set_meta_checked(ContainerWriter& out, const std::string& key, const std::string& value) {
  const auto it = out.meta().find(key);
  VQ_CHECK(it == out.meta().end() || it->second == value, "container metadata key '", key,
           "' is set to '", it->second, "' but the quantizer needs '", value, "'");
  out.set_meta(key, value);
}

void write_codes_payload(ByteWriter& w, const Codes& codes) {
  VQ_CHECK(codes.num_books() >= 1, "write_codes: codes have no codebooks");
  VQ_CHECK(codes.num_books() <= UINT32_MAX, "write_codes: too many codebooks");
  w.u64(codes.n);
  w.u32(static_cast<uint32_t>(codes.num_books()));
  w.raw(codes.bits);
  w.raw(pack_codes(codes));
}

Codes read_codes_payload(ByteReader& r) {
  const uint64_t n = r.u64();
  const uint32_t books = r.u32();
  VQ_CHECK(books >= 1, r.context(), ": codes with 0 codebooks");
  const Span<const uint8_t> widths = r.raw(books);  // bounds-checked before any allocation
  std::vector<uint8_t> bits(widths.begin(), widths.end());
  const size_t row_bytes = packed_bytes_per_vector(bits);
  // n is checked against the bytes present before n * row_bytes is formed or allocated.
  VQ_CHECK(n <= r.remaining() / row_bytes, r.context(), ": ", n, " vectors of ", row_bytes,
           " packed bytes need more than the ", r.remaining(), " bytes left");
  return unpack_codes(r.raw(static_cast<size_t>(n) * row_bytes), static_cast<size_t>(n),
                      std::move(bits));
}

// Why decoded random codes, and why the nudges: self_test_samples.h. Encoding a decoded point is
// not always the identity (greedy RVQ, ties between duplicate centroids), which does not matter:
// we store whatever encode() returns now and require the same at load. A quantizer whose codes
// move under every nudge (per-group scalar quantizers store each vector's absmax scale as an fp16
// code, a continuous quantity) gets its plain decoded points instead: its encoder rounds each
// element on its own and has no near-ties of summed distances that a SIMD level could flip.
Matrix self_test_vectors(const Quantizer& q) {
  const std::vector<uint8_t> bits = q.book_bits();
  const size_t d = q.dim();
  Rng rng(kSelfTestSeed);
  Codes probe(kSelfTestCandidates, bits);
  for (size_t i = 0; i < probe.n; ++i)
    for (size_t m = 0; m < bits.size(); ++m)
      probe(i, m) = static_cast<uint16_t>(rng.below(uint64_t{1} << bits[m]));
  const Matrix decoded = q.decode(probe);
  // Random codes can decode to non-finite values (e.g. a saturated fp16 scale times a level);
  // encode() rejects those, so only finite rows are candidates.
  std::vector<size_t> finite;
  for (size_t i = 0; i < decoded.rows(); ++i)
    if (std::all_of(decoded.row_ptr(i), decoded.row_ptr(i) + d, [](float v) { return std::isfinite(v); }))
      finite.push_back(i);
  Matrix base(finite.size(), d);
  for (size_t r = 0; r < finite.size(); ++r)
    std::copy(decoded.row_ptr(finite[r]), decoded.row_ptr(finite[r]) + d, base.row_ptr(r));
  const size_t candidates = base.rows();
  if (candidates == 0) return base;

  double energy = 0;
  for (float v : base.storage()) energy += double(v) * v;
  const float rms = static_cast<float>(std::sqrt(energy / std::max<size_t>(1, base.storage().size())));
  const float step = kStabilityNudge * (rms > 0 ? rms : 1.f);
  std::vector<size_t> keep = detail::stable_rows(base, kSelfTestVectors, step, /*relative=*/false, rng,
                                                 [&](MatrixView<const float> x) { return q.encode(x); });
  if (keep.empty())
    for (size_t i = 0; i < std::min(candidates, kSelfTestVectors); ++i) keep.push_back(i);
  Matrix out(keep.size(), d);
  for (size_t r = 0; r < keep.size(); ++r)
    std::copy(base.row_ptr(keep[r]), base.row_ptr(keep[r]) + d, out.row_ptr(r));
  return out;
}

size_t parse_dim(const std::string& text, const std::string& where) {
  VQ_CHECK(!text.empty() && text.size() <= 12 &&
               std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }),
           where, ": metadata 'quantizer.dim' = '", text, "' is not a positive decimal integer");
  const size_t dim = std::stoull(text);
  VQ_CHECK(dim > 0, where, ": metadata 'quantizer.dim' is 0");
  return dim;
}

void self_test(const Quantizer& q, const ContainerReader& in) {
  ByteReader r = in.chunk("SELF");
  const uint32_t n = r.u32();
  const uint64_t d = r.u64();
  VQ_CHECK(d == q.dim(), r.context(), ": self-test vectors have dimension ", d, ", quantizer has ",
           q.dim());
  VQ_CHECK(n <= r.remaining() / sizeof(float) / d, r.context(), ": ", n, " self-test vectors of ",
           d, " floats exceed the ", r.remaining(), " bytes left");
  const std::vector<float> values = r.f32s(size_t{n} * d);
  const Codes stored = read_codes_payload(r);
  r.expect_end();
  VQ_CHECK(stored.n == n && stored.bits == q.book_bits(), r.context(),
           ": self-test codes do not match the quantizer's shape (", stored.n, " rows, ",
           stored.num_books(), " books)");
  if (n == 0) return;
  // The stored samples are input from the file like any other: a squared norm beyond float range
  // would turn every encoder distance into inf or NaN.
  for (size_t i = 0; i < n; ++i) {
    double norm2 = 0;
    for (size_t j = 0; j < d; ++j) norm2 += double(values[i * d + j]) * values[i * d + j];
    VQ_CHECK(norm2 < double(std::numeric_limits<float>::max()), r.context(), ": self-test sample ", i,
             " is not finite or its squared norm exceeds float range");
  }
  const Codes again = q.encode(MatrixView<const float>(values.data(), n, q.dim()));
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < stored.num_books(); ++m)
      VQ_CHECK(again(i, m) == stored(i, m), in.name(), ": quantizer self-test failed: sample ", i,
               " book ", m, " encodes to ", again(i, m), " but the file says ", stored(i, m),
               " (the stored state does not reproduce the codes it was saved with)");
}

ContainerWriter quantizer_container(const Quantizer& q, const Metadata& extra) {
  ContainerWriter out;
  for (const auto& [key, value] : extra) out.set_meta(key, value);
  set_meta_checked(out, "vq.kind", "quantizer");
  write_quantizer(out, q);
  return out;
}

}  // namespace

void write_quantizer(ContainerWriter& out, const Quantizer& q) {
  VQ_CHECK(q.is_trained(), "cannot save ", q.describe(), ": it is not trained");
  set_meta_checked(out, "quantizer.spec", q.describe());
  set_meta_checked(out, "quantizer.dim", std::to_string(q.dim()));
  q.save_state(out);

  const Matrix samples = self_test_vectors(q);
  ByteWriter w;
  w.u32(static_cast<uint32_t>(samples.rows()));
  w.u64(q.dim());
  w.f32s(samples.storage());
  write_codes_payload(w, samples.rows() > 0 ? q.encode(samples) : Codes(0, q.book_bits()));
  out.add("SELF", w.take());
}

std::unique_ptr<Quantizer> read_quantizer(const ContainerReader& in) {
  const std::string& spec = in.meta_at("quantizer.spec");
  const size_t dim = parse_dim(in.meta_at("quantizer.dim"), in.name());
  std::unique_ptr<Quantizer> q;
  try {
    q = make_quantizer(spec, dim);
  } catch (const Error& e) {
    VQ_THROW(in.name(), ": cannot create quantizer '", spec, "' of dimension ", dim, ": ", e.what());
  }
  q->load_state(in);
  VQ_CHECK(q->is_trained(), in.name(), ": quantizer '", spec, "' is not trained after loading");
  self_test(*q, in);
  return q;
}

void save_quantizer(const std::string& path, const Quantizer& q, const Metadata& extra) {
  quantizer_container(q, extra).write(path);
}

std::unique_ptr<Quantizer> load_quantizer(const std::string& path) {
  return quantizer_from_container(ContainerReader::from_file(path));
}

std::unique_ptr<Quantizer> quantizer_from_container(const ContainerReader& in) {
  in.expect_kind("quantizer", "a quantizer");
  return read_quantizer(in);
}

std::vector<uint8_t> quantizer_to_bytes(const Quantizer& q) {
  return quantizer_container(q, {}).to_bytes();
}

std::unique_ptr<Quantizer> quantizer_from_bytes(Span<const uint8_t> bytes) {
  return quantizer_from_container(ContainerReader::from_bytes(bytes, "<quantizer bytes>"));
}

void write_codes(ContainerWriter& out, const Codes& codes) {
  ByteWriter w;
  write_codes_payload(w, codes);
  out.add("CODE", w.take());
}

Codes read_codes(const ContainerReader& in) {
  ByteReader r = in.chunk("CODE");
  Codes codes = read_codes_payload(r);
  r.expect_end();
  return codes;
}

namespace {

// What a codes file holds before its CODE chunk: the metadata and the quantizer.
ContainerWriter codes_file_head(const Quantizer& q, size_t n, const std::string& source) {
  ContainerWriter out;
  out.set_meta("vq.kind", "codes");
  out.set_meta("codes.source", source);
  out.set_meta("codes.vectors", std::to_string(n));
  write_quantizer(out, q);
  return out;
}

}  // namespace

void save_codes(const std::string& path, const Quantizer& q, const Codes& codes, const std::string& source) {
  ContainerWriter out = codes_file_head(q, codes.n, source);
  write_codes(out, codes);
  out.write(path);
}

CodesFileWriter::CodesFileWriter(const std::string& path, const Quantizer& q, size_t n, const std::string& source)
    : bits_(q.book_bits()), left_(n) {
  // The CODE payload's size: n, the book count, the widths, then n packed rows
  // (write_codes_payload).
  const uint64_t length = 8 + 4 + bits_.size() + uint64_t{n} * packed_bytes_per_vector(bits_);
  out_ = std::make_unique<ContainerStreamWriter>(path, codes_file_head(q, n, source), "CODE", length);
  ByteWriter w;
  w.u64(n);
  w.u32(static_cast<uint32_t>(bits_.size()));
  w.raw(bits_);
  out_->append(w.take());
}

CodesFileWriter::~CodesFileWriter() = default;

void CodesFileWriter::append(const Codes& rows) {
  VQ_CHECK(rows.bits == bits_, "CodesFileWriter: codes of other book widths");
  VQ_CHECK(rows.n <= left_, "CodesFileWriter: ", rows.n, " rows past the announced count (", left_, " left)");
  out_->append(pack_codes(rows));
  left_ -= rows.n;
}

void CodesFileWriter::append_packed(Span<const uint8_t> packed) {
  const size_t row_bytes = packed_bytes_per_vector(bits_);
  VQ_CHECK(packed.size() % row_bytes == 0, "CodesFileWriter: ", packed.size(), " packed bytes are not whole rows of ",
           row_bytes);
  const size_t rows = packed.size() / row_bytes;
  VQ_CHECK(rows <= left_, "CodesFileWriter: ", rows, " rows past the announced count (", left_, " left)");
  out_->append(packed);
  left_ -= rows;
}

void CodesFileWriter::finish() {
  VQ_CHECK(left_ == 0, "CodesFileWriter: ", left_, " announced rows were never written");
  out_->finish();
}

CodesFile read_quantizer_and_codes(const ContainerReader& in, const std::string& count_key) {
  CodesFile f{read_quantizer(in), read_codes(in), in.meta_or("codes.source", "")};
  // The count written beside the codes must agree with them: a mismatch is a damaged or
  // hand-edited file, and the decoded rows would not be the vectors the metadata announces.
  if (const std::string claimed = in.meta_or(count_key, ""); !claimed.empty())
    VQ_CHECK(claimed == std::to_string(f.codes.n), in.name(), ": metadata ", count_key, " says ", claimed,
             " vectors, but the codes hold ", f.codes.n);
  VQ_CHECK(f.codes.bits == f.quantizer->book_bits(), in.name(), ": the codes' book widths do not match its ",
           f.quantizer->describe(), " quantizer");
  return f;
}

CodesFile read_codes_file(const ContainerReader& in) {
  in.expect_kind("codes", "codes");
  return read_quantizer_and_codes(in, "codes.vectors");
}

CodesFile load_codes(const std::string& path) { return read_codes_file(ContainerReader::from_file(path)); }

}  // namespace vq
