// BLAS identification for results files and benchmark tables: OpenBLAS reports its version,
// kernel and threading; another BLAS (PRECSWEEP_BLAS, cmake/blas.cmake) is named by the vendor
// it was configured with, its kernel "unknown".
#include "precsweep/build_info.hpp"

#include <cblas.h>

#ifndef PRECSWEEP_BLAS_VENDOR
#define PRECSWEEP_BLAS_VENDOR "unknown"
#endif

namespace precsweep::build_info {
#ifdef PRECSWEEP_OPENBLAS
std::string blas_core() { return openblas_get_corename(); }
int blas_parallel() { return openblas_get_parallel(); }
std::string blas_description() {
  static const char* const kinds[] = {"sequential", "pthreads", "openmp"};
  const int p = blas_parallel();
  return std::string(openblas_get_config()) + " (core: " + blas_core() +
         ", parallel: " + (p >= 0 && p <= 2 ? kinds[p] : "unknown") + ")";
}
#else
std::string blas_core() { return "unknown"; }
int blas_parallel() { return -1; }
std::string blas_description() {
  return std::string(PRECSWEEP_BLAS_VENDOR) + " (core: unknown, parallel: unknown)";
}
#endif
}  // namespace precsweep::build_info
