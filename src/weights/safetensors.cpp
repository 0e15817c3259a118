#include "vq/weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "vq/core/limits.h"
#include "vq/core/npy.h"

namespace vq::weights {

namespace {

constexpr uint64_t kMaxHeader = uint64_t{100} << 20;
constexpr DType kAll[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kU8,
                          DType::kI8,  DType::kI16, DType::kU16,  DType::kI32, DType::kI64};

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF64: return "F64";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
    case DType::kI16: return "I16";
    case DType::kU16: return "U16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kU8: case DType::kI8: return 1;
    case DType::kF16: case DType::kBF16: case DType::kI16: case DType::kU16: return 2;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF64: case DType::kI64: return 8;
  }
  return 0;
}

uint64_t TensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t s : shape) n *= s;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VQ_CHECK(fd >= 0, "safetensors '", path, "': cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    VQ_THROW("safetensors '", path, "': not a regular file");
  }
  SafetensorsFile f;
  f.size_ = size_t(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    VQ_CHECK(p != MAP_FAILED, "safetensors '", path, "': mmap failed: ", std::strerror(errno));
    const size_t len = f.size_;
    f.storage_ = std::shared_ptr<const void>(p, [len](const void* q) { ::munmap(const_cast<void*>(q), len); });
    f.data_ = static_cast<const uint8_t*>(p);
  } else {
    ::close(fd);
  }
  f.parse(path);
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  SafetensorsFile f;
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  f.data_ = owned->data();
  f.size_ = owned->size();
  f.storage_ = owned;
  f.parse(name);
  return f;
}

void SafetensorsFile::parse(const std::string& name) {
  name_ = name;
  VQ_CHECK(size_ >= 8, "safetensors '", name, "': ", size_, " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data_[i];
  VQ_CHECK(n <= kMaxHeader, "safetensors '", name, "': header length ", n, " exceeds the 100 MiB limit");
  VQ_CHECK(n <= size_ - 8, "safetensors '", name, "': header length ", n, " runs past the end of the file (",
           size_, " bytes)");
  data_start_ = 8 + size_t(n);
  const uint64_t data_size = size_ - data_start_;
  // JSON lets an object repeat a key and nlohmann keeps the last value: two tensors (or two
  // metadata entries) under one name would silently shadow each other, and other readers may
  // keep the first. The parser callback sees every key with its object's nesting, so repeated
  // keys are found while parsing and the file is rejected.
  std::vector<std::unordered_set<std::string>> keys_of_open_objects;
  std::string duplicate;
  const auto on_event = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      keys_of_open_objects.emplace_back();
    } else if (event == Event::object_end && !keys_of_open_objects.empty()) {
      keys_of_open_objects.pop_back();
    } else if (event == Event::key && !keys_of_open_objects.empty() && duplicate.empty()) {
      if (!keys_of_open_objects.back().insert(parsed.get<std::string>()).second) duplicate = parsed.get<std::string>();
    }
    return true;
  };
  const auto header = nlohmann::json::parse(data_ + 8, data_ + 8 + n, on_event, false);
  VQ_CHECK(!header.is_discarded(), "safetensors '", name, "': header (bytes 8..", 8 + n, ") is not valid JSON");
  VQ_CHECK(duplicate.empty(), "safetensors '", name, "': the header names '", duplicate,
           "' twice; each tensor and metadata key must appear once");
  VQ_CHECK(header.is_object(), "safetensors '", name, "': header is not a JSON object");
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      VQ_CHECK(value.is_object(), "safetensors '", name, "': __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        VQ_CHECK(v.is_string(), "safetensors '", name, "': metadata '", k, "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "safetensors '" + name + "', tensor '" + key + "'";
    VQ_CHECK(value.is_object(), where, ": entry is not an object");
    TensorInfo t;
    t.name = key;
    const auto dt = value.find("dtype");
    VQ_CHECK(dt != value.end() && dt->is_string(), where, ": missing or non-string dtype");
    bool known = false;
    for (DType d : kAll)
      if (dt->get<std::string>() == dtype_name(d)) {
        t.dtype = d;
        known = true;
      }
    VQ_CHECK(known, where, ": unsupported dtype '", dt->get<std::string>(), "'");
    const auto sh = value.find("shape");
    VQ_CHECK(sh != value.end() && sh->is_array() && sh->size() <= 8, where, ": missing or invalid shape");
    uint64_t bytes = dtype_size(t.dtype);
    for (const auto& s : *sh) {
      VQ_CHECK(s.is_number_unsigned() || (s.is_number_integer() && s.get<int64_t>() >= 0), where,
               ": shape entries must be non-negative integers");
      const uint64_t v = s.get<uint64_t>();
      VQ_CHECK(v == 0 || bytes <= data_size / v, where, ": shape needs more bytes than the data region (",
               data_size, ")");
      bytes *= v;
      t.shape.push_back(v);
    }
    const auto off = value.find("data_offsets");
    VQ_CHECK(off != value.end() && off->is_array() && off->size() == 2 && (*off)[0].is_number_unsigned() &&
                 (*off)[1].is_number_unsigned(),
             where, ": data_offsets must be two non-negative integers");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    VQ_CHECK(t.begin <= t.end && t.end <= data_size, where, ": data_offsets [", t.begin, ", ", t.end,
             "] outside the data region of ", data_size, " bytes");
    VQ_CHECK(t.end - t.begin == bytes, where, ": data_offsets span ", t.end - t.begin, " bytes, shape and dtype need ",
             bytes);
    tensors_.push_back(std::move(t));
  }
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < tensors_.size(); ++i)
    VQ_CHECK(tensors_[i].begin >= tensors_[i - 1].end || tensors_[i - 1].begin == tensors_[i - 1].end,
             "safetensors '", name, "': tensors '", tensors_[i - 1].name, "' and '", tensors_[i].name, "' overlap");
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors_.begin(), tensors_.end(), [&](const TensorInfo& t) { return t.name == name; });
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return t;
  VQ_THROW("safetensors '", name_, "': no tensor named '", name, "'");
}

