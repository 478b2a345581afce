// The MLP's frozen reference (HPCG style: the fast Mlp in src/mlp.cpp is compared against it):
// plain loops, double everywhere, libm's exp/tanh. Written from the definitions in
// docs/training.md and never optimised. Linked into the tests that need it (tests/CMakeLists.txt).
// Deliberately leaves out: rounding (tests round the inputs themselves) and threads.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "precsweep/mlp.hpp"

namespace precsweep {

// params in mlp.hpp's layout, as double. Returns every layer's output as [L][B * out(l)]
// (hidden: activation; last: softmax probabilities).
std::vector<std::vector<double>> forward_ref(const MlpLayout& layout, Activation activation,
                                             std::span<const double> params, const float* X, int B);
// Mean cross-entropy of the probabilities from forward_ref against the targets
// T = (1 - eps) onehot(y) + eps / classes (label smoothing; eps = 0: one-hot).
double loss_ref(const MlpLayout& layout, const std::vector<std::vector<double>>& outputs,
                const std::uint8_t* y, int B, double eps = 0.0);
// Gradient of that mean cross-entropy, same layout as params.
std::vector<double> backward_ref(const MlpLayout& layout, Activation activation,
                                 std::span<const double> params,
                                 const std::vector<std::vector<double>>& outputs, const float* X,
                                 const std::uint8_t* y, int B, double eps = 0.0);

}  // namespace precsweep
