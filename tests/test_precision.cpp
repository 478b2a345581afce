// Tests of precision recipes (src/precision.cpp, their use in src/train.cpp): each role on a
// tiny network against the reference MLP (tests/mlp_ref) with the same rounding inserted by
// hand; the shorthand and the fp32 / truncate recipes bit for bit as before; loss scaling
// (constant against the reference, dynamic skipping a step and halving, doubling after 2000
// clean steps, bit-exact unscaling); per-tensor scaling; recipes, resolution and spec keys.
// Deliberately leaves out: accuracy of the recipes on real data (docs/training.md records it).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "blocks_ref.hpp"
#include "mlp_ref.hpp"
#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/precision.hpp"
#include "precsweep/rng.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

using namespace precsweep;

namespace {

constexpr int kB = 16, kDim = 8, kClasses = 3;

// One batch of kB samples: one epoch is one optimizer step.
const DatasetPair& one_batch() {
  static const DatasetPair d = make_synthetic(kB, 16, kDim, kClasses, 7);
  return d;
}

TrainConfig tiny() {
  TrainConfig c;
  c.hidden = {5};
  c.activation = Activation::tanh;
  c.lr = 0.5;
  c.momentum = 0.5;
  c.batch = kB;
  c.epochs = 1;
  c.seed = 11;
  c.save_weights = true;
  return c;
}

// The roles of `c` as the reference applies them.
struct RefRoles {
  Precision p;
  double loss_scale = 1.0;
};

// The documented stream of each role (docs/training.md, "Random streams"): top byte.
std::uint64_t stream_id(Role r) {
  switch (r) {
    case Role::weights: return 3ull << 56;
    case Role::activations: return 4ull << 56;
    case Role::errors: return 5ull << 56;
    case Role::updates: return 6ull << 56;
    case Role::weight_grads: return 8ull << 56;
    case Role::momentum: return 9ull << 56;
    case Role::master: return 10ull << 56;
  }
  return 0;
}

// x rounded like role r, stochastic bits from stream (role | counter) at element `index`
// (quantize_one is the array kernel at index 0, so the index goes into the key's offset), or x.
double q(const Precision& p, Role r, double x, std::uint64_t seed = 0, std::uint64_t counter = 0,
         std::uint64_t index = 0) {
  const RoleRounding& rr = p[r];
  return rr.on ? quantize_one(static_cast<float>(x), rr.format, rr.mode,
                              {seed, stream_id(r) | counter, index})
               : x;
}

// One SGD step of the reference MLP (double loops) with each role's rounding inserted where
// docs/training.md says: init, forward, backward, gradients, momentum, step, master, weights.
std::vector<double> reference_step(const TrainConfig& c, const RefRoles& roles,
                                   const DatasetPair& d = one_batch()) {
  const Precision& p = roles.p;
  const std::uint64_t seed = c.seed;
  const MlpLayout layout({kDim, c.hidden[0], kClasses});
  std::vector<float> init(layout.count);
  init_params(layout, c.activation, c.seed, init);
  std::vector<double> master(init.begin(), init.end()), w(layout.count);
  if (p.master)
    for (std::size_t i = 0; i < master.size(); ++i) master[i] = q(p, Role::master, master[i], seed, 0, i);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = q(p, Role::weights, master[i], seed, 0, i);
  if (!p.master) master = w;

  std::vector<float> X(static_cast<std::size_t>(kB) * kDim);
  for (std::size_t i = 0; i < X.size(); ++i) X[i] = pixel_feature(d.train.pixels[i]);
  const int L = layout.layers();
  // Forward with activations rounded, layer by layer (forward_ref on one layer at a time).
  std::vector<std::vector<double>> outs(static_cast<std::size_t>(L));
  std::vector<double> A(X.begin(), X.end());
  for (int l = 0; l < L; ++l) {
    const int in = layout.in(l), out = layout.out(l);
    std::vector<double>& Z = outs[static_cast<std::size_t>(l)];
    Z.assign(static_cast<std::size_t>(kB) * out, 0.0);
    for (int r = 0; r < kB; ++r)
      for (int j = 0; j < out; ++j) {
        double z = w[layout.b_offset[static_cast<std::size_t>(l)] + static_cast<std::size_t>(j)];
        for (int k = 0; k < in; ++k)
          z += A[static_cast<std::size_t>(r) * in + k] *
               w[layout.w_offset[static_cast<std::size_t>(l)] + static_cast<std::size_t>(j) * in + k];
        if (l + 1 < L) z = std::tanh(z);
        const std::size_t at = static_cast<std::size_t>(r) * out + j;
        Z[at] = q(p, Role::activations, z, seed, static_cast<std::uint64_t>(l), at);
      }
    A = Z;
  }
  // Softmax, output delta (P - onehot) / B times the loss scale.
  std::vector<double> D = outs.back();
  for (int r = 0; r < kB; ++r) {
    double* z = D.data() + static_cast<std::size_t>(r) * kClasses;
    double m = z[0], s = 0;
    for (int j = 1; j < kClasses; ++j) m = std::max(m, z[j]);
    for (int j = 0; j < kClasses; ++j) s += (z[j] = std::exp(z[j] - m));
    for (int j = 0; j < kClasses; ++j)
      z[j] = (z[j] / s - (j == d.train.y[static_cast<std::size_t>(r)] ? 1.0 : 0.0)) / kB *
             roles.loss_scale;
  }
  // Backward with errors rounded; gradients rounded (scaled), then unscaled.
  std::vector<double> g(layout.count, 0.0);
  for (int l = L - 1; l >= 0; --l) {
    const int in = layout.in(l), out = layout.out(l);
    for (std::size_t at = 0; at < D.size(); ++at)
      D[at] = q(p, Role::errors, D[at], seed, static_cast<std::uint64_t>(l), at);
    const std::vector<double>& Aprev =
        l == 0 ? std::vector<double>(X.begin(), X.end()) : outs[static_cast<std::size_t>(l) - 1];
    const std::size_t wo = layout.w_offset[static_cast<std::size_t>(l)];
    const std::size_t bo = layout.b_offset[static_cast<std::size_t>(l)];
    for (int j = 0; j < out; ++j)
      for (int r = 0; r < kB; ++r) {
        const double dj = D[static_cast<std::size_t>(r) * out + j];
        g[bo + static_cast<std::size_t>(j)] += dj;
        for (int k = 0; k < in; ++k)
          g[wo + static_cast<std::size_t>(j) * in + k] += dj * Aprev[static_cast<std::size_t>(r) * in + k];
      }
    if (l > 0) {
      std::vector<double> Dp(static_cast<std::size_t>(kB) * in, 0.0);
      for (int r = 0; r < kB; ++r)
        for (int k = 0; k < in; ++k) {
          double s = 0;
          for (int j = 0; j < out; ++j)
            s += D[static_cast<std::size_t>(r) * out + j] * w[wo + static_cast<std::size_t>(j) * in + k];
          const double a = Aprev[static_cast<std::size_t>(r) * in + k];
          Dp[static_cast<std::size_t>(r) * in + k] = s * (1 - a * a);
        }
      D = Dp;
    }
  }
  // Optimizer: v = q_mom(g) (v starts at 0), step = q_upd(lr v), master / working weights.
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double grad = q(p, Role::weight_grads, g[i], seed, 0, i) / roles.loss_scale;
    const double v = q(p, Role::momentum, static_cast<float>(grad), seed, 0, i);
    const double step = q(p, Role::updates, static_cast<float>(c.lr) * v, seed, 0, i);
    if (p.master) {
      master[i] = q(p, Role::master, master[i] - step, seed, 1, i);
      w[i] = q(p, Role::weights, master[i], seed, 1, i);
    } else {
      w[i] = q(p, Role::weights, w[i] - step, seed, 1, i);
    }
  }
  return w;
}

