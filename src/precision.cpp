// Precision recipes (precision.hpp): role names, the scaling and loss-scaling values, the named
// recipes, resolving a TrainConfig into per-role roundings, and the per-role rounder with its
// per-tensor scaling. The recipes and their sources are in docs/training.md.
// Deliberately leaves out: when each role is rounded and with which stream (train.cpp).
#include "precsweep/precision.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "precsweep/error.hpp"
#include "precsweep/train.hpp"

namespace precsweep {

namespace {
constexpr std::array<const char*, kRoles> kRoleNames = {
    "weights", "activations", "errors", "weight_grads", "updates", "momentum", "master"};
constexpr int kMaxHistory = 1024;
}  // namespace

std::string to_string(Role r) { return kRoleNames[static_cast<std::size_t>(r)]; }

std::optional<Role> find_role(std::string_view name) {
  for (Role r : kAllRoles)
    if (name == kRoleNames[static_cast<std::size_t>(r)]) return r;
  return std::nullopt;
}

std::string role_list() {
  std::string s;
  for (const char* n : kRoleNames) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

TensorScaling parse_scaling(std::string_view t) {
  if (t == "none") return {};
  if (t == "current") return {TensorScaling::current, 0};
  if (t.starts_with("delayed:")) {
    const auto n = t.substr(8);
    int v = 0;
    const auto r = std::from_chars(n.data(), n.data() + n.size(), v);
    if (!n.empty() && r.ec == std::errc() && r.ptr == n.data() + n.size() && v >= 1 &&
        v <= kMaxHistory)
      return {TensorScaling::delayed, v};
  }
  throw InputError("expected none, current or delayed:N (N in 1.." + std::to_string(kMaxHistory) +
                   "), got '" + std::string(t) + "'");
}

std::string to_string(TensorScaling s) {
  switch (s.kind) {
    case TensorScaling::none: return "none";
    case TensorScaling::current: return "current";
    case TensorScaling::delayed: return "delayed:" + std::to_string(s.history);
  }
  return "?";
}

LossScaling parse_loss_scaling(std::string_view t) {
  if (t == "none") return {};
  if (t == "dynamic") return {LossScaling::dynamic, kDynamicInitialScale};
  double v = 0;
  const char* b = t.data() + (!t.empty() && t[0] == '+' ? 1 : 0);
  const auto r = std::from_chars(b, t.data() + t.size(), v);
  if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(v) ||
      !(v > 0) || v > 1e30)
    throw InputError("expected none, dynamic or a number in (0, 1e30], got '" + std::string(t) + "'");
  return {LossScaling::constant, v};
}

std::string to_string(const LossScaling& s) {
  switch (s.kind) {
    case LossScaling::none: return "none";
    case LossScaling::dynamic: return "dynamic";
    case LossScaling::constant: {
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof buf, s.value);
      return std::string(buf, r.ptr);
    }
  }
  return "?";
}

LossScaler::LossScaler(const LossScaling& rule) : rule_(rule) {
  scale_ = rule.kind == LossScaling::constant  ? rule.value
           : rule.kind == LossScaling::dynamic ? kDynamicInitialScale
                                               : 1.0;
}

bool LossScaler::step_ok(bool finite) {
  if (rule_.kind != LossScaling::dynamic) return true;
  if (!finite) {
    scale_ *= 0.5;
    clean_steps_ = 0;
    return false;
  }
  if (++clean_steps_ == kDynamicGrowthInterval) {
    scale_ *= 2.0;
    clean_steps_ = 0;
  }
  return true;
}

