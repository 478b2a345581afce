// A run's precision recipe: a number format and rounding mode per tensor role (weights,
// activations, errors, weight_grads, updates, momentum, master), optional per-tensor scaling per
// role, and loss scaling. resolve_precision() turns a TrainConfig (the `format`/`rounding`/
// `apply_to` shorthand, a named recipe, and per-role overrides) into one Precision value; the
// trainer rounds each tensor through RoleRounder::round ("round role R of this tensor of shape
// rows x cols"), the one place a block format or a scaling rule hooks in. docs/training.md
// ("Precision recipes") is the written definition.
// The accumulators of the three products are part of the resolved precision (accumulate.hpp).
// Deliberately leaves out: the training loop (train.cpp) and the formats themselves
// (formats.hpp, accumulate.hpp).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "precsweep/accumulate.hpp"
#include "precsweep/formats.hpp"

namespace precsweep {

struct TrainConfig;

// Tensor roles (docs/training.md, table "Roles"). The order is the parameter table's and the
// results file's.
enum class Role : std::uint8_t { weights, activations, errors, weight_grads, updates, momentum, master };
constexpr int kRoles = 7;
constexpr std::array<Role, kRoles> kAllRoles = {Role::weights,      Role::activations,
                                                Role::errors,       Role::weight_grads,
                                                Role::updates,      Role::momentum,
                                                Role::master};
std::string to_string(Role r);                    // "weights", "weight_grads", ...
std::optional<Role> find_role(std::string_view);  // nullopt for an unknown name
std::string role_list();                          // "weights, activations, ..., master"

// Per-tensor scaling of one role: none, current (this step's amax) or delayed:N (the largest
// amax of the previous N steps; Transformer Engine's delayed scaling).
struct TensorScaling {
  enum Kind : std::uint8_t { none, current, delayed } kind = none;
  int history = 0;  // N for delayed (1..1024)
  bool operator==(const TensorScaling&) const = default;
};
TensorScaling parse_scaling(std::string_view text);  // InputError(reason) for anything else
std::string to_string(TensorScaling s);              // "none", "current", "delayed:16"

// Loss scaling: none, a constant, or dynamic (GradScaler: start 2^15, halve and skip the step
// on an inf/NaN gradient, double after 2000 clean steps).
struct LossScaling {
  enum Kind : std::uint8_t { none, constant, dynamic } kind = none;
  double value = 1.0;  // the constant
  bool operator==(const LossScaling&) const = default;
};
LossScaling parse_loss_scaling(std::string_view text);  // "none", "dynamic", a number > 0
std::string to_string(const LossScaling& s);
constexpr double kDynamicInitialScale = 32768.0;  // 2^15
constexpr int kDynamicGrowthInterval = 2000;

// Loss scaling's state over a run (docs/training.md, "Loss scaling"): the scale S, and for
// dynamic scaling the clean steps since it last changed.
class LossScaler {
 public:
  explicit LossScaler(const LossScaling& rule);
  bool on() const { return rule_.kind != LossScaling::none; }
  double scale() const { return scale_; }
  // After a step's gradients were unscaled (`finite`: all of them finite): false = skip the
  // step (dynamic scaling: S halves). kDynamicGrowthInterval clean steps in a row double S.
  bool step_ok(bool finite);

