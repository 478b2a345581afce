// Tests of accumulation precision (accumulate.hpp): the three GEMMs' fast kernel and reference
// loops against the exact integer reference (accumulate_ref.cpp), bit for bit, over random
// shapes (k not a multiple of the vector width or the chunk), formats, every mode, chunks and
// outer formats, with swamped counts; stochastic results reproducible and independent of the
// thread count; corner cases of the single rounding (addends far below half an ulp, ties,
// overflow, subnormal accumulators, signed zeros, specials); the issue's pinned sums; parsing.
// The `precsweep dot` command is tested in test_cli_dot.cpp.
// Deliberately leaves out: timing (benchmarks/bench_accumulate.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "accumulate_ref.hpp"
#include "precsweep/accumulate.hpp"
#include "precsweep/error.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

#ifdef PRECSWEEP_KERNEL_ARCH
// This binary's accumulation kernel was compiled for one instruction set only
// (tests/CMakeLists.txt): skip everything on a CPU that cannot run it.
class KernelArchEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string arch = PRECSWEEP_KERNEL_ARCH;
    __builtin_cpu_init();
    if (arch == "x86-64-v3" && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                 __builtin_cpu_supports("bmi2")))
      GTEST_SKIP() << "this CPU cannot run x86-64-v3 code";
  }
};
const auto* const kArchEnvironment =
    ::testing::AddGlobalTestEnvironment(new KernelArchEnvironment);
#endif

constexpr Rounding kAllModes[] = {Rounding::toward_zero, Rounding::nearest_even, Rounding::up,
                                  Rounding::down, Rounding::stochastic};

bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

std::string hex(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", static_cast<double>(v));
  return buf;
}

Accumulator make_acc(const char* fmt, Rounding mode, std::uint32_t chunk = 0,
                     const char* outer = "fp32", Rounding outer_mode = Rounding::nearest_even) {
  Accumulator a;
  a.format = parse_format(fmt);
  a.rounding = mode;
  a.chunk = chunk;
  a.outer = parse_format(outer);
  a.outer_rounding = outer_mode;
  return a;
}

float dot_of(std::vector<float> a, std::vector<float> b, const Accumulator& acc) {
  return dot(a, b, acc);
}

// Operands that make swamping, ties and cancellation likely: small integers times powers of
// two over a range of binades, some zeros and negative values.
std::vector<float> operands(std::size_t n, std::uint64_t key, int spread) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t r = rng::bits64(key, i);
    const int kind = static_cast<int>(r % 8);
    const int e = static_cast<int>((r >> 8) % static_cast<std::uint64_t>(2 * spread + 1)) - spread;
    float x;
    if (kind == 0)
      x = 0.0f;
    else if (kind <= 3)
      x = std::ldexp(static_cast<float>((r >> 20) % 16 + 1), e);  // few significant bits
    else
      x = static_cast<float>(std::ldexp(rng::uniform01(key + 1, i) + 0.5, e));
    v[i] = (r >> 40) & 1 ? -x : x;
  }
  return v;
}

// The three GEMMs as (rows, cols, sum length) and the factors of element (i, j).
enum class Kind { forward, backward_data, backward_weights };

struct Case {
  Kind kind;
  std::size_t batch, in, out;
};

void run_gemm(const Case& c, bool fast, const std::vector<float>& X, const std::vector<float>& Y,
              std::vector<float>& C, const Accumulator& acc, StochasticKey key,
              AccumulateStats* st) {
  switch (c.kind) {
    case Kind::forward:  // X = A[batch x in], Y = W[out x in]
      (fast ? gemm_forward : gemm_forward_ref)(X, Y, C, c.batch, c.in, c.out, acc, key, st);
      break;
    case Kind::backward_data:  // X = D[batch x out], Y = W[out x in]
      (fast ? gemm_backward_data : gemm_backward_data_ref)(X, Y, C, c.batch, c.out, c.in, acc,
                                                           key, st);
      break;
    case Kind::backward_weights:  // X = D[batch x out], Y = A[batch x in]
      (fast ? gemm_backward_weights : gemm_backward_weights_ref)(X, Y, C, c.batch, c.out, c.in,
                                                                 acc, key, st);
      break;
  }
}

// Sizes of the operands and result of a case: X, Y, C, and the element's factor vectors.
struct Shapes {
  std::size_t x, y, rows, cols, K;
};
Shapes shapes(const Case& c) {
  switch (c.kind) {
    case Kind::forward:
      return {c.batch * c.in, c.out * c.in, c.batch, c.out, c.in};
    case Kind::backward_data:
      return {c.batch * c.out, c.out * c.in, c.batch, c.in, c.out};
    case Kind::backward_weights:
      return {c.batch * c.out, c.batch * c.in, c.out, c.in, c.batch};
  }
  return {};
}

