// Fuzz target: opening and validating a results file, as `precsweep status FILE` does: the input
// is written to a file and the real subcommand (src/cli/status.cpp) runs on it, serially (HDF5's
// default driver, no MPI). A damaged file must come back as InputError or exit 2 ("not a
// precsweep results file or damaged"); any other exception or exit code, a memory error,
// undefined behaviour or a crash is a finding. stdout goes to /dev/null.
// Deliberately leaves out: `sweep --resume` (needs MPI; it opens the file with the same reader).
#include <cstdio>
#include <string>

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
  fuzz::only_input_errors("results", [&] {
    const int rc = cmd.run();
    if (rc != 0 && rc != 2) fuzz::violation("results", "exit code " + std::to_string(rc));
  });
  return 0;
}
