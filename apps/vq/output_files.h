// (private to the vq CLI) What every command does before and while it writes: it refuses an
// output that is one of its inputs or another of its outputs, and it commits several outputs
// together.
//
// Identity is the file's, not the spelling's: "in.npy", "./in.npy", "../dir/in.npy", a symbolic
// link and a hard link to it are all the same file. Two paths that both exist are compared with
// std::filesystem::equivalent (device and inode); an output that does not exist yet is compared
// by its weakly_canonical path (symbolic links in its existing prefix resolved, "." and ".."
// removed), which catches two outputs spelled differently. Every command calls
// check_distinct_files() with all of its inputs (data, models, metrics, weights, calibration
// files) and all of its outputs before it reads any data, so a refused command touches nothing.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vq::cli {

// One file a command reads or writes, with the option that named it ("-o", "--tokens", "-m",
// "input") for the error message.
struct NamedFile {
  std::string role;
  std::string path;
};

// Throws vq::Error when an output is the same file as an input or as another output, naming
// both options: "--tokens in.npy is the input in.npy: the command would overwrite it".
// Empty paths (an option not given) are skipped.
void check_distinct_files(const std::vector<NamedFile>& inputs, const std::vector<NamedFile>& outputs);

// True when a and b name the same file (rules above). Both empty: false.
bool same_file(const std::string& a, const std::string& b);

// Outputs written as a set: stage(path) gives a temporary name beside path (same directory, so
// the final rename stays on one file system; same extension, since writers pick the format by
// it), the command writes every output there, then commit() renames them all over their final
// names. A command that fails before commit() leaves no output (the destructor removes the
// temporaries) and every existing file untouched.
class StagedOutputs {
 public:
  StagedOutputs() = default;
  StagedOutputs(const StagedOutputs&) = delete;
  StagedOutputs& operator=(const StagedOutputs&) = delete;
  ~StagedOutputs();

  // The temporary to write instead of path (empty path: empty, nothing staged).
  std::string stage(const std::string& path);
  // Renames every staged file that was written over its final name; throws vq::Error (after
  // removing what is left) when a staged file is missing or a rename fails.
  void commit();

 private:
  std::vector<std::pair<std::string, std::string>> staged_;  // (temporary, final)
  bool committed_ = false;
};

}  // namespace vq::cli