Span<const uint8_t> SafetensorsFile::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {data_ + data_start_ + t.begin, size_t(t.end - t.begin)};
}

std::vector<float> SafetensorsFile::read_float(const std::string& name) const {
  const TensorInfo& t = info(name);
  const Span<const uint8_t> b = bytes(name);
  // Tensors are mapped, not read; converting one to float32 is the allocation to bound (an
  // 8-bit tensor quadruples).
  check_decoded_size(saturating_product({t.elements(), sizeof(float)}),
                     detail::concat("safetensors '", name_, "', tensor '", name, "'"));
  std::vector<float> out(size_t(t.elements()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case DType::kF32: std::memcpy(&out[i], b.data() + 4 * i, 4); break;
      case DType::kF64: {
        double d;
        std::memcpy(&d, b.data() + 8 * i, 8);
        out[i] = float(d);
        break;
      }
      case DType::kF16: out[i] = half_to_float(uint16_t(b[2 * i] | b[2 * i + 1] << 8)); break;
      case DType::kBF16: {
        const uint32_t u = uint32_t(b[2 * i] | b[2 * i + 1] << 8) << 16;
        std::memcpy(&out[i], &u, 4);
        break;
      }
      default: VQ_THROW("safetensors '", name_, "', tensor '", name, "': dtype ", dtype_name(t.dtype), " is not a float type");
    }
  }
  return out;
}

uint64_t TensorSpec::bytes() const {
  uint64_t n = dtype_size(dtype);
  for (uint64_t d : shape) {
    VQ_CHECK(d == 0 || n <= std::numeric_limits<uint64_t>::max() / d, "safetensors writer: tensor '", name,
             "' is too large");
    n *= d;
  }
  return n;
}

