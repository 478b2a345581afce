// BLAS identification for results files and benchmark tables.
#include "precsweep/build_info.hpp"

#include <cblas.h>

namespace precsweep::build_info {
std::string blas_core() { return openblas_get_corename(); }
int blas_parallel() { return openblas_get_parallel(); }
std::string blas_description() {
  static const char* const kinds[] = {"sequential", "pthreads", "openmp"};
  const int p = blas_parallel();
  return std::string(openblas_get_config()) + " (core: " + blas_core() +
         ", parallel: " + (p >= 0 && p <= 2 ? kinds[p] : "unknown") + ")";
}
}  // namespace precsweep::build_info
