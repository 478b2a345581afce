// A trained network stored in a results HDF5 file (layout: docs/results-format.md, "Stored
// weights"): group /weights of a one-run file, or /weights/<point id> of a sweep file, holding
// W<l> [out, in] and b<l> [out] as binary32, layer_sizes [L+1] int32 and an `activation`
// attribute.
// Deliberately leaves out: optimizer state and master weights (only the parameters the network
// was evaluated with at the end of training).
#pragma once
#include <filesystem>
#include <string>

#include "precsweep/errorscale.hpp"
#include "precsweep/h5.hpp"

namespace precsweep {

// Creates `name` under `parent` and writes the network there. Serial files only (the datasets
// are created and written in one go). Throws InputError if the group exists already.
void write_weights(h5::Group& parent, const std::string& name, const StoredNetwork& net);

// Opens `path` and reads /weights (point empty) or /weights/<point>. Throws InputError naming
// the file and group when the file is missing, not HDF5, has no stored weights (train with
// --save-weights), or the shapes disagree.
StoredNetwork read_weights(const std::filesystem::path& path, const std::string& point = {});

}  // namespace precsweep