// The k-th factors of element (i, j), straight from the shapes in accumulate.hpp.
void factors(const Case& c, const std::vector<float>& X, const std::vector<float>& Y,
             std::size_t i, std::size_t j, std::vector<float>& a, std::vector<float>& b) {
  const Shapes s = shapes(c);
  a.resize(s.K);
  b.resize(s.K);
  for (std::size_t k = 0; k < s.K; ++k) {
    switch (c.kind) {
      case Kind::forward:
        a[k] = X[i * c.in + k];
        b[k] = Y[j * c.in + k];
        break;
      case Kind::backward_data:
        a[k] = X[i * c.out + k];
        b[k] = Y[k * c.in + j];
        break;
      case Kind::backward_weights:
        a[k] = X[k * c.out + i];
        b[k] = Y[k * c.in + j];
        break;
    }
  }
}

// Fast kernel, reference loop and exact reference agree bit for bit (and in the swamped count)
// on the operands X, Y of case c.
void check_operands(const Case& c, const std::vector<float>& X, const std::vector<float>& Y,
                    const Accumulator& acc, std::uint64_t seed) {
  const Shapes s = shapes(c);
  std::vector<float> fast(s.rows * s.cols, -7.0f), loop(s.rows * s.cols, -7.0f);
  const StochasticKey key{seed, 11, 0};
  AccumulateStats st_fast, st_loop;
  run_gemm(c, true, X, Y, fast, acc, key, &st_fast);
  run_gemm(c, false, X, Y, loop, acc, key, &st_loop);
  std::uint64_t swamped = 0;
  std::vector<float> a, b;
  for (std::size_t i = 0; i < s.rows; ++i)
    for (std::size_t j = 0; j < s.cols; ++j) {
      factors(c, X, Y, i, j, a, b);
      const float want = ref::dot_ref(a, b, acc, key, i * s.cols + j, &swamped);
      const std::size_t idx = i * s.cols + j;
      ASSERT_TRUE(same(loop[idx], want))
          << acc.name() << " kind " << static_cast<int>(c.kind) << " element (" << i << ", " << j
          << ") K " << s.K << ": reference loop " << hex(loop[idx]) << ", exact " << hex(want);
      ASSERT_TRUE(same(fast[idx], want))
          << acc.name() << " kind " << static_cast<int>(c.kind) << " element (" << i << ", " << j
          << ") K " << s.K << ": fast " << hex(fast[idx]) << ", exact " << hex(want)
          << "; first factors " << (s.K ? hex(a[0]) + " * " + hex(b[0]) : "")
          << (s.K > 1 ? ", " + hex(a[1]) + " * " + hex(b[1]) : "");
    }
  EXPECT_EQ(st_loop.swamped, swamped) << acc.name();
  EXPECT_EQ(st_fast.swamped, swamped) << acc.name();
  EXPECT_EQ(st_fast.additions, s.rows * s.cols * s.K);
  EXPECT_EQ(st_loop.additions, s.rows * s.cols * s.K);
}

void check_case(const Case& c, const Accumulator& acc, std::uint64_t seed, int spread) {
  const Shapes s = shapes(c);
  check_operands(c, operands(s.x, seed * 3 + 1, spread), operands(s.y, seed * 3 + 2, spread),
                 acc, seed);
}

struct Setting {
  const char* format;
  std::uint32_t chunk;
  const char* outer;
  Rounding outer_mode;
  int spread;  // binades of the operands
};

// Formats and chunkings: float, e = 8, fixed point, m = 0, the encodings, no-subnormals,
// saturate, with operands that overflow and underflow some of them.
const Setting kSettings[] = {
    {"E5M10", 0, "fp32", Rounding::nearest_even, 6},
    {"E5M10", 7, "fp32", Rounding::nearest_even, 6},
    {"E5M10", 64, "E5M10", Rounding::nearest_even, 3},
    {"bf16", 5, "bf16", Rounding::stochastic, 8},
    {"E8M19", 0, "fp32", Rounding::nearest_even, 30},
    {"fp32", 0, "fp32", Rounding::nearest_even, 30},
    {"fp32", 13, "fp32", Rounding::up, 30},
    {"fp8-e4m3", 0, "fp32", Rounding::nearest_even, 4},
    {"E5M2,saturate", 3, "E5M10", Rounding::down, 6},
    {"fp8-e5m2fnuz", 0, "fp32", Rounding::nearest_even, 12},
    {"E4M0", 0, "fp32", Rounding::nearest_even, 4},
    {"E5M10,no-subnormals", 0, "fp32", Rounding::nearest_even, 12},
    {"Q8.8", 0, "fp32", Rounding::nearest_even, 6},
    {"Q4.12", 9, "Q8.8", Rounding::toward_zero, 4},
    {"fp6-e3m2", 0, "fp32", Rounding::nearest_even, 3},
};

