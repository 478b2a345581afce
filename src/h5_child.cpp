// Forked children for reads libhdf5 may crash on (see h5_child.hpp).
// Deliberately leaves out: reusing a child for several reads (each read is one fork).
#include "h5_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>

#include "precsweep/h5.hpp"

// Sanitizer runtime hook (weak: absent, and null, in an uninstrumented build).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace precsweep::h5::detail {

namespace {

// The child's setup before it touches the damaged bytes.
void prepare_child() {
  // What libhdf5 (or a sanitizer, or glibc's heap checks) prints while failing on the damaged
  // bytes is not the user's message: the parent prints one line. Silence stdout and stderr.
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
  }
  // A crash here is an expected outcome, reported by the parent: die of the signal itself,
  // without the handlers the process may carry (a sanitizer's or libFuzzer's, which would
  // report the contained crash as the program's own).
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  // A damaged length can ask for gigabytes (which Linux would grant, then fill for seconds):
  // cap the child's address space at what it maps now plus 256 MiB.
  char statm[128] = "";
  const int sfd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (sfd < 0) return;
  const ssize_t got = ::read(sfd, statm, sizeof statm - 1);
  ::close(sfd);
  const unsigned long long pages = got > 0 ? std::strtoull(statm, nullptr, 10) : 0;
  if (pages == 0) return;
  const rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) +
                     (rlim_t{256} << 20);
  const rlimit lim{cap, cap};
  ::setrlimit(RLIMIT_AS, &lim);
}

// A damaged header can also send libhdf5 into an endless loop. Decoding the headers of any
// results file takes milliseconds of CPU, so a child that has spun for kCpuSeconds (a thousand
// times that) is looping (SIGXCPU). CPU time, not wall time: a slow or stalled file system only
// makes it wait.
constexpr rlim_t kCpuSeconds = 2;

void limit_cpu() {
  const rlimit lim{kCpuSeconds, kCpuSeconds + 1};
  ::setrlimit(RLIMIT_CPU, &lim);
}

// Everything the child writes to `fd` until it closes it (true), or false after 60 s or
// 64 MiB (no sane answer is larger).
bool read_child_output(int fd, std::string& data) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) return false;
    char buf[4096];
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r == 0;
    data.append(buf, static_cast<std::size_t>(r));
    if (data.size() > (std::size_t{1} << 26)) return false;
  }
}

}  // namespace

bool write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

ChildOutcome run_in_child(const std::function<void(int fd)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error("h5: pipe for a contained read failed");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error("h5: fork for a contained read failed");
  }
  if (pid == 0) {
    ::close(fds[0]);
    prepare_child();
    limit_cpu();
    body(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildOutcome out;
  const bool complete = read_child_output(fds[0], out.output);
  ::close(fds[0]);
  if (!complete) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.finished = complete && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!complete)
    out.how = "did not finish within 60 s";
  else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
    out.how = "looped (over " + std::to_string(kCpuSeconds) + " s of CPU time)";
  else if (WIFSIGNALED(status))
    out.how = "crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
  else if (!out.finished)
    out.how = "failed";
  return out;
}

}  // namespace precsweep::h5::detail
