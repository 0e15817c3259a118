#include "vq/core/models.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>

#include "vq/error.h"

namespace vq {

namespace fs = std::filesystem;

namespace {

// The file (executable or shared object) that holds this function's code: the library's own
// location whether it was linked statically into a program or the Python module, or loaded as
// libvqcodec.so.
fs::path library_binary() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&library_binary), &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  fs::path p = fs::canonical(info.dli_fname, ec);
  if (ec) {
    // A main program's dli_fname can be the name it was started under; /proc knows the file.
    p = fs::canonical("/proc/self/exe", ec);
    if (ec) return {};
  }
  return p;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace

std::vector<std::string> models_dir_candidates() {
  // An explicit folder is the only place looked at: a typo should not fall back silently.
  if (const char* env = std::getenv("VQ_MODELS_DIR"); env && *env) return {env};
  std::vector<std::string> out;
  const fs::path bin = library_binary();
  if (!bin.empty()) {
    const fs::path dir = bin.parent_path();
    out.push_back((dir / "models").string());
    out.push_back((dir.parent_path() / "share" / "vqcodec" / "models").string());
    out.push_back((dir.parent_path().parent_path() / "share" / "vqcodec" / "models").string());
  }
  // Last, the prefix the library was configured to install into: found by programs that link
  // the static library and live elsewhere.
  out.emplace_back(VQ_INSTALL_MODELS_DIR);
  return out;
}

std::string models_dir() {
  const std::vector<std::string> candidates = models_dir_candidates();
  for (const std::string& c : candidates)
    if (is_dir(c)) return c;
  std::string tried;
  for (const std::string& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
  VQ_THROW("the bundled models folder was not found (tried ", tried.empty() ? "nothing" : tried,
           "); set VQ_MODELS_DIR to the folder that holds the default models");
}

ModelFile model_for_encoding(const std::string& given, const std::string& default_name) {
  if (given.empty()) return {bundled_file(default_name), default_name};
  return {given, fs::absolute(given).lexically_normal().string()};
}

std::vector<std::string> model_candidates(const std::string& name) {
  std::vector<std::string> out;
  auto add = [&](const fs::path& p) {
    const std::string s = p.lexically_normal().string();
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  const fs::path given(name);
  if (given.is_absolute()) add(given);
  std::string folder;
  try {
    folder = models_dir();
  } catch (const Error&) {
    return out;  // no models folder: only an absolute name can be found
  }
  if (!given.is_absolute() && !name.empty()) add(fs::path(folder) / given);
  if (given.has_filename()) add(fs::path(folder) / given.filename());
  return out;
}

ContainerReader open_model(const ModelRef& ref, const std::string& referrer) {
  const std::vector<std::string> candidates = model_candidates(ref.name);
  std::string tried;
  for (const std::string& path : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      tried += detail::concat(tried.empty() ? "" : "; ", path, " does not exist");
      continue;
    }
    // A damaged or foreign file under the name is reported and passed over: a later candidate
    // may still be the model.
    std::optional<ContainerReader> in;
    try {
      in = ContainerReader::from_file(path);
    } catch (const Error& e) {
      tried += detail::concat(tried.empty() ? "" : "; ", path, " cannot be read (", e.what(), ")");
      continue;
    }
    const ModelRef found = identify_model(*in, ref.legacy_key);
    if (ref.matches(found)) return std::move(*in);
    tried += detail::concat(tried.empty() ? "" : "; ", path, " is another model (hash ",
                            format_model_hash(*found.hash), ")");
  }
  if (candidates.empty()) {
    std::string folders;
    for (const std::string& c : models_dir_candidates()) folders += (folders.empty() ? "" : ", ") + c;
    tried = "its name is not an absolute path and no models folder exists (tried " + folders + ")";
  }
  VQ_THROW(referrer, ": its model ", ref.describe(), " was not found: ", tried,
           ". Put the model back, or set VQ_MODELS_DIR to the folder that holds it");
}

std::string bundled_file(const std::string& relative) {
  const fs::path p = fs::path(models_dir()) / relative;
  std::error_code ec;
  VQ_CHECK(fs::is_regular_file(p, ec), "the bundled file ", p.string(),
           " is missing (VQ_MODELS_DIR or the installed share/vqcodec/models holds the defaults)");
  return p.string();
}

}  // namespace vq
