// A file a command creates when its work is done (`train --out`, `errorscale --out`): checked
// before the work starts, so a bad path is exit 2 at once instead of after the training; written
// under a temporary sibling name and given its real name only when complete, so a failed run
// (full disk, error, signal) never leaves a partial or empty file that a rerun would then refuse
// as existing. An existing file is never replaced.
// Deliberately leaves out: the sweep's results file (resumable, written in place; sweep.cpp).
#pragma once
#include <filesystem>
#include <string>

namespace precsweep {

// Throws InputError (exit 2) naming `flag` if `path` exists, its folder does not, or a new file
// cannot be created in that folder (permissions, read-only file system).
void check_new_output(const std::filesystem::path& path, const std::string& flag);

class NewOutput {
 public:
  // check_new_output(path, flag); the temporary name is "PATH.partial-<pid>".
  NewOutput(std::filesystem::path path, std::string flag);
  ~NewOutput();  // removes the temporary file unless committed
  NewOutput(const NewOutput&) = delete;
  NewOutput& operator=(const NewOutput&) = delete;

  // Where the writer creates the file.
  const std::filesystem::path& temp_path() const { return temp_; }
  // Gives the complete temporary file its real name (a hard link, so a file that appeared at
  // that name meanwhile is not replaced: InputError). Throws std::runtime_error on I/O errors.
  void commit();

 private:
  std::filesystem::path path_, temp_;
  std::string flag_;
  bool committed_ = false;
};

}  // namespace precsweep
