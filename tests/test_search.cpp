// Search mode's pure part (search.hpp), without training: the bisection state machine on
// synthetic pass/fail tables against the grid's definition of the critical cell (every
// monotone table of up to 24 cells from every start; random non-monotone tables), the number
// of probes, cell outcomes from point results, and settings from a parsed spec.
// Deliberately leaves out: the engine that runs the probes (MPI, HDF5).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "precsweep/error.hpp"
#include "precsweep/search.hpp"

using namespace precsweep;

namespace {

// The grid's definition (analysis.critical_bits): the smallest cell such that it and every
// larger cell pass; -1 when the top cell fails.
int grid_answer(const std::vector<bool>& pass) {
  int c = static_cast<int>(pass.size());
  while (c > 0 && pass[static_cast<std::size_t>(c - 1)]) --c;
  return c == static_cast<int>(pass.size()) ? -1 : c;
}

struct SearchRun {
  SearchStep last;
  int probes = 0;
};

// Runs a search against a table, revealing each probed cell's outcome.
SearchRun simulate(const std::vector<bool>& pass, int start, bool gallop) {
  std::vector<Outcome> known(pass.size(), Outcome::unknown);
  SearchRun run;
  for (;;) {
    run.last = search_step(known, start, gallop);
    if (run.last.done) return run;
    const auto c = static_cast<std::size_t>(run.last.probe);
    EXPECT_EQ(known.at(c), Outcome::unknown) << "probed cell " << c << " twice";
    if (known[c] != Outcome::unknown) return run;
    known[c] = pass[c] ? Outcome::pass : Outcome::fail;
    ++run.probes;
  }
}

}  // namespace

TEST(SearchStep, EveryMonotoneTableFromEveryStartGivesTheGridAnswer) {
  for (int n = 1; n <= 24; ++n) {
    for (int t = 0; t <= n; ++t) {  // cells >= t pass (t == n: none passes)
      std::vector<bool> pass(static_cast<std::size_t>(n));
      for (int c = 0; c < n; ++c) pass[static_cast<std::size_t>(c)] = c >= t;
      for (int start = 0; start < n; ++start) {
        for (bool gallop : {false, true}) {
          const SearchRun run = simulate(pass, start, gallop);
          EXPECT_EQ(run.last.critical, grid_answer(pass))
              << "n=" << n << " t=" << t << " start=" << start << " gallop=" << gallop;
          EXPECT_FALSE(run.last.non_monotone);
        }
      }
      // Bisection from the middle: at most ceil(log2(n + 1)) probes, plus the top cell.
      const SearchRun mid = simulate(pass, (n - 1) / 2, false);
      EXPECT_LE(mid.probes, static_cast<int>(std::ceil(std::log2(n + 1))) + 1) << n << " " << t;
    }
  }
}

TEST(SearchStep, AGoodPredictionNeedsTwoOrThreeProbes) {
  std::vector<bool> pass(24);
  for (int c = 0; c < 24; ++c) pass[static_cast<std::size_t>(c)] = c >= 9;
  // (each plus the top cell, 23, the check that the cells above the answer pass)
  EXPECT_EQ(simulate(pass, 9, true).probes, 3);   // 9 passes, 8 fails
  EXPECT_EQ(simulate(pass, 8, true).probes, 3);   // 8 fails, 9 passes
  EXPECT_EQ(simulate(pass, 10, true).probes, 5);  // 10, 9 pass, 7 and 8 fail
  // A bad guess costs at most about twice bisection's probes (galloping, then bisecting).
  EXPECT_LE(simulate(pass, 0, true).probes, 2 * 5 + 1);
}

TEST(SearchStep, ContradictionsAreReportedAndResolvedLikeTheGrid) {
  std::mt19937 rng(7);
  int contradicted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 24);
    std::vector<bool> pass(static_cast<std::size_t>(n));
    for (auto&& p : pass) p = rng() % 3 != 0;
    const int start = static_cast<int>(rng() % static_cast<unsigned>(n));
    const SearchRun run = simulate(pass, start, trial % 2 == 0);
    bool monotone = true;
    for (int c = 1; c < n; ++c)
      monotone = monotone && !(pass[static_cast<std::size_t>(c - 1)] &&
                               !pass[static_cast<std::size_t>(c)]);
    if (run.last.non_monotone) {
      ++contradicted;
      EXPECT_FALSE(monotone);
      EXPECT_EQ(run.last.critical, grid_answer(pass)) << "trial " << trial;
    } else if (run.last.critical != grid_answer(pass)) {
      EXPECT_FALSE(monotone) << "a monotone table gave a wrong answer, trial " << trial;
      // The answer may only be too low where a failing cell above it was never probed
      // (grid answer -1, "none qualifies", ranks above every cell).
      const int n_or = grid_answer(pass) < 0 ? n : grid_answer(pass);
      EXPECT_LT(run.last.critical, n_or);
    }
  }
  EXPECT_GT(contradicted, 100);  // the random tables do exercise the resolution
}

TEST(SearchStep, ContradictionRunsTheCellsAboveTheLastFail) {
  // Cells 0..7: probes reveal 3 fail, 5 pass, 4 fail, then a pass at 2 below the fail at 4
  // is planted as already known: the search must then run 6 and 7 (top first).
  std::vector<Outcome> known(8, Outcome::unknown);
  known[2] = Outcome::pass;
  known[4] = Outcome::fail;
  known[5] = Outcome::pass;
  SearchStep s = search_step(known, 3, false);
  EXPECT_TRUE(s.non_monotone);
  EXPECT_EQ(s.probe, 7);
  known[7] = Outcome::pass;
  EXPECT_EQ(search_step(known, 3, false).probe, 6);
  known[6] = Outcome::fail;  // the grid's answer is now 7
  s = search_step(known, 3, false);
  EXPECT_TRUE(s.done && s.non_monotone);
  EXPECT_EQ(s.critical, 7);
}

