// Output files created at the end of a command (see new_output.hpp).
// Deliberately leaves out: fsync of the folder (a crash right after commit may lose the name on
// some file systems; the command reported success only after the file itself was closed).
#include "precsweep/new_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "precsweep/error.hpp"

namespace precsweep {

namespace fs = std::filesystem;

void check_new_output(const fs::path& path, const std::string& flag) {
  const std::string p = path.string();
  if (p.empty()) throw InputError(flag + ": empty file name");
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec)))  // a dangling symlink counts: never written through
    throw InputError(flag + " " + p + ": file exists (not overwritten)");
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::is_directory(folder, ec))
    throw InputError(flag + " " + p + ": folder " + folder.string() + " does not exist");
  // Try it: create and remove a probe file next to the output.
  const fs::path probe = p + ".probe-" + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw InputError(flag + " " + p + ": cannot create a file in " + folder.string() + ": " +
                     std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

NewOutput::NewOutput(fs::path path, std::string flag)
    : path_(std::move(path)), flag_(std::move(flag)) {
  check_new_output(path_, flag_);
  temp_ = path_.string() + ".partial-" + std::to_string(::getpid());
  std::error_code ignored;
  fs::remove(temp_, ignored);  // left by a killed run that had this pid
}

NewOutput::~NewOutput() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove(temp_, ignored);
}

void NewOutput::commit() {
  if (::link(temp_.c_str(), path_.c_str()) == 0) {
    ::unlink(temp_.c_str());
    committed_ = true;
    return;
  }
  const int err = errno;
  if (err == EEXIST)
    throw InputError(flag_ + " " + path_.string() + ": file appeared while this run wrote it "
                     "(not overwritten)");
  if (err != EPERM && err != ENOTSUP && err != EOPNOTSUPP)
    throw std::runtime_error("link(" + temp_.string() + ", " + path_.string() +
                             "): " + std::strerror(err));
  // A file system without hard links (FAT, some FUSE): check, then rename.
  if (fs::exists(path_))
    throw InputError(flag_ + " " + path_.string() + ": file appeared while this run wrote it "
                     "(not overwritten)");
  fs::rename(temp_, path_);
  committed_ = true;
}

}  // namespace precsweep