bool allowed(const char* format, Rounding mode) {
  Accumulator a;
  a.format = parse_format(format);
  a.rounding = mode;
  try {
    a.check();
    return true;
  } catch (const InputError&) {
    return false;
  }
}

TEST(AccumulateRandom, FastAndLoopEqualExactReferenceOverShapesFormatsModes) {
  std::uint64_t seed = 1;
  for (const Setting& s : kSettings)
    for (Rounding mode : kAllModes) {
      if (!allowed(s.format, mode)) continue;
      const Accumulator acc = make_acc(s.format, mode, s.chunk, s.outer, s.outer_mode);
      for (Kind kind : {Kind::forward, Kind::backward_data, Kind::backward_weights}) {
        const std::uint64_t r = rng::bits64(99, seed);
        // k not a multiple of 8, 16 or the chunk; columns beyond one 64-wide block sometimes
        const Case c{kind, 1 + r % 5, 1 + (r >> 8) % 70, 1 + (r >> 16) % 23};
        SCOPED_TRACE(acc.name());
        check_case(c, acc, seed++, s.spread);
        if (HasFatalFailure()) return;
      }
    }
}

TEST(AccumulateRandom, WideBlocksAndLongSums) {
  // more than one column block (64) and sums of a few hundred products
  // (forward with out < batch computes the transposed product: the last layer's shape)
  const Case cases[] = {{Kind::forward, 3, 301, 67}, {Kind::backward_data, 2, 131, 150},
                        {Kind::backward_weights, 203, 70, 3}, {Kind::forward, 70, 45, 10}};
  std::uint64_t seed = 500;
  for (const Case& c : cases)
    for (Rounding mode : kAllModes) {
      check_case(c, make_acc("E5M10", mode), seed++, 5);
      check_case(c, make_acc("bf16", mode, 64), seed++, 5);
      if (HasFatalFailure()) return;
    }
}

TEST(AccumulateStochastic, ReproducibleAndIndependentOfThreadCount) {
  const Case c{Kind::forward, 9, 200, 37};
  const Shapes s = shapes(c);
  const std::vector<float> X = operands(s.x, 5, 4), Y = operands(s.y, 6, 4);
  const Accumulator acc = make_acc("E5M10", Rounding::stochastic, 16, "bf16", Rounding::stochastic);
  auto run = [&](int threads, std::uint64_t seed) {
    std::vector<float> C(s.rows * s.cols);
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    gemm_forward(X, Y, C, c.batch, c.in, c.out, acc, StochasticKey{seed, 3, 0});
    omp_set_num_threads(before);
    return C;
  };
  const std::vector<float> one = run(1, 42), two = run(2, 42), three = run(3, 42);
  for (std::size_t i = 0; i < one.size(); ++i) {
    ASSERT_TRUE(same(one[i], two[i])) << i;
    ASSERT_TRUE(same(one[i], three[i])) << i;
  }
  const std::vector<float> other = run(2, 43);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < one.size(); ++i) differ += !same(one[i], other[i]);
  EXPECT_GT(differ, one.size() / 4) << "another seed gives other roundings";
}

TEST(AccumulateStochastic, UnbiasedOnAConstantSum) {
  // 1 + 2^-13 repeated: each addition moves E5M10's 1 up with probability 1/8; the mean over
  // many elements of the sum of 64 such additions is 1 + 64 * 2^-13 within a few sigma.
  const std::size_t n = 64, elems = 2000;
  std::vector<float> a(n, 1.0f), b(n, std::ldexp(1.0f, -13));
  a[0] = 1.0f;
  b[0] = 1.0f;
  const Accumulator acc = make_acc("E5M10", Rounding::stochastic);
  std::vector<float> A(elems * n), W(n);  // forward with out = 1: elements are rows
  for (std::size_t i = 0; i < elems; ++i)
    for (std::size_t k = 0; k < n; ++k) A[i * n + k] = b[k];
  W.assign(n, 1.0f);
  std::vector<float> Z(elems);
  gemm_forward(A, W, Z, elems, n, 1, acc, StochasticKey{7, 1, 0});
  double mean = 0;
  for (float z : Z) mean += z;
  mean /= static_cast<double>(elems);
  const double want = 1.0 + 63.0 * std::ldexp(1.0, -13);
  // per element: 63 Bernoulli(1/8) steps of 2^-10; sd of the mean ~ 2^-10 * sqrt(63*7/64)/sqrt(2000)
  EXPECT_NEAR(mean, want, 6 * std::ldexp(1.0, -10) * std::sqrt(63.0 * 7 / 64) / std::sqrt(2000.0));
}

