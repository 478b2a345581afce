// The error and exit-code contract shared by every command.
// InputError: the user's input is wrong (flag, YAML, IDX file, format string); `main` prints one
// line and exits 2. Any other exception is an internal failure: exit 1.
#pragma once
#include <stdexcept>
#include <string>

namespace precsweep {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitInput = 2,
  kExitStoppedEarly = 3,  // sweep stopped by SIGTERM/SIGUSR1 with points left: resume me
};

}  // namespace precsweep
