// Search mode's pure part (search.hpp), without training: the bisection state machine on
// synthetic pass/fail tables against the grid's definition of the critical cell (every
// monotone table of up to 24 cells from every start; random non-monotone tables), the number
// of probes, cell outcomes from point results, and settings from a parsed spec; the
// update-ratio histogram and the prediction of the critical width from it (update_ratio.hpp),
// and searches that start from a prediction.
// Deliberately leaves out: the engine that runs the probes (MPI, HDF5).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"
#include "precsweep/search.hpp"
#include "precsweep/update_ratio.hpp"

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
  EXPECT_NE(message("search: {axis: exp, start: predict}").find("search.start"),
            std::string::npos);
  EXPECT_EQ(message("search: {axis: man, start: predict}"), "(accepted)");
  EXPECT_NE(message("search: {axis: man, speed: 3}").find("search.speed"), std::string::npos);
  const SweepSpec ok = parse_spec(grid + "baseline: true\nsearch: {axis: man, start: 3, "
                                         "relative: true, tolerance: 0.02}\n");
  EXPECT_TRUE(ok.search);
  EXPECT_EQ(ok.search_spec.start, SearchSpec::Start::value);
  EXPECT_EQ(ok.search_spec.start_value, 3);
  EXPECT_TRUE(ok.search_spec.relative);
  EXPECT_DOUBLE_EQ(ok.search_spec.tolerance, 0.02);
}

// ---- the update ratio and the prediction (update_ratio.hpp) -------------------------------

TEST(UpdateRatio, BinaryExponentFromTheBits) {
  EXPECT_EQ(binary_exponent(1.0f), 0);
  EXPECT_EQ(binary_exponent(-1.5f), 0);
  EXPECT_EQ(binary_exponent(0.99f), -1);
  EXPECT_EQ(binary_exponent(1024.0f), 10);
  EXPECT_EQ(binary_exponent(std::ldexp(1.0f, -126)), -126);
  EXPECT_EQ(binary_exponent(std::ldexp(1.0f, -149)), -149);   // the smallest subnormal
  EXPECT_EQ(binary_exponent(std::ldexp(3.0f, -140)), -139);   // a subnormal, 1.5 * 2^-139
  EXPECT_EQ(ratio_bin(kRatioMin - 1), 1);
  EXPECT_EQ(ratio_bin(kRatioMin), 2);
  EXPECT_EQ(ratio_bin(kRatioMax), kRatioBins - 2);
  EXPECT_EQ(ratio_bin(kRatioMax + 1), kRatioBins - 1);
}

