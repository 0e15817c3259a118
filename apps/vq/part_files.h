// (private to the vq CLI) Part files: how a command under mpirun writes one output from every
// rank's share. Each rank writes its parts to hidden files beside the output (so the output's
// folder must be shared by the ranks: one machine, or a shared file system), the ranks meet,
// and rank 0 assembles the output from the parts in order and removes them. A rank that stops
// on an error removes the parts it wrote.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace vq::cli {

// The part `index` of `output`'s parts of `kind`: ".OUT.vq-KIND-part-INDEX" beside it. Named
// from the output itself: the ranks' staged temporaries differ (they carry each process's id).
inline std::string part_path(const std::string& output, const std::string& kind, size_t index) {
  const std::filesystem::path p(output);
  return (p.parent_path() / ("." + p.filename().string() + ".vq-" + kind + "-part-" + std::to_string(index)))
      .string();
}

// Files removed when this goes out of scope, unless kept (a rank's parts once they are all
// written: rank 0 reads them, then removes them through a PartFiles of its own).
struct PartFiles {
  std::vector<std::string> paths;
  bool keep = false;
  PartFiles() = default;
  PartFiles(const PartFiles&) = delete;
  PartFiles& operator=(const PartFiles&) = delete;
  ~PartFiles() {
    if (!keep)
      for (const std::string& p : paths) std::remove(p.c_str());
  }
};

}  // namespace vq::cli