// ---- recipes -------------------------------------------------------------------------------
namespace {

struct Recipe {
  std::string name;
  Precision (*make)(const TrainConfig&);
};

RoleRounding rounded(const char* format, Rounding mode, TensorScaling scaling = {}) {
  return {true, parse_format(format), mode, scaling};
}

Precision fp32(const TrainConfig&) { return {}; }

// The seed study: weights only, truncated, in the spec's `format`.
Precision truncate(const TrainConfig& c) {
  Precision p;
  if (!c.format.is_identity()) p[Role::weights] = {true, c.format, Rounding::toward_zero, {}};
  return p;
}

// Micikevicius et al. 2017: weights, activations and errors in the half format, fp32 master.
Precision half_mixed(const char* format, LossScaling loss) {
  Precision p;
  for (Role r : {Role::weights, Role::activations, Role::errors})
    p[r] = rounded(format, Rounding::nearest_even);
  p.master = true;
  p.loss = loss;
  return p;
}
Precision fp16_mixed(const TrainConfig&) {
  return half_mixed("fp16", {LossScaling::dynamic, kDynamicInitialScale});
}
Precision bf16_mixed(const TrainConfig&) { return half_mixed("bf16", {}); }

// bf16 weights stochastically rounded instead of a master copy (Zamirai et al. 2020).
Precision bf16_sr(const TrainConfig&) {
  Precision p;
  p[Role::weights] = rounded("bf16", Rounding::stochastic);
  return p;
}

// Sun et al. 2019 (HFP8) / Transformer Engine's HYBRID format: E4M3 forward, E5M2 backward,
// with TE's default delayed scaling (amax history 1024, max) unless `scaled` is false. The
// casts saturate, as the hardware's FP8 conversion does (PTX cvt.rn.satfinite): with delayed
// scaling a tensor that grew since the history can exceed the range.
Precision fp8_hybrid_with(bool scaled) {
  const TensorScaling s = scaled ? TensorScaling{TensorScaling::delayed, 1024} : TensorScaling{};
  Precision p;
  p[Role::weights] = rounded("fp8-e4m3,saturate", Rounding::nearest_even, s);
  p[Role::activations] = rounded("fp8-e4m3,saturate", Rounding::nearest_even, s);
  p[Role::errors] = rounded("fp8-e5m2,saturate", Rounding::nearest_even, s);
  p.master = true;
  return p;
}
Precision fp8_hybrid(const TrainConfig&) { return fp8_hybrid_with(true); }
Precision fp8_hybrid_noscale(const TrainConfig&) { return fp8_hybrid_with(false); }

// Wang et al. 2018: E5M2 data, E6M9 (1-6-9) master weights and momentum, stochastic, and their
// chunk-based accumulation: every product adds in fp16 (E5M10, nearest) in chunks of 64 whose
// sums are added in binary32 (their paper: 16-bit chunk sums added in 16 bits too would lose
// accuracy; the hardware they describe keeps the inter-chunk sum wider).
Precision fp8_wang2018(const TrainConfig&) {
  Precision p;
  Accumulator acc;
  acc.format = parse_format("E5M10");
  acc.chunk = 64;
  p.accumulate.fill(acc);
  for (Role r : {Role::weights, Role::activations, Role::errors, Role::weight_grads})
    p[r] = rounded("E5M2", Rounding::nearest_even);
  p[Role::master] = rounded("E6M9", Rounding::stochastic);
  p[Role::momentum] = rounded("E6M9", Rounding::stochastic);
  p.master = true;
  return p;
}

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> table = {
      {"none", nullptr},           {"fp32", fp32},
      {"truncate", truncate},      {"fp16-mixed", fp16_mixed},
      {"bf16-mixed", bf16_mixed},  {"bf16-sr", bf16_sr},
      {"fp8-hybrid", fp8_hybrid},  {"fp8-hybrid-noscale", fp8_hybrid_noscale},
      {"fp8-wang2018", fp8_wang2018}};
  return table;
}

const Recipe* find_recipe(std::string_view name) {
  for (const Recipe& r : recipes())
    if (r.name == name) return &r;
  return nullptr;
}

// Today's policy: `format` in `rounding` at the sites `apply_to` names (gradients = errors).
Precision shorthand(const TrainConfig& c) {
  Precision p;
  if (c.format.is_identity()) return p;
  const std::pair<unsigned, Role> sites[] = {{kApplyWeights, Role::weights},
                                             {kApplyActivations, Role::activations},
                                             {kApplyGradients, Role::errors},
                                             {kApplyUpdates, Role::updates}};
  for (auto [bit, role] : sites)
    if (c.apply_to & bit) p[role] = {true, c.format, c.rounding, {}};
  return p;
}

}  // namespace

const std::vector<std::string>& recipe_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Recipe& r : recipes()) v.push_back(r.name);
    return v;
  }();
  return names;
}

void check_recipe(std::string_view name) {
  if (find_recipe(name)) return;
  std::string list;
  for (const auto& n : recipe_names()) list += (list.empty() ? "" : ", ") + n;
  throw InputError("unknown recipe '" + std::string(name) + "' (expected one of " + list + ")");
}

