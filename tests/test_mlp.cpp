// Tests of the MLP (src/mlp.cpp): the fast sgemm path against the frozen double reference for
// several shapes and every activation, the same bits at any thread count, a finite-difference
// check of the reference gradient, the layout and init, and the weight-update kernel (swamping
// pinned in isolation, master weights, equality with one whole-array quantize call).
// Deliberately leaves out: training runs (test_train.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "precsweep/error.hpp"
#include "mlp_ref.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/rng.hpp"

using namespace precsweep;

namespace {

std::vector<float> random_inputs(int B, int dim, std::uint64_t seed) {
  std::vector<float> x(static_cast<std::size_t>(B) * dim);  // [B, dim] in [0, 1)
  const auto k = rng::key(seed, 99);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng::uniform01(k, i));
  return x;
}

std::vector<std::uint8_t> random_labels(int B, int classes, std::uint64_t seed) {
  std::vector<std::uint8_t> y(static_cast<std::size_t>(B));
  const auto k = rng::key(seed, 98);
  for (int i = 0; i < B; ++i) y[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(rng::bits64(k, i) % classes);
  return y;
}

// init_params plus nonzero biases, so the bias paths are exercised.
void randomise(Mlp& net, std::uint64_t seed) {
  init_params(net.layout(), net.activation(), seed, net.params);
  const auto k = rng::key(seed, 97);
  for (int l = 0; l < net.layout().layers(); ++l)
    for (int j = 0; j < net.layout().out(l); ++j)
      net.b(l)[j] = static_cast<float>(rng::uniform01(k, 1000 * l + j) - 0.5);
}

const Activation kActivations[] = {Activation::sigmoid, Activation::tanh, Activation::relu};

}  // namespace

TEST(MlpLayout, OffsetsAndCount) {
  MlpLayout L({784, 100, 10});
  EXPECT_EQ(L.layers(), 2);
  EXPECT_EQ(L.w_offset[0], 0u);
  EXPECT_EQ(L.b_offset[0], 78400u);
  EXPECT_EQ(L.w_offset[1], 78500u);
  EXPECT_EQ(L.b_offset[1], 79500u);
  EXPECT_EQ(L.count, 79510u);
  EXPECT_THROW(MlpLayout({784}), InputError);
  EXPECT_THROW(MlpLayout({784, 0, 10}), InputError);
}

TEST(MlpInit, GlorotAndHeBoundsZeroBiasesDeterministic) {
  MlpLayout L({300, 100, 10});
  for (Activation a : kActivations) {
    std::vector<float> p(L.count), q(L.count), r(L.count);
    init_params(L, a, 7, p);
    init_params(L, a, 7, q);
    init_params(L, a, 8, r);
    EXPECT_EQ(p, q);
    EXPECT_NE(p, r);
    for (int l = 0; l < L.layers(); ++l) {
      const double bound = a == Activation::relu ? std::sqrt(6.0 / L.in(l))
                                                 : std::sqrt(6.0 / (L.in(l) + L.out(l)));
      const std::size_t n = static_cast<std::size_t>(L.in(l)) * L.out(l);
      double sum = 0, sq = 0, maxabs = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double w = p[L.w_offset[l] + i];
        sum += w;
        sq += w * w;
        maxabs = std::max(maxabs, std::fabs(w));
      }
      EXPECT_LE(maxabs, bound);
      EXPECT_GT(maxabs, 0.95 * bound);
      EXPECT_NEAR(sum / n, 0.0, 0.05 * bound);
      EXPECT_NEAR(sq / n, bound * bound / 3.0, 0.1 * bound * bound / 3.0);  // var of U(-a, a)
      for (int j = 0; j < L.out(l); ++j) EXPECT_EQ(p[L.b_offset[l] + j], 0.0f);
    }
  }
}

