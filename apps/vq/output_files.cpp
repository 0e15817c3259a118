#include "output_files.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "vq/error.h"

namespace vq::cli {
namespace {

namespace fs = std::filesystem;

// The path with symbolic links of its existing part resolved; the plain absolute path when even
// that fails (e.g. a component is not a directory): two such paths are then compared as spelled.
fs::path resolved(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) p = fs::absolute(path, ec).lexically_normal();
  return p;
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ea, eb;
  const bool a_exists = fs::exists(a, ea), b_exists = fs::exists(b, eb);
  if (a_exists && b_exists) {
    std::error_code ec;
    const bool same = fs::equivalent(a, b, ec);
    if (!ec) return same;
  }
  // A file that does not exist yet is the same as another only by name.
  return resolved(a) == resolved(b);
}

void check_distinct_files(const std::vector<NamedFile>& inputs, const std::vector<NamedFile>& outputs) {
  for (size_t o = 0; o < outputs.size(); ++o) {
    const NamedFile& out = outputs[o];
    if (out.path.empty()) continue;
    for (const NamedFile& in : inputs)
      VQ_CHECK(!same_file(out.path, in.path), out.role, " ", out.path, " is the ", in.role, " ", in.path,
               ": the command would overwrite its own input; name another output");
    for (size_t p = 0; p < o; ++p)
      VQ_CHECK(!same_file(out.path, outputs[p].path), out.role, " ", out.path, " and ", outputs[p].role, " ",
               outputs[p].path, " are the same file: one output would overwrite the other; name two files");
  }
}

StagedOutputs::~StagedOutputs() {
  if (committed_) return;
  for (const auto& [temp, final_path] : staged_) std::remove(temp.c_str());
}

std::string StagedOutputs::stage(const std::string& path) {
  if (path.empty()) return {};
  const fs::path p(path);
  // ".name.vq-staged-PID-N.ext": hidden, unique to this process, and with the extension the
  // writer looks at (write_matrix, write_audio choose the format by it).
  const std::string temp =
      (p.parent_path() / ("." + p.filename().string() + ".vq-staged-" + std::to_string(::getpid()) + "-" +
                          std::to_string(staged_.size()) + p.extension().string()))
          .string();
  staged_.emplace_back(temp, path);
  return temp;
}

void StagedOutputs::commit() {
  for (const auto& [temp, final_path] : staged_)
    VQ_CHECK(fs::exists(temp), "internal error: ", final_path, " was not written");
  for (const auto& [temp, final_path] : staged_) {
    std::error_code ec;
    fs::rename(temp, final_path, ec);
    VQ_CHECK(!ec, "cannot write '", final_path, "': rename from ", temp, " failed: ", ec.message());
  }
  committed_ = true;
}

}  // namespace vq::cli
