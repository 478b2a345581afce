// The update-to-weight ratio of SGD steps, and the critical mantissa width predicted from it
// (docs/theory.md, "Predicting the critical width"). During an fp32 run every update
// w <- w - dw adds d = e(w) - e(dw) to a histogram, e(x) = floor(log2 |x|) (the binary
// exponent, from the bits). With m fraction bits an update is below one ulp of w exactly when
// d >= m + 1, below half an ulp when d >= m + 2 (for w on the format's grid, away from a power
// of two when moving toward zero). The fraction of such updates at width m is a tail sum. The
// histogram is kept per layer (the weights and biases of one dense layer), and the prediction is
// the smallest width whose lost fractions, summed over the layers, stay below a calibrated
// threshold.
// Deliberately leaves out: where the histogram is stored (results_file.cpp) and how a search
// uses the prediction (search.cpp).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "precsweep/formats.hpp"

namespace precsweep {

// Bins: [0] updates with dw = 0 or w = 0 (nothing to swamp), [1] d < kRatioMin, then one bin
// per d = kRatioMin .. kRatioMax, then [last] d > kRatioMax.
constexpr int kRatioMin = -8;
constexpr int kRatioMax = 31;
constexpr int kRatioBins = 3 + (kRatioMax - kRatioMin + 1);
using RatioHistogram = std::array<std::uint64_t, kRatioBins>;
// One histogram per dense layer, the input layer first.
using LayerRatios = std::vector<RatioHistogram>;

// The trainer records every kRatioStride-th batch of each epoch, from the first: the
// histogram is a sample of the epoch's updates, cheap enough not to slow the fp32 epoch
// (docs/performance.md).
constexpr int kRatioStride = 64;

// The bin of d (d outside the range: the under/overflow bin).
int ratio_bin(int d);
// floor(log2 |x|) of a finite nonzero float, subnormals included (from the bits).
int binary_exponent(float x);

// Adds one SGD step to `h`: for i < n, w = x[i] and dw = lr * d[i] with d[i] formed as
// sgd_update forms it (mlp.hpp): g + wd x, or with momentum mu v + (g + wd x) with v the
// velocity before the step. Reads only; nothing is changed.
void add_update_ratios(RatioHistogram& h, const float* x, const float* g, const float* v,
                       long n, float lr, float mu, float wd);

// Fraction of the swampable updates (bins other than [0]) with d >= k; 0 for an empty histogram.
double ratio_tail(const RatioHistogram& h, int k);

// The updates a width-m format loses: d >= m + 1 + rounding_offset(mode). Offset 0 for the
// directed modes (an update below one ulp is lost when it moves w away from zero under
// truncation, toward it for up/down), 1 for nearest_even (below half an ulp); -1 for
// stochastic (no deterministic rule: no prediction).
int rounding_offset(Rounding mode);

// The threshold tau of the rule, calibrated once on the seed study (docs/theory.md §8).
constexpr double kPredictThreshold = 0.52;

// The predicted critical mantissa width: the smallest m >= 0 such that the layers' lost
// fractions add up to less than tau, sum_l ratio_tail(h_l, m + 1 + rounding_offset(mode)) < tau;
// -1 if every histogram is empty or the mode has no rule. At most kRatioMax (the tail then only
// holds the overflow bin). An empty layer (a point with fewer layers than the file's widest)
// adds 0. The single-histogram form is the one-layer case (the pooled histogram of old files).
int predict_width(const LayerRatios& layers, Rounding mode, double tau = kPredictThreshold);
int predict_width(const RatioHistogram& h, Rounding mode, double tau = kPredictThreshold);

}  // namespace precsweep
