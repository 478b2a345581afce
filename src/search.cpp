// Search mode, the pure part (see search.hpp and docs/search.md): settings and cells from the
// spec's points, cell outcomes from the finished points, and the bisection step.
// Deliberately leaves out: running points and reading the file (sweep.cpp).
#include "precsweep/search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "precsweep/error.hpp"
#include "precsweep/params.hpp"
#include "precsweep/update_ratio.hpp"

namespace precsweep {

const std::vector<std::string>& search_axes() {
  static const std::vector<std::string> axes = {"man", "exp", "int", "frac"};
  return axes;
}

int search_axis_value(const Point& point, const std::string& axis) {
  const Format& f = point.config.format;
  const bool floating = f.kind == Format::Kind::floating;
  if (axis == "man") return floating ? f.man_bits : -1;
  if (axis == "exp") return floating ? f.exp_bits : -1;
  if (axis == "int") return floating ? -1 : f.int_bits;
  if (axis == "frac") return floating ? -1 : f.frac_bits;
  throw std::invalid_argument("search_axis_value: unknown axis '" + axis + "'");
}

namespace {

// A setting's key: every parameter's text except the seed, with the format's searched field
// blanked (E8M3 and E8M7 share a setting when searching `man`).
std::string setting_key(const Point& p, const std::string& axis) {
  Point q = p;
  Format& f = q.config.format;
  if (axis == "man") f.man_bits = 0;
  if (axis == "exp") f.exp_bits = 0;
  if (axis == "int") f.int_bits = 0;
  if (axis == "frac") f.frac_bits = 0;
  std::string key;
  for (const auto& name : parameter_names()) {
    if (name == "seed") continue;
    key += name == "format" ? f.name() + "|" + std::to_string(f.exp_bits) + "," +
                                  std::to_string(f.man_bits) + "," + std::to_string(f.int_bits) +
                                  "," + std::to_string(f.frac_bits)
                            : parameter_text(q, name);
    key += '\x1f';
  }
  return key;
}

// Orders one setting's points into cells [ascending axis value][seed ascending].
SearchSetting make_setting(const std::vector<const Point*>& pts, const std::string& axis,
                           const std::string& where) {
  std::map<int, std::map<std::uint64_t, std::int64_t>> by_cell;  // value -> seed -> id
  SearchSetting s;
  s.first_point = pts.front()->id;
  for (const Point* p : pts) {
    by_cell[search_axis_value(*p, axis)][p->config.seed] = p->id;
    if (p->baseline_index >= 0 &&
        std::find(s.baselines.begin(), s.baselines.end(), p->baseline_index) == s.baselines.end())
      s.baselines.push_back(p->baseline_index);
  }
  std::sort(s.baselines.begin(), s.baselines.end());
  // The rule needs the shorthand's one rounding of the weights (a recipe's roles: none).
  const TrainConfig& c = pts.front()->config;
  s.rounding_offset = c.recipe == "none" && c.apply_to == kApplyWeights
                          ? precsweep::rounding_offset(c.rounding) : -1;
  const auto& seeds = by_cell.begin()->second;
  for (const auto& [value, ids] : by_cell) {
    if (ids.size() != seeds.size() ||
        !std::equal(ids.begin(), ids.end(), seeds.begin(),
                    [](const auto& a, const auto& b) { return a.first == b.first; }))
      throw InputError(where + ": the cells of the setting of point " +
                       std::to_string(s.first_point) +
                       " do not all have the same seeds; a search needs a full grid");
    s.cells.push_back(value);
    std::vector<std::int64_t> row;
    for (const auto& [seed, id] : ids) row.push_back(id);
    s.points.push_back(std::move(row));
  }
  return s;
}

}  // namespace

std::vector<SearchSetting> search_settings(const SweepSpec& spec, const std::string& axis) {
  const std::string where = spec.source + ": search.axis";
  const auto& axes = search_axes();
  if (std::find(axes.begin(), axes.end(), axis) == axes.end())
    throw InputError(where + ": unknown axis '" + axis + "'; expected man, exp, int or frac");
  std::map<std::string, std::vector<const Point*>> groups;
  std::vector<std::string> order;  // keys by first appearance = lowest point id
  for (std::int64_t i = 0; i < spec.grid_points; ++i) {
    const Point& p = spec.points[static_cast<std::size_t>(i)];
    if (search_axis_value(p, axis) < 0)
      throw InputError(where + ": point " + std::to_string(i) + " (format " +
                       p.config.format.name() + ") has no '" + axis + "' width to search");
    const std::string key = setting_key(p, axis);
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) order.push_back(key);
    it->second.push_back(&p);
  }
  std::vector<SearchSetting> out;
  bool swept = false;
  for (const auto& key : order) {
    out.push_back(make_setting(groups[key], axis, where));
    swept = swept || out.back().cells.size() > 1;
  }
  if (!swept)
    throw InputError(where + ": '" + axis + "' is not swept (one value per setting); declare "
                     "the candidates as a list or range in precision.format");
  return out;
}

