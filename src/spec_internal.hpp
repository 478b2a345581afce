// Internal to the spec parser (src/spec.cpp) and the grid expander (src/spec_expand.cpp): the
// parsed-but-not-expanded form of a spec. Each canonical parameter holds its list of values
// (one value: fixed; several: an axis), each value with its canonical text and a setter.
// Deliberately leaves out: anything YAML-specific (the expander only sees tables).
#pragma once
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "precsweep/spec.hpp"

namespace precsweep::spec_detail {

// Canonical parameter order = grid order (first slowest, last fastest). Indices into a Table.
enum Param : int {
  kDataset,
  kSeed,
  kHidden,
  kActivation,
  kLr,
  kMomentum,
  kWeightDecay,
  kLrSchedule,
  kBatch,
  kEpochs,
  kFormat,
  kRounding,
  kApplyTo,
  kEvery,
  kMasterWeights,
  kNumParams
};
// Parameters up to (excluding) kFirstPrecision are the "hyperparameters" a baseline shares.
constexpr int kFirstPrecision = kFormat;

struct Value {
  std::string text;                   // canonical text, as parameter_text() prints it
  std::function<void(Point&)> apply;  // empty for the default value (the Point already has it)
};

struct ParamValues {
  std::vector<Value> values;  // never empty
  int line = 0;               // 1-based YAML line where it was set; 0 = default
};

using Table = std::array<ParamValues, kNumParams>;

// A table holding each parameter's default (TrainConfig{} and dataset mnist).
Table default_table();

// Expands one table per grid (one table, or one per variant) into points, adds and links
// baselines, fills axes, fixed, grid_points and costs. Throws InputError (prefixed with
// `source`) for too many points or a point TrainConfig::validate() rejects.
void expand(const std::vector<Table>& tables, bool baseline, SweepSpec& spec);

// Shortest text that reads back as the same double ("0.1", "1e-05").
std::string format_double(double x);

// Largest number of points a spec may expand to (memory guard; ~200 bytes per point).
constexpr std::int64_t kMaxPoints = 2'000'000;

}  // namespace precsweep::spec_detail