// The rule's claim, checked against the rounding itself: for w on the E8M<m> grid and an
// update dw, d = e(w) - e(dw) >= m + 1 exactly when truncation (moving w away from zero) loses
// the update, and d >= m + 2 makes nearest-even lose it while d <= m never does.
TEST(UpdateRatio, TheTailIsExactlyTheLostUpdates) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  int checked = 0;
  for (int m = 0; m <= 12; ++m) {
    const Format f = Format::floating(8, m);
    for (int trial = 0; trial < 4000; ++trial) {
      const int ew = static_cast<int>(rng() % 20) - 10;
      const float w = quantize_one(std::ldexp(mant(rng), ew), f, Rounding::toward_zero);
      if (w == std::ldexp(1.0f, ew)) continue;  // at a power of two the spacing below halves
      const float dw = -std::ldexp(mant(rng), ew - static_cast<int>(rng() % 20));  // |w| grows
      const int d = binary_exponent(w) - binary_exponent(dw);
      const bool lost_tz = quantize_one(w - dw, f, Rounding::toward_zero) == w;
      EXPECT_EQ(lost_tz, d >= m + 1) << "m=" << m << " w=" << w << " dw=" << dw;
      const bool lost_ne = quantize_one(w - dw, f, Rounding::nearest_even) == w;
      if (d >= m + 2) {
        EXPECT_TRUE(lost_ne) << "m=" << m << " w=" << w << " dw=" << dw;
      }
      if (d <= m) {
        EXPECT_FALSE(lost_ne) << "m=" << m << " w=" << w << " dw=" << dw;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 40000);
}

TEST(UpdateRatio, AddsTheStepAsSgdFormsIt) {
  RatioHistogram h{};
  const float x[4] = {1.0f, 1.0f, 0.0f, 1.0f};
  const float g[4] = {0.5f, 0.0f, 1.0f, 1.0f / 1024};
  add_update_ratios(h, x, g, nullptr, 4, 0.5f, 0.0f, 0.0f);
  EXPECT_EQ(h[0], 2u);                                   // dw = 0, w = 0
  EXPECT_EQ(h[static_cast<std::size_t>(ratio_bin(2))], 1u);   // 1 vs 0.25
  EXPECT_EQ(h[static_cast<std::size_t>(ratio_bin(11))], 1u);  // 1 vs 2^-11
  // Momentum and weight decay: d = mu v + (g + wd x) = 0.5 * 1 + (0 + 0.5 * 1) = 1.
  RatioHistogram k{};
  const float v[1] = {1.0f};
  add_update_ratios(k, x, g + 1, v, 1, 0.125f, 0.5f, 0.5f);
  EXPECT_EQ(k[static_cast<std::size_t>(ratio_bin(3))], 1u);   // 1 vs 0.125
}

// The histogram pass reads normal exponents straight from the fields and sends the rest down
// an exact path: over values of every kind it must bin exactly as d = e(w) - e(dw) says.
TEST(UpdateRatio, TheFastPassBinsEveryKindOfValueExactly) {
  std::mt19937 rng(5);
  const float special[] = {0.0f, -0.0f, std::ldexp(1.0f, -149), -std::ldexp(3.0f, -140),
                           std::ldexp(1.0f, -126), std::numeric_limits<float>::infinity(),
                           std::numeric_limits<float>::quiet_NaN(), 3e38f, 1.0f};
  std::vector<float> x(4000), g(4000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto pick = [&] {
      return rng() % 4 == 0 ? special[rng() % 9]
                            : std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000,
                                         static_cast<int>(rng() % 120) - 60);
    };
    x[i] = pick();
    g[i] = pick();
  }
  RatioHistogram fast{}, exact{};
  add_update_ratios(fast, x.data(), g.data(), nullptr, static_cast<long>(x.size()), 0.5f, 0, 0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float dw = 0.5f * g[i];
    const bool ok = std::isfinite(x[i]) && std::isfinite(dw) && x[i] != 0 && dw != 0;
    ++exact[static_cast<std::size_t>(
        ok ? ratio_bin(binary_exponent(x[i]) - binary_exponent(dw)) : 0)];
  }
  EXPECT_EQ(fast, exact);
  EXPECT_GT(exact[0], 0u);
  EXPECT_GT(exact[1] + exact[kRatioBins - 1], 0u);
}

TEST(UpdateRatio, PredictionIsTheFirstWidthBelowTheThreshold) {
  RatioHistogram h{};
  h[0] = 1000;  // never in the fraction
  h[static_cast<std::size_t>(ratio_bin(2))] = 50;
  h[static_cast<std::size_t>(ratio_bin(6))] = 30;
  h[static_cast<std::size_t>(ratio_bin(9))] = 15;
  h[static_cast<std::size_t>(ratio_bin(40))] = 5;  // overflow: lost at every width
  EXPECT_DOUBLE_EQ(ratio_tail(h, 7), 0.20);
  EXPECT_DOUBLE_EQ(ratio_tail(h, 10), 0.05);
  EXPECT_DOUBLE_EQ(ratio_tail(h, -100), 1.0);
  // toward_zero loses d >= m + 1: tail(m + 1) < 0.1 first at m = 9 (0.05); < 0.25 at m = 6
  // (0.20); the tail is 0.5 from m = 2 to 5.
  EXPECT_EQ(predict_width(h, Rounding::toward_zero, 0.1), 9);
  EXPECT_EQ(predict_width(h, Rounding::toward_zero, 0.25), 6);
  EXPECT_EQ(predict_width(h, Rounding::toward_zero, 0.6), 2);
  EXPECT_EQ(predict_width(h, Rounding::nearest_even, 0.1), 8);   // d >= m + 2
  EXPECT_EQ(predict_width(h, Rounding::stochastic, 0.1), -1);
  EXPECT_EQ(predict_width(h, Rounding::toward_zero, 0.01), kRatioMax);  // the overflow stays
  EXPECT_EQ(predict_width(RatioHistogram{}, Rounding::toward_zero, 0.1), -1);
}

