#include "vq/core/models.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
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

std::string bundled_file(const std::string& relative) {
  const fs::path p = fs::path(models_dir()) / relative;
  std::error_code ec;
  VQ_CHECK(fs::is_regular_file(p, ec), "the bundled file ", p.string(),
           " is missing (VQ_MODELS_DIR or the installed share/vqcodec/models holds the defaults)");
  return p.string();
}

}  // namespace vq
