// The source tree location, baked in at configure time (see include/precsweep/paths.hpp).
// Deliberately leaves out: relocation; moving the checkout needs a re-configure.
#include "precsweep/paths.hpp"

namespace precsweep {
std::string source_dir() { return PRECSWEEP_SOURCE_DIR; }
}  // namespace precsweep
