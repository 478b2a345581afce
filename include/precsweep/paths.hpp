// Where the tool's own files live at run time: the source tree this binary was configured from
// (the analysis package and scripts are run from there, not installed).
// Deliberately leaves out: an install layout; precsweep is run from its build tree.
#pragma once
#include <string>

namespace precsweep {
// The CMake source directory of this build (PRECSWEEP_SOURCE_DIR at configure time).
std::string source_dir();
}  // namespace precsweep
