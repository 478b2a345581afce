// Where the tool's own files live at run time, found from the running executable (never a path
// baked in at build time), so an installed tree works wherever it is put and after the source
// tree is gone. An installed tree has <prefix>/bin/precsweep and <prefix>/share/precsweep/{data,
// python}; a build tree has data/ and python/ beside build/precsweep (links CMake makes to the
// source tree's folders).
// Deliberately leaves out: platforms without /proc/self/exe (the lookup then finds nothing and
// the data folder must come from --data-dir or PRECSWEEP_DATA_DIR).
#pragma once
#include <filesystem>
#include <string>

namespace precsweep {
// The folder of the running executable (empty if it cannot be told).
std::filesystem::path executable_dir();
// The first existing one of <exe dir>/<sub> (build tree), <exe dir>/../<sub> (a build tree's
// test and benchmark programs, one folder down) and <exe dir>/<bindir-to-share>/<sub>
// (installed: share/precsweep/<sub>); empty if none exists.
std::filesystem::path find_beside_executable(const std::string& sub);
// Where an installed tree keeps <sub> (<exe dir>/../share/precsweep/<sub>), whether or not it
// exists: what an error message names when nothing was found.
std::filesystem::path installed_path(const std::string& sub);
}  // namespace precsweep