// ---- corner cases of the single rounding -----------------------------------------------------

float fma_in(float acc, float a, float b, const char* fmt, Rounding mode) {
  // acc + a*b as a dot product: acc * 1 first (exact when acc is in the format), then a * b
  return dot_of({acc, a}, {1.0f, b}, make_acc(fmt, mode));
}

TEST(AccumulateCorners, AddendsFarBelowHalfAnUlpStillMoveDirectedModes) {
  const float tiny = std::ldexp(1.0f, -30);  // tiny * tiny = 2^-60
  for (const char* fmt : {"E5M10", "fp32", "bf16", "Q8.8"}) {
    SCOPED_TRACE(fmt);
    const Format f = parse_format(fmt);
    const float ulp = f.kind == Format::Kind::fixed ? std::ldexp(1.0f, -f.frac_bits)
                                                    : std::ldexp(1.0f, -f.man_bits);
    const float below = f.kind == Format::Kind::fixed ? 1.0f - ulp : 1.0f - ulp / 2;
    EXPECT_EQ(fma_in(1.0f, tiny, tiny, fmt, Rounding::nearest_even), 1.0f);
    EXPECT_EQ(fma_in(1.0f, tiny, tiny, fmt, Rounding::toward_zero), 1.0f);
    EXPECT_EQ(fma_in(1.0f, tiny, tiny, fmt, Rounding::down), 1.0f);
    EXPECT_EQ(fma_in(1.0f, tiny, tiny, fmt, Rounding::up), 1.0f + ulp);
    EXPECT_EQ(fma_in(1.0f, -tiny, tiny, fmt, Rounding::up), 1.0f);
    EXPECT_EQ(fma_in(1.0f, -tiny, tiny, fmt, Rounding::down), below);
    EXPECT_EQ(fma_in(1.0f, -tiny, tiny, fmt, Rounding::toward_zero), below);
    EXPECT_EQ(fma_in(1.0f, -tiny, tiny, fmt, Rounding::nearest_even), 1.0f);
    EXPECT_EQ(fma_in(-1.0f, -tiny, tiny, fmt, Rounding::down), -1.0f - ulp);
  }
  // binary32 accumulator: 1 + 2^-100 in double is exactly 1; only the exact error moves it
  EXPECT_EQ(fma_in(1.0f, std::ldexp(1.0f, -50), std::ldexp(1.0f, -50), "fp32", Rounding::up),
            std::nextafter(1.0f, 2.0f));
}

TEST(AccumulateCorners, TiesAndTheSingleRounding) {
  const float h = std::ldexp(1.0f, -11);  // half an ulp of E5M10 at 1
  EXPECT_EQ(fma_in(1.0f, h, 1.0f, "E5M10", Rounding::nearest_even), 1.0f);  // tie to even
  EXPECT_EQ(fma_in(1.0f + 2 * h, h, 1.0f, "E5M10", Rounding::nearest_even), 1.0f + 4 * h);
  // 1 + 2^-11 + 2^-34: binary32 would round it to the tie 1 + 2^-11 first (and then to 1);
  // one rounding of the exact sum goes up
  const float just_above = 1.0f + std::ldexp(1.0f, -23);
  EXPECT_EQ(fma_in(1.0f, h, just_above, "E5M10", Rounding::nearest_even), 1.0f + 2 * h);
  EXPECT_EQ(fma_in(1.0f, -h, just_above, "E5M10", Rounding::nearest_even), 1.0f - h);
  // binary32 accumulator: exact tie 1 + 2^-24 to even (1), just above it up
  EXPECT_EQ(fma_in(1.0f, std::ldexp(1.0f, -24), 1.0f, "fp32", Rounding::nearest_even), 1.0f);
  EXPECT_EQ(fma_in(1.0f, std::ldexp(1.0f, -24), just_above, "fp32", Rounding::nearest_even),
            std::nextafter(1.0f, 2.0f));
}