// Fast forward/backward (float, sgemm) against the double reference, several shapes, every
// activation. Float vs double over inner products of <= 40 terms of O(1) values: outputs agree
// to ~1e-6 absolute; gradients are compared relative to their largest magnitude.
TEST(MlpFast, MatchesReferenceForwardAndBackward) {
  const std::vector<std::vector<int>> shapes = {{5, 3, 4}, {17, 9, 7, 3}, {40, 32, 16, 10}, {1, 1, 2}};
  const int batches[] = {1, 7, 33};
  for (const auto& sizes : shapes)
    for (Activation act : kActivations)
      for (int B : batches) {
        SCOPED_TRACE(::testing::Message() << "sizes[0]=" << sizes[0] << " layers=" << sizes.size() - 1
                                          << " act=" << to_string(act) << " B=" << B);
        Mlp net(sizes, act, 40);
        randomise(net, 3 + B);
        const auto X = random_inputs(B, sizes[0], B);
        const auto y = random_labels(B, sizes.back(), B);
        const float* P = net.forward(X.data(), B);
        const std::vector<double> pd(net.params.begin(), net.params.end());
        const auto ref = forward_ref(net.layout(), act, pd, X.data(), B);
        const int L = net.layout().layers();
        for (int l = 0; l + 1 < L; ++l)
          for (int i = 0; i < B * sizes[l + 1]; ++i)
            ASSERT_NEAR(net.output(l)[i], ref[l][i], 2e-6) << "layer " << l << " i " << i;
        for (int i = 0; i < B * sizes.back(); ++i) ASSERT_NEAR(P[i], ref.back()[i], 2e-6) << "prob " << i;

        int correct = -1;
        const double loss = net.loss_and_output_delta(y.data(), B, &correct);
        EXPECT_NEAR(loss, loss_ref(net.layout(), ref, y.data(), B), 2e-6 * std::max(1.0, loss));
        int hits = 0;
        for (int r = 0; r < B; ++r) {
          const auto* row = ref.back().data() + static_cast<std::size_t>(r) * sizes.back();
          hits += std::max_element(row, row + sizes.back()) - row == y[r];
        }
        EXPECT_EQ(correct, hits);

        net.backward(X.data(), B);
        const auto g = backward_ref(net.layout(), act, pd, ref, X.data(), y.data(), B);
        double gmax = 0;
        for (double v : g) gmax = std::max(gmax, std::fabs(v));
        for (std::size_t i = 0; i < g.size(); ++i)
          ASSERT_NEAR(net.grads[i], g[i], 1e-5 * gmax + 1e-7) << "param " << i;
      }
}

// The reference gradient equals central differences of the reference loss (double, tiny net):
// this is what ties both implementations to the mathematics.
// One forward + loss + backward at 1, 2 and 3 OpenMP threads gives the same bits in every
// layer output, the loss and every gradient: the products are cut into fixed blocks (64 batch
// rows, 128 dW rows), not by thread count. 150 rows (blocks of 64, 64, 22) and a 300-wide layer
// (dW blocks of 128, 128, 44) exercise several blocks and partial ones, in shapes large enough
// that OpenBLAS would otherwise split each product over the threads itself.
TEST(MlpFast, SameBitsAtAnyThreadCount) {
  const int B = 150;
  const std::vector<int> sizes{784, 300, 130, 10};
  const auto X = random_inputs(B, sizes[0], 5);
  const auto y = random_labels(B, sizes.back(), 5);
  struct Out {
    std::vector<std::vector<float>> outputs;
    double loss;
    int correct;
    std::vector<float> grads;
  };
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Mlp net(sizes, Activation::tanh, B);
    randomise(net, 11);
    net.forward(X.data(), B);
    Out o;
    for (int l = 0; l < net.layout().layers(); ++l)
      o.outputs.emplace_back(net.output(l),
                             net.output(l) + static_cast<std::size_t>(B) * net.layout().out(l));
    o.loss = net.loss_and_output_delta(y.data(), B, &o.correct);
    net.backward(X.data(), B);
    o.grads = net.grads;
    omp_set_num_threads(saved);
    return o;
  };
  const Out one = run(1);
  for (int t : {2, 3}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    const Out o = run(t);
    for (std::size_t l = 0; l < one.outputs.size(); ++l)
      EXPECT_EQ(0, std::memcmp(one.outputs[l].data(), o.outputs[l].data(),
                               one.outputs[l].size() * sizeof(float)))
          << "layer " << l;
    EXPECT_EQ(0, std::memcmp(&one.loss, &o.loss, sizeof(double)));
    EXPECT_EQ(one.correct, o.correct);
    EXPECT_EQ(0, std::memcmp(one.grads.data(), o.grads.data(), one.grads.size() * sizeof(float)));
  }
}

