// Fuzz target: opening and validating a results file, as `precsweep status FILE` does: the input
// is written to a file and the real subcommand (src/cli/status.cpp) runs on it, serially (HDF5's
// default driver, no MPI). Any exception is an accepted outcome here (a damaged file may still
// give "internal error", exit 1, on this branch); only memory errors, undefined behaviour and
// crashes count. stdout goes to /dev/null.
// Deliberately leaves out: `sweep --resume` (needs MPI; it opens the file with the same reader).
#include <cstdio>

#include "../src/cli/commands.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace precsweep;
  static const bool quiet = std::freopen("/dev/null", "w", stdout) != nullptr;
  (void)quiet;
  const std::string path = fuzz::write_input("results.h5", data, size).string();
  CLI::App app;
  cli::Command cmd = cli::add_status(app);
  const char* argv[] = {"precsweep", "status", path.c_str()};
  app.parse(static_cast<int>(std::size(argv)), argv);
  try {
    cmd.run();
  } catch (const std::exception&) {
  }
  return 0;
}