TEST(AccumulateCorners, OverflowPerMode) {
  const float max = 65504.0f;  // E5M10; its gap at the top is 32
  EXPECT_TRUE(std::isinf(fma_in(max, 16.0f, 1.0f, "E5M10", Rounding::nearest_even)));  // tie
  EXPECT_EQ(fma_in(max, 15.0f, 1.0f, "E5M10", Rounding::nearest_even), max);
  EXPECT_EQ(fma_in(max, 1000.0f, 1000.0f, "E5M10", Rounding::toward_zero), max);
  EXPECT_TRUE(std::isinf(fma_in(max, 1.0f, std::ldexp(1.0f, -40), "E5M10", Rounding::up)));
  EXPECT_EQ(fma_in(-max, -1.0f, std::ldexp(1.0f, -40), "E5M10", Rounding::up), -max);
  EXPECT_EQ(fma_in(max, 1000.0f, 1000.0f, "E5M10,saturate", Rounding::nearest_even), max);
  EXPECT_TRUE(std::isnan(fma_in(448.0f, 448.0f, 1.0f, "fp8-e4m3", Rounding::nearest_even)));
  // binary32: beyond 2^128 in the exact sum (the double sum does not overflow)
  EXPECT_TRUE(std::isinf(fma_in(3e38f, 1e20f, 1e20f, "fp32", Rounding::nearest_even)));
  EXPECT_EQ(fma_in(3e38f, 1e20f, 1e20f, "fp32", Rounding::toward_zero),
            std::numeric_limits<float>::max());
  // an inf accumulator stays inf; inf - inf is NaN
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(dot_of({1e30f, 1.0f}, {1e30f, 1.0f}, make_acc("E5M10", Rounding::up))));
  EXPECT_TRUE(std::isnan(dot_of({inf, -inf}, {1.0f, 1.0f}, make_acc("E5M10", Rounding::up))));
  EXPECT_TRUE(std::isnan(dot_of({inf}, {1.0f}, make_acc("fp8-e5m2fnuz", Rounding::up))));
}

TEST(AccumulateCorners, SubnormalAccumulators) {
  const float q = std::ldexp(1.0f, -24);  // E5M10's smallest subnormal
  EXPECT_EQ(fma_in(0.0f, q, 0.5f, "E5M10", Rounding::nearest_even), 0.0f);  // tie to 0
  EXPECT_EQ(fma_in(0.0f, q, 0.75f, "E5M10", Rounding::nearest_even), q);
  EXPECT_EQ(fma_in(q, q, 0.5f, "E5M10", Rounding::nearest_even), 2 * q);  // 1.5q: tie to 2q
  EXPECT_EQ(fma_in(0.0f, std::ldexp(1.0f, -70), std::ldexp(1.0f, -70), "E5M10", Rounding::up), q);
  EXPECT_EQ(fma_in(0.0f, std::ldexp(1.0f, -70), -std::ldexp(1.0f, -70), "E5M10", Rounding::up),
            -0.0f);
  EXPECT_TRUE(std::signbit(
      fma_in(0.0f, std::ldexp(1.0f, -70), -std::ldexp(1.0f, -70), "E5M10", Rounding::up)));
  EXPECT_EQ(fma_in(3 * q, -q, 2.0f, "E5M10", Rounding::nearest_even), q);
  // the tie between codes 1 and 2 (min_sub and 2 min_sub, or fixed point's words 1 and 2)
  // goes to 2, whatever the parity of min_sub's binary exponent
  for (const char* fmt : {"E5M9", "E4M3", "E5M10", "Q8.7", "Q8.8"}) {
    const float m1 = static_cast<float>(parse_format(fmt).min_subnormal());
    EXPECT_EQ(fma_in(m1, m1, 0.5f, fmt, Rounding::nearest_even), 2 * m1) << fmt;
    EXPECT_EQ(fma_in(2 * m1, m1, 0.5f, fmt, Rounding::nearest_even), 2 * m1) << fmt;
  }
  EXPECT_EQ(fma_in(0.0f, std::ldexp(1.0f, -15), 1.0f, "E5M10,no-subnormals", Rounding::up), 0.0f);
  // binary32's own subnormals (E8M23): the smallest one plus a quarter of it
  const float s = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(fma_in(s, s, 0.25f, "fp32", Rounding::nearest_even), s);
  EXPECT_EQ(fma_in(s, s, 0.25f, "fp32", Rounding::up), 2 * s);
}