double max_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

// Each role alone in E8M3 (nearest_even), on one step of a 8-5-3 tanh network with momentum:
// the trainer's weights equal the reference's with the same rounding inserted by hand, and
// differ clearly from the reference without it (so the test sees a missing or misplaced
// rounding).
TEST(PrecisionRoles, EachRoleAgainstTheReference) {
  for (Role role : kAllRoles) {
    TrainConfig c = tiny();
    const std::size_t i = static_cast<std::size_t>(role);
    c.roles[i].format = parse_format("E8M3");
    if (role == Role::master) {  // the master's format needs master weights and rounded weights
      c.master_weights = true;
      c.roles[static_cast<std::size_t>(Role::weights)].format = parse_format("E8M6");
    }
    const RunResult r = train(c, one_batch());
    RefRoles with{resolve_precision(c), 1.0};
    ASSERT_TRUE(with.p[role].on) << to_string(role);
    RefRoles without = with;
    without.p[role] = {};
    if (role == Role::master) without.p.master = true;
    const std::vector<double> ref = reference_step(c, with);
    const std::vector<double> ref_plain = reference_step(c, without);
    ASSERT_EQ(r.params.size(), ref.size());
    EXPECT_LT(max_diff(r.params, ref), 2e-6) << to_string(role);
    EXPECT_GT(max_diff(r.params, ref_plain), 1e-4) << to_string(role) << ": rounding has no effect";
  }
}

// Every role stochastic at once (master weights on), on a batch of one sample repeated (so the
// trainer's shuffle does not matter): the reference draws each role's bits from the stream
// docs/training.md documents (role id << 56 | step/layer, element index as counter). This pins
// the stream table: weights, activations, errors and updates keep the ids the shorthand had,
// so old results stay bit for bit; a role using another role's stream fails here.
TEST(PrecisionRoles, StochasticStreamsAreTheDocumentedOnes) {
  DatasetPair d = make_synthetic(kB, 16, kDim, kClasses, 7);
  for (int r = 1; r < kB; ++r)
    for (int k = 0; k < kDim; ++k)
      d.train.pixels[static_cast<std::size_t>(r) * kDim + k] = d.train.pixels[static_cast<std::size_t>(k)];
  for (int r = 1; r < kB; ++r) d.train.y[static_cast<std::size_t>(r)] = d.train.y[0];
  TrainConfig c = tiny();
  c.master_weights = true;
  c.lr = 0.3;  // not a power of two: the step is off the momentum's grid
  // Neighbouring roles get different formats, so no role only re-rounds a value already on
  // its grid (which any stream would leave alone).
  const char* formats[kRoles] = {"E8M3", "E8M3", "E8M3", "E8M4", "E8M3", "E8M2", "E8M6"};
  for (Role role : kAllRoles) {
    c.roles[static_cast<std::size_t>(role)].format = parse_format(formats[static_cast<int>(role)]);
    c.roles[static_cast<std::size_t>(role)].mode = Rounding::stochastic;
  }
  const RunResult r = train(c, d);
  const RefRoles with{resolve_precision(c), 1.0};
  EXPECT_LT(max_diff(r.params, reference_step(c, with, d)), 2e-6);
  TrainConfig other = c;
  other.seed = c.seed + 1;  // the same rounding from other streams differs clearly
  EXPECT_GT(max_diff(r.params, reference_step(other, with, d)), 1e-4);
}

// A constant loss scale of 64 with errors in E3M2 (smallest subnormal 1/16, max 14): the
// reference scales the output delta, rounds the errors and unscales the gradients; without
// the scale most errors (at most 1/16 here) flush to zero.
TEST(PrecisionLossScale, ConstantAgainstTheReference) {
  TrainConfig c = tiny();
  c.roles[static_cast<std::size_t>(Role::errors)].format = parse_format("E3M2");
  c.loss_scale = parse_loss_scaling("64");
  const RunResult r = train(c, one_batch());
  ASSERT_FALSE(r.epochs.empty());
  EXPECT_EQ(r.epochs[0].loss_scale, 64.0);
  EXPECT_EQ(r.epochs[0].skipped_steps, 0u);
  const Precision p = resolve_precision(c);
  EXPECT_LT(max_diff(r.params, reference_step(c, {p, 64.0})), 2e-6);
  EXPECT_GT(max_diff(r.params, reference_step(c, {p, 1.0})), 1e-4);
  // Without loss scaling the errors' underflow shows in the per-role counts.
  TrainConfig plain = c;
  plain.loss_scale.reset();
  const RunResult u = train(plain, one_batch());
  const auto errors = static_cast<std::size_t>(Role::errors);
  EXPECT_GT(u.epochs[0].roles[errors].underflow_fraction, r.epochs[0].roles[errors].underflow_fraction);
}

// Dynamic loss scaling without any rounding: the scale is a power of two, so scaling the delta
// and unscaling the gradients is exact and the run is the fp32 run bit for bit.
TEST(PrecisionLossScale, DynamicWithoutRoundingIsFp32BitForBit) {
  TrainConfig c = tiny();
  c.epochs = 3;
  const RunResult a = train(c, one_batch());
  c.loss_scale = parse_loss_scaling("dynamic");
  const RunResult b = train(c, one_batch());
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(0, std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)));
  EXPECT_EQ(b.epochs.back().loss_scale, kDynamicInitialScale);
}

// Errors in E4M3 (ieee: max 240, overflow to inf): 2^15 times an output delta of up to 1/16
// overflows, so the first step is skipped, its weights are the initial ones and the scale
// halves; the scale keeps halving while steps overflow and every skip is counted.
TEST(PrecisionLossScale, DynamicSkipsAnOverflowingStepAndHalves) {
  TrainConfig c = tiny();
  c.roles[static_cast<std::size_t>(Role::errors)].format = parse_format("E4M3,ieee");
  c.loss_scale = parse_loss_scaling("dynamic");
  const RunResult one = train(c, one_batch());
  ASSERT_EQ(one.epochs.size(), 1u);
  EXPECT_EQ(one.epochs[0].skipped_steps, 1u);
  EXPECT_EQ(one.epochs[0].loss_scale, kDynamicInitialScale / 2);
  std::vector<float> init(one.params.size());
  init_params(MlpLayout({kDim, 5, kClasses}), c.activation, c.seed, init);
  EXPECT_EQ(0, std::memcmp(init.data(), one.params.data(), init.size() * sizeof(float)));
  const RunResult many = train(c, make_synthetic(8 * kB, 16, kDim, kClasses, 7));  // 8 steps
  ASSERT_EQ(many.epochs.size(), 1u);
  const std::uint64_t skipped = many.epochs[0].skipped_steps;
  EXPECT_GE(skipped, 2u);
  EXPECT_LT(skipped, 8u);  // it recovers: a lower scale no longer overflows
  EXPECT_EQ(many.epochs.back().loss_scale, std::ldexp(kDynamicInitialScale, -static_cast<int>(skipped)));
  EXPECT_NE(std::memcmp(init.data(), many.params.data(), init.size() * sizeof(float)), 0);
}

