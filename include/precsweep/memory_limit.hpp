// precsweep's minimum address space (ulimit -v, RLIMIT_AS). OpenBLAS maps a 128 MiB buffer per
// BLAS thread while it is loaded, before main, and when the mapping fails it retries forever:
// under a low `ulimit -v` every command used to hang before printing anything. The executable
// carries a function in its .preinit_array (run by the dynamic loader before any shared
// library's constructor) that compares the limit with minimum_address_space() and, if it is
// lower, prints one line naming both and exits 2. No limit (the usual case) costs one getrlimit.
// The minimum was measured (docs/training.md, "Memory"): the largest start-up need of
// --version, quantize, list, train and a one-rank sweep, plus a margin.
// Deliberately leaves out: memory needed by the work itself (larger networks and datasets);
// running out later is a std::bad_alloc, reported by main with memory_limit_text().
#pragma once
#include <cstdint>
#include <string>

namespace precsweep {

// The BLAS threads OpenBLAS (OpenMP build) starts with: OMP_NUM_THREADS's first number if it is
// positive, else the CPUs this process may run on; never more than the configured CPUs.
int blas_threads_at_load();

// Bytes of address space precsweep needs to start and run a small job with `blas_threads`:
// 256 MiB (libraries, MPI, HDF5, data) + 128 MiB per OpenBLAS buffer (one per thread, one for
// the calling thread).
std::uint64_t minimum_address_space(int blas_threads);

// The start-up check: if RLIMIT_AS is below minimum_address_space(), one line on stderr and
// _exit(2). The executable registers it in its .preinit_array (src/cli/preinit.cpp; a shared
// library cannot have one), so it runs before the shared libraries' constructors; it uses only
// async-safe-ish libc calls. The arguments are glibc's preinit (argc, argv, envp), unused.
void check_address_space_limit(int, char**, char**);

// "address-space limit (ulimit -v) 150000 KiB" or "no address-space limit".
std::string memory_limit_text();

}  // namespace precsweep