// The rule sums the layers' lost fractions: with a alone 2 bits suffice, with b alone 4, with
// the worst layer deciding 4, but together the fractions stay >= 0.52 up to m = 5.
TEST(UpdateRatio, TheLayersLostFractionsAddUp) {
  RatioHistogram a{}, b{};
  a[static_cast<std::size_t>(ratio_bin(2))] = 60;  // a loses 1.0 for m <= 1, 0.4 for m = 2..7
  a[static_cast<std::size_t>(ratio_bin(8))] = 40;
  b[static_cast<std::size_t>(ratio_bin(4))] = 80;  // b loses 1.0 for m <= 3, 0.2 for m = 4, 5
  b[static_cast<std::size_t>(ratio_bin(6))] = 20;
  // Sum: 2.0 (m <= 1), 1.4 (m = 2, 3), 0.6 (m = 4, 5), 0.4 (m = 6, 7), 0 from m = 8.
  EXPECT_EQ(predict_width(a, Rounding::toward_zero, 0.5), 2);
  EXPECT_EQ(predict_width(b, Rounding::toward_zero, 0.5), 4);
  EXPECT_EQ(predict_width(LayerRatios{a, b}, Rounding::toward_zero, 0.5), 6);
  EXPECT_EQ(predict_width(LayerRatios{a, b}, Rounding::toward_zero), 6);  // tau 0.52
  EXPECT_EQ(predict_width(LayerRatios{a, b}, Rounding::toward_zero, 0.7), 4);
  EXPECT_EQ(predict_width(LayerRatios{a, b}, Rounding::toward_zero, 0.3), 8);
  EXPECT_EQ(predict_width(LayerRatios{a, b}, Rounding::nearest_even, 0.5), 5);  // d >= m + 2
  // A layer the point does not have (an empty row of the file) adds nothing.
  EXPECT_EQ(predict_width(LayerRatios{a, RatioHistogram{}, b}, Rounding::toward_zero, 0.5), 6);
  EXPECT_EQ(predict_width(LayerRatios{RatioHistogram{}, RatioHistogram{}}, Rounding::toward_zero),
            -1);
  EXPECT_EQ(predict_width(LayerRatios{}, Rounding::toward_zero), -1);
}

// ---- searches from a prediction -------------------------------------------------------------

namespace {

// One setting of n cells with one seed, point ids 0..n-1, its baseline id n.
SearchSetting synthetic_setting(int n, int offset) {
  SearchSetting s;
  for (int c = 0; c < n; ++c) {
    s.cells.push_back(c);
    s.points.push_back({c});
  }
  s.baselines = {n};
  s.rounding_offset = offset;
  return s;
}

struct PredictRun {
  int critical = -2;
  int predicted = -2;
  std::vector<int> probed;  // cells, in order
};

// Drives view_search to the end with cells >= t passing (accuracy 0.9 vs 0.5; baseline 0.9)
// and the baseline's swamping width `swamp`.
PredictRun run_predicted(int n, int t, int swamp, int offset = 0) {
  const SearchSetting s = synthetic_setting(n, offset);
  SearchSpec spec;
  spec.start = SearchSpec::Start::predict;
  std::vector<PointResult> r(static_cast<std::size_t>(n + 1));
  PredictRun out;
  for (int guard = 0; guard < 4 * n + 4; ++guard) {
    const SearchView v = view_search({s}, r, spec);
    if (v.all_done) {
      out.critical = v.steps[0].critical;
      out.predicted = v.predicted[0];
      return out;
    }
    EXPECT_FALSE(v.wanted.empty());
    for (auto id : v.wanted) {
      if (id == n) {
        if (offset >= 0) {
          EXPECT_EQ(v.wanted.size(), 1u) << "a probe before the prediction";
        }
        r[static_cast<std::size_t>(id)] = {1, 0.9, swamp};
      } else {
        out.probed.push_back(static_cast<int>(id));
        r[static_cast<std::size_t>(id)] = {1, id >= t ? 0.9 : 0.5, -1};
      }
    }
  }
  ADD_FAILURE() << "the search did not end";
  return out;
}

}  // namespace

TEST(SearchPredict, WaitsForTheBaselineThenProbesThePredictionAndTheCellBelow) {
  const PredictRun right = run_predicted(24, 9, 9);
  EXPECT_EQ(right.critical, 9);
  EXPECT_EQ(right.predicted, 9);
  EXPECT_EQ(right.probed, (std::vector<int>{9, 8, 23}));
  // Nearest: the prediction is one bit below the swamping width.
  const PredictRun nearest = run_predicted(24, 8, 9, 1);
  EXPECT_EQ(nearest.predicted, 8);
  EXPECT_EQ(nearest.probed, (std::vector<int>{8, 7, 23}));
}