// 2000 clean steps double the scale (GradScaler's growth interval), 1999 do not.
TEST(PrecisionLossScale, DynamicDoublesAfter2000CleanSteps) {
  TrainConfig c;
  c.hidden = {4};
  c.batch = 1;
  c.epochs = 1;
  c.loss_scale = parse_loss_scaling("dynamic");
  const DatasetPair d2000 = make_synthetic(2000, 10, 4, 3, 3);
  const DatasetPair d1999 = make_synthetic(1999, 10, 4, 3, 3);
  EXPECT_EQ(train(c, d2000).epochs[0].loss_scale, 2 * kDynamicInitialScale);
  EXPECT_EQ(train(c, d1999).epochs[0].loss_scale, kDynamicInitialScale);
}

TEST(PrecisionScaling, PowerOfTwoScale) {
  EXPECT_EQ(power_of_two_scale(448, 0.3), 1024.0);   // 0.3 * 1024 = 307 <= 448 < 614
  EXPECT_EQ(power_of_two_scale(448, 448), 1.0);
  EXPECT_EQ(power_of_two_scale(448, 449), 0.5);
  EXPECT_EQ(power_of_two_scale(448, 224), 2.0);      // exactly max after scaling
  EXPECT_EQ(power_of_two_scale(57344, 1e-3), 33554432.0);  // 2^25
  EXPECT_EQ(power_of_two_scale(448, 0), 1.0);
  EXPECT_EQ(power_of_two_scale(448, INFINITY), 1.0);
  EXPECT_EQ(power_of_two_scale(448, NAN), 1.0);
  EXPECT_EQ(power_of_two_scale(448, 1e-300), std::ldexp(1.0, 100));  // clamped
}

// current: x -> q(x s) / s with s from this tensor's amax; delayed:2: s from the previous two
// roundings' amax (none yet: 1), and a tensor that grew past its history exceeds the range.
TEST(PrecisionScaling, CurrentAndDelayed) {
  Precision p;
  p[Role::activations] = {true, parse_format("fp8-e4m3,saturate"), Rounding::nearest_even,
                          parse_scaling("current")};
  p[Role::errors] = {true, parse_format("fp8-e4m3,saturate"), Rounding::nearest_even,
                     parse_scaling("delayed:2")};
  RoleRounder rr(p);
  const std::vector<float> x0 = {0.3f, -0.0123f, 1e-4f, 0.2f};
  std::vector<float> x = x0;
  rr.round(Role::activations, x, 1, 4, 0, {});
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float expect = quantize_one(x0[i] * 1024.0f, p[Role::activations].format,
                                      Rounding::nearest_even) / 1024.0f;
    EXPECT_EQ(x[i], expect) << i;
  }
  EXPECT_NE(x[2], quantize_one(x0[2], p[Role::activations].format, Rounding::nearest_even));
  EXPECT_EQ(rr.counts(Role::activations).log2_scale_sum, 10.0);
  EXPECT_EQ(rr.counts(Role::activations).exceeded, 0u);

  std::vector<float> e1 = {0.01f};  // no history: s = 1
  rr.round(Role::errors, e1, 1, 1, 3, {});
  EXPECT_EQ(e1[0], quantize_one(0.01f, p[Role::errors].format, Rounding::nearest_even));
  std::vector<float> e2 = {0.02f};  // history {0.01}: s = 2^15 (0.01 * 32768 = 327.7)
  rr.round(Role::errors, e2, 1, 1, 3, {});
  EXPECT_EQ(e2[0], quantize_one(0.02f * 32768.0f, p[Role::errors].format, Rounding::nearest_even) /
                       32768.0f);
  EXPECT_EQ(rr.counts(Role::errors).exceeded, 1u);  // 0.02 * 2^15 = 655 > 448: saturated
  EXPECT_EQ(e2[0], 448.0f / 32768.0f);
  std::vector<float> e3 = {0.02f};  // history {0.01, 0.02}: s = 2^14
  rr.round(Role::errors, e3, 1, 1, 3, {});
  EXPECT_EQ(rr.counts(Role::errors).log2_scale_sum, 0.0 + 15.0 + 14.0);
  std::vector<float> e4 = {0.0001f};  // history {0.02, 0.02} (0.01 dropped): still 2^14
  rr.round(Role::errors, e4, 1, 1, 3, {});
  EXPECT_EQ(rr.counts(Role::errors).log2_scale_sum, 0.0 + 15.0 + 14.0 + 14.0);
  EXPECT_EQ(rr.counts(Role::errors).tensors, 4u);
}

// The shorthand is the roles: format/rounding/apply_to runs equal the same roles given as
// overrides (their streams are the same), in every apply_to combination, with stochastic
// rounding, master weights and every N.
TEST(PrecisionShorthand, IsTheRolesBitForBit) {
  const DatasetPair d = make_synthetic(300, 50, 16, 4, 5);
  for (unsigned apply = 1; apply < 16; ++apply) {
    TrainConfig a;
    a.hidden = {12};
    a.batch = 32;
    a.epochs = 2;
    a.momentum = 0.5;
    a.format = parse_format("E5M4");
    a.rounding = Rounding::stochastic;
    a.apply_to = apply;
    a.master_weights = apply & 1;
    a.every = apply == 3 ? 3 : 1;
    a.save_weights = true;
    TrainConfig b = a;
    b.format = Format{};
    b.apply_to = kApplyWeights;
    const std::pair<unsigned, Role> sites[] = {{kApplyWeights, Role::weights},
                                               {kApplyActivations, Role::activations},
                                               {kApplyGradients, Role::errors},
                                               {kApplyUpdates, Role::updates}};
    for (auto [bit, role] : sites)
      if (apply & bit) {
        b.roles[static_cast<std::size_t>(role)].format = a.format;
        b.roles[static_cast<std::size_t>(role)].mode = a.rounding;
      }
    const RunResult ra = train(a, d), rb = train(b, d);
    ASSERT_EQ(ra.params.size(), rb.params.size());
    EXPECT_EQ(0, std::memcmp(ra.params.data(), rb.params.data(), ra.params.size() * sizeof(float)))
        << apply_to_string(apply);
    EXPECT_EQ(ra.epochs.back().overflow, rb.epochs.back().overflow);
    EXPECT_EQ(ra.epochs.back().underflow, rb.epochs.back().underflow);
    EXPECT_EQ(ra.final_test_accuracy, rb.final_test_accuracy);
  }
}

// Recipe fp32 is the plain run; truncate is the shorthand's weights toward_zero; the other
// recipes set what docs/training.md says.
TEST(PrecisionRecipes, Fp32AndTruncateAreTheOldRuns) {
  const DatasetPair d = make_synthetic(300, 50, 16, 4, 5);
  TrainConfig plain;
  plain.hidden = {12};
  plain.batch = 32;
  plain.epochs = 2;
  plain.save_weights = true;
  TrainConfig fp32 = plain;
  fp32.recipe = "fp32";
  const RunResult a = train(plain, d), b = train(fp32, d);
  EXPECT_EQ(0, std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)));
  plain.format = parse_format("E5M4");
  TrainConfig trunc = plain;
  trunc.recipe = "truncate";
  trunc.rounding = Rounding::stochastic;  // truncate fixes toward_zero
  const RunResult c = train(plain, d), e = train(trunc, d);
  EXPECT_EQ(0, std::memcmp(c.params.data(), e.params.data(), c.params.size() * sizeof(float)));
  EXPECT_NE(0, std::memcmp(a.params.data(), c.params.data(), a.params.size() * sizeof(float)));
}

