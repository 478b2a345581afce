// What this binary is and how it was built (filled in by CMake at configure time), plus the
// BLAS library and kernel it runs with; recorded in every results file.
#pragma once
#include <string>

namespace precsweep::build_info {
extern const char* const version;
extern const char* const git_commit;
extern const char* const compiler;
extern const char* const build_type;

// "OpenBLAS 0.3.21 ... (core: Haswell, parallel: openmp)"
std::string blas_description();
// Which OpenBLAS kernel runs on this CPU (openblas_get_corename()); "unknown" with another BLAS.
std::string blas_core();
// 0 sequential, 1 pthreads, 2 OpenMP (openblas_get_parallel()); -1 with another BLAS.
int blas_parallel();
}  // namespace precsweep::build_info
