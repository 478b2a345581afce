// Helpers shared by the C++ tests: a temporary folder removed at scope exit, reading a file,
// and running the `precsweep` executable (PRECSWEEP_BINARY, defined by tests/CMakeLists.txt).
#pragma once
// PRECSWEEP_UNDER_ASAN: built with AddressSanitizer (GCC defines __SANITIZE_ADDRESS__; clang
// answers __has_feature(address_sanitizer)).
#if defined(__SANITIZE_ADDRESS__)
#define PRECSWEEP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRECSWEEP_UNDER_ASAN 1
#endif
#endif

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace precsweep::test {

// A fresh folder under the system temp directory (mkdtemp: unique per instance, so tests and
// parallel ctest runs never share one), removed with everything in it on destruction.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "precsweep_test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// The whole text of a file ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Exit code (-1 when killed by a signal) and what a command printed.
struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs `precsweep ARGS` through the shell, so ARGS may add its own redirections such as
// "< input"; stdout and stderr are captured separately.
inline CliRun run_precsweep(const std::string& args) {
  TempDir dir("precsweep_cli");
  const std::string cmd = std::string(PRECSWEEP_BINARY) + " " + args + " >'" +
                          (dir.path / "out").string() + "' 2>'" + (dir.path / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir.path / "out"),
          read_text(dir.path / "err")};
}

}  // namespace precsweep::test