TEST(PrecisionRecipes, WhatEachRecipeSets) {
  auto with = [](const char* recipe) {
    TrainConfig c;
    c.recipe = recipe;
    return resolve_precision(c);
  };
  EXPECT_FALSE(with("fp32").rounds_anything());
  EXPECT_FALSE(with("none").rounds_anything());
  const Precision f16 = with("fp16-mixed");
  EXPECT_EQ(f16[Role::errors].format, parse_format("fp16"));
  EXPECT_TRUE(f16.master);
  EXPECT_EQ(f16.loss.kind, LossScaling::dynamic);
  EXPECT_FALSE(f16[Role::updates].on);
  const Precision b16 = with("bf16-mixed");
  EXPECT_EQ(b16[Role::activations].format, parse_format("bf16"));
  EXPECT_EQ(b16.loss.kind, LossScaling::none);
  const Precision sr = with("bf16-sr");
  EXPECT_EQ(sr[Role::weights].mode, Rounding::stochastic);
  EXPECT_FALSE(sr.master);
  const Precision h = with("fp8-hybrid");
  EXPECT_EQ(h[Role::errors].format, parse_format("fp8-e5m2,saturate"));
  EXPECT_EQ(h[Role::weights].scaling, parse_scaling("delayed:1024"));
  EXPECT_EQ(with("fp8-hybrid-noscale")[Role::weights].scaling.kind, TensorScaling::none);
  const Precision w = with("fp8-wang2018");
  EXPECT_EQ(w[Role::master].format, parse_format("E6M9"));
  EXPECT_EQ(w[Role::momentum].mode, Rounding::stochastic);
  EXPECT_EQ(w[Role::weight_grads].format, parse_format("E5M2"));
  // Overrides, part by part; fp32 turns a role off; contradictions are refused by key.
  TrainConfig c;
  c.recipe = "fp8-hybrid";
  c.roles[static_cast<std::size_t>(Role::errors)].mode = Rounding::stochastic;
  c.roles[static_cast<std::size_t>(Role::activations)].format = Format{};
  const Precision o = resolve_precision(c);
  EXPECT_EQ(o[Role::errors].mode, Rounding::stochastic);
  EXPECT_EQ(o[Role::errors].format, parse_format("fp8-e5m2,saturate"));
  EXPECT_FALSE(o[Role::activations].on);
  TrainConfig bad;
  bad.roles[static_cast<std::size_t>(Role::momentum)].mode = Rounding::up;
  EXPECT_THROW(resolve_precision(bad), InputError);
  try {
    bad.validate();
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("momentum_rounding"), std::string::npos) << e.what();
  }
}

// The spec: every role part an axis, recipe and overrides, loss scale; baselines.
TEST(PrecisionSpec, RolesAreAxes) {
  const SweepSpec s = parse_spec(
      "dataset: synthetic\n"
      "precision: {recipe: fp8-hybrid, weights: E4M3, errors: {format: [E5M2, E5M3], rounding: "
      "stochastic}, master_weights: true, loss_scale: dynamic}\n"
      "baseline: true\n");
  ASSERT_EQ(s.grid_points, 2);
  ASSERT_EQ(s.points.size(), 3u);  // and one fp32 baseline
  ASSERT_EQ(s.axes.size(), 1u);
  EXPECT_EQ(s.axes[0].name, "errors_format");
  EXPECT_EQ(s.axes[0].values, (std::vector<std::string>{"E5M2", "E5M3"}));
  const Precision p = resolve_precision(s.points[1].config);
  EXPECT_EQ(p[Role::errors].format, parse_format("E5M3"));
  EXPECT_EQ(p[Role::errors].mode, Rounding::stochastic);
  EXPECT_EQ(p[Role::weights].format, parse_format("E4M3"));
  EXPECT_EQ(p[Role::weights].scaling, parse_scaling("delayed:1024"));  // the recipe's
  EXPECT_EQ(p.loss.kind, LossScaling::dynamic);
  EXPECT_FALSE(resolve_precision(s.points[2].config).rounds_anything());
  EXPECT_EQ(parameter_text(s.points[0], "errors_rounding"), "stochastic");
  EXPECT_EQ(parameter_text(s.points[0], "momentum_format"), "");
  // Bad values name the role's key and line.
  const std::pair<const char*, const char*> bad[] = {
      {"precision: {errors: {format: E5M2, rounding: sideways}}\n", "precision.errors.rounding"},
      {"precision: {errors: {format: E9M2}}\n", "precision.errors.format"},
      {"precision: {errors: {scale: 'delayed:x', format: E5M2}}\n", "precision.errors.scale"},
      {"precision: {errors: {colour: red}}\n", "precision.errors.colour"},
      {"precision: {recipe: fp7}\n", "precision.recipe"},
      {"precision: {loss_scale: 0}\n", "precision.loss_scale"},
      {"precision: {momentum: {rounding: up}}\n", "momentum_rounding"},
      {"train: {errors: E5M2}\n", "belongs at precision.errors"},
  };
  for (auto [text, what] : bad) {
    try {
      parse_spec(text, "x.yaml");
      ADD_FAILURE() << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("x.yaml", 0), 0u) << e.what();
    }
  }
}

// The recipes change no number with the thread count (per-tensor amax and loss-scale checks
// are serial or order-free; every rounding draws by element index).
TEST(PrecisionRecipes, ThreadCountDoesNotChangeAnyBit) {
  const DatasetPair d = make_synthetic(600, 100, 64, 10, 9);
  for (const char* recipe : {"fp16-mixed", "fp8-hybrid", "fp8-wang2018", "bf16-sr"}) {
    TrainConfig c;
    c.hidden = {300};  // above the kernels' threading thresholds
    c.activation = Activation::relu;
    c.momentum = 0.9;
    c.batch = 100;
    c.epochs = 2;
    c.recipe = recipe;
    c.save_weights = true;
    const RunResult one = train(c, d);
    c.threads = 2;
    const RunResult two = train(c, d);
    ASSERT_EQ(one.params.size(), two.params.size());
    EXPECT_EQ(0, std::memcmp(one.params.data(), two.params.data(), one.params.size() * sizeof(float)))
        << recipe;
    EXPECT_EQ(one.epochs.back().roles, two.epochs.back().roles) << recipe;
  }
}