// The fast nearest path below 2^emin (8 columns at once, through gemm_backward_data): a sum
// whose binary32 rounding lands on a midpoint of F's subnormal grid but whose exact value lies
// above it must round up (the grid path sends such lanes to the exact step), and -0 stays -0.
TEST(AccumulateCorners, SubnormalSumsInEightColumns) {
  const float q = std::ldexp(1.0f, -24);  // E5M10's subnormal spacing
  // 4q + (1 + 2^-23) 2^-25 = 4.5q + 2^-48: binary32 gives the midpoint 4.5q, the exact sum is
  // above it, so 5q (a tie to even would give 4q)
  const std::vector<float> D = {1.0f, 1.0f + std::ldexp(1.0f, -23)};  // [1 x 2]
  std::vector<float> W(16);                                           // [2 x 8]
  std::fill(W.begin(), W.begin() + 8, 4 * q);
  std::fill(W.begin() + 8, W.end(), std::ldexp(1.0f, -25));
  std::vector<float> C(8), R(8);
  const Accumulator acc = make_acc("E5M10", Rounding::nearest_even);
  gemm_backward_data(D, W, C, 1, 2, 8, acc);
  gemm_backward_data_ref(D, W, R, 1, 2, 8, acc);
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(C[static_cast<std::size_t>(j)], 5 * q) << j;
    EXPECT_EQ(R[static_cast<std::size_t>(j)], 5 * q) << j;
  }
  // -tiny rounds to -0 on the grid; then -0 + (-0) stays -0
  const std::vector<float> Dz = {-1.0f, -1.0f};
  std::vector<float> Wz(16, 0.0f);
  std::fill(Wz.begin(), Wz.begin() + 8, std::ldexp(1.0f, -40));
  gemm_backward_data(Dz, Wz, C, 1, 2, 8, acc);
  for (float c : C) EXPECT_TRUE(c == 0.0f && std::signbit(c));
}

TEST(AccumulateCorners, SignedZeros) {
  // an exact zero sum is +0 (also rounding down), -0 only from -0 + -0
  EXPECT_FALSE(std::signbit(dot_of({1.0f, -1.0f}, {1.0f, 1.0f}, make_acc("E5M10", Rounding::down))));
  EXPECT_FALSE(std::signbit(dot_of({-0.0f}, {1.0f}, make_acc("E5M10", Rounding::nearest_even))));
  // -2^-140 rounds up to -0; adding -0 * 1 keeps -0 (fnuz has no -0)
  const float t = std::ldexp(1.0f, -70);
  EXPECT_TRUE(std::signbit(dot_of({-t, -0.0f}, {t, 1.0f}, make_acc("E5M10", Rounding::up))));
  EXPECT_FALSE(std::signbit(dot_of({-t, 1.0f}, {t, 0.0f}, make_acc("E5M10", Rounding::up))));
  EXPECT_FALSE(
      std::signbit(dot_of({-t, -0.0f}, {t, 1.0f}, make_acc("fp8-e5m2fnuz", Rounding::up))));
  // the same through the exact reference
  EXPECT_TRUE(std::signbit(ref::fma_round_ref(-0.0f, -0.0f, 1.0f, parse_format("E5M10"),
                                              Rounding::nearest_even, 0)));
}

