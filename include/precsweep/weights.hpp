// Reading a trained network back from a results file: the parameters that `train --out
// --save-weights` (or a sweep with `save_weights: true`) stored in /weights/params, with the
// layer sizes and activation taken from the point's /points columns. The layout is the sweep
// writer's (src/results_file.cpp); how a row maps onto layers: docs/results-format.md,
// "Stored weights".
// Deliberately leaves out: writing (ResultsFile::write_point does it) and optimizer state.
#pragma once
#include <filesystem>
#include <string>

#include "precsweep/mlp.hpp"

namespace precsweep {

// Reads point `point` ("" = the only point of a one-point file) of the results file `path`.
// Throws InputError naming the file and point when the file is missing or not a results file,
// the point does not exist or has no stored weights (run with --save-weights), or the stored
// count disagrees with the layer sizes.
StoredNetwork read_weights(const std::filesystem::path& path, const std::string& point = {});

}  // namespace precsweep