// Accumulators (docs/accumulation.md): binary32 nearest without chunks is BLAS, bit for bit;
// with chunks it is the sequential binary32 sum (other bits, same accuracy); a narrow
// accumulator swamps additions and says so per kind; the recipe's accumulator and the
// overrides part by part; the thread count changes nothing.
TEST(PrecisionAccumulate, TrainingWithAccumulators) {
  const DatasetPair d = make_synthetic(400, 100, 24, 4, 6);
  TrainConfig c;
  c.hidden = {16};
  c.batch = 32;
  c.epochs = 2;
  c.save_weights = true;
  const RunResult plain = train(c, d);
  TrainConfig fp32 = c;
  fp32.accumulate[0].format = parse_format("fp32");
  const RunResult same = train(fp32, d);
  EXPECT_EQ(0, std::memcmp(plain.params.data(), same.params.data(), plain.params.size() * 4));
  EXPECT_EQ(same.epochs.back().swamped_fraction, (std::array<double, kGemmKinds>{}));
  fp32.accumulate[0].chunk = 8;
  const RunResult chunked = train(fp32, d);
  EXPECT_NE(0, std::memcmp(plain.params.data(), chunked.params.data(), plain.params.size() * 4));
  EXPECT_NEAR(chunked.final_test_accuracy, plain.final_test_accuracy, 0.02);

  TrainConfig narrow = c;
  narrow.accumulate[0].format = parse_format("E5M4");
  narrow.accumulate[1 + static_cast<int>(GemmKind::forward)].format = parse_format("fp32");
  narrow.accumulate[1 + static_cast<int>(GemmKind::forward)].mode = Rounding::nearest_even;
  const RunResult n1 = train(narrow, d);
  const auto& f = n1.epochs.back().swamped_fraction;
  EXPECT_EQ(f[0], 0.0);  // forward overridden back to BLAS
  EXPECT_GT(f[static_cast<int>(GemmKind::backward_weights)], 0.0);
  EXPECT_GT(f[static_cast<int>(GemmKind::backward_data)], 0.0);
  EXPECT_NE(0, std::memcmp(plain.params.data(), n1.params.data(), plain.params.size() * 4));

  narrow.accumulate[0].mode = Rounding::stochastic;
  narrow.threads = 1;
  const RunResult s1 = train(narrow, d);
  narrow.threads = 2;
  const RunResult s2 = train(narrow, d);
  EXPECT_EQ(0, std::memcmp(s1.params.data(), s2.params.data(), s1.params.size() * 4));
  EXPECT_EQ(s1.epochs.back().swamped_fraction, s2.epochs.back().swamped_fraction);

  TrainConfig w;
  w.recipe = "fp8-wang2018";
  const Precision pw = resolve_precision(w);
  for (const Accumulator& a : pw.accumulate) EXPECT_EQ(a.name(), "E5M10,chunk=64");
  w.accumulate[0].chunk = 0;
  w.accumulate[1 + static_cast<int>(GemmKind::backward_weights)].format = parse_format("bf16");
  const Precision po = resolve_precision(w);
  EXPECT_EQ(po.accumulate[0].name(), "E5M10");
  EXPECT_EQ(po.accumulate[2].name(), "E8M7");
  TrainConfig bad;
  bad.accumulate[1 + static_cast<int>(GemmKind::backward_data)].mode = Rounding::stochastic;
  try {
    bad.validate();  // binary32 stochastic: more than 20 significand bits
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("accumulate_backward_data"), std::string::npos) << e.what();
  }
}

