// The start-up check of the address-space limit (see memory_limit.hpp). The check itself runs
// from .preinit_array, before libc++'s and every other library's constructors, so it uses only
// async-safe-ish libc calls (getrlimit, sched_getaffinity, getenv, snprintf, write) and no C++
// runtime. Deliberately leaves out: other limits (RLIMIT_DATA, cgroups), which cannot make
// OpenBLAS loop at load.
#include "precsweep/memory_limit.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "precsweep/error.hpp"

namespace precsweep {

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kBase = 256 * kMiB;          // measured start-up need + margin
constexpr std::uint64_t kBlasBuffer = 128 * kMiB;    // OpenBLAS BUFFER_SIZE on x86-64

// The current soft RLIMIT_AS in bytes, 0 if there is none.
std::uint64_t address_space_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<std::uint64_t>(rl.rlim_cur);
}

}  // namespace

int blas_threads_at_load() {
  long cpus = ::sysconf(_SC_NPROCESSORS_CONF);
  if (cpus < 1) cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int allowed = CPU_COUNT(&set);
    if (allowed > 0 && allowed < cpus) cpus = allowed;
  }
  // OpenBLAS reads OMP_NUM_THREADS with atoi ("4,2": 4).
  const char* env = std::getenv("OMP_NUM_THREADS");
  const long omp = env != nullptr ? std::atol(env) : 0;
  if (omp > 0 && omp < cpus) cpus = omp;
  return static_cast<int>(cpus);
}

// Runs before main and before the shared libraries' constructors (glibc calls preinit
// functions with argc, argv, envp; we need none of them).
void check_address_space_limit(int, char**, char**) {
  const std::uint64_t limit = address_space_limit();
  if (limit == 0) return;
  const int threads = blas_threads_at_load();
  const std::uint64_t need = minimum_address_space(threads);
  if (limit >= need) return;
  char line[400];
  const int n = std::snprintf(
      line, sizeof line,
      "precsweep: error: the address-space limit (ulimit -v) is %llu KiB, precsweep needs at "
      "least %llu KiB with %d BLAS thread%s (256 MiB + 128 MiB per thread + 128 MiB); raise "
      "it (ulimit -v %llu) or set OMP_NUM_THREADS lower\n",
      static_cast<unsigned long long>(limit / 1024), static_cast<unsigned long long>(need / 1024),
      threads, threads == 1 ? "" : "s", static_cast<unsigned long long>(need / 1024));
  if (n > 0) {
    const ssize_t ignored = ::write(2, line, static_cast<std::size_t>(n) < sizeof line
                                                 ? static_cast<std::size_t>(n)
                                                 : sizeof line - 1);
    (void)ignored;
  }
  ::_exit(kExitInput);
}

std::uint64_t minimum_address_space(int blas_threads) {
  return kBase + kBlasBuffer * (static_cast<std::uint64_t>(blas_threads) + 1);
}

std::string memory_limit_text() {
  const std::uint64_t limit = address_space_limit();
  if (limit == 0) return "no address-space limit";
  return "address-space limit (ulimit -v) " + std::to_string(limit / 1024) + " KiB";
}


}  // namespace precsweep