bool Precision::rounds_anything() const {
  return loss.kind != LossScaling::none ||
         std::any_of(roles.begin(), roles.end(), [](const RoleRounding& r) { return r.on; }) ||
         std::any_of(accumulate.begin(), accumulate.end(),
                     [](const Accumulator& a) { return !a.is_blas(); });
}

namespace {
// o's parts over acc.
void apply(const AccumulateOverride& o, Accumulator& acc) {
  if (o.format) acc.format = *o.format;
  if (o.mode) acc.rounding = *o.mode;
  if (o.chunk) acc.chunk = *o.chunk;
  if (o.outer) acc.outer = *o.outer;
  if (o.outer_mode) acc.outer_rounding = *o.outer_mode;
}

// The recipe's accumulators, then scope 0 (every kind), then each kind's own parts; InputError
// naming the parameter when one cannot be computed (a stochastic accumulator too wide).
void resolve_accumulators(const TrainConfig& c, Precision& p) {
  for (int k = 0; k < kGemmKinds; ++k) {
    Accumulator& acc = p.accumulate[static_cast<std::size_t>(k)];
    apply(c.accumulate[0], acc);
    apply(c.accumulate[static_cast<std::size_t>(k) + 1], acc);
    try {
      acc.check();
    } catch (const InputError& e) {
      const bool own = c.accumulate[static_cast<std::size_t>(k) + 1] != AccumulateOverride{};
      throw InputError("accumulate_" + (own ? to_string(static_cast<GemmKind>(k)) + "_" : "") +
                       "format: " + e.what());
    }
  }
}
}  // namespace

Precision resolve_precision(const TrainConfig& c) {
  check_recipe(c.recipe);
  const Recipe& recipe = *find_recipe(c.recipe);
  Precision p;
  if (!recipe.make) {
    p = shorthand(c);
  } else {
    if (!c.format.is_identity() && recipe.name != "truncate")
      throw InputError("format: the shorthand format/rounding/apply_to cannot be combined with "
                       "recipe " + recipe.name + "; give the roles instead (precision.<role>)");
    p = recipe.make(c);
  }
  if (c.master_weights) p.master = *c.master_weights;  // true adds, false removes the recipe's
  p.every = c.every;
  for (Role r : kAllRoles) {
    const RoleOverride& o = c.roles[static_cast<std::size_t>(r)];
    RoleRounding& rr = p[r];
    const std::string name = to_string(r);
    if (o.format) {
      rr.on = !o.format->is_identity();
      rr.format = *o.format;
      if (!rr.on) rr = {};
    }
    if (o.mode) {
      if (!rr.on)
        throw InputError(name + "_rounding: " + name + " is not rounded; give its format too");
      rr.mode = *o.mode;
    }
    if (o.scaling) {
      if (!rr.on && o.scaling->kind != TensorScaling::none)
        throw InputError(name + "_scale: " + name + " is not rounded; give its format too");
      rr.scaling = *o.scaling;
    }
    if (rr.on && r == Role::master && rr.scaling.kind != TensorScaling::none)
      throw InputError("master_scale: the master copy is not scaled (it is rounded in the update)");
    if (rr.on && rr.format.is_block() && rr.scaling.kind != TensorScaling::none)
      throw InputError(name + "_scale: " + rr.format.name() +
                       " is a block format with its own scales; give " + name + "_scale: none");
  }
  if (c.loss_scale) p.loss = *c.loss_scale;
  resolve_accumulators(c, p);
  const RoleOverride& master = c.roles[static_cast<std::size_t>(Role::master)];
  if (p[Role::master].on && !p.master && (master.format || master.mode))
    throw InputError("master_format: the master role needs master weights (master_weights: true)");
  // Master weights only matter when the working copy is rounded (as before recipes).
  p.master = p.master && p[Role::weights].on;
  if (!p.master) p[Role::master] = {};
  return p;
}

// ---- per-tensor scaling and the rounder ----------------------------------------------------

double power_of_two_scale(double max_finite, double amax) {
  if (!(amax > 0) || !std::isfinite(amax)) return 1.0;
  int e = 0;
  std::frexp(max_finite / amax, &e);  // max / amax = m 2^e, m in [0.5, 1): floor(log2) = e - 1
  int k = std::clamp(e - 1, -100, 100);
  while (k > -100 && std::ldexp(amax, k) > max_finite) --k;  // the division rounded up
  while (k < 100 && std::ldexp(amax, k + 1) <= max_finite) ++k;
  return std::ldexp(1.0, k);
}