// precision.accumulate: every part an axis, per kind below it, a scalar is the format.
TEST(PrecisionSpec, AccumulatorsAreAxes) {
  const SweepSpec s = parse_spec(
      "dataset: synthetic\n"
      "precision:\n"
      "  accumulate: {format: [E5M10, bf16], chunk: [0, 64], outer: 'E5M10:up',\n"
      "               backward_weights: {rounding: stochastic}}\n");
  ASSERT_EQ(s.points.size(), 4u);
  ASSERT_EQ(s.axes.size(), 2u);
  EXPECT_EQ(s.axes[0].name, "accumulate_format");
  EXPECT_EQ(s.axes[1].name, "accumulate_chunk");
  const Precision p = resolve_precision(s.points[1].config);
  EXPECT_EQ(p.accumulate[0].name(), "E5M10,chunk=64,outer=E5M10:up");
  EXPECT_EQ(p.accumulate[2].name(), "E5M10:stochastic,chunk=64,outer=E5M10:up");
  EXPECT_EQ(parameter_text(s.points[1], "accumulate_outer"), "E5M10:up");
  EXPECT_EQ(parameter_text(s.points[1], "accumulate_forward_format"), "");
  const SweepSpec k = parse_spec("dataset: synthetic\nprecision: {accumulate: {forward: bf16}}\n");
  EXPECT_EQ(resolve_precision(k.points[0].config).accumulate[0].name(), "E8M7");  // bf16
  EXPECT_TRUE(resolve_precision(k.points[0].config).accumulate[1].is_blas());
  const SweepSpec all = parse_spec("dataset: synthetic\nprecision: {accumulate: E4M3}\n");
  EXPECT_EQ(resolve_precision(all.points[0].config).accumulate[2].name(), "E4M3");
  const std::pair<const char*, const char*> bad[] = {
      {"precision: {accumulate: {format: E5M10, chunk: -1}}\n", "precision.accumulate.chunk"},
      {"precision: {accumulate: {outer: 'E5M10,chunk=4'}}\n", "precision.accumulate.outer"},
      {"precision: {accumulate: {froward: {format: E5M10}}}\n", "did you mean 'forward'"},
      {"precision: {accumulate: {format: E8M23, rounding: stochastic}}\n", "accumulate_format"},
      {"train: {accumulate: E5M10}\n", "belongs at precision.accumulate"},
  };
  for (auto [text, what] : bad) {
    try {
      parse_spec(text, "x.yaml");
      ADD_FAILURE() << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  }
}

// `master_weights: false` removes a recipe's master copy (and with it a recipe's master role),
// `master_weights: true` still adds one, unset keeps the recipe's; `loss_scale: none` turns a
// recipe's dynamic loss scaling off. Through the spec keys, as a study writes them.
TEST(PrecisionRecipes, MasterWeightsAndLossScaleOverrideTheRecipe) {
  const SweepSpec s = parse_spec(
      "dataset: synthetic\n"
      "precision: {recipe: [fp16-mixed, fp8-wang2018, bf16-sr], master_weights: ['', false, true],"
      " loss_scale: ['', none]}\n");
  ASSERT_EQ(s.points.size(), 18u);
  auto at = [&](int recipe, int master, int loss) {  // grid order: master_weights, recipe, loss
    return resolve_precision(s.points[static_cast<std::size_t>((master * 3 + recipe) * 2 + loss)].config);
  };
  EXPECT_TRUE(at(0, 0, 0).master);
  EXPECT_FALSE(at(0, 1, 0).master);
  EXPECT_TRUE(at(0, 2, 0).master);
  EXPECT_EQ(at(0, 0, 0).loss.kind, LossScaling::dynamic);
  EXPECT_EQ(at(0, 0, 1).loss.kind, LossScaling::none);
  EXPECT_EQ(at(0, 1, 1).loss.kind, LossScaling::none);
  EXPECT_TRUE(at(1, 0, 0).master);
  EXPECT_TRUE(at(1, 0, 0)[Role::master].on);
  EXPECT_FALSE(at(1, 1, 0).master);
  EXPECT_FALSE(at(1, 1, 0)[Role::master].on);  // the recipe's E6M9 master goes with the copy
  EXPECT_TRUE(at(1, 1, 0)[Role::momentum].on);  // the rest of the recipe stays
  EXPECT_FALSE(at(2, 0, 0).master);
  EXPECT_TRUE(at(2, 2, 0).master);
  EXPECT_EQ(parameter_text(s.points[0], "master_weights"), "");
  EXPECT_EQ(parameter_text(s.points[6], "master_weights"), "false");
  // A master format given by the user still needs the copy.
  TrainConfig c;
  c.recipe = "fp16-mixed";
  c.master_weights = false;
  c.roles[static_cast<std::size_t>(Role::master)].format = parse_format("bf16");
  EXPECT_THROW(resolve_precision(c), InputError);

  // Training: fp16-mixed without its master copy is the same run as its roles given by hand
  // without master weights, and differs from fp16-mixed.
  const DatasetPair d = make_synthetic(300, 50, 16, 4, 5);
  TrainConfig r;
  r.hidden = {12};
  r.batch = 32;
  r.epochs = 2;
  r.momentum = 0.9;
  r.save_weights = true;
  r.recipe = "fp16-mixed";
  const RunResult mixed = train(r, d);
  r.master_weights = false;
  const RunResult no_master = train(r, d);
  TrainConfig hand = r;
  hand.recipe = "none";
  hand.master_weights.reset();
  for (Role role : {Role::weights, Role::activations, Role::errors})
    hand.roles[static_cast<std::size_t>(role)].format = parse_format("fp16");
  hand.loss_scale = LossScaling{LossScaling::dynamic, kDynamicInitialScale};
  const RunResult by_hand = train(hand, d);
  ASSERT_EQ(no_master.params.size(), by_hand.params.size());
  EXPECT_EQ(0, std::memcmp(no_master.params.data(), by_hand.params.data(),
                           no_master.params.size() * sizeof(float)));
  EXPECT_NE(0, std::memcmp(no_master.params.data(), mixed.params.data(),
                           mixed.params.size() * sizeof(float)));
}

namespace {

// The small relu network of the test-accuracy checks: hidden 24, momentum 0.9, batch 32,
// 2 epochs, weights saved.
TrainConfig two_epochs_relu() {
  TrainConfig c;
  c.hidden = {24};
  c.activation = Activation::relu;
  c.momentum = 0.9;
  c.batch = 32;
  c.epochs = 2;
  c.save_weights = true;
  return c;
}

// Test accuracy of the saved parameters of a {dim, 24, classes} run, with `round` applied to
// each layer's output as the activations role does.
double test_accuracy_of(const RunResult& r, const DatasetPair& d, Activation act,
                        const TensorHook& round) {
  Mlp net({d.test.dim, 24, static_cast<int>(d.test.classes)}, act, d.test.n);
  net.params = r.params;
  std::vector<float> x(static_cast<std::size_t>(d.test.n) * static_cast<std::size_t>(d.test.dim));
  copy_features(d.test, 0, d.test.n, x.data());
  net.forward(x.data(), d.test.n, round);
  return static_cast<double>(net.count_correct(d.test.n, d.test.y.data())) / d.test.n;
}

}  // namespace

// The test accuracy is that of the weights a deployed low-precision model would use: the
// rounded working copy (not the master copy), with the activations rounded as in training.
// Recomputed here from the saved parameters, which must lie on the weights' format grid.
TEST(PrecisionRecipes, TestAccuracyUsesTheRoundedWorkingCopy) {
  const DatasetPair d = make_synthetic(400, 300, 16, 4, 3);
  for (const char* recipe : {"fp8-hybrid-noscale", "fp8-wang2018", "bf16-mixed"}) {
    TrainConfig c = two_epochs_relu();
    c.recipe = recipe;
    const RunResult r = train(c, d);
    const Precision p = resolve_precision(c);
    ASSERT_TRUE(p.master) << recipe;
    std::vector<float> grid = r.params;
    quantize(grid, p[Role::weights].format, Rounding::nearest_even);
    EXPECT_EQ(0, std::memcmp(grid.data(), r.params.data(), grid.size() * sizeof(float)))
        << recipe << ": the saved weights are not the rounded working copy";
    const double acc = test_accuracy_of(r, d, c.activation, [&](std::span<float> a, int) {
      quantize(a, p[Role::activations].format, p[Role::activations].mode);
    });
    EXPECT_EQ(acc, r.final_test_accuracy) << recipe;
  }
}

// No two named recipes resolve to the same rounding (issue 16's check of two recipes with equal
// test accuracies): their roles, master copy or loss scaling differ pairwise (truncate with a
// format; `none` and fp32 both round nothing, by definition).
TEST(PrecisionRecipes, EveryRecipeResolvesToItsOwnRounding) {
  std::vector<std::pair<std::string, std::string>> seen;
  for (const std::string& name : recipe_names()) {
    if (name == "none") continue;
    TrainConfig c;
    c.recipe = name;
    if (name == "truncate") c.format = parse_format("bf16");
    const Precision p = resolve_precision(c);
    std::string key = to_string(p.loss) + (p.master ? " master" : "");
    for (Role r : kAllRoles) key += " " + to_string(r) + "=" + describe(p[r]);
    for (const auto& [other, other_key] : seen) EXPECT_NE(key, other_key) << name << " = " << other;
    seen.emplace_back(name, key);
  }
}

// A block format in a role takes its blocks along each row of the tensor, restarting at each
// row (docs/training.md, "Block formats in training"): a [2, 20] tensor whose first row is
// small and second large, in mxfp8-e4m3 (blocks of 32). Row by row, each row keeps its own
// scale; blocked over the flat buffer the first block would span both rows and flush row 0.
TEST(PrecisionBlocks, RoleBlocksRunAlongRows) {
  constexpr int kRows = 2, kCols = 20;
  std::vector<float> x(kRows * kCols);
  for (int c = 0; c < kCols; ++c) {
    x[static_cast<std::size_t>(c)] = 1e-3f * static_cast<float>(c + 1);
    x[static_cast<std::size_t>(kCols + c)] = 1e3f * static_cast<float>(c + 1);
  }
  Precision p;
  p[Role::activations] = {true, parse_format("mxfp8-e4m3"), Rounding::nearest_even, {}};
  RoleRounder rounder(p);
  std::vector<float> got = x;
  const QuantizeStats s = rounder.round(Role::activations, got, kRows, kCols, 0, {});
  EXPECT_EQ(s.blocks, 2u);
  for (int r = 0; r < kRows; ++r) {
    std::vector<float> row(x.begin() + r * kCols, x.begin() + (r + 1) * kCols);
    quantize(row, p[Role::activations].format, Rounding::nearest_even);
    EXPECT_EQ(0, std::memcmp(row.data(), got.data() + r * kCols, kCols * sizeof(float))) << r;
  }
  std::vector<float> flat = x;
  quantize(flat, p[Role::activations].format, Rounding::nearest_even);
  EXPECT_EQ(flat[0], 0.0f);   // the flat blocking flushes row 0 ...
  EXPECT_NE(got[0], 0.0f);    // ... the row blocking keeps it
  EXPECT_EQ(rounder.counts(Role::activations).blocks, 2u);
}

// Training with block formats in the weights, activations and master roles (with master
// weights): the saved working weights are on the per-row block grid (each W row and each bias
// re-quantizes to itself), and the test accuracy is the forward pass with activations blocked
// per row of each [B, out] tensor. Input width 20 and hidden width 24 are not multiples of
// the block sizes, so a flat blocking would cross rows.
TEST(PrecisionBlocks, TrainingBlocksWeightsAndActivationsPerRow) {
  const DatasetPair d = make_synthetic(400, 300, 20, 4, 3);
  TrainConfig c = two_epochs_relu();
  c.master_weights = true;
  // FP4 elements in blocks of 8: a flat block's larger scale takes bits from the smaller row
  // (with FP8 elements' wide range it would only move them below 2^-6 of the scale: rarely)
  c.roles[static_cast<std::size_t>(Role::weights)].format = parse_format("mx:fp4-e2m1:8");
  c.roles[static_cast<std::size_t>(Role::activations)].format = parse_format("mxfp6-e2m3");
  c.roles[static_cast<std::size_t>(Role::master)].format = parse_format("mxfp8-e5m2");
  const RunResult r = train(c, d);
  const Precision p = resolve_precision(c);
  const MlpLayout L({20, 24, 4});
  std::vector<float> grid = r.params;
  for (int l = 0; l < L.layers(); ++l) {
    const auto out = static_cast<std::size_t>(L.out(l)), in = static_cast<std::size_t>(L.in(l));
    quantize_matrix(grid.data() + L.w_offset[static_cast<std::size_t>(l)], out, in, in,
                    BlockAxis::rows, p[Role::weights].format, Rounding::nearest_even);
    quantize_matrix(grid.data() + L.b_offset[static_cast<std::size_t>(l)], 1, out, out,
                    BlockAxis::rows, p[Role::weights].format, Rounding::nearest_even);
  }
  EXPECT_EQ(0, std::memcmp(grid.data(), r.params.data(), grid.size() * sizeof(float)));
  // ... and not on the grid of blocks over the flat [P] buffer (the fused update's blocking):
  // rows whose magnitudes differ share a flat block there, which coarsens the smaller row.
  std::vector<float> flat = r.params;
  quantize(flat, p[Role::weights].format, Rounding::nearest_even);
  EXPECT_NE(0, std::memcmp(flat.data(), r.params.data(), flat.size() * sizeof(float)));
  const double acc = test_accuracy_of(r, d, c.activation, [&](std::span<float> a, int layer) {
    const auto out = static_cast<std::size_t>(L.out(layer));
    quantize_matrix(a.data(), a.size() / out, out, out, BlockAxis::rows,
                    p[Role::activations].format, Rounding::nearest_even);
  });
  EXPECT_EQ(acc, r.final_test_accuracy);
  EXPECT_GT(acc, 0.5);  // it learnt
}

namespace {

// x [rows, cols] (double, rounded to binary32 first: the trainer's values are binary32) with a
// block format's blocks along each row, or down each column, by the exact block reference
// (tests/blocks_ref), nearest_even.
std::vector<double> block_ref(const std::vector<double>& x, int rows, int cols, const Format& f,
                              bool down_columns) {
  if (!f.is_block()) return x;
  std::vector<double> y(x.size());
  const int lines = down_columns ? cols : rows, len = down_columns ? rows : cols;
  for (int i = 0; i < lines; ++i) {
    std::vector<float> v(static_cast<std::size_t>(len));
    const auto at = [&](int j) {
      return static_cast<std::size_t>(down_columns ? j * cols + i : i * cols + j);
    };
    for (int j = 0; j < len; ++j) v[static_cast<std::size_t>(j)] = static_cast<float>(x[at(j)]);
    const std::vector<float> q = ref::quantize_blocks_ref(
        v, f, Rounding::nearest_even, std::vector<std::uint32_t>(v.size(), 0));
    for (int j = 0; j < len; ++j) y[at(j)] = q[static_cast<std::size_t>(j)];
  }
  return y;
}

// Each parameter tensor of p ([P], the layout's W[l] [out, in] and b[l] [1, out]) blocked
// along its rows in format f.
std::vector<double> block_params_ref(const MlpLayout& L, const std::vector<double>& p,
                                     const Format& f) {
  std::vector<double> y = p;
  for (int l = 0; l < L.layers(); ++l) {
    const int out = L.out(l), in = L.in(l);
    const auto part = [&](std::size_t off, int rows, int cols) {
      const auto b = p.begin() + static_cast<std::ptrdiff_t>(off);
      const std::vector<double> t = block_ref({b, b + rows * cols}, rows, cols, f, false);
      std::copy(t.begin(), t.end(), y.begin() + static_cast<std::ptrdiff_t>(off));
    };
    part(L.w_offset[static_cast<std::size_t>(l)], out, in);
    part(L.b_offset[static_cast<std::size_t>(l)], 1, out);
  }
  return y;
}

// One SGD step of the 8-5-3 tanh network (momentum, no other role) with block formats in the
// weights, activations and errors (and master) roles, written from issue 17's rule: every
// product's operands blocked along that product's reduction dimension; stored tensors along
// their rows. Forward Z = A W^T: A and W by rows; delta below D W: D by rows, W down its
// columns (from the master if any); dW = D^T A: D and A down their columns (over the batch).
// `columns` false: every product takes the row-blocked tensors (the rule broken).
std::vector<double> reference_block_step(const TrainConfig& c, const Precision& p, bool columns) {
  const DatasetPair& d = one_batch();
  const MlpLayout L({kDim, c.hidden[0], kClasses});
  const Format& fa = p[Role::activations].format;
  const Format& fe = p[Role::errors].format;
  const Format& fw = p[Role::weights].format;
  std::vector<float> init(L.count);
  init_params(L, c.activation, c.seed, init);
  std::vector<double> master(init.begin(), init.end());
  if (p.master) master = block_params_ref(L, master, p[Role::master].format);
  std::vector<double> w = block_params_ref(L, master, fw);
  const std::vector<double>& w_src = p.master ? master : w;  // the column copy's source

  // The batch in epoch 0's shuffled order (docs/training.md: Fisher-Yates, stream 2 << 56 |
  // epoch): blocks down the columns group the batch's rows in that order.
  std::vector<int> order(kB);
  for (int i = 0; i < kB; ++i) order[static_cast<std::size_t>(i)] = i;
  const std::uint64_t shuffle = rng::key(c.seed, 2ull << 56);
  for (int i = kB - 1; i > 0; --i) {
    const std::uint64_t u = rng::bits64(shuffle, static_cast<std::uint64_t>(i)) >> 32;
    std::swap(order[static_cast<std::size_t>(i)],
              order[static_cast<std::size_t>((u * static_cast<std::uint64_t>(i + 1)) >> 32)]);
  }
  std::vector<double> X(static_cast<std::size_t>(kB) * kDim);
  std::vector<int> y(kB);
  for (int r = 0; r < kB; ++r) {
    const auto src = static_cast<std::size_t>(order[static_cast<std::size_t>(r)]);
    y[static_cast<std::size_t>(r)] = d.train.y[src];
    for (int k = 0; k < kDim; ++k)
      X[static_cast<std::size_t>(r * kDim + k)] = pixel_feature(d.train.pixels[src * kDim + static_cast<std::size_t>(k)]);
  }
  const int nl = L.layers();
  std::vector<std::vector<double>> rows(static_cast<std::size_t>(nl)), cols(rows);
  std::vector<double> A = X;
  for (int l = 0; l < nl; ++l) {
    const int in = L.in(l), out = L.out(l);
    std::vector<double> Z(static_cast<std::size_t>(kB) * out);
    for (int r = 0; r < kB; ++r)
      for (int j = 0; j < out; ++j) {
        double z = w[L.b_offset[static_cast<std::size_t>(l)] + static_cast<std::size_t>(j)];
        for (int k = 0; k < in; ++k)
          z += A[static_cast<std::size_t>(r * in + k)] *
               w[L.w_offset[static_cast<std::size_t>(l)] + static_cast<std::size_t>(j * in + k)];
        Z[static_cast<std::size_t>(r * out + j)] = l + 1 < nl ? std::tanh(z) : z;
      }
    rows[static_cast<std::size_t>(l)] = block_ref(Z, kB, out, fa, false);
    cols[static_cast<std::size_t>(l)] = columns ? block_ref(Z, kB, out, fa, true) : rows[static_cast<std::size_t>(l)];
    A = rows[static_cast<std::size_t>(l)];
  }
  std::vector<double> D = rows.back();  // softmax of the rounded logits, (P - onehot) / B
  for (int r = 0; r < kB; ++r) {
    double* z = D.data() + static_cast<std::size_t>(r) * kClasses;
    double m = z[0], s = 0;
    for (int j = 1; j < kClasses; ++j) m = std::max(m, z[j]);
    for (int j = 0; j < kClasses; ++j) s += (z[j] = std::exp(z[j] - m));
    for (int j = 0; j < kClasses; ++j)
      z[j] = (z[j] / s - (j == y[static_cast<std::size_t>(r)] ? 1.0 : 0.0)) / kB;
  }
  std::vector<double> g(L.count, 0.0);
  for (int l = nl - 1; l >= 0; --l) {
    const int in = L.in(l), out = L.out(l);
    const std::vector<double> Dr = block_ref(D, kB, out, fe, false);
    const std::vector<double> Dc = columns ? block_ref(D, kB, out, fe, true) : Dr;
    const std::vector<double>& Ac = l == 0 ? X : cols[static_cast<std::size_t>(l) - 1];
    const std::size_t wo = L.w_offset[static_cast<std::size_t>(l)], bo = L.b_offset[static_cast<std::size_t>(l)];
    for (int j = 0; j < out; ++j)
      for (int r = 0; r < kB; ++r) {
        g[bo + static_cast<std::size_t>(j)] += Dr[static_cast<std::size_t>(r * out + j)];
        for (int k = 0; k < in; ++k)
          g[wo + static_cast<std::size_t>(j * in + k)] +=
              Dc[static_cast<std::size_t>(r * out + j)] * Ac[static_cast<std::size_t>(r * in + k)];
      }
    if (l == 0) break;
    const auto wb = w_src.begin() + static_cast<std::ptrdiff_t>(wo);
    const std::vector<double> Wd =
        columns ? block_ref({wb, wb + out * in}, out, in, fw, true)
                : std::vector<double>(w.begin() + static_cast<std::ptrdiff_t>(wo),
                                      w.begin() + static_cast<std::ptrdiff_t>(wo) + out * in);
    const std::vector<double>& Ar = rows[static_cast<std::size_t>(l) - 1];
    std::vector<double> Dp(static_cast<std::size_t>(kB) * in, 0.0);
    for (int r = 0; r < kB; ++r)
      for (int k = 0; k < in; ++k) {
        double s = 0;
        for (int j = 0; j < out; ++j)
          s += Dr[static_cast<std::size_t>(r * out + j)] * Wd[static_cast<std::size_t>(j * in + k)];
        const double a = Ar[static_cast<std::size_t>(r * in + k)];
        Dp[static_cast<std::size_t>(r * in + k)] = s * (1 - a * a);
      }
    D = Dp;
  }
  // v = g (the first step), step = lr v, in binary32 as the trainer forms it.
  std::vector<double> next = p.master ? master : w;
  for (std::size_t i = 0; i < g.size(); ++i)
    next[i] = static_cast<float>(next[i]) - static_cast<float>(c.lr) * static_cast<float>(g[i]);
  if (p.master) next = block_params_ref(L, next, p[Role::master].format);
  return block_params_ref(L, next, fw);
}

}  // namespace

// Issue 17's rule for block formats in training, against the reference step above written from
// it with the exact block reference: blocks of 4 (so 8- and 5-wide rows and 16-row columns
// hold several), FP4 activations and errors, fine weights; without and with an FP8 master.
TEST(PrecisionBlocks, EachProductBlocksAlongItsReductionAgainstTheReference) {
  for (bool with_master : {false, true}) {
    TrainConfig c = tiny();
    c.roles[static_cast<std::size_t>(Role::activations)].format = parse_format("mx:fp4-e2m1:4");
    c.roles[static_cast<std::size_t>(Role::errors)].format = parse_format("mx:fp4-e2m1:4");
    c.roles[static_cast<std::size_t>(Role::weights)].format = parse_format("mx:E5M7:4");
    if (with_master) {  // FP6 weights: their few binades make row and column blocks differ
      c.master_weights = true;
      c.roles[static_cast<std::size_t>(Role::weights)].format = parse_format("mx:fp6-e2m3:4");
      c.roles[static_cast<std::size_t>(Role::master)].format = parse_format("mx:E5M8:4");
    }
    const RunResult r = train(c, one_batch());
    const Precision p = resolve_precision(c);
    ASSERT_EQ(p.master, with_master);
    const std::vector<double> ref = reference_block_step(c, p, true);
    ASSERT_EQ(r.params.size(), ref.size());
    EXPECT_LT(max_diff(r.params, ref), 2e-6) << "master " << with_master;
    EXPECT_GT(max_diff(r.params, reference_block_step(c, p, false)), 1e-4)
        << "master " << with_master << ": the column blocking has no effect";
  }
}

// A block master is rounded by its hook after the update (not fused into it): its values are
// counted once. With the weights in the master's format the working copy is the master
// exactly, so the master run's trajectory is the plain run's (nearest_even: no random bits).
// Per step the plain run's weights role rounds P values (flushing R) plus the column copy of
// every W (P_W values, flushing C); the master run splits the same counts into the master
// role (P values, R) and the weights role (P + P_W values: the working copy flushes nothing
// new, the column copy C). So plain = (R + C) / (P + P_W) = (master P + weights (P + P_W)) /
// (P + P_W) in fractions; counting the master's values twice halves its fraction.
TEST(PrecisionBlocks, BlockMasterCountsEachValueOnce) {
  const DatasetPair d = make_synthetic(400, 300, 20, 4, 3);
  const Format fmt = parse_format("mx:fp4-e2m1:8");
  TrainConfig plain = two_epochs_relu();
  plain.roles[static_cast<std::size_t>(Role::weights)].format = fmt;
  TrainConfig master = plain;
  master.master_weights = true;
  master.roles[static_cast<std::size_t>(Role::master)].format = fmt;
  const RunResult a = train(plain, d), b = train(master, d);
  EXPECT_EQ(a.params, b.params);
  const MlpLayout L({20, 24, 4});
  const double P = static_cast<double>(L.count), PW = 20.0 * 24 + 24.0 * 4;
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  const auto flushed = [](const RunResult& r, std::size_t e, Role role) {
    return r.epochs[e].roles[static_cast<std::size_t>(role)].underflow_fraction;
  };
  for (std::size_t e = 0; e < a.epochs.size(); ++e) {
    const double whole = flushed(a, e, Role::weights);
    EXPECT_GT(flushed(b, e, Role::master), 0.0);
    EXPECT_NEAR(flushed(b, e, Role::master) * P / (P + PW) + flushed(b, e, Role::weights), whole,
                1e-12)
        << "epoch " << e;
  }
}

// Block formats carry their own scales: per-tensor scaling beside one is refused.
TEST(PrecisionBlocks, PerTensorScalingOfABlockFormatIsRefused) {
  TrainConfig c = tiny();
  c.roles[static_cast<std::size_t>(Role::activations)].format = parse_format("mxfp8-e4m3");
  c.roles[static_cast<std::size_t>(Role::activations)].scaling = parse_scaling("current");
  try {
    (void)resolve_precision(c);
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("activations_scale"), std::string::npos) << e.what();
  }
}