TEST(SearchStart, MiddleValueAndBeyondTheRange) {
  const std::vector<int> cells = {0, 2, 4, 6, 8};
  EXPECT_EQ(start_cell(cells, SearchSpec::Start::middle, 0), 2);
  EXPECT_EQ(start_cell(cells, SearchSpec::Start::value, 4), 2);
  EXPECT_EQ(start_cell(cells, SearchSpec::Start::value, 5), 3);  // nearest at or above
  EXPECT_EQ(start_cell(cells, SearchSpec::Start::predict, 99), 4);
  EXPECT_EQ(start_cell(cells, SearchSpec::Start::value, -3), 0);
}

TEST(SearchOutcome, MeansOverSeedsAgainstTheBaseline) {
  SearchSetting s;
  s.cells = {2, 3};
  s.points = {{0, 1}, {2, 3}};
  s.baselines = {4, 5};
  std::vector<PointResult> r(6);
  SearchSpec spec;
  spec.tolerance = 0.01;
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::unknown);  // nothing finished
  r[0] = {1, 0.90};
  r[1] = {1, 0.86};
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::unknown);  // baselines still pending
  r[4] = {1, 0.90};
  r[5] = {1, 0.88};  // reference 0.89, bar 0.88; cell mean 0.88 passes
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::pass);
  r[1] = {2, std::nan("")};  // diverged without a value counts 0: mean 0.45
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::fail);
  r[1] = {3, std::nan("")};  // failed is left out: mean 0.90
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::pass);
  r[0] = {3, std::nan("")};  // no usable point: fails
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::fail);
  spec.relative = true;
  spec.tolerance = 0.02;  // bar 0.89 * 0.98 = 0.8722
  r[2] = {1, 0.873};
  r[3] = {1, 0.873};
  EXPECT_EQ(cell_outcome(s, 1, r, spec), Outcome::pass);
  r[3] = {1, 0.870};
  EXPECT_EQ(cell_outcome(s, 1, r, spec), Outcome::fail);
  // Without baselines the top cell is the reference.
  s.baselines.clear();
  spec.relative = false;
  r[2] = r[3] = {1, 0.95};
  r[0] = r[1] = {1, 0.94};
  EXPECT_EQ(cell_outcome(s, 0, r, spec), Outcome::pass);
}

TEST(SearchSettings, FromASpec) {
  const SweepSpec spec = parse_spec(R"(
dataset: synthetic
epochs: 1
seed: [1, 2]
train: {lr: [0.1, 0.5]}
precision:
  format: {exp: 8, man: {from: 0, to: 5, step: 1}}
  rounding: toward_zero
baseline: true
)");
  const auto settings = search_settings(spec, "man");
  ASSERT_EQ(settings.size(), 2u);
  for (const auto& s : settings) {
    EXPECT_EQ(s.cells, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    ASSERT_EQ(s.points.size(), 6u);
    EXPECT_EQ(s.baselines.size(), 2u);  // one fp32 run per seed
    for (std::size_t c = 0; c < 6; ++c) {
      ASSERT_EQ(s.points[c].size(), 2u);
      for (auto id : s.points[c]) {
        const Point& p = spec.points[static_cast<std::size_t>(id)];
        EXPECT_EQ(p.config.format.man_bits, s.cells[c]);
        EXPECT_EQ(p.config.lr, spec.points[static_cast<std::size_t>(s.first_point)].config.lr);
      }
    }
  }
  EXPECT_NE(settings[0].first_point, settings[1].first_point);
  EXPECT_THROW(search_settings(spec, "exp"), InputError);    // one exponent width: not swept
  EXPECT_THROW(search_settings(spec, "frac"), InputError);   // no fixed-point formats
  EXPECT_THROW(search_settings(spec, "mantissa"), InputError);
}

TEST(SearchSpec, BadSectionsExitWithTheKeyPath) {
  const std::string grid = R"(dataset: synthetic
seed: [1, 2]
precision:
  format: {exp: 8, man: {from: 0, to: 5, step: 1}}
)";
  auto message = [&](const std::string& tail, bool baseline = true) {
    try {
      parse_spec(grid + (baseline ? "baseline: true\n" : "") + tail, "s.yaml");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("search: {tolerance: 0.01}").find("missing `axis`"), std::string::npos);
  EXPECT_NE(message("search: {axis: mantissa}").find("search.axis"), std::string::npos);
  EXPECT_NE(message("search: {axis: man}", false).find("baseline: true"), std::string::npos);
  EXPECT_NE(message("search: {axis: exp}").find("not swept"), std::string::npos);
  EXPECT_NE(message("search: {axis: man, tolerance: 2}").find("search.tolerance"),
            std::string::npos);
  EXPECT_NE(message("search: {axis: man, start: predict}").find("not available yet"),
            std::string::npos);
  EXPECT_NE(message("search: {axis: man, speed: 3}").find("search.speed"), std::string::npos);
  const SweepSpec ok = parse_spec(grid + "baseline: true\nsearch: {axis: man, start: 3, "
                                         "relative: true, tolerance: 0.02}\n");
  EXPECT_TRUE(ok.search);
  EXPECT_EQ(ok.search_spec.start, SearchSpec::Start::value);
  EXPECT_EQ(ok.search_spec.start_value, 3);
  EXPECT_TRUE(ok.search_spec.relative);
  EXPECT_DOUBLE_EQ(ok.search_spec.tolerance, 0.02);
}
