// Internal to the spec parser (src/spec.cpp) and the grid expander (src/spec_expand.cpp): the
// parsed-but-not-expanded form of a spec. Each parameter of the table (params.hpp), in its
// order, holds its list of checked values (one value: fixed; several: an axis).
// Deliberately leaves out: anything YAML-specific (the expander only sees tables).
#pragma once
#include <string>
#include <vector>

#include "precsweep/params.hpp"
#include "precsweep/spec.hpp"

namespace precsweep::spec_detail {

struct ParamValues {
  std::vector<ParamValue> values;  // never empty
  int line = 0;                    // 1-based YAML line where it was set; 0 = default
};

// One entry per parameter of params(), same order.
using Table = std::vector<ParamValues>;

// A table holding each parameter's default (TrainConfig{} and dataset mnist).
Table default_table();

// Expands one table per grid (one table, or one per variant) into points, adds and links
// baselines, fills axes, fixed, grid_points and costs. Throws InputError (prefixed with
// `source`) for too many points or a point too large for the trainer.
void expand(const std::vector<Table>& tables, bool baseline, SweepSpec& spec);

// Largest number of points a spec may expand to (memory guard; ~200 bytes per point).
constexpr std::int64_t kMaxPoints = 2'000'000;

}  // namespace precsweep::spec_detail