// Label smoothing (targets (1 - eps) onehot + eps / C): the fast loss and output delta against
// the reference, and eps > 0 changes both (eps = 0 is the plain path, checked above).
TEST(MlpFast, LabelSmoothingMatchesReference) {
  const std::vector<int> sizes = {17, 9, 7};
  const int B = 13;
  for (double eps : {0.1, 0.3}) {
    SCOPED_TRACE(eps);
    Mlp net(sizes, Activation::tanh, B);
    randomise(net, 5);
    const auto X = random_inputs(B, sizes[0], 2);
    const auto y = random_labels(B, sizes.back(), 2);
    net.forward(X.data(), B);
    const std::vector<double> pd(net.params.begin(), net.params.end());
    const auto ref = forward_ref(net.layout(), Activation::tanh, pd, X.data(), B);
    const double loss = net.loss_and_output_delta(y.data(), B, nullptr, eps);
    const double want = loss_ref(net.layout(), ref, y.data(), B, eps);
    EXPECT_NEAR(loss, want, 2e-6 * std::max(1.0, loss));
    EXPECT_GT(std::fabs(want - loss_ref(net.layout(), ref, y.data(), B)), 1e-3);
    net.backward(X.data(), B);
    const auto g = backward_ref(net.layout(), Activation::tanh, pd, ref, X.data(), y.data(), B, eps);
    const auto g0 = backward_ref(net.layout(), Activation::tanh, pd, ref, X.data(), y.data(), B);
    double gmax = 0, moved = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      gmax = std::max(gmax, std::fabs(g[i]));
      moved = std::max(moved, std::fabs(g[i] - g0[i]));
    }
    EXPECT_GT(moved, 1e-3 * gmax);
    for (std::size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(net.grads[i], g[i], 1e-5 * gmax + 1e-7) << "param " << i;
  }
}

TEST(MlpReference, FiniteDifferenceGradientCheck) {
  const MlpLayout L({4, 5, 3, 3});
  const int B = 3;
  const auto X = random_inputs(B, 4, 11);
  const auto y = random_labels(B, 3, 11);
  for (Activation act : kActivations)
    for (double eps : {0.0, 0.2}) {  // plain and label-smoothed cross-entropy
      SCOPED_TRACE(::testing::Message() << to_string(act) << " eps=" << eps);
      std::vector<float> pf(L.count);
      init_params(L, act, 5, pf);
      std::vector<double> p(pf.begin(), pf.end());
      for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.05 * std::sin(1.0 + i);  // biases too
      const auto g = backward_ref(L, act, p, forward_ref(L, act, p, X.data(), B), X.data(),
                                  y.data(), B, eps);
      const double h = 1e-6;
      for (std::size_t i = 0; i < p.size(); ++i) {
        auto plus = p, minus = p;
        plus[i] += h;
        minus[i] -= h;
        const double fd = (loss_ref(L, forward_ref(L, act, plus, X.data(), B), y.data(), B, eps) -
                           loss_ref(L, forward_ref(L, act, minus, X.data(), B), y.data(), B, eps)) /
                          (2 * h);
        ASSERT_NEAR(g[i], fd, 1e-7 + 1e-6 * std::fabs(fd)) << "param " << i;
      }
    }
}

TEST(MlpFast, HooksSeeEveryLayerOutputAndDelta) {
  Mlp net({6, 5, 4, 3}, Activation::tanh, 8);
  randomise(net, 1);
  const auto X = random_inputs(8, 6, 1);
  const auto y = random_labels(8, 3, 1);
  std::vector<std::pair<int, std::size_t>> fwd, bwd;
  net.forward(X.data(), 8, [&](std::span<float> v, int l) { fwd.emplace_back(l, v.size()); });
  net.loss_and_output_delta(y.data(), 8, nullptr);
  net.backward(X.data(), 8, [&](std::span<float> v, int l) { bwd.emplace_back(l, v.size()); });
  const std::vector<std::pair<int, std::size_t>> want_f = {{0, 40}, {1, 32}, {2, 24}};
  const std::vector<std::pair<int, std::size_t>> want_b = {{2, 24}, {1, 32}, {0, 40}};
  EXPECT_EQ(fwd, want_f);
  EXPECT_EQ(bwd, want_b);
  // A hook that zeroes the last layer's logits makes every probability 1/3.
  const float* P = net.forward(X.data(), 8, [](std::span<float> v, int l) {
    if (l == 2) std::fill(v.begin(), v.end(), 0.0f);
  });
  for (int i = 0; i < 24; ++i) EXPECT_NEAR(P[i], 1.0f / 3, 1e-7);
}