namespace {

bool finished(const PointResult& r) { return r.status != 0; }

// Mean of the usable points (done, diverged; a diverged one without a value counts 0), NaN
// if there is none.
double mean_value(const std::vector<std::int64_t>& ids, const std::vector<PointResult>& results,
                  bool done_only) {
  double sum = 0;
  int n = 0;
  for (auto id : ids) {
    const PointResult& r = results.at(static_cast<std::size_t>(id));
    if (r.status == 1 || (r.status == 2 && !done_only)) {
      sum += std::isnan(r.value) ? 0.0 : r.value;
      ++n;
    }
  }
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

bool all_finished(const std::vector<std::int64_t>& ids, const std::vector<PointResult>& results) {
  return std::all_of(ids.begin(), ids.end(), [&](std::int64_t id) {
    return finished(results.at(static_cast<std::size_t>(id)));
  });
}

}  // namespace

Outcome cell_outcome(const SearchSetting& s, std::size_t cell,
                     const std::vector<PointResult>& results, const SearchSpec& spec) {
  const auto& ids = s.points.at(cell);
  if (!all_finished(ids, results) || !all_finished(s.baselines, results)) return Outcome::unknown;
  double reference = mean_value(s.baselines, results, true);
  if (std::isnan(reference)) {  // no finished baseline: the top cell is the reference
    if (!all_finished(s.points.back(), results)) return Outcome::unknown;
    reference = mean_value(s.points.back(), results, false);
  }
  const double value = mean_value(ids, results, false);
  if (std::isnan(value) || std::isnan(reference)) return Outcome::fail;
  const double bar = spec.relative ? reference * (1 - spec.tolerance) : reference - spec.tolerance;
  return value >= bar ? Outcome::pass : Outcome::fail;
}

SearchStep search_step(const std::vector<Outcome>& outcomes, int start_cell, bool gallop) {
  const int n = static_cast<int>(outcomes.size());
  SearchStep step;
  int fail = -1;  // F: the largest failing cell
  for (int c = 0; c < n; ++c)
    if (outcomes[c] == Outcome::fail) fail = c;
  int pass = n;  // P: the smallest passing cell above F
  for (int c = n - 1; c > fail; --c)
    if (outcomes[c] == Outcome::pass) pass = c;
  // The gallop's own probes: passes at or below the start, fails at or above it (a top cell
  // known from the start, the fp32 baseline as an E8M23 cell, is not a gallop step).
  const int start = std::clamp(start_cell, 0, n - 1);
  int passes_below = 0, known_pass = 0, known_fail = 0, passes_under_top = 0;
  for (int c = 0; c < n; ++c) {
    known_pass += c <= start && outcomes[c] == Outcome::pass;
    known_fail += c >= start && outcomes[c] == Outcome::fail;
    passes_below += c < fail && outcomes[c] == Outcome::pass;
    passes_under_top += c > fail && c < n - 1 && outcomes[c] == Outcome::pass;
  }
  step.non_monotone = passes_below > 0;
  if (fail == n - 1) {
    step.done = true;  // even the top cell fails
    return step;
  }
  if (step.non_monotone) {  // verify every cell above F: the answer then equals the grid's
    for (int c = n - 1; c > fail; --c)
      if (outcomes[c] == Outcome::unknown) {
        step.probe = c;
        return step;
      }
    step.done = true;
    step.critical = fail + 1;
    return step;
  }
  if (pass == fail + 1) {
    if (outcomes[n - 1] == Outcome::unknown) {  // the top is assumed to pass until run
      step.probe = n - 1;
      return step;
    }
    step.done = true;
    step.critical = pass;
    return step;
  }
  if (fail < start && start < pass && outcomes[start] == Outcome::unknown) {
    step.probe = start;
  } else if (gallop && fail < 0 && outcomes[start] == Outcome::pass) {
    step.probe = std::max(0, pass - (1 << std::min(known_pass - 1, 30)));  // down from the start
  } else if (gallop && outcomes[start] == Outcome::fail && passes_under_top == 0 &&
             fail + (1 << std::min(known_fail - 1, 30)) < pass) {
    step.probe = fail + (1 << std::min(known_fail - 1, 30));  // up from the start
  } else {
    step.probe = (fail + pass) / 2;
  }
  return step;
}

int setting_prediction(const SearchSetting& s, const std::vector<PointResult>& results) {
  if (s.baselines.empty() || s.rounding_offset < 0) return -1;
  const PointResult& b = results.at(static_cast<std::size_t>(s.baselines.front()));
  if (!finished(b)) return kPredictionPending;
  if (b.swamp_width < 0) return -1;
  return std::max(0, b.swamp_width - s.rounding_offset);
}

int start_cell(const std::vector<int>& cells, SearchSpec::Start start, int value) {
  const int n = static_cast<int>(cells.size());
  if (start == SearchSpec::Start::middle) return (n - 1) / 2;
  const auto it = std::lower_bound(cells.begin(), cells.end(), value);
  return it == cells.end() ? n - 1 : static_cast<int>(it - cells.begin());
}

std::int64_t search_point_bound(const std::vector<SearchSetting>& settings) {
  std::int64_t points = 0;
  std::vector<std::int64_t> baselines;
  for (const SearchSetting& s : settings) {
    const auto cells = static_cast<std::int64_t>(s.cells.size());
    const std::int64_t probes =
        std::min(cells, static_cast<std::int64_t>(std::ceil(std::log2(cells + 1.0))) + 1);
    points += probes * static_cast<std::int64_t>(s.points.front().size());
    baselines.insert(baselines.end(), s.baselines.begin(), s.baselines.end());
  }
  std::sort(baselines.begin(), baselines.end());
  return points + (std::unique(baselines.begin(), baselines.end()) - baselines.begin());
}

int gallop_probe_bound(int n) {
  if (n > 64) return 2 * static_cast<int>(std::ceil(std::log2(n + 1.0))) + 2;  // not simulated
  int most = 0;
  for (int start = 0; start < n; ++start)
    for (int critical = 0; critical <= n; ++critical) {  // n: even the top fails
      std::vector<Outcome> outcomes(static_cast<std::size_t>(n), Outcome::unknown);
      int probes = 0;
      for (SearchStep st = search_step(outcomes, start, true); !st.done;
           st = search_step(outcomes, start, true), ++probes)
        outcomes[static_cast<std::size_t>(st.probe)] =
            st.probe >= critical ? Outcome::pass : Outcome::fail;
      most = std::max(most, probes);
    }
  return most;
}

namespace {
// Baselines that are not the setting's own top cell (an E8M23 cell is the fp32 run itself,
// and the search runs the top cell anyway): counted once, on top of the probes.
std::int64_t extra_baselines(const std::vector<SearchSetting>& settings) {
  std::vector<std::int64_t> b;
  for (const SearchSetting& s : settings)
    for (auto id : s.baselines)
      if (std::find(s.points.back().begin(), s.points.back().end(), id) == s.points.back().end())
        b.push_back(id);
  std::sort(b.begin(), b.end());
  return std::unique(b.begin(), b.end()) - b.begin();
}
}  // namespace

std::int64_t guess_point_bound(const std::vector<SearchSetting>& settings) {
  std::int64_t points = 0;
  for (const SearchSetting& s : settings)
    points += gallop_probe_bound(static_cast<int>(s.cells.size())) *
              static_cast<std::int64_t>(s.points.front().size());
  return points + extra_baselines(settings);
}

std::int64_t guess_point_expected(const std::vector<SearchSetting>& settings) {
  std::int64_t points = 0;
  for (const SearchSetting& s : settings)
    points += std::min<std::int64_t>(3, static_cast<std::int64_t>(s.cells.size())) *
              static_cast<std::int64_t>(s.points.front().size());
  return points + extra_baselines(settings);
}

SearchView view_search(const std::vector<SearchSetting>& settings,
                       const std::vector<PointResult>& results, const SearchSpec& spec) {
  SearchView view;
  view.all_done = true;
  auto want = [&](const std::vector<std::int64_t>& ids) {
    for (auto id : ids)
      if (!finished(results.at(static_cast<std::size_t>(id)))) view.wanted.push_back(id);
  };
  for (const SearchSetting& s : settings) {
    bool gallop = spec.start != SearchSpec::Start::middle;
    int start = start_cell(s.cells, spec.start, spec.start_value);
    int predicted = -1;
    if (spec.start == SearchSpec::Start::predict) {
      predicted = setting_prediction(s, results);
      if (predicted >= 0) {
        start = start_cell(s.cells, SearchSpec::Start::value, predicted);
      } else {  // no prediction (yet): the middle, or wait for the baseline
        start = start_cell(s.cells, SearchSpec::Start::middle, 0);
        gallop = false;
      }
    }
    std::vector<Outcome> outcomes(s.cells.size());
    std::int64_t run = 0;
    for (std::size_t c = 0; c < s.cells.size(); ++c) {
      outcomes[c] = cell_outcome(s, c, results, spec);
      for (auto id : s.points[c]) run += finished(results.at(static_cast<std::size_t>(id)));
    }
    for (auto id : s.baselines)  // a baseline that is one of the cells (E8M23) counts once
      if (std::none_of(s.points.begin(), s.points.end(), [&](const std::vector<std::int64_t>& c) {
            return std::find(c.begin(), c.end(), id) != c.end();
          }))
        run += finished(results.at(static_cast<std::size_t>(id)));
    SearchStep step;
    if (predicted == kPredictionPending) {
      view.all_done = false;
      want(s.baselines);
      predicted = -1;
    } else {
      step = search_step(outcomes, start, gallop);
      if (!step.done) {
        view.all_done = false;
        want(s.baselines);
        want(s.points.at(static_cast<std::size_t>(step.probe)));
      }
    }
    view.steps.push_back(step);
    view.points_run.push_back(run);
    view.predicted.push_back(predicted);
  }
  std::sort(view.wanted.begin(), view.wanted.end());
  view.wanted.erase(std::unique(view.wanted.begin(), view.wanted.end()), view.wanted.end());
  return view;
}

}  // namespace precsweep
