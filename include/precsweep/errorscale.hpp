// Error propagation through a trained MLP (issue 8): how the relative error of every layer's
// pre-activations, activations, deltas and weight gradients grows when the network is evaluated
// with a number format applied, versus the fp32 network; log-linear fits of error against
// mantissa bits; and rounding-error bounds propagated layer by layer. Theory: docs/theory.md;
// HDF5 layout of the results: docs/results-format.md ("Error-scaling file").
//
// Both networks are evaluated in double (CBLAS dgemm), so what is measured is the effect of
// the format's rounding of stored values (weights, activations, deltas), not float arithmetic
// noise: the reference is the stored fp32 network in double, the perturbed network is the same
// computation with the policy's tensors rounded (through binary32, then quantize()).
// Deliberately leaves out: arithmetic carried out *in* the format (accumulation is exact here;
// see docs/theory.md for what that changes), fixed-point fits (no mantissa width), the bias
// gradients.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "precsweep/formats.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/train.hpp"

namespace precsweep {

// "E8M2..E8M23" (same exponent width, every mantissa width in between) or a comma list of
// formats accepted by parse_format ("E5M10,bf16,fp16,no-subnormals": a bare "no-subnormals" or
// "saturate" item attaches to the format before it). Throws InputError naming the bad token.
std::vector<Format> parse_format_list(std::string_view text);

struct ErrorScaleConfig {
  std::vector<Format> formats;
  Rounding rounding = Rounding::toward_zero;
  unsigned apply_to = kApplyWeights;  // any of weights, activations, gradients (deltas)
  std::uint64_t seed = 1;             // stochastic rounding stream
  // Probabilistic inner-product constant: error ~ lambda * sqrt(n) * u (Higham and Mary 2019).
  double lambda = 1.0;
  // Fit exclusions (docs/theory.md, "Saturation"): a point is saturated when its error is
  // >= saturation (first-order theory no longer applies) or <= floor_factor times the fp32
  // floor (the same measurement with format fp32), or is zero or not finite.
  double saturation = 0.5;
  double floor_factor = 2.0;
  void validate() const;  // InputError on empty formats, apply_to "updates", bad constants
};

// Least-squares fit log2(err) = a - b*m over the used points.
struct Fit {
  double a = 0, b = 0;
  double rms = 0;           // root-mean-square residual in log2 units
  double max_residual = 0;  // largest |residual|
  int n = 0;                // points used (a, b, rms NaN when n < 2)
};

// One measured quantity (pre-activation "z", activation "a", delta "delta", weight gradient
// "dW"), every array [F, L] row-major (format f, layer l).
struct QuantitySeries {
  std::string name;
  std::vector<double> rel;         // ||X_q - X||_F / ||X||_F over all samples
  std::vector<double> worst;       // max over samples of ||x_q - x|| / ||x|| (dW: = rel)
  std::vector<double> floor_rel;   // [L] rel of the fp32 evaluation (the floor)
  std::vector<double> amplification;  // rel[l] / rel[l-1] (forward) or rel[l] / rel[l+1]
                                      // (backward); NaN where undefined
  // Bounds on rel (aggregated as sqrt(sum_r B_r^2) / ||X||_F), three constants per inner
  // product of length n: det gamma_n (Higham), prob lambda*sqrt(n)*u (Higham-Mary), stored u
  // (rigorous for stored-value rounding with exact accumulation; first order for relu deltas).
  std::vector<double> bound_det, bound_prob, bound_stored;
  // max over samples of measured / per-sample bound (dW: rel / bound).
  std::vector<double> ratio_det, ratio_prob, ratio_stored;
  std::vector<std::int8_t> used;   // [F, L] 1 if the point enters the fit
  std::vector<double> residual;    // [F, L] log2(rel) - fit, NaN where unused
  std::vector<Fit> fits;           // [L]
};

struct ErrorScaleResult {
  std::vector<Format> formats;       // [F]
  std::vector<int> man_bits;         // [F] -1 for fixed point
  std::vector<double> u;             // [F] unit roundoff (NaN for fixed point)
  int samples = 0;
  int layers = 0;
  QuantitySeries z, a, delta, dW;    // a[L-1] is the output probabilities
  std::vector<double> changed_fraction;  // [F] predicted class differs from the fp32 network
  double reference_accuracy = 0;     // fp32 network on the samples
  std::vector<double> accuracy;      // [F]
};

// Unit roundoff of a floating format under a rounding mode: 2^-(m+1) for nearest, 2^-m for
// the directed modes and stochastic. NaN for fixed point.
double unit_roundoff(const Format& fmt, Rounding mode);
// gamma_n = n u / (1 - n u), +inf when n u >= 1.
double gamma_n(double n, double u);

// Measures every format on the samples X [N, sizes[0]] with labels y [N]. Deterministic.
ErrorScaleResult measure_error_scaling(const StoredNetwork& net, const float* X,
                                       const std::uint8_t* y, int N, const ErrorScaleConfig& cfg);

// Fit of log2(values[f]) = a - b*m[f] over the points with use[f] != 0; fills residual [F].
Fit fit_log2_linear(const std::vector<double>& values, const std::vector<int>& m,
                    const std::vector<std::int8_t>& use, std::vector<double>* residual);

// Writes `res` to a new HDF5 file (layout: docs/results-format.md, "Error-scaling file"),
// through `path`.tmp renamed into place, so a failure leaves no partial file. `attrs` are extra
// string attributes on the root (weights file, point, dataset...). Throws InputError if `path`
// exists.
void write_error_scaling(const std::filesystem::path& path, const ErrorScaleResult& res,
                         const ErrorScaleConfig& cfg, const std::vector<int>& layer_sizes,
                         const std::vector<std::pair<std::string, std::string>>& attrs);

// Largest singular value of W [rows, cols] by power iteration on W^T W (double), iterated to a
// relative change below 1e-12 or 2000 steps.
double spectral_norm(const double* W, int rows, int cols);

}  // namespace precsweep
