// safetensors read / write (the format of Hugging Face checkpoints), for interop.
//
// Layout: u64 little-endian N, then N bytes of JSON header, then the data region.
//   { "<tensor name>": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]},
//     ...,
//     "__metadata__": {"<key>": "<string value>", ...} }        (optional)
// Offsets are relative to the data region; end − begin = Π shape · dtype size; tensors do not
// overlap. Values are little-endian.
//
// The reader maps the file (mmap) and validates everything before handing out a byte: header
// length against the file size (and a 100 MiB cap), well-formed JSON, known dtypes, shapes
// whose byte size does not overflow, offsets inside the data region and matching the shape,
// no overlaps. Any violation is a vq::Error naming the file, the tensor and the field.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::weights {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kU8, kI8, kI16, kU16, kI32, kI64 };
const char* dtype_name(DType d);  // "F32", "BF16", ...
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in the data region
  uint64_t elements() const;
};

class SafetensorsFile {
 public:
  // Maps and validates path. Throws vq::Error on a missing file or any malformation.
  static SafetensorsFile open(const std::string& path);
  // Validates an in-memory copy (tests, fuzzing); name is used in messages.
  static SafetensorsFile from_bytes(std::vector<uint8_t> bytes, const std::string& name = "<memory>");

  // Tensors in data-offset order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws if absent
  Span<const uint8_t> bytes(const std::string& name) const;
  // F32 / F16 / BF16 / F64 tensor converted to float (size elements()); throws for other dtypes.
  std::vector<float> read_float(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  void parse(const std::string& name);
  std::shared_ptr<const void> storage_;  // the mapping or the owned bytes
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t data_start_ = 0;
  std::string name_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to be written: its name, dtype and shape (hence its byte size).
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  uint64_t bytes() const;  // Π shape · dtype_size(dtype)
};

// Writes a file tensor by tensor in bounded memory. The header (every tensor's spec, hence its
// offsets, and the metadata) is fixed when the writer is made; each tensor's bytes then go, in
// the declared order, straight into a temporary file beside path, which finish() renames over
// path. A writer destroyed before finish() (an error on the way) removes the temporary, so path
// is never a partial file. Names are unique and not "__metadata__".
class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(const std::string& path, std::vector<TensorSpec> tensors,
                          const std::map<std::string, std::string>& metadata);
  ~SafetensorsStreamWriter();
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // The next declared tensor's bytes (its name is checked, and its size against its spec).
  void write(const std::string& name, Span<const uint8_t> bytes);
  void write_float(const std::string& name, Span<const float> values);  // for an F32 spec
  void finish();  // throws unless every declared tensor was written

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Collects tensors in memory and writes them with a SafetensorsStreamWriter on finish() (small
// files, tests).
class SafetensorsWriter {
 public:
  // bytes.size() must equal spec.bytes(); names are unique and not "__metadata__".
  void add(const std::string& name, DType dtype, std::vector<uint64_t> shape, std::vector<uint8_t> bytes);
  void add_float(const std::string& name, std::vector<uint64_t> shape, Span<const float> values);  // as F32
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  std::vector<uint8_t> to_bytes() const;
  void finish(const std::string& path) const;

 private:
  std::vector<TensorSpec> specs_;
  std::vector<std::vector<uint8_t>> bytes_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace vq::weights
