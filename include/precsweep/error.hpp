// The error and exit-code contract shared by every command.
// InputError: the user's input is wrong (flag, YAML, IDX file, format string); `main` prints one
// line and exits 2. Any other exception is an internal failure: exit 1.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace precsweep {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Text for a one-line message: control bytes (a NUL, ESC, newline) as \xNN, so the line shows
// them instead of being cut short or redrawing the terminal.
inline std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitInput = 2,
  kExitStoppedEarly = 3,  // sweep stopped by SIGTERM/SIGUSR1 with points left: resume me
};

}  // namespace precsweep