TEST(MlpFast, NonFiniteWeightsGiveNonFiniteLoss) {
  Mlp net({4, 3, 2}, Activation::relu, 2);
  randomise(net, 2);
  net.W(1)[0] = INFINITY;
  net.W(1)[1] = -INFINITY;
  const auto X = random_inputs(2, 4, 2);
  const std::uint8_t y[2] = {0, 1};
  net.forward(X.data(), 2);
  EXPECT_FALSE(std::isfinite(net.loss_and_output_delta(y, 2, nullptr)));
}

// ---- swamping, pinned in isolation -----------------------------------------------------------

TEST(ApplyUpdate, NearestEvenSwampsUpdateBelowHalfUlp) {
  const Format fp16 = parse_format("E5M10");
  std::vector<float> w{1.0f, 1.0f, 1.0f};
  const std::vector<float> step{-0x1p-12f, -0x1p-10f, 0.0f};  // w - step = 1 + 2^-12, 1 + 2^-10
  QuantizeStats st;
  const auto lost = apply_update(w, {}, step, true, fp16, Rounding::nearest_even, {}, &st);
  EXPECT_EQ(w[0], 1.0f);              // 1 + 2^-12 rounds back to 1: the update is lost
  EXPECT_EQ(w[1], 1.0f + 0x1p-10f);   // one ulp of E5M10 at 1 survives
  EXPECT_EQ(w[2], 1.0f);
  EXPECT_EQ(lost, 1u);                // w[2] had no update, so it is not counted
  // Without rounding the same step is kept in fp32.
  std::vector<float> v{1.0f};
  const std::vector<float> s1{-0x1p-12f};
  EXPECT_EQ(apply_update(v, {}, s1, false, fp16, Rounding::nearest_even, {}, nullptr), 0u);
  EXPECT_EQ(v[0], 1.0f + 0x1p-12f);
}

TEST(ApplyUpdate, TruncationLosesGrowingUpdatesBelowOneUlp) {
  const Format fp16 = parse_format("E5M10");
  std::vector<float> w{1.0f, 1.0f};
  const std::vector<float> step{-(0x1p-10f - 0x1p-14f), 0x1p-12f};  // grow by < 1 ulp; shrink
  const auto lost = apply_update(w, {}, step, true, fp16, Rounding::toward_zero, {}, nullptr);
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], 1.0f - 0x1p-11f);  // below 1 the ulp is 2^-11: 1 - 2^-12 truncates down to it
  EXPECT_EQ(lost, 1u);
}

TEST(ApplyUpdate, StochasticRoundingKeepsUpdatesOnAverage) {
  const Format fp16 = parse_format("E5M10");
  // Many weights, one step each: 1 + 2^-12 lies 1/4 of the way to 1 + 2^-10, so about a quarter
  // round up and the mean moves by 2^-12.
  const std::size_t n = 1 << 16;
  std::vector<float> w(n, 1.0f);
  const std::vector<float> step(n, -0x1p-12f);
  const auto lost = apply_update(w, {}, step, true, fp16, Rounding::stochastic, {42, 1, 0}, nullptr);
  std::size_t up = 0;
  for (float v : w) {
    ASSERT_TRUE(v == 1.0f || v == 1.0f + 0x1p-10f);
    up += v != 1.0f;
  }
  const double sd = std::sqrt(n * 0.25 * 0.75);
  EXPECT_NEAR(static_cast<double>(up), n * 0.25, 5 * sd);
  EXPECT_EQ(lost, n - up);
  // One weight, many steps (stream changes per step as in the trainer): after 1024 steps of
  // 2^-12 the expected value is 1 + 1024 * 2^-12 = 1.25; nearest-even would stay at 1.
  std::vector<float> one{1.0f}, near{1.0f};
  const std::vector<float> s1{-0x1p-12f};
  for (std::uint64_t k = 0; k < 1024; ++k) {
    apply_update(one, {}, s1, true, fp16, Rounding::stochastic, {42, 100 + k, 0}, nullptr);
    apply_update(near, {}, s1, true, fp16, Rounding::nearest_even, {}, nullptr);
  }
  const double sd_steps = std::sqrt(1024 * 0.25 * 0.75) * 0x1p-10;  // binomial count x ulp
  EXPECT_NEAR(one[0], 1.25, 5 * sd_steps);
  EXPECT_EQ(near[0], 1.0f);
}