TEST(SearchPredict, WrongPredictionsGallopAndStillGiveTheGridAnswer) {
  const PredictRun high = run_predicted(24, 9, 11);  // too high: gallops down 10, 9, 7, 8
  EXPECT_EQ(high.critical, 9);
  EXPECT_EQ(high.probed.front(), 11);
  const PredictRun low = run_predicted(24, 9, 8);  // too low: 8 fails, 9 passes
  EXPECT_EQ(low.critical, 9);
  EXPECT_EQ(low.probed, (std::vector<int>{8, 9, 23}));
  for (int swamp : {0, 2, 20, 23}) {  // far off, both ways
    const PredictRun far = run_predicted(24, 9, swamp);
    EXPECT_EQ(far.critical, 9) << swamp;
    EXPECT_LE(far.probed.size(), static_cast<std::size_t>(gallop_probe_bound(24))) << swamp;
  }
}

TEST(SearchPredict, RangeEndsAndNoPrediction) {
  EXPECT_EQ(run_predicted(24, 0, 0).probed, (std::vector<int>{0, 23}));   // bottom passes
  const PredictRun beyond = run_predicted(24, 23, 30);  // above the range: the top cell
  EXPECT_EQ(beyond.critical, 23);
  EXPECT_EQ(beyond.probed, (std::vector<int>{23, 22}));
  EXPECT_EQ(beyond.predicted, 30);
  const PredictRun none = run_predicted(24, 24, 23);  // even the top fails
  EXPECT_EQ(none.critical, -1);
  EXPECT_EQ(none.probed, (std::vector<int>{23}));
  // No histogram (swamping width -1) or a stochastic rounding: bisection from the middle.
  const PredictRun nohist = run_predicted(24, 9, -1);
  EXPECT_EQ(nohist.predicted, -1);
  EXPECT_EQ(nohist.probed.front(), 11);
  EXPECT_EQ(nohist.critical, 9);
  const PredictRun stochastic = run_predicted(24, 9, 9, -1);
  EXPECT_EQ(stochastic.predicted, -1);
  EXPECT_EQ(stochastic.probed.front(), 11);
}

// The seed study's case: the fp32 baseline is the top cell itself (E8M23), known before any
// probe. It is not a gallop step: a right prediction costs the prediction and the cell below.
TEST(SearchPredict, ABaselineThatIsTheTopCellIsNotAGallopStep) {
  std::vector<Outcome> known(24, Outcome::unknown);
  known[23] = Outcome::pass;
  EXPECT_EQ(search_step(known, 9, true).probe, 9);
  known[9] = Outcome::pass;
  EXPECT_EQ(search_step(known, 9, true).probe, 8);
  known[8] = Outcome::fail;
  const SearchStep done = search_step(known, 9, true);
  EXPECT_TRUE(done.done);
  EXPECT_EQ(done.critical, 9);
  // Too low: 6 fails, then 7, 9 (galloping up), then 8.
  std::vector<Outcome> low(24, Outcome::unknown);
  low[23] = Outcome::pass;
  std::vector<int> probed;
  for (SearchStep st = search_step(low, 6, true); !st.done; st = search_step(low, 6, true)) {
    probed.push_back(st.probe);
    low[static_cast<std::size_t>(st.probe)] = st.probe >= 8 ? Outcome::pass : Outcome::fail;
  }
  EXPECT_EQ(probed, (std::vector<int>{6, 7, 9, 8}));
  // From the middle nothing changes: the middle cell first.
  std::vector<Outcome> mid(24, Outcome::unknown);
  mid[23] = Outcome::pass;
  EXPECT_EQ(search_step(mid, 11, false).probe, 11);
}

TEST(SearchView, ABaselineThatIsACellCountsOnceInPointsRun) {
  SearchSetting s;
  s.cells = {0, 1, 2, 3};
  s.points = {{0}, {1}, {2}, {3}};
  s.baselines = {3};  // the top cell is the fp32 run itself
  std::vector<PointResult> r(4, PointResult{1, 0.9, -1});
  r[0].value = 0.5;
  const SearchView v = view_search({s}, r, SearchSpec{});
  EXPECT_TRUE(v.all_done);
  EXPECT_EQ(v.points_run[0], 4);
}

TEST(SearchPredict, BoundsForList) {
  EXPECT_EQ(gallop_probe_bound(1), 1);
  EXPECT_GE(gallop_probe_bound(24), 6);
  EXPECT_LE(gallop_probe_bound(24), 2 * 5 + 2);
  const std::vector<SearchSetting> two = {synthetic_setting(24, 0), synthetic_setting(24, 0)};
  // The same baseline id counted once; 3 cells per setting when the prediction is right.
  EXPECT_EQ(guess_point_expected(two), 2 * 3 + 1);
  EXPECT_EQ(guess_point_bound(two), 2 * gallop_probe_bound(24) + 1);
}