double RoleRounder::scale_for(Role r, int tensor, float amax) {
  const RoleRounding& rr = p_[r];
  const double max = rr.format.max_finite();
  if (rr.scaling.kind == TensorScaling::current) return power_of_two_scale(max, amax);
  auto& per_tensor = history_[static_cast<std::size_t>(r)];
  if (per_tensor.size() <= static_cast<std::size_t>(tensor))
    per_tensor.resize(static_cast<std::size_t>(tensor) + 1);
  std::vector<float>& h = per_tensor[static_cast<std::size_t>(tensor)];  // [<= N] newest last
  // The previous steps' amax (Transformer Engine: no history yet = scale 1).
  const double s = h.empty() ? 1.0 : power_of_two_scale(max, *std::max_element(h.begin(), h.end()));
  if (std::isfinite(amax)) {
    h.push_back(amax);
    if (h.size() > static_cast<std::size_t>(rr.scaling.history)) h.erase(h.begin());
  }
  return s;
}

namespace {
// x [rows, cols] <- x rounded to r's format; a block format's blocks run along the rows (cols
// values each: the input features of a weight row, the features of an activation or error row),
// restarting at each row, or down the columns (docs/training.md, "Block formats in training").
void round_tensor(const RoleRounding& r, std::span<float> x, int rows, int cols, StochasticKey key,
                  QuantizeStats& s, BlockAxis axis = BlockAxis::rows) {
  if (r.format.is_block())
    quantize_matrix(x.data(), static_cast<std::size_t>(rows), static_cast<std::size_t>(cols),
                    static_cast<std::size_t>(cols), axis, r.format, r.mode, key, &s);
  else
    quantize(x, r.format, r.mode, key, &s);
}
}  // namespace

QuantizeStats RoleRounder::round(Role r, std::span<float> x, int rows, int cols, int tensor,
                                 StochasticKey key, BlockAxis axis) {
  const RoleRounding& rr = p_[r];
  RoleCounts& c = counts_[static_cast<std::size_t>(r)];
  QuantizeStats s;
  if (rr.scaling.kind == TensorScaling::none) {
    round_tensor(rr, x, rows, cols, key, s, axis);
  } else {
    float amax = 0.0f;
    bool nan = false;
    for (float v : x) {
      const float a = std::fabs(v);
      amax = a > amax ? a : amax;
      nan = nan || a != a;
    }
    if (nan) amax = std::nanf("");  // a NaN tensor keeps scale 1 and stays out of the history
    const double scale = scale_for(r, tensor, amax);
    const auto up = static_cast<float>(scale), down = static_cast<float>(1.0 / scale);  // exact
    ++c.tensors;
    c.log2_scale_sum += std::log2(scale);
    if (static_cast<double>(amax) * scale > rr.format.max_finite()) ++c.exceeded;
    for (float& v : x) v *= up;
    round_tensor(rr, x, rows, cols, key, s, axis);
    for (float& v : x) v *= down;
  }
  c.values += x.size();
  c.overflow += s.overflow;
  c.underflow += s.underflow;
  c.blocks += s.blocks;
  c.clamped_blocks += s.clamped_blocks;
  return s;
}

void RoleRounder::add(Role r, const QuantizeStats& s, std::uint64_t values) {
  RoleCounts& c = counts_[static_cast<std::size_t>(r)];
  c.values += values;
  c.overflow += s.overflow;
  c.underflow += s.underflow;
}

void round_unrecorded(const RoleRounding& r, std::span<float> x, int rows, int cols,
                      StochasticKey key) {
  QuantizeStats s;
  if (r.scaling.kind == TensorScaling::none) {
    round_tensor(r, x, rows, cols, key, s);
    return;
  }
  float amax = 0.0f;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  const double scale = power_of_two_scale(r.format.max_finite(), amax);
  const auto up = static_cast<float>(scale), down = static_cast<float>(1.0 / scale);
  for (float& v : x) v *= up;
  round_tensor(r, x, rows, cols, key, s);
  for (float& v : x) v *= down;
}

std::string describe(const RoleRounding& r) {
  if (!r.on) return "";
  std::string s = r.format.name() + ":" + to_string(r.mode);
  if (r.scaling.kind != TensorScaling::none) s += ":" + to_string(r.scaling);
  return s;
}

}  // namespace precsweep
