// One writer per results file: an exclusive flock(2) on a sibling lock file `OUT.lock`, held by
// rank 0 of a sweep for its whole run. The kernel drops the lock when the holder exits, however
// it ends (SIGKILL, node failure on a local disk), so a stale lock file never blocks a resume.
// The holder writes "host pid" into the file so that a refused writer can say who holds it.
// Deliberately leaves out: waiting for the lock (a second writer is refused at once) and locks
// between readers and a writer (`status` and the analysis read a file while a sweep writes it).
#pragma once
#include <filesystem>
#include <string>

namespace precsweep {

class OutputLock {
 public:
  OutputLock() = default;  // holds nothing
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  // Removes the lock file (while still holding the lock) and releases it.
  ~OutputLock();

  // The lock file of a results file: "OUT.lock" next to it.
  static std::filesystem::path lock_path(const std::filesystem::path& out);

  // Takes the lock on lock_path(out) without waiting. Returns an empty lock with `holder` set to
  // "pid P on host H" ("an unknown process" if it has not written its name yet) if another
  // process holds it; throws InputError if the lock file cannot be created.
  static OutputLock try_acquire(const std::filesystem::path& out, std::string& holder);

  bool held() const { return fd_ >= 0; }

 private:
  void release();
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace precsweep