namespace {

// The header bytes (u64 length + JSON, padded with spaces so the data region is 8-byte
// aligned) for tensors laid out back to back in order.
std::vector<uint8_t> header_bytes(const std::vector<TensorSpec>& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorSpec& t : tensors) {
    VQ_CHECK(!t.name.empty() && t.name != "__metadata__", "safetensors writer: invalid tensor name '", t.name, "'");
    VQ_CHECK(!header.contains(t.name), "safetensors writer: duplicate tensor '", t.name, "'");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::vector<uint8_t> out(8 + text.size());
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  return out;
}

}  // namespace

struct SafetensorsStreamWriter::Impl {
  AtomicFileWriter file;
  std::vector<TensorSpec> tensors;
  size_t next = 0;
  Impl(const std::string& path, std::vector<TensorSpec> t) : file(path), tensors(std::move(t)) {}
};

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::string& path, std::vector<TensorSpec> tensors,
                                                 const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> header = header_bytes(tensors, metadata);  // validates before a file exists
  impl_ = std::make_unique<Impl>(path, std::move(tensors));
  impl_->file.write(header);
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() = default;

void SafetensorsStreamWriter::write(const std::string& name, Span<const uint8_t> bytes) {
  Impl& w = *impl_;
  VQ_CHECK(w.next < w.tensors.size(), "safetensors writer: tensor '", name, "' was not declared (all ",
           w.tensors.size(), " are written)");
  const TensorSpec& t = w.tensors[w.next];
  VQ_CHECK(t.name == name, "safetensors writer: tensor '", name, "' written where '", t.name, "' was declared");
  VQ_CHECK(bytes.size() == t.bytes(), "safetensors writer: tensor '", name, "' has ", bytes.size(),
           " bytes, its shape needs ", t.bytes());
  w.file.write(bytes);
  ++w.next;
}

void SafetensorsStreamWriter::write_float(const std::string& name, Span<const float> values) {
  VQ_CHECK(impl_->next < impl_->tensors.size() && impl_->tensors[impl_->next].dtype == DType::kF32,
           "safetensors writer: tensor '", name, "' is not the next declared F32 tensor");
  write(name, {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)});
}

void SafetensorsStreamWriter::finish() {
  VQ_CHECK(impl_->next == impl_->tensors.size(), "safetensors writer: ", impl_->tensors.size() - impl_->next,
           " declared tensors were not written (next: '",
           impl_->next < impl_->tensors.size() ? impl_->tensors[impl_->next].name : "", "')");
  impl_->file.commit();
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<uint64_t> shape, std::vector<uint8_t> bytes) {
  VQ_CHECK(!name.empty() && name != "__metadata__", "safetensors writer: invalid tensor name '", name, "'");
  for (const TensorSpec& t : specs_) VQ_CHECK(t.name != name, "safetensors writer: duplicate tensor '", name, "'");
  TensorSpec spec{name, dtype, std::move(shape)};
  VQ_CHECK(spec.bytes() == bytes.size(), "safetensors writer: tensor '", name, "' has ", bytes.size(),
           " bytes, shape needs ", spec.bytes());
  specs_.push_back(std::move(spec));
  bytes_.push_back(std::move(bytes));
}

void SafetensorsWriter::add_float(const std::string& name, std::vector<uint64_t> shape, Span<const float> values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  add(name, DType::kF32, std::move(shape), std::move(bytes));
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  std::vector<uint8_t> out = header_bytes(specs_, metadata_);
  for (const std::vector<uint8_t>& b : bytes_) out.insert(out.end(), b.begin(), b.end());
  return out;
}

void SafetensorsWriter::finish(const std::string& path) const {
  SafetensorsStreamWriter out(path, specs_, metadata_);
  for (size_t i = 0; i < specs_.size(); ++i) out.write(specs_[i].name, bytes_[i]);
  out.finish();
}

}  // namespace vq::weights