// The fast path for round to nearest (accumulate_kernel.cpp) runs intervals of 16 or 32 steps
// without a test and runs an interval again, checked step by step, when a sum of its row hit a
// midpoint, left F's range or is not finite at the end. Here dA = D W (backward_data, 4 rows,
// 40 columns, sums of 40): D is 1 except where a row must not see an event, and single columns
// of W carry: sums that binary32 rounds onto a midpoint of E5M10 or bf16 at step 19 of row 1
// only (1 + 2^-11 - 2^-35 and 1 + 2^-8 - 2^-32, which must round down, where the fast path's
// rounding of the midpoint goes up). Variants: W_big, a value that makes E5M10's sums run with
// range checks; W_ovf, sums that overflow E5M10 and come back below its max within an interval
// (the reference stays inf); W_inf, binary32 overflow to inf and inf - inf (NaN); and binary32
// subnormal operands, which the fast path cannot scale (exact steps throughout). Each of the
// midpoint flag (wide and narrow), the range flag's bound and the inf/NaN check at an interval's
// end makes this test fail when it is removed.
TEST(AccumulateFastNearest, IntervalsThatMustRunAgain) {
  const Case c{Kind::backward_data, 4, 40, 40};  // D[4 x 40], W[40 x 40]
  std::vector<float> D(4 * 40, 1.0f), W(40 * 40);
  // ordinary sums, exact in every format here (so that no other lane fails an interval)
  for (std::size_t i = 0; i < W.size(); ++i)
    W[i] = std::ldexp((i / 40) % 2 ? 1.0f : -1.0f, -static_cast<int>(i % 4));
  auto w = [](std::vector<float>& m, std::size_t k, std::size_t j) -> float& {
    return m[k * 40 + j];
  };
  for (std::size_t k = 0; k < 40; ++k)
    for (std::size_t j : {5, 6, 9, 12, 20, 21}) w(W, k, j) = 0.0f;
  w(W, 0, 5) = w(W, 0, 6) = 1.0f;
  const float below = 1.0f - std::ldexp(1.0f, -24);
  w(W, 19, 5) = std::ldexp(below, -11);  // E5M10's midpoint 1 + 2^-11
  w(W, 19, 6) = std::ldexp(below, -8);   // bf16's 1 + 2^-8
  for (std::size_t i = 0; i < 4; ++i)
    if (i != 1) D[i * 40 + 19] = 0.0f;  // only row 1 meets the midpoints
  // W alone: E5M10's sums cannot overflow, so they run without range checks
  std::vector<float> W_ovf = W, W_inf = W, W_big = W;
  w(W_big, 2, 9) = 30000.0f, w(W_big, 3, 9) = -30000.0f;  // range checks, nothing out of range
  w(W_ovf, 2, 9) = 60000.0f, w(W_ovf, 3, 9) = 60000.0f, w(W_ovf, 4, 9) = -60000.0f;
  // (no midpoint on the way, which would send the interval to the checked steps anyway)
  w(W_ovf, 34, 12) = 60032.0f, w(W_ovf, 35, 12) = 8192.0f, w(W_ovf, 37, 12) = -30016.0f;
  w(W_inf, 2, 20) = 3e38f, w(W_inf, 3, 20) = 3e38f, w(W_inf, 4, 20) = -3e38f;  // binary32: inf
  w(W_inf, 6, 21) = std::numeric_limits<float>::infinity();
  w(W_inf, 7, 21) = -std::numeric_limits<float>::infinity();  // NaN
  std::uint64_t seed = 900;
  for (const std::vector<float>* m : {&W, &W_big, &W_ovf, &W_inf})
    for (const char* fmt : {"E5M10", "bf16", "E8M10", "fp8-e4m3", "E5M10,no-subnormals",
                            "fp8-e5m2fnuz"})
      for (std::uint32_t chunk : {0u, 7u}) {
        SCOPED_TRACE(std::string(fmt) + " chunk " + std::to_string(chunk));
        check_operands(c, D, *m, make_acc(fmt, Rounding::nearest_even, chunk), seed++);
      }
  std::vector<float> dA(4 * 40);
  for (const std::vector<float>* m : {&W, &W_big, &W_ovf}) {
    gemm_backward_data(D, *m, dA, 4, 40, 40, make_acc("E5M10", Rounding::nearest_even));
    EXPECT_EQ(dA[1 * 40 + 5], 1.0f);
    gemm_backward_data(D, *m, dA, 4, 40, 40, make_acc("bf16", Rounding::nearest_even));
    EXPECT_EQ(dA[1 * 40 + 6], 1.0f);
  }
  gemm_backward_data(D, W_ovf, dA, 4, 40, 40, make_acc("E5M10", Rounding::nearest_even));
  EXPECT_TRUE(std::isinf(dA[9]) && std::isinf(dA[12]));
  // subnormal operands: no scale moves E5M10's range onto binary32's
  std::vector<float> Ds(D), Ws(W);
  Ds[3] = std::numeric_limits<float>::denorm_min();
  Ws[7] = -std::numeric_limits<float>::denorm_min();
  check_operands(c, Ds, Ws, make_acc("E5M10", Rounding::nearest_even), seed++);
}

// Operands rounded to low-precision formats, as in FP8 training: their sums hit midpoints of
// the accumulator all the time. With products of at most m + 1 bits (E5M2, E4M3 into E5M10 or
// E8M7) every such hit is an exact tie and the fast path rounds ties to even without checks
// (GemmView::ties_exact); with bf16 and fp16 operands it must not, and the checked steps run.
TEST(AccumulateFastNearest, LowPrecisionOperands) {
  std::uint64_t seed = 2000;
  for (const char* operand_format : {"E5M2", "E4M3", "bf16", "fp16"})
    for (const char* acc_format : {"E5M10", "bf16", "E8M10"})
      for (std::uint32_t chunk : {0u, 16u}) {
        const Case c{Kind::backward_data, 5, 45, 37};  // D[5 x 37], W[37 x 45]
        const Shapes s = shapes(c);
        std::vector<float> X = operands(s.x, seed * 3 + 1, 3), Y = operands(s.y, seed * 3 + 2, 3);
        quantize(X, parse_format(operand_format), Rounding::nearest_even);
        quantize(Y, parse_format(operand_format), Rounding::nearest_even);
        SCOPED_TRACE(std::string(operand_format) + " into " + acc_format + " chunk " +
                     std::to_string(chunk));
        check_operands(c, X, Y, make_acc(acc_format, Rounding::nearest_even, chunk), seed++);
        if (HasFatalFailure()) return;
      }
}

