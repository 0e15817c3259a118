// Saving and loading quantizers and codes through the .vqc container (container.h).
//
// A saved quantizer is a container with
//   META   "vq.kind" = "quantizer" (save_quantizer / quantizer_to_bytes only),
//          "quantizer.spec" = describe() (factory.h grammar), "quantizer.dim" = dim() in decimal,
//          "vq.tool_version" = the writing library's version, plus any caller keys;
//   ...    the quantizer's own chunks from save_state() (codebooks, scales, metric);
//   "SELF" self-test samples, checked at load (below).
//
// "SELF" payload (little-endian):
//   u32 n (0..8), u64 d (= quantizer.dim), n*d f32 vectors (row-major),
//   then the codes of those vectors in the CODE payload layout below.
// Loading re-creates the quantizer with make_quantizer(spec, dim), calls load_state(), encodes
// the stored vectors and requires exactly the stored codes: a file whose codebooks were damaged
// in a way the CRC cannot see (written by a buggy writer, or by a different encoder version)
// fails loudly at load instead of producing wrong codes later.
//
// A quantizer embedded in another model's file is this same container, as one chunk of it
// (embedded_model.h).
//
// "CODE" payload (write_codes / read_codes):
//   u64 n, u32 M (>= 1), M × u8 bit widths (1..16), then n * packed_bytes_per_vector(bits)
//   bytes of codes in the bitpack.h layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/quantizer.h"

namespace vq {

// Adds the quantizer's metadata keys, its state chunks and a SELF chunk. The quantizer must be
// trained. Throws vq::Error if a key it sets was already set to a different value.
void write_quantizer(ContainerWriter& out, const Quantizer& q);
// Inverse of write_quantizer; throws vq::Error("... self-test failed ...") when the re-encoded
// self-test vectors do not give the stored codes.
std::unique_ptr<Quantizer> read_quantizer(const ContainerReader& in);

// A file holding one quantizer ("vq.kind" = "quantizer"). extra: caller metadata keys, which
// must not collide with the keys listed above. The write is atomic.
void save_quantizer(const std::string& path, const Quantizer& q, const Metadata& extra = {});
std::unique_ptr<Quantizer> load_quantizer(const std::string& path);
// The quantizer of such a container already read (a file, or one embedded in another:
// embedded_model.h); throws unless "vq.kind" is "quantizer".
std::unique_ptr<Quantizer> quantizer_from_container(const ContainerReader& in);

// The same bytes as save_quantizer would write, in memory (pickling, network transfer).
std::vector<uint8_t> quantizer_to_bytes(const Quantizer& q);
std::unique_ptr<Quantizer> quantizer_from_bytes(Span<const uint8_t> bytes);

// Appends one "CODE" chunk / reads the first one.
void write_codes(ContainerWriter& out, const Codes& codes);
Codes read_codes(const ContainerReader& in);

// A codes file, what `vq encode` writes for vectors and `vq decode` reads: metadata
// "vq.kind" = "codes", "codes.source" (the input's name, may be empty) and "codes.vectors" (the
// number of coded vectors, in decimal), then the quantizer (write_quantizer) and the codes
// (write_codes), so that decoding needs nothing else. The write is atomic.
struct CodesFile {
  std::unique_ptr<Quantizer> quantizer;
  Codes codes;
  std::string source;
};
void save_codes(const std::string& path, const Quantizer& q, const Codes& codes, const std::string& source = "");

// save_codes for codes that arrive in row order, a chunk at a time, n rows in all: the file
// save_codes writes for the same codes, byte for byte, without holding them (encoding a file
// larger than memory). Atomic: the file appears at finish().
class CodesFileWriter {
 public:
  CodesFileWriter(const std::string& path, const Quantizer& q, size_t n, const std::string& source = "");
  ~CodesFileWriter();
  void append(const Codes& rows);  // the next rows; book widths must be q's
  // The next rows already packed (pack_codes of codes with q's book widths): a whole number of
  // rows, copied as they are.
  void append_packed(Span<const uint8_t> packed);
  void finish();                   // throws unless exactly n rows came

 private:
  std::unique_ptr<ContainerStreamWriter> out_;
  std::vector<uint8_t> bits_;
  size_t left_ = 0;
};
// Throws vq::Error when the container is not a codes file, when "codes.vectors" disagrees with
// the codes (a damaged or hand-edited file), or when the codes do not fit the quantizer's books.
CodesFile read_codes_file(const ContainerReader& in);
// The checks of read_codes_file without the kind: a quantizer and codes that fit its books,
// and, when metadata count_key is present, that many vectors. For containers of other kinds
// that hold codes (search indexes).
CodesFile read_quantizer_and_codes(const ContainerReader& in, const std::string& count_key);
CodesFile load_codes(const std::string& path);

}  // namespace vq
