// The results file's writer lock (see output_lock.hpp). The lock file is removed by its holder
// on release; a process that opened it just before that would then hold a lock on a file that
// no longer has a name, so after locking, the path's inode is compared with the locked one and
// the attempt repeated until they agree (the usual unlink-safe flock protocol).
// Deliberately leaves out: fcntl byte-range locks (flock is per open file, which is what one
// writer process needs; on NFS, Linux maps flock onto NFS locks).
#include "precsweep/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "precsweep/error.hpp"

namespace precsweep {

namespace {

std::string read_holder(int fd) {
  char buf[300] = "";
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  // "host pid"
  const std::size_t space = text.rfind(' ');
  if (text.empty() || space == std::string::npos) return "an unknown process";
  return "pid " + text.substr(space + 1) + " on host " + text.substr(0, space);
}

}  // namespace

OutputLock::OutputLock(OutputLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

OutputLock::~OutputLock() { release(); }

void OutputLock::release() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // still holding the lock: nobody else can be inside try_acquire's check
  ::close(fd_);
  fd_ = -1;
}

std::filesystem::path OutputLock::lock_path(const std::filesystem::path& out) {
  return std::filesystem::path(out.string() + ".lock");
}

OutputLock OutputLock::try_acquire(const std::filesystem::path& out, std::string& holder) {
  const std::filesystem::path path = lock_path(out);
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw InputError("--out " + out.string() + ": cannot create its lock file " +
                       path.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      holder = read_holder(fd);
      ::close(fd);
      if (err == EWOULDBLOCK) return OutputLock();
      throw InputError("--out " + out.string() + ": cannot lock " + path.string() + ": " +
                       std::strerror(err));
    }
    struct stat locked {}, named {};
    if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &named) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      char host[256] = "";
      ::gethostname(host, sizeof host - 1);
      const std::string me = std::string(host) + " " + std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
        // The lock holds without the name; a refused writer then says "an unknown process".
      }
      OutputLock lock;
      lock.fd_ = fd;
      lock.path_ = path;
      return lock;
    }
    ::close(fd);  // the file we locked was removed by its previous holder: try the new one
  }
}

}  // namespace precsweep