 private:
  LossScaling rule_;
  double scale_ = 1.0;
  int clean_steps_ = 0;
};

// What a role is rounded into; `on` false: the role is not rounded at all (no call).
struct RoleRounding {
  bool on = false;
  Format format{};
  Rounding mode = Rounding::nearest_even;
  TensorScaling scaling{};
};

// A role as given beside a recipe (spec `precision.<role>`, `train --round/--scale`): each part
// unset keeps what the recipe (or the shorthand) says. A format that is binary32 turns the role off.
struct RoleOverride {
  std::optional<Format> format;
  std::optional<Rounding> mode;
  std::optional<TensorScaling> scaling;
  bool operator==(const RoleOverride&) const = default;
};

// The accumulator of the products as given beside a recipe (spec `precision.accumulate` and
// `precision.accumulate.<kind>`, `train --accumulate[-<kind>]`): each part unset keeps what the
// recipe says (binary32, nearest_even, no chunks, fp32 outer: BLAS). TrainConfig::accumulate
// holds scope 0 (every kind) and then one per GemmKind, which overrides scope 0 part by part.
struct AccumulateOverride {
  std::optional<Format> format;
  std::optional<Rounding> mode;
  std::optional<std::uint32_t> chunk;  // 0: no chunks
  std::optional<Format> outer;
  std::optional<Rounding> outer_mode;
  bool operator==(const AccumulateOverride&) const = default;
};
constexpr int kAccumulateScopes = 1 + kGemmKinds;

// The named recipes (docs/training.md, "Named recipes"): "none" (the shorthand alone), fp32,
// truncate, fp16-mixed, bf16-mixed, bf16-sr, fp8-hybrid, fp8-hybrid-noscale, fp8-wang2018.
const std::vector<std::string>& recipe_names();
void check_recipe(std::string_view name);  // InputError listing the names

// The resolved precision of a run.
struct Precision {
  std::array<RoleRounding, kRoles> roles{};
  bool master = false;  // master weights: a master copy receives the updates (weights rounded)
  LossScaling loss{};
  int every = 1;        // the weights role: every N steps, 0 = at the end of each epoch
  std::array<Accumulator, kGemmKinds> accumulate{};  // by GemmKind; is_blas(): sgemm
  const RoleRounding& operator[](Role r) const { return roles[static_cast<std::size_t>(r)]; }
  RoleRounding& operator[](Role r) { return roles[static_cast<std::size_t>(r)]; }
  bool rounds_anything() const;  // some role is rounded, or loss scaling is on
};

// Shorthand (format, rounding, apply_to, master_weights), then the recipe, then the overrides.
// InputError naming the key when they contradict each other (a recipe with a non-binary32
// `format`, a mode or scale for a role that is not rounded, scaling of a role that has none).
Precision resolve_precision(const TrainConfig& c);

// Per role, what its rounding did over some steps (an epoch's instrumentation).
struct RoleCounts {
  std::uint64_t values = 0;     // elements rounded
  std::uint64_t overflow = 0;   // QuantizeStats::overflow summed
  std::uint64_t underflow = 0;  // nonzero values flushed to zero
  std::uint64_t tensors = 0;    // tensors scaled (per-tensor scaling only)
  std::uint64_t exceeded = 0;   // ... whose amax * scale still exceeded the format's maximum
  double log2_scale_sum = 0;    // sum over scaled tensors of log2 s
  std::uint64_t blocks = 0;          // block formats: blocks quantized
  std::uint64_t clamped_blocks = 0;  // ... whose scale was clamped (QuantizeStats)
};

// Rounds the tensors of a run role by role, keeping each role's per-tensor scaling history and
// counts. Stochastic streams are the caller's (one stream per role and step: train.cpp).
class RoleRounder {
 public:
  explicit RoleRounder(const Precision& p) : p_(p) {}
  bool on(Role r) const { return p_[r].on; }
  const Precision& precision() const { return p_; }

  // Round role r of tensor x [rows, cols] in place; `tensor` names the tensor within the role
  // (a layer, or 2*layer (+1 for the bias) for parameter-shaped roles) for the scaling history.
  // With per-tensor scaling: x <- q(x * s) / s, s = 2^floor(log2(max / amax)) (exact: s is a
  // power of two). A block format blocks along `axis` (its scales replace per-tensor scaling:
  // resolve_precision refuses both). Returns the rounding's counts (also added to the role's
  // epoch counts).
  QuantizeStats round(Role r, std::span<float> x, int rows, int cols, int tensor,
                      StochasticKey key, BlockAxis axis = BlockAxis::rows);

  // Counts of a rounding done elsewhere (fused into the weight update: mlp.hpp's sgd_update).
  void add(Role r, const QuantizeStats& s, std::uint64_t values);
  const RoleCounts& counts(Role r) const { return counts_[static_cast<std::size_t>(r)]; }
  void reset_counts() { counts_ = {}; }

 private:
  double scale_for(Role r, int tensor, float amax);

  Precision p_;
  std::array<RoleCounts, kRoles> counts_{};
  // [role][tensor] amax of the last N steps (delayed scaling), newest last
  std::array<std::vector<std::vector<float>>, kRoles> history_{};
};

// Rounds x like RoleRounder::round but outside training (the test-set evaluation): counts and
// histories untouched; per-tensor scaling uses the tensor's own amax (current).
void round_unrecorded(const RoleRounding& r, std::span<float> x, int rows, int cols,
                      StochasticKey key);

// "E4M3:nearest_even", with ":delayed:16" when scaled; empty when the role is not rounded (the
// results file's round_<role> columns).
std::string describe(const RoleRounding& r);

// The power-of-two scale that brings amax nearest below `max_finite`: 2^floor(log2(max/amax)),
// exponent clamped to [-100, 100]; 1 for amax 0, inf or NaN.
double power_of_two_scale(double max_finite, double amax);

}  // namespace precsweep
