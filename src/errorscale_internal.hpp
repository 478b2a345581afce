// Internals shared by the error-scaling sources (src/errorscale*.cpp): one evaluation of the
// network in double, and the format-independent norms the bounds need.
// Deliberately leaves out: anything a caller outside src/errorscale*.cpp should see.
#pragma once
#include <cstdint>
#include <vector>

#include "precsweep/errorscale.hpp"
#include "precsweep/mlp.hpp"

namespace precsweep {

// The fixed partition of the double products (blas_blocks.hpp), the same at every thread count
// so that --threads never changes a measured error: blocks of kRowBlock samples for Z = A W^T,
// D W and the bound operands; blocks of kOutBlock output units (rows of G) for G = D^T A.
constexpr int kRowBlock = 256;
constexpr int kOutBlock = 128;

// Every tensor of one forward + backward pass in double, for N samples.
struct Evaluation {
  std::vector<double> params;           // [count] as used (rounded if the policy says so)
  std::vector<std::vector<double>> Z;   // [L][N, out(l)] pre-activations; last: logits as fed
                                        // to softmax (rounded when activations are)
  std::vector<std::vector<double>> A;   // [L][N, out(l)] activations as stored; last: softmax
  std::vector<std::vector<double>> D;   // [L][N, out(l)] deltas dL/dz as used
  std::vector<std::vector<double>> G;   // [L][out(l), in(l)] weight gradients (mean loss)
};

// fmt == nullptr: nothing is rounded (the reference).
Evaluation evaluate_network(const MlpLayout& layout, Activation activation,
                            const std::vector<double>& params, const std::vector<double>& X,
                            const std::uint8_t* y, int N, const Format* fmt, Rounding mode,
                            unsigned apply_to, std::uint64_t seed);

// Reference-network norms the bound recursion uses (docs/theory.md, "Bounds"); per-sample
// vectors are [N], l indexes layers.
struct BoundInputs {
  std::vector<double> normW, normAbsW;       // [L] ||W_l||_2, || |W_l| ||_2
  std::vector<std::vector<double>> abs_z;    // [L][N] || |W_l| |a_{l-1}| + |b_l| ||
  std::vector<double> nx;                    // [N] ||x||
  std::vector<std::vector<double>> na, nz, nd;  // [L][N] ||a_l||, ||z_l||, ||delta_l||
  std::vector<std::vector<double>> g_inf;    // [L][N] ||W_l^T delta_l||_inf (l >= 1)
  std::vector<std::vector<double>> abs_g;    // [L][N] || |W_l|^T |delta_l| || (l >= 1)
  std::vector<double> fro_z, fro_a, fro_d, fro_G;  // [L] Frobenius norms over all samples
};

BoundInputs bound_inputs(const MlpLayout& layout, Activation activation, const Evaluation& ref,
                         const std::vector<double>& X, int N);

// Fills bound_* and ratio_* of row f of res.z, res.a, res.delta, res.dW from the per-sample
// measured errors ez, ea, ed ([L][N] absolute 2-norms).
void fill_bounds(ErrorScaleResult& res, std::size_t f, const Format& fmt,
                 const ErrorScaleConfig& cfg, const MlpLayout& layout, Activation activation,
                 const BoundInputs& bin, const std::vector<std::vector<double>>& ez,
                 const std::vector<std::vector<double>>& ea,
                 const std::vector<std::vector<double>>& ed, int N);

}  // namespace precsweep
