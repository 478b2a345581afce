// Uses the installed core library: the build information and the synthetic dataset (which needs
// no files), so linking pulls in everything precsweep::core carries.
#include <precsweep/build_info.hpp>
#include <precsweep/dataset.hpp>

#include <cstdio>
#include <string>

int main() {
  const precsweep::DatasetPair d = precsweep::load_dataset("synthetic");
  if (std::string(precsweep::build_info::version).empty() || d.train.n <= 0) return 1;
  std::printf("core ok: precsweep %s, %s\n", precsweep::build_info::version,
              precsweep::build_info::blas_description().c_str());
  return 0;
}