TEST(ApplyUpdate, MasterWeightsAccumulateWhatTheWorkingCopyCannotHold) {
  const Format fp16 = parse_format("E5M10");
  std::vector<float> working{1.0f}, master{1.0f};
  const std::vector<float> step{-0x1p-12f};
  std::uint64_t lost = 0;
  for (int k = 0; k < 2; ++k)
    lost += apply_update(working, master, step, true, fp16, Rounding::nearest_even, {}, nullptr);
  EXPECT_EQ(working[0], 1.0f);  // 1 + 2 * 2^-12 is the tie, which goes to the even 1
  EXPECT_EQ(master[0], 1.0f + 2 * 0x1p-12f);
  lost += apply_update(working, master, step, true, fp16, Rounding::nearest_even, {}, nullptr);
  EXPECT_EQ(working[0], 1.0f + 0x1p-10f);  // the third step passes the tie: now visible
  EXPECT_EQ(lost, 0u);                      // master never lost an update
}

// The blocked kernel gives the same values and counts as one whole-array quantize call, for
// every mode (stochastic bits depend only on the element index).
TEST(ApplyUpdate, EqualsWholeArrayQuantize) {
  const std::size_t n = 100003;  // several blocks and an odd tail
  std::vector<float> w0(n), step(n);
  const auto k = rng::key(3, 3);
  for (std::size_t i = 0; i < n; ++i) {
    w0[i] = static_cast<float>(rng::uniform01(k, 2 * i) - 0.5);
    step[i] = i % 7 == 0 ? 0.0f : static_cast<float>((rng::uniform01(k, 2 * i + 1) - 0.5) * 1e-2);
  }
  const Format fmt = parse_format("E4M3");
  quantize(w0, fmt, Rounding::nearest_even);  // start from stored values, as in training
  for (Rounding mode : {Rounding::toward_zero, Rounding::nearest_even, Rounding::up,
                        Rounding::down, Rounding::stochastic}) {
    SCOPED_TRACE(to_string(mode));
    const StochasticKey key{9, 77, 5};
    auto w = w0;
    QuantizeStats st;
    const auto lost = apply_update(w, {}, step, true, fmt, mode, key, &st);
    std::vector<float> ref(n);
    for (std::size_t i = 0; i < n; ++i) ref[i] = w0[i] - step[i];
    QuantizeStats rst;
    quantize(ref, fmt, mode, key, &rst);
    std::uint64_t ref_lost = 0;
    for (std::size_t i = 0; i < n; ++i) ref_lost += step[i] != 0.0f && ref[i] == w0[i];
    ASSERT_EQ(0, std::memcmp(w.data(), ref.data(), n * sizeof(float)));
    EXPECT_EQ(lost, ref_lost);
    EXPECT_EQ(st.overflow, rst.overflow);
    EXPECT_EQ(st.underflow, rst.underflow);
    EXPECT_GT(lost, 0u);
  }
}

