// Sweep specifications: a YAML grid of formats x hyperparameters, expanded into points.
// Any value given as a list, or as a range {from, to, step}, is an axis; scalars are fixed; the
// grid is the Cartesian product of the axes, in the canonical parameter order of
// parameter_names() with the last axis varying fastest; fp32 baselines (if any) follow the grid.
// Every key and the exact point order are documented in docs/sweep-spec.md.
// Deliberately leaves out: running anything (sweep.hpp) and MPI (mpi.hpp); this is pure.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "precsweep/train.hpp"

namespace precsweep {

// One swept (or fixed) parameter and its values as canonical text, e.g.
// {"lr", {"0.1", "0.5"}} or {"format", {"E5M2", "E5M4", ...}}.
struct Axis {
  std::string name;
  std::vector<std::string> values;
};

// One grid point: one training run.
struct Point {
  std::int64_t id = 0;               // row in the results file; stable for a given spec text
  TrainConfig config;                // everything the run needs (threads filled in at run time)
  bool is_baseline = false;          // an fp32 run added by `baseline: true`
  std::int64_t baseline_index = -1;  // id of this point's fp32 baseline, -1 if none
  double cost = 0;                   // estimated_cost(): epochs x parameters x samples
  std::string dataset = "mnist";     // "mnist", "fashion-mnist" or "synthetic" (may be an axis)
};

// The spec's `search:` section (docs/search.md): find each setting's critical value of an
// ordered precision axis by bisection instead of running every cell (search.hpp).
struct SearchSpec {
  enum class Start : std::uint8_t { middle, value, predict };
  std::string axis;                            // man, exp, int or frac (of the format)
  std::string target = "final_test_accuracy";  // the metric compared with the baseline
  double tolerance = 0.01;  // a cell passes when mean >= baseline - tolerance
  bool relative = false;    // ... or >= baseline * (1 - tolerance)
  Start start = Start::middle;
  int start_value = 0;      // the axis value to probe first with Start::value
};

struct SweepSpec {
  std::string name;
  std::string source;       // file name the spec came from (for messages)
  std::string text;         // the YAML text exactly as read
  std::string sha256;       // hex SHA-256 of text
  std::string dataset = "mnist";  // the first point's; when dataset is an axis use Point::dataset
  std::string data_dir;     // empty: the dataset's default folder
  std::vector<Axis> axes;   // swept parameters (more than one value among the grid points),
                            // in the canonical order of parameter_names()
  std::vector<Axis> fixed;  // parameters with a single value among the grid points, same order
  std::vector<Point> points;
  bool baseline = false;         // `baseline: true`: fp32 baselines added and linked
  std::int64_t grid_points = 0;  // points[0, grid_points) are the grid; the rest are baselines
  bool search = false;           // a `search:` section: run only the probes (search.hpp)
  SearchSpec search_spec;
};

// The canonical parameter (axis) names, in grid order: the parameter table's (params.hpp;
// dataset, seed, hidden, ... master_weights). Every point has a value for each (Axis::values
// use the same text).
const std::vector<std::string>& parameter_names();
// A point's value of one parameter as canonical text ("0.1", "200,100", "E5M2", "batch").
// Throws std::invalid_argument for a name not in parameter_names().
std::string parameter_text(const Point& point, const std::string& name);

// Parses and expands a spec. Throws InputError naming the key path and (where yaml-cpp gives
// it) the line: unknown keys, wrong types, empty axes, invalid formats or values.
SweepSpec parse_spec(const std::string& yaml_text, const std::string& source = "<string>");
SweepSpec load_spec(const std::filesystem::path& path);

// Hex SHA-256 (FIPS 180-4) of a byte string; used to tie a results file to its spec.
std::string sha256_hex(const std::string& bytes);

}  // namespace precsweep