TEST(AccumulatePinned, IssueSums) {
  // 2^-12 added to 1.0 in E5M10: lost in nearest_even, kept (as the next value) in up
  const float t = std::ldexp(1.0f, -12);
  EXPECT_EQ(fma_in(1.0f, t, 1.0f, "E5M10", Rounding::nearest_even), 1.0f);
  EXPECT_EQ(fma_in(1.0f, t, 1.0f, "E5M10", Rounding::up), 1.0f + std::ldexp(1.0f, -10));
  // 4096 ones in E5M10 stop at 2048 (2048 + 1 is a tie, to even 2048); chunk 64 with an fp32
  // outer accumulator reaches 4096
  const std::vector<float> ones(4096, 1.0f);
  AccumulateStats st;
  EXPECT_EQ(dot(ones, ones, make_acc("E5M10", Rounding::nearest_even), {}, &st), 2048.0f);
  EXPECT_EQ(st.additions, 4096u);
  EXPECT_EQ(st.swamped, 2048u);
  EXPECT_EQ(dot(ones, ones, make_acc("E5M10", Rounding::nearest_even, 64), {}, &st), 4096.0f);
  EXPECT_EQ(st.swamped, 0u);
  // the same through the three GEMMs
  std::vector<float> C(1);
  gemm_forward(ones, ones, C, 1, 4096, 1, make_acc("E5M10", Rounding::nearest_even));
  EXPECT_EQ(C[0], 2048.0f);
  gemm_backward_data(ones, ones, C, 1, 4096, 1, make_acc("E5M10", Rounding::nearest_even, 64));
  EXPECT_EQ(C[0], 4096.0f);
  gemm_backward_weights(ones, ones, C, 4096, 1, 1, make_acc("E5M10", Rounding::nearest_even));
  EXPECT_EQ(C[0], 2048.0f);
}

TEST(AccumulateApi, EmptySumsShapesAndKeys) {
  EXPECT_EQ(dot(std::vector<float>{}, std::vector<float>{}, make_acc("E5M10", Rounding::up)), 0.0f);
  std::vector<float> A(6, 1.0f), W(6, 1.0f), Z(4);
  EXPECT_THROW(gemm_forward(A, W, Z, 2, 3, 3, make_acc("E5M10", Rounding::up)),
               std::invalid_argument);
  EXPECT_THROW(dot(A, std::vector<float>(5), make_acc("E5M10", Rounding::up)),
               std::invalid_argument);
  EXPECT_THROW(dot(A, W, make_acc("E5M10", Rounding::stochastic), StochasticKey{1, 2, 3}),
               std::invalid_argument);
  std::vector<float> Z0;
  gemm_forward(std::vector<float>{}, W, Z0, 0, 3, 2, make_acc("E5M10", Rounding::up));
}

TEST(AccumulateParse, TextNamesAndErrors) {
  const Accumulator a = parse_accumulator("E5M10");
  EXPECT_EQ(a.format, parse_format("E5M10"));
  EXPECT_EQ(a.rounding, Rounding::nearest_even);
  EXPECT_EQ(a.chunk, 0u);
  const Accumulator b = parse_accumulator("e5m2,saturate:up,chunk=64,outer=bf16:toward_zero");
  EXPECT_EQ(b.format, parse_format("E5M2,saturate"));
  EXPECT_EQ(b.rounding, Rounding::up);
  EXPECT_EQ(b.chunk, 64u);
  EXPECT_EQ(b.outer, parse_format("bf16"));
  EXPECT_EQ(b.outer_rounding, Rounding::toward_zero);
  EXPECT_EQ(b.name(), "E5M2,saturate:up,chunk=64,outer=E8M7:toward_zero");
  for (const char* text : {"E5M10", "E5M10:stochastic,chunk=64", "fp8-e4m3:down,chunk=16",
                           "Q8.8,chunk=3,outer=E5M10,saturate:up"})
    EXPECT_EQ(parse_accumulator(parse_accumulator(text).name()), parse_accumulator(text)) << text;
  EXPECT_TRUE(parse_accumulator("fp32").is_blas());
  EXPECT_FALSE(parse_accumulator("fp32,chunk=64").is_blas());
  EXPECT_FALSE(parse_accumulator("fp32:up").is_blas());
  EXPECT_FALSE(parse_accumulator("E5M10").is_blas());
  for (const char* bad : {"", "E5M10:sideways", "E5M10,chunk=x", "E5M10,chunk=-1",
                          "E5M10,outer=fp32", "E5M10,chunk=4,chunk=5", "E9M10", "fp32:stochastic",
                          "E5M10,chunk=4,outer=E8M20:stochastic", "E5M10,bogus=1", "Q12.12:stochastic"})
    EXPECT_THROW(parse_accumulator(bad), InputError) << bad;
  try {
    parse_accumulator("E5M10,chunk=x");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("chunk"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace precsweep