// With the step rounded (--apply-to updates), sgd_update equals "form the step lr * d, round it
// into the format from step_key, then apply_update" bit for bit, and reports both roundings'
// counts; at weight_decay 0 too (d = g + 0 x there).
TEST(SgdUpdate, RoundedStepEqualsFormRoundApply) {
  const std::size_t n = 40000;
  const auto k = rng::key(5, 5);
  std::vector<float> w0(n), g0(n), v0(n);
  for (std::size_t i = 0; i < n; ++i) {
    w0[i] = static_cast<float>(rng::uniform01(k, 3 * i) - 0.5);
    g0[i] = static_cast<float>((rng::uniform01(k, 3 * i + 1) - 0.5) * 1e-1);
    v0[i] = static_cast<float>((rng::uniform01(k, 3 * i + 2) - 0.5) * 1e-3);
  }
  const Format fmt = parse_format("E4M3");
  for (float mu : {0.0f, 0.9f})
    for (float wd : {0.0f, 1e-2f})
      for (bool round_weights : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "mu=" << mu << " wd=" << wd << " w=" << round_weights);
        const float lr = 0.5f;
        auto w = w0, g = g0, v = v0, w2 = w0, g2 = g0, v2 = v0;
        UpdateRounding r{fmt, Rounding::stochastic, round_weights, {1, 2, 0}};
        r.step = true;
        r.step_key = {1, 3, 0};
        const UpdateCounts got = sgd_update(w, {}, g, v, SgdStep{lr, mu, wd}, r);
        for (std::size_t i = 0; i < n; ++i) {
          if (mu != 0.0f) {
            v2[i] = mu * v2[i] + (g2[i] + wd * w2[i]);
            g2[i] = lr * v2[i];
          } else {
            g2[i] = lr * (g2[i] + wd * w2[i]);
          }
        }
        QuantizeStats step_stats, weight_stats;
        quantize(g2, fmt, Rounding::stochastic, r.step_key, &step_stats);
        const auto lost = apply_update(w2, {}, g2, round_weights, fmt, Rounding::stochastic,
                                       r.weights_key, &weight_stats);
        EXPECT_EQ(got.lost, lost);
        EXPECT_EQ(got.step.underflow, step_stats.underflow);
        EXPECT_GT(got.step.underflow, 0u);
        EXPECT_EQ(got.weights.underflow, weight_stats.underflow);
        EXPECT_EQ(got.weights.overflow, weight_stats.overflow);
        EXPECT_EQ(0, std::memcmp(w.data(), w2.data(), n * sizeof(float)));
        EXPECT_EQ(0, std::memcmp(v.data(), v2.data(), n * sizeof(float)));
      }
}

// The fused SGD update equals "compute the step, then apply_update" bit for bit: weights,
// momentum buffer, master copy and the lost count.
TEST(SgdUpdate, EqualsStepThenApplyUpdate) {
  const std::size_t n = 50001;
  const auto k = rng::key(4, 4);
  std::vector<float> w0(n), g0(n), v0(n);
  for (std::size_t i = 0; i < n; ++i) {
    w0[i] = static_cast<float>(rng::uniform01(k, 3 * i) - 0.5);
    g0[i] = i % 5 == 0 ? 0.0f : static_cast<float>((rng::uniform01(k, 3 * i + 1) - 0.5) * 1e-2);
    v0[i] = static_cast<float>((rng::uniform01(k, 3 * i + 2) - 0.5) * 1e-3);
  }
  const Format fmt = parse_format("E5M7");
  quantize(w0, fmt, Rounding::nearest_even);  // stored values, so rounding can undo a step
  for (float mu : {0.0f, 0.9f})
    for (bool round : {false, true})
      for (bool use_master : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "mu=" << mu << " round=" << round << " master=" << use_master);
        const float lr = 0.1f, wd = 1e-3f;
        auto w = w0, g = g0, v = v0, m = w0;
        auto w2 = w0, g2 = g0, v2 = v0, m2 = w0;
        const StochasticKey key{1, 2, 3};
        const UpdateRounding rounding{fmt, Rounding::stochastic, round, key};
        const auto lost = sgd_update(w, use_master ? std::span<float>(m) : std::span<float>(), g, v,
                                     SgdStep{lr, mu, wd}, rounding).lost;
        const auto& x = use_master ? m2 : w2;
        for (std::size_t i = 0; i < n; ++i) {
          if (mu != 0.0f) {
            v2[i] = mu * v2[i] + (g2[i] + wd * x[i]);
            g2[i] = lr * v2[i];
          } else {
            g2[i] = lr * (g2[i] + wd * x[i]);
          }
        }
        const auto lost2 = apply_update(w2, use_master ? std::span<float>(m2) : std::span<float>(), g2,
                                        round, fmt, Rounding::stochastic, key, nullptr);
        EXPECT_EQ(lost, lost2);
        EXPECT_GT(lost, 0u);
        EXPECT_EQ(0, std::memcmp(w.data(), w2.data(), n * sizeof(float)));
        EXPECT_EQ(0, std::memcmp(v.data(), v2.data(), n * sizeof(float)));
        EXPECT_EQ(0, std::memcmp(m.data(), m2.data(), n * sizeof(float)));
      }
}

