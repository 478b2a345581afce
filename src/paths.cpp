// Run-time lookup of the tool's own files beside the executable (include/precsweep/paths.hpp).
// Deliberately leaves out: any compiled-in source or install path (only the relative step from
// the install's bindir to its datadir, PRECSWEEP_BIN_TO_DATA, set by CMake).
#include "precsweep/paths.hpp"

#include <system_error>

#ifndef PRECSWEEP_BIN_TO_DATA
#define PRECSWEEP_BIN_TO_DATA "../share/precsweep"
#endif

namespace precsweep {
namespace fs = std::filesystem;

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

fs::path installed_path(const std::string& sub) {
  return (executable_dir() / PRECSWEEP_BIN_TO_DATA / sub).lexically_normal();
}

fs::path find_beside_executable(const std::string& sub) {
  const fs::path dir = executable_dir();
  if (dir.empty()) return {};
  for (const fs::path& p : {dir / sub, dir / ".." / sub, installed_path(sub)}) {
    std::error_code ec;
    if (fs::exists(p, ec)) return p.lexically_normal();
  }
  return {};
}
}  // namespace precsweep
