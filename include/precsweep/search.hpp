// Search mode (docs/search.md): instead of running every cell of an ordered precision axis,
// find each setting's critical value (the smallest cell such that it and every larger cell
// pass) by bisection. This header is the pure part: which points form a setting and its cells,
// whether a cell passes given the finished points, and the next cell to probe. Everything is a
// function of the finished points alone (never of timing or of which rank ran what), so ranks
// can rebuild the searches from the results file at any moment and a resumed search continues
// exactly where it stopped.
// Deliberately leaves out: MPI and HDF5 (sweep.cpp, results_file.cpp) and YAML (spec.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "precsweep/spec.hpp"

namespace precsweep {

// The axes a search may run along, and the value of one for a point (-1 if the point's format
// has no such field, e.g. `man` of a fixed-point format).
const std::vector<std::string>& search_axes();
int search_axis_value(const Point& point, const std::string& axis);

// One setting: every grid point with the same parameters except the searched axis and the seed.
struct SearchSetting {
  std::vector<int> cells;                          // axis values, ascending
  std::vector<std::vector<std::int64_t>> points;   // [cell][seed]: point ids
  std::vector<std::int64_t> baselines;             // the distinct fp32 baselines linked
  std::int64_t first_point = 0;                    // lowest point id: names the setting
  // The updates a width-m cell loses: d >= m + 1 + offset (update_ratio.hpp's
  // rounding_offset of the setting's rounding); -1: no deterministic rule, no prediction.
  int rounding_offset = -1;
};

// Groups the grid points of `spec` into settings (ordered by their lowest point id). Throws
// InputError when the axis is unknown or not swept, when a grid point has no value on it, or
// when a setting's cells do not all have the same seeds (a search needs a full grid).
std::vector<SearchSetting> search_settings(const SweepSpec& spec, const std::string& axis);

// What the file says about one point: status as in the results file (0 pending, 1 done,
// 2 diverged, 3 failed) and the target metric (NaN when not finished or not recorded).
struct PointResult {
  std::int8_t status = 0;
  double value = 0;
  // An fp32 point's swamping width, predict_width(its per-layer update-ratio histograms,
  // toward_zero) (update_ratio.hpp); -1 for other points or without a histogram.
  int swamp_width = -1;
};

// The predicted critical axis value of a setting (start: predict): from its first baseline
// (the lowest id: one fp32 run), max(0, swamp_width - rounding_offset), the width whose lost
// fraction first drops below the threshold. kPredictionPending while that baseline has not
// finished; -1 when there is no prediction (no baseline, a baseline without a histogram, a
// stochastic rounding): the search then starts from the middle.
constexpr int kPredictionPending = -2;
int setting_prediction(const SearchSetting& s, const std::vector<PointResult>& results);

enum class Outcome : std::int8_t { unknown, pass, fail };

// Whether a cell passes: unknown until every point of the cell and every linked baseline is
// finished. Then the cell's value is the mean over its done and diverged points (a diverged
// point without a value counts 0; failed points are left out, and a cell with no usable point
// fails), the reference the mean over the done baselines, and the cell passes when value >=
// reference - tolerance (relative: reference * (1 - tolerance)). Without a finished baseline
// the reference is the top cell's value (like critical_bits' "widest").
Outcome cell_outcome(const SearchSetting& s, std::size_t cell,
                     const std::vector<PointResult>& results, const SearchSpec& spec);

// One step of a setting's search, from the outcomes known so far ([cell], ascending).
// Let F be the largest failing cell (-1 if none) and P the smallest passing cell above F (the
// number of cells if none). The answer lies in (F, P]:
//   - F is the top cell: nothing passes, critical = -1 (as a cell index: none);
//   - P = F + 1: critical = P (the cell below, F, was run and fails; or P is the bottom),
//     once the top cell has been run too: bisection assumes the cells above P pass, and the
//     top cell is the one check of that assumption (a failing top makes the setting
//     non-monotone, below);
//   - otherwise probe inside (F, P): the start cell first; then, with `gallop` (a start that
//     is a guess: a value or a prediction), galloping away from it (P-1, P-2, P-4, ... below
//     passes; F+1, F+2, F+4, ... above fails) until both sides are known; then (and without
//     `gallop` from the first probe on) the middle, floor((F + P) / 2), with F = -1 and P =
//     the number of cells standing for the ends of the range.
// A pass below F contradicts monotonicity: the setting is non-monotone and, from then on,
// every unknown cell above F is run too (top first), so the answer equals the full grid's.
struct SearchStep {
  bool done = false;
  int critical = -1;      // cell index of the answer when done (-1: even the top cell fails)
  int probe = -1;         // cell index to run next when not done
  bool non_monotone = false;
};
SearchStep search_step(const std::vector<Outcome>& outcomes, int start_cell, bool gallop);

// The cell index to start with: the middle cell, the cell of `value` (the nearest one at or
// above it; the top one if none), or a predicted axis value the same way.
int start_cell(const std::vector<int>& cells, SearchSpec::Start start, int value);

// The most points bisection from the middle runs: per setting ceil(log2(cells + 1)) + 1 cells
// times its seeds, plus every distinct baseline (for `precsweep list`).
std::int64_t search_point_bound(const std::vector<SearchSetting>& settings);
// The most probes one setting of n cells can need from a guessed start (galloping, then
// bisection) over every monotone outcome table and start cell (by running search_step).
int gallop_probe_bound(int n);
// The most points a search from a guess (start: a value or predict) runs, and the points it
// runs when the guess is right or one cell low (the guess, the cell next to it, the top cell),
// each with every seed, plus the baselines that are not a setting's top cell.
std::int64_t guess_point_bound(const std::vector<SearchSetting>& settings);
std::int64_t guess_point_expected(const std::vector<SearchSetting>& settings);

// All searches of a sweep at one moment, from the finished points ([N] results by point id):
// each setting's step, how many of its points (baselines included) have finished, its
// prediction (start: predict; -1 none or not yet), and the points wanted now (unfinished
// baselines and cells of the current probes; with start: predict, only the baselines until
// the first one has finished), ascending by id.
// Once every setting is done nothing is wanted. Pure: every rank computes the same view from
// the same results.
struct SearchView {
  std::vector<SearchStep> steps;           // [settings]
  std::vector<std::int64_t> points_run;    // [settings]
  std::vector<int> predicted;              // [settings] axis value, -1 none
  std::vector<std::int64_t> wanted;
  bool all_done = false;
};
SearchView view_search(const std::vector<SearchSetting>& settings,
                       const std::vector<PointResult>& results, const SearchSpec& spec);

}  // namespace precsweep