// With an accumulator per product kind (GemmAccumulation), each product is exactly the
// accumulation reference loop (gemm_*_ref, accumulate.hpp) on the same operands and key: the
// logits of the last layer (zero biases: z + 0 = z), dW of each layer against the delta the
// backward hook saw, and the delta below (relu: f' only zeroes entries) against D W.
TEST(MlpAccumulation, EachProductIsTheReferenceLoop) {
  const int B = 7, in = 37, hid = 19, C = 5;
  Mlp net({in, hid, C}, Activation::relu, B);
  randomise(net, 3);
  std::fill(net.b(1), net.b(1) + C, 0.0f);
  const auto X = random_inputs(B, in, 4);
  const auto y = random_labels(B, C, 5);
  GemmAccumulation a;
  a.acc[0] = parse_accumulator("E5M10:stochastic");
  a.acc[1] = parse_accumulator("bf16:toward_zero,chunk=4");
  a.acc[2] = parse_accumulator("E4M3:up,chunk=3,outer=E5M10");
  a.key = [](GemmKind k, int layer) {
    return StochasticKey{11, 100 * static_cast<std::uint64_t>(k) + static_cast<std::uint64_t>(layer), 0};
  };
  a.count = true;
  net.set_accumulation(a);
  net.forward(X.data(), B);
  const auto n = [](int r, int c) { return static_cast<std::size_t>(r) * static_cast<std::size_t>(c); };
  // logits [B, C] = A1 [B, hid] W1^T
  std::vector<float> A1(net.output(0), net.output(0) + n(B, hid)), Z(n(B, C));
  AccumulateStats ref_fwd;
  gemm_forward_ref(A1, {net.W(1), n(C, hid)}, Z, B, hid, C, a.acc[0], a.key(GemmKind::forward, 1),
                   &ref_fwd);
  EXPECT_EQ(0, std::memcmp(Z.data(), net.output(1), Z.size() * sizeof(float)));
  net.loss_and_output_delta(y.data(), B, nullptr);
  std::vector<std::vector<float>> seen(2);  // the delta each layer's hook saw
  net.backward(X.data(), B, [&](std::span<float> d, int l) {
    seen[static_cast<std::size_t>(l)].assign(d.begin(), d.end());
  });
  for (int l = 0; l < 2; ++l) {
    const int li = l == 0 ? in : hid, lo = l == 0 ? hid : C;
    const std::vector<float> A = l == 0 ? X : A1;
    std::vector<float> dW(n(lo, li));
    gemm_backward_weights_ref(seen[static_cast<std::size_t>(l)], A, dW, B, lo, li, a.acc[2],
                              a.key(GemmKind::backward_weights, l));
    EXPECT_EQ(0, std::memcmp(dW.data(), net.dW(l), dW.size() * sizeof(float))) << "layer " << l;
  }
  std::vector<float> D0(n(B, hid));
  gemm_backward_data_ref(seen[1], {net.W(1), n(C, hid)}, D0, B, C, hid, a.acc[1],
                         a.key(GemmKind::backward_data, 1));
  for (std::size_t i = 0; i < D0.size(); ++i) {
    const float want = A1[i] > 0.0f ? D0[i] : 0.0f;
    ASSERT_EQ(std::bit_cast<std::uint32_t>(want), std::bit_cast<std::uint32_t>(seen[0][i])) << i;
  }
  // Counted additions per kind and layer: B*out*in for each product run.
  const auto& st = net.accumulate_stats();
  EXPECT_EQ(st[0][1].additions, static_cast<std::uint64_t>(B) * C * hid);
  EXPECT_EQ(st[0][1].swamped, ref_fwd.swamped);
  EXPECT_EQ(st[1][0].additions, 0u);  // no delta below the first layer
  EXPECT_EQ(st[1][1].additions, static_cast<std::uint64_t>(B) * hid * C);
  EXPECT_EQ(st[2][0].additions, static_cast<std::uint64_t>(B) * hid * in);
  net.reset_accumulate_stats();
  EXPECT_EQ(net.accumulate_stats()[2][0].additions, 0u);
  // fp32 nearest without chunks is BLAS: the default network's bits.
  Mlp plain({in, hid, C}, Activation::relu, B), blas({in, hid, C}, Activation::relu, B);
  randomise(plain, 3);
  blas.params = plain.params;
  blas.set_accumulation(GemmAccumulation{});
  EXPECT_FALSE(GemmAccumulation{}.any());
  EXPECT_EQ(0, std::memcmp(plain.forward(X.data(), B), blas.forward(X.data(), B), n(B, C) * 4));
}

// Column operands (block formats: mlp.hpp, ColumnOperands) reach exactly the products they
// are for: a weights buffer of 2 W changes only the delta below (layer 0's gradients double,
// the last layer's stay); hooks that zero the copies zero the dW they feed and nothing else
// (db sums the row-rounded errors; the forward and the delta below use the tensors).
TEST(MlpFast, ColumnOperandsFeedOnlyTheirProducts) {
  const int B = 6;
  const std::vector<float> X = random_inputs(B, 5, 3);
  const std::vector<std::uint8_t> y = random_labels(B, 3, 3);
  const auto grads_with = [&](ColumnOperands c) {
    Mlp net({5, 4, 3}, Activation::relu, B);
    randomise(net, 5);
    net.set_column_operands(std::move(c));
    net.forward(X.data(), B);
    net.loss_and_output_delta(y.data(), B, nullptr);
    net.backward(X.data(), B);
    return net.grads;
  };
  const std::vector<float> plain = grads_with({});
  const MlpLayout L({5, 4, 3});
  const auto part = [&](const std::vector<float>& g, std::size_t off, std::size_t n) {
    return std::vector<float>(g.begin() + static_cast<std::ptrdiff_t>(off),
                              g.begin() + static_cast<std::ptrdiff_t>(off + n));
  };
  const std::size_t w0 = L.w_offset[0], w1 = L.w_offset[1], n0 = 20, n1 = 12;

  Mlp ref({5, 4, 3}, Activation::relu, B);
  randomise(ref, 5);
  std::vector<float> doubled = ref.params;
  for (float& v : doubled) v *= 2.0f;
  ColumnOperands w;
  w.weights = doubled.data();
  const std::vector<float> g = grads_with(w);
  EXPECT_EQ(part(g, w1, n1 + 3), part(plain, w1, n1 + 3));  // last layer: W1, b1 untouched
  for (std::size_t i = 0; i < n0 + 4; ++i) EXPECT_EQ(g[w0 + i], 2.0f * plain[w0 + i]) << i;

  ColumnOperands a;
  a.activations = [](std::span<float> x, int layer) {
    EXPECT_EQ(layer, 0);  // hidden layers only, not the logits
    std::fill(x.begin(), x.end(), 0.0f);
  };
  const std::vector<float> ga = grads_with(a);
  EXPECT_EQ(part(ga, w1, n1), std::vector<float>(n1, 0.0f));  // dW1 = D1^T A0col = 0
  EXPECT_EQ(part(ga, L.b_offset[1], 3), part(plain, L.b_offset[1], 3));
  EXPECT_EQ(part(ga, w0, n0 + 4), part(plain, w0, n0 + 4));

  ColumnOperands e;
  e.errors = [](std::span<float> x, int) { std::fill(x.begin(), x.end(), 0.0f); };
  const std::vector<float> ge = grads_with(e);
  EXPECT_EQ(part(ge, w0, n0), std::vector<float>(n0, 0.0f));
  EXPECT_EQ(part(ge, w1, n1), std::vector<float>(n1, 0.0f));
  EXPECT_EQ(part(ge, L.b_offset[0], 4), part(plain, L.b_offset[0], 4));
  EXPECT_EQ(part(ge, L.b_offset[1], 3), part(plain, L.b_offset[1], 3));
}
