// Tests of the block formats (OCP MX, NVFP4; docs/formats.md, "Block formats"): quantize()
// against the exact reference (blocks_ref.cpp) on every element value, midpoint and binary32
// neighbour of each element format inside blocks of many scales (FormatsExhaustive.Blocks*),
// random blocks of wide dynamic range (FormatsRandom.Blocks*), edge blocks (zeros, subnormals,
// one huge value, inf/NaN, the last partial block), every mode; stochastic rounding (a
// neighbour always, unbiased); the issue's pinned vectors; the counts; the matrix API; parsing.
// Part of test_formats. Deliberately leaves out: the scalar formats (test_formats.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "blocks_ref.hpp"
#include "precsweep/error.hpp"
#include "precsweep/formats.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

constexpr Rounding kModes[] = {Rounding::toward_zero, Rounding::nearest_even, Rounding::up,
                               Rounding::down, Rounding::stochastic};

// The block formats checked against the reference: every preset and generic shapes (other k,
// encodings, options, int<w>).
const char* const kBlockFormats[] = {"mxfp8-e4m3",
                                     "mxfp8-e5m2",
                                     "mxfp6-e3m2",
                                     "mxfp6-e2m3",
                                     "mxfp4",
                                     "mxint8",
                                     "nvfp4",
                                     "mx:fp8-e4m3fnuz:8",
                                     "mx:E3M4:5",
                                     "mx:fp8-e5m2fnuz,no-subnormals:32",
                                     "mx:int4:7",
                                     "mx:int2:3",
                                     "mx:E2M1,fn:1",
                                     "mx:E4M10,fn:64",
                                     "mx:fp4-e2m1,no-subnormals:32",
                                     "mx:E5M2,fn:17",
                                     "mx:E3M0:4"};

std::uint32_t bits(float v) { return std::bit_cast<std::uint32_t>(v); }

bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return bits(a) == bits(b);
}

std::string hex(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", static_cast<double>(v));
  return buf;
}

std::vector<std::uint32_t> words(const StochasticKey& key, std::size_t n) {
  std::vector<std::uint32_t> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = stochastic_bits(key, i);
  return w;
}

// quantize() against the reference, values bit for bit and every count. Returns mismatches.
std::size_t check_against_ref(const std::vector<float>& x, const Format& fmt, Rounding mode,
                              StochasticKey key = {3, 4, 5}) {
  std::vector<float> got = x;
  QuantizeStats st;
  quantize(got, fmt, mode, key, &st);
  ref::BlockRefStats rs;
  const std::vector<float> want = ref::quantize_blocks_ref(x, fmt, mode, words(key, x.size()), &rs);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!same(got[i], want[i]) && ++bad <= 3)
      ADD_FAILURE() << fmt.name() << " " << to_string(mode) << " i=" << i << " (block "
                    << i / static_cast<std::size_t>(fmt.block_size) << ") x=" << hex(x[i])
                    << " got " << hex(got[i]) << " want " << hex(want[i]);
  EXPECT_EQ(st.overflow, rs.saturated) << fmt.name() << " " << to_string(mode);
  EXPECT_EQ(st.underflow, rs.flushed) << fmt.name() << " " << to_string(mode);
  EXPECT_EQ(st.blocks, rs.blocks) << fmt.name();
  EXPECT_EQ(st.clamped_blocks, rs.clamped) << fmt.name() << " " << to_string(mode);
  EXPECT_EQ(st.nan_blocks, rs.nan_blocks) << fmt.name();
  return bad;
}

// Values of interest for an element with grid g (non-negative values and the next point):
// every value (at most ~300 of them, evenly sampled above), each midpoint, and the binary32
// neighbours of both; all times `scale`, kept when exact in binary32 and at most `limit`.
std::vector<float> element_candidates(const std::vector<double>& g, double scale, double limit) {
  std::vector<float> out;
  const std::size_t step = g.size() > 300 ? g.size() / 300 : 1;
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i + 1 < g.size(); i += (i + step + 1 < g.size() ? step : 1)) {
    for (double v : {g[i], (g[i] + g[i + 1]) / 2}) {
      const double sv = v * scale;
      const float f = static_cast<float>(sv);
      if (static_cast<double>(f) != sv) continue;
      for (float c : {f, std::nextafter(f, inf), std::nextafter(f, 0.0f)})
        if (static_cast<double>(c) <= limit) out.push_back(c);
    }
  }
  return out;
}

// Blocks whose largest magnitude is `amax` (its first element, sign alternating) filled with
// candidates (alternating signs), k - 1 per block.
void append_blocks(std::vector<float>& x, std::size_t k, float amax,
                   const std::vector<float>& cand) {
  std::size_t c = 0, b = 0;
  while (c < cand.size()) {
    x.push_back(b++ % 2 ? -amax : amax);
    for (std::size_t j = 1; j < k; ++j, ++c) {
      const float v = c < cand.size() ? cand[c] : 0.0f;
      x.push_back(c % 3 == 1 ? -v : v);
    }
  }
}

TEST(FormatsExhaustive, BlocksEveryElementValueAndMidpointAtManyScales) {
  for (const char* name : kBlockFormats) {
    const Format fmt = parse_format(name);
    const std::vector<double> g = ref::element_grid(fmt.element());
    const double max = g[g.size() - 2];
    const int emax = std::ilogb(max);
    const std::size_t k = static_cast<std::size_t>(fmt.block_size);
    std::vector<float> x;
    if (fmt.scaling == Scaling::mx) {
      // block scales 2^s: clamped below (-130, -127 reached only by clamping for emax > 0),
      // ordinary, and the largest; amax mantissas 1, 1.5, max's and just below 2 (saturation)
      for (int s : {-135, -127, -100, -3, 0, 7, 127 - emax}) {
        for (double mant : {1.0, 1.5, max / std::ldexp(1.0, emax), 1.96875}) {
          const double amax = std::ldexp(mant, s + emax);
          if (amax < 0x1p-149 || amax > 3.4e38) continue;
          const int s_used = std::max(s, -127);
          const double scale = std::ldexp(1.0, s_used);
          append_blocks(x, std::max<std::size_t>(k, 2), static_cast<float>(amax),
                        element_candidates(g, scale, amax));
        }
      }
    } else {
      // NVFP4: tensors whose amax A makes S = 2688 / A ordinary or huge, blocks of several
      // amax b; candidates near the E2M1 grid points and midpoints as the block maps them
      for (double A : {6.0, 1e-3, 3e38, 1e-40}) {
        for (double ratio : {1.0, 0.37, 1e-4, 1e-7}) {
          const double b = A * ratio;
          std::vector<float> cand;
          for (double v : g) {
            for (double w : {v, v + 0.25}) {
              const float c = static_cast<float>(w * b / 6);
              for (float d : {c, std::nextafter(c, 1e30f), std::nextafter(c, 0.0f)})
                if (static_cast<double>(d) <= b) cand.push_back(d);
            }
          }
          append_blocks(x, k, static_cast<float>(b), cand);
        }
        x.push_back(static_cast<float>(A));  // the tensor's amax, in a block of its own
        while (x.size() % k) x.push_back(0.0f);
      }
    }
    for (Rounding mode : kModes) EXPECT_EQ(check_against_ref(x, fmt, mode), 0u) << name;
  }
}

// Random blocks: log-uniform magnitudes over all of binary32 or a narrower range per block,
// one huge value, zeros, binary32 subnormals, inf/NaN; a length that leaves a partial block and
// exceeds the parallel threshold.
std::vector<float> random_blocks(std::size_t n, std::size_t k, std::uint64_t seed) {
  std::vector<float> x(n);
  const std::uint64_t key = rng::key(seed, 17);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t block = i / k;
    const std::uint64_t rb = rng::bits64(key, block), r = rng::bits64(key ^ 0x77, i);
    const float sign = (r >> 3) & 1 ? -1.0f : 1.0f;
    const float mant = 1.0f + static_cast<float>((r >> 20) & 0x7FFFFF) * 0x1p-23f;
    const int center = static_cast<int>(rb % 270) - 145;
    const int width = 1 + static_cast<int>((rb >> 12) % 40);
    int e = center + static_cast<int>((r >> 40) % static_cast<std::uint64_t>(width)) - width / 2;
    e = std::clamp(e, -149, 127);
    float v = sign * std::ldexp(mant, e);
    switch (rb % 23) {
      case 0:
        v = (r & 1) ? 0.0f : -0.0f;
        break;  // zeros
      case 1:
        v = std::bit_cast<float>(static_cast<std::uint32_t>(r) & 0x807FFFFFu);
        break;  // subnormals
      case 2:
        if (i % k == (rb >> 20) % k) v = sign * 3e38f;
        break;  // one huge
      case 3:
        if (i % k == (rb >> 20) % k)
          v = (r & 2) ? std::numeric_limits<float>::infinity()
                      : std::numeric_limits<float>::quiet_NaN();
        break;
      default:
        break;
    }
    x[i] = v;
  }
  return x;
}

TEST(FormatsRandom, BlocksOfWideDynamicRangeMatchReferenceInEveryMode) {
  for (const char* name : kBlockFormats) {
    const Format fmt = parse_format(name);
    const std::size_t n = (std::size_t{1} << 16) + 12345;  // threaded, partial last block
    const std::vector<float> x = random_blocks(n, static_cast<std::size_t>(fmt.block_size), 99);
    for (Rounding mode : kModes) EXPECT_EQ(check_against_ref(x, fmt, mode, {7, 8, 9}), 0u) << name;
  }
}

TEST(FormatsBlocks, EdgeBlocksMatchReferenceAndTheirRules) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const char* name : kBlockFormats) {
    const Format fmt = parse_format(name);
    const std::size_t k = static_cast<std::size_t>(fmt.block_size);
    std::vector<float> x;
    auto block = [&](auto value_at) {
      for (std::size_t j = 0; j < k; ++j) x.push_back(value_at(j));
    };
    block([](std::size_t j) { return j % 2 ? -0.0f : 0.0f; });  // zeros
    block([](std::size_t j) {
      return std::bit_cast<float>(0x00000001u + 977u * static_cast<std::uint32_t>(j));
    });  // subnormal-only
    block(
        [](std::size_t j) { return j == 0 ? 1e30f : 1e-10f * static_cast<float>(j); });  // one huge
    block([&](std::size_t j) { return j == k / 2 ? inf : 1.0f; });                       // inf
    block([&](std::size_t j) { return j == k - 1 ? -nan : -2.5f; });                     // NaN
    block([](std::size_t j) { return 0x1p-140f * static_cast<float>(j + 1); });          // clamped
    x.push_back(-0.3f);                                                                  // partial
    for (Rounding mode : kModes) EXPECT_EQ(check_against_ref(x, fmt, mode), 0u) << name;
    std::vector<float> y = x;
    QuantizeStats st;
    quantize(y, fmt, Rounding::nearest_even, {}, &st);
    const bool fnuz = fmt.encoding == Encoding::fnuz;
    for (std::size_t j = 0; j < k; ++j) {
      EXPECT_EQ(bits(y[j]), fnuz ? 0u : bits(x[j])) << name << " zero block keeps its zeros";
      EXPECT_TRUE(std::isnan(y[3 * k + j])) << name << " inf block";
      EXPECT_TRUE(std::isnan(y[4 * k + j])) << name << " NaN block";
    }
    EXPECT_EQ(st.blocks, 7u) << name;
    EXPECT_EQ(st.nan_blocks, 2u) << name;
    EXPECT_GE(st.clamped_blocks, fmt.scaling == Scaling::mx && k > 1 ? 1u : 0u) << name;
  }
}

// ---- pinned values ---------------------------------------------------------------------------

std::vector<float> q(std::vector<float> x, const char* name,
                     Rounding mode = Rounding::nearest_even) {
  quantize(x, parse_format(name), mode);
  return x;
}

TEST(FormatsBlocks, PinnedVectorsFromTheIssue) {
  // MXFP8-E4M3: block max 960 -> s = floor(log2 960) - 8 = 1, X = 2; 957 / 2 = 478.5 rounds to
  // 480 (spacing 32), saturates to 448: 896. 960 itself gives 896 too.
  std::vector<float> b(32, 1.0f);
  b[0] = 960.0f;
  b[1] = 957.0f;
  b[2] = 100.0f;  // 50 is the tie between 48 and 52 (spacing 4 in [32, 64)): 48 (even): 96
  const std::vector<float> r = q(b, "mxfp8-e4m3");
  EXPECT_EQ(r[0], 896.0f);
  EXPECT_EQ(r[1], 896.0f);
  EXPECT_EQ(r[2], 96.0f);
  EXPECT_EQ(r[3], 1.0f);
  // MXFP4: block max 6 -> s = 2 - 2 = 0: plain E2M1 (5 -> 4, 5.01 -> 6, 7 would be amax)
  EXPECT_EQ(q({6.0f, 5.0f, 5.01f, 0.25f, 0.75f}, "mxfp4"),
            (std::vector<float>{6.0f, 4.0f, 6.0f, 0.0f, 1.0f}));
  // block max 7: s = 2 - 2 = 0, 7 -> 8 (tie to even), saturated to 6
  EXPECT_EQ(q({7.0f, 3.0f}, "mxfp4"), (std::vector<float>{6.0f, 3.0f}));
  // MXINT8: k / 64 with |k| <= 127; amax 1.9999 -> s = 0: -1.9999 saturates to -127/64 (not -2)
  EXPECT_EQ(q({-1.9999f, 0.5078125f, 0.5234375f}, "mxint8"),
            (std::vector<float>{-1.984375f, 0.5f, 0.53125f}));
  // amax 4 -> s = 2, X = 4: 1.0078125 / 4 = 0.251953125 = 16.125 / 64 -> 16/64 * 4 = 1
  EXPECT_EQ(q({4.0f, 1.0078125f}, "mxint8"), (std::vector<float>{4.0f, 1.0f}));
  // scale clamped at 2^-127: amax 2^-130 in E4M3 (emax 8) would want s = -138
  QuantizeStats st;
  std::vector<float> tiny = {0x1p-130f, 0x1.8p-140f};
  quantize(tiny, parse_format("mxfp8-e4m3"), Rounding::nearest_even, {}, &st);
  EXPECT_EQ(tiny[0], 0x1p-130f);  // 2^-3 on the element grid (X = 2^-127)
  EXPECT_EQ(tiny[1], 0.0f);       // 1.5 * 2^-13 on the grid: below E4M3's 2^-9 / 2: flushed
  EXPECT_EQ(st.clamped_blocks, 1u);
}

TEST(FormatsBlocks, Nvfp4FollowsTheBinary32Recipe) {
  // A = 6: S = 2688 / 6 = 448, M = RN(448 * RN(1/6)) = 0x1.2aaaacp+6; block amax 6:
  // RN(6 * M) = 0x1.c00002p+8 -> E4M3 448; RN(448 * RN(1/448)) = 1, so e = 1 and
  // f = RN(RN(448 * 6) * RN(1/2688)) = 1: plain E2M1 rounding (docs/formats.md's example).
  EXPECT_EQ(q({6.0f, 5.0f, -2.9f, 0.2f, 1.24f}, "nvfp4"),
            (std::vector<float>{6.0f, 4.0f, -3.0f, 0.0f, 1.0f}));
  // A whole tensor of zeros stays zeros (S = 1), signs kept
  EXPECT_EQ(bits(q({-0.0f, 0.0f}, "nvfp4")[0]), 0x80000000u);
  // Two blocks, A = 6000: the second block's scale RN(6 * M) ~ 0.448 rounds to the E4M3 value
  // 0.4375, so its 6 maps to 6.144, rounds to 6 and comes back as 5.859375
  // (values from an independent Python emulation of the same binary32 steps).
  std::vector<float> two(32, 0.0f);
  two[0] = 6000.0f;
  two[16] = 6.0f;
  two[17] = 2.0f;
  QuantizeStats st;
  quantize(two, parse_format("nvfp4"), Rounding::nearest_even, {}, &st);
  EXPECT_EQ(two[0], 6000.0f);
  EXPECT_EQ(two[16], 5.859375f);
  EXPECT_EQ(two[17], 1.953125f);
  EXPECT_EQ(st.overflow, 0u);  // 6.144 rounds to 6 itself: no saturation
  EXPECT_EQ(st.clamped_blocks, 0u);
  // M = RN(S * RN(1/6)), not RN(S / 6): for this A the two differ by one ulp and the block's
  // RN(b * M) lies on the E4M3 tie 3.875 between 3.75 and 4 (so d = 4, not 3.75); values from
  // the Python emulation.
  std::vector<float> tie(32, 0.0f);
  tie[0] = 0x1.9e11e4p+4f;
  tie[16] = 0x1.ca6f3ap-3f;
  tie[17] = tie[16] / 3.0f;
  quantize(tie, parse_format("nvfp4"), Rounding::nearest_even);
  EXPECT_EQ(tie[16], 0x1.d93904p-3f);
  EXPECT_EQ(tie[17], 0x1.3b7b58p-4f);
  EXPECT_EQ(st.blocks, 2u);
}

// ---- stochastic rounding -----------------------------------------------------------------------

TEST(FormatsBlocks, StochasticIsAlwaysANeighbourAndUnbiased) {
  // Always one of the two neighbours (the toward-zero and away-from-zero results of the same
  // block scale), for every format, on random blocks.
  for (const char* name : kBlockFormats) {
    const Format fmt = parse_format(name);
    const std::vector<float> x = random_blocks(20000, static_cast<std::size_t>(fmt.block_size), 5);
    std::vector<float> s = x, tz = x, up = x, down = x;
    quantize(s, fmt, Rounding::stochastic, {11, 12, 13});
    quantize(tz, fmt, Rounding::toward_zero);
    quantize(up, fmt, Rounding::up);
    quantize(down, fmt, Rounding::down);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float away = std::signbit(x[i]) ? down[i] : up[i];
      bad += !same(s[i], tz[i]) && !same(s[i], away);
    }
    EXPECT_EQ(bad, 0u) << name;
  }
  // Unbiased: blocks [amax, x, x, ...] with x a quarter, half, three quarters of the way from
  // one scaled element value to the next; the fraction rounded away over 10^5 draws.
  struct Case {
    const char* fmt;
    float amax, lo, gap;
  };
  const Case cases[] = {
      {"mxfp8-e4m3", 256.0f, 96.0f, 8.0f},              // s = 0, spacing 8 in [64, 128)
      {"mxfp8-e4m3", 0x1p-125f, 0x1p-131f, 0x1p-134f},  // s = -133 clamped to -127
      {"mxint8", 3.0f, 1.0f, 1.0f / 32},                // s = 1, spacing 2 * 2^-6
      {"mxfp4", -48.0f, -16.0f, -8.0f},                 // s = 3, E2M1 2 -> 3 scaled by 8
      {"nvfp4", 6.0f, 2.0f, 1.0f},                      // e = 1 (A = b = 6): E2M1 2 -> 3
  };
  std::uint64_t seed = 40;
  for (const Case& c : cases) {
    const Format fmt = parse_format(c.fmt);
    const std::size_t k = static_cast<std::size_t>(fmt.block_size);
    for (double frac : {0.25, 0.5, 0.75}) {
      const float v = c.lo + static_cast<float>(frac) * c.gap;
      std::vector<float> x;
      for (std::size_t i = 0; x.size() < 100000 * k / (k - 1); ++i)
        x.push_back(i % k == 0 ? c.amax : v);
      quantize(x, fmt, Rounding::stochastic, {++seed, 1, 0});
      std::size_t away = 0, n = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (i % k == 0) continue;
        ++n;
        away += std::fabs(x[i]) > std::fabs(c.lo);
        EXPECT_TRUE(x[i] == c.lo || x[i] == c.lo + c.gap) << c.fmt << " " << hex(x[i]);
      }
      const double p = static_cast<double>(away) / static_cast<double>(n);
      EXPECT_NEAR(p, frac, 5 * std::sqrt(frac * (1 - frac) / static_cast<double>(n))) << c.fmt;
    }
  }
}

TEST(FormatsBlocks, SameBitsForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  for (const char* name : {"mxfp8-e4m3", "nvfp4", "mx:int4:7"}) {
    const Format fmt = parse_format(name);
    const std::vector<float> x =
        random_blocks((std::size_t{1} << 18) + 7, static_cast<std::size_t>(fmt.block_size), 3);
    std::vector<float> one = x, two = x;
    QuantizeStats s1, s2;
    omp_set_num_threads(1);
    quantize(one, fmt, Rounding::stochastic, {1, 2, 3}, &s1);
    omp_set_num_threads(2);
    quantize(two, fmt, Rounding::stochastic, {1, 2, 3}, &s2);
    std::size_t diff = 0;
    for (std::size_t i = 0; i < x.size(); ++i) diff += !same(one[i], two[i]);
    EXPECT_EQ(diff, 0u) << name;
    EXPECT_EQ(s1.overflow, s2.overflow);
    EXPECT_EQ(s1.underflow, s2.underflow);
    EXPECT_EQ(s1.clamped_blocks, s2.clamped_blocks);
  }
  omp_set_num_threads(saved);
}

// ---- the matrix API ------------------------------------------------------------------------

TEST(FormatsBlocks, MatrixBlocksRestartPerRowOrColumnAndMatchTheArrayPath) {
  const std::size_t rows = 37, cols = 45, ld = 50;
  for (const char* name : {"mxfp8-e4m3", "nvfp4", "mx:int4:7", "fp8-e4m3", "bf16"}) {
    const Format fmt = parse_format(name);
    for (Rounding mode : {Rounding::nearest_even, Rounding::stochastic}) {
      const StochasticKey key{21, 22, 100};
      std::vector<float> m = random_blocks(rows * ld, 9, 77);  // shape [rows][ld]
      for (std::size_t i = 0; i < m.size(); ++i)
        if (!std::isfinite(m[i])) m[i] = 1.0f;  // keep the nvfp4 tensor finite
      const std::vector<float> base = m;
      // rows: each row is one line whose blocks start at its column 0; element (r, c) has
      // index r * cols + c; nvfp4's tensor amax is the whole matrix's (a padding value
      // between cols and ld must not count, nor change)
      std::vector<float> a = base;
      for (std::size_t r = 0; r < rows; ++r) a[r * ld + cols + 1] = 1e30f;
      QuantizeStats st;
      quantize_matrix(a.data(), rows, cols, ld, BlockAxis::rows, fmt, mode, key, &st);
      std::vector<float> packed(rows * cols);  // shape [rows][cols]
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) packed[r * cols + c] = base[r * ld + c];
      std::vector<float> want = packed;
      if (fmt.is_block()) {
        // the reference, one row at a time; nvfp4 with the whole matrix's amax placed in a
        // row of its own is not expressible per row, so compare nvfp4 rows with the
        // reference of the whole packed matrix when cols is a multiple of k instead (below)
        if (fmt.scaling == Scaling::mx) {
          for (std::size_t r = 0; r < rows; ++r) {
            std::vector<float> row(packed.begin() + static_cast<std::ptrdiff_t>(r * cols),
                                   packed.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols));
            std::vector<std::uint32_t> w(cols);
            for (std::size_t c = 0; c < cols; ++c) w[c] = stochastic_bits(key, r * cols + c);
            const std::vector<float> rr = ref::quantize_blocks_ref(row, fmt, mode, w);
            std::copy(rr.begin(), rr.end(), want.begin() + static_cast<std::ptrdiff_t>(r * cols));
          }
        } else {
          std::fill(want.begin(), want.end(), std::numeric_limits<float>::quiet_NaN());
        }
      } else {
        quantize(want, fmt, mode, key);
      }
      std::size_t bad = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c)
          if (!std::isnan(want[r * cols + c])) bad += !same(a[r * ld + c], want[r * cols + c]);
        EXPECT_EQ(a[r * ld + cols + 1], 1e30f);  // padding untouched
        EXPECT_EQ(bits(a[r * ld + cols]), bits(base[r * ld + cols]));
      }
      EXPECT_EQ(bad, 0u) << name << " rows " << to_string(mode);
      if (fmt.is_block()) {
        const std::size_t k = static_cast<std::size_t>(fmt.block_size);
        EXPECT_EQ(st.blocks, rows * ((cols + k - 1) / k));
      }
      // columns: the same as rows on the transposed matrix (index c * rows + r)
      std::vector<float> col = base;
      QuantizeStats cst;
      quantize_matrix(col.data(), rows, cols, ld, BlockAxis::columns, fmt, mode, key, &cst);
      std::vector<float> tr(cols * rows);  // shape [cols][rows]
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) tr[c * rows + r] = base[r * ld + c];
      QuantizeStats tst;
      quantize_matrix(tr.data(), cols, rows, rows, BlockAxis::rows, fmt, mode, key, &tst);
      bad = 0;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) bad += !same(col[r * ld + c], tr[c * rows + r]);
      EXPECT_EQ(bad, 0u) << name << " columns " << to_string(mode);
      EXPECT_EQ(cst.overflow, tst.overflow);
      EXPECT_EQ(cst.underflow, tst.underflow);
      EXPECT_EQ(cst.blocks, tst.blocks);
    }
  }
  // Rows longer than a piece (4096 values): still the array path, stochastic counters and all
  {
    const std::size_t r3 = 3, c3 = 10016;  // 313 blocks of 32 per row
    std::vector<float> m3 = random_blocks(r3 * c3, 32, 31);
    std::vector<float> a3 = m3, b3 = m3;
    quantize_matrix(a3.data(), r3, c3, c3, BlockAxis::rows, parse_format("mxfp8-e4m3"),
                    Rounding::stochastic, {4, 5, 6});
    quantize(b3, parse_format("mxfp8-e4m3"), Rounding::stochastic, {4, 5, 6});
    std::size_t diff = 0;
    for (std::size_t i = 0; i < a3.size(); ++i) diff += !same(a3[i], b3[i]);
    EXPECT_EQ(diff, 0u);
  }
  // nvfp4 rows = the array path when cols is a multiple of 16 (the tensor scale is the same)
  std::vector<float> m = random_blocks(8 * 48, 16, 8);
  for (float& v : m)
    if (!std::isfinite(v)) v = 0.5f;
  std::vector<float> a = m, b = m;
  quantize_matrix(a.data(), 8, 48, 48, BlockAxis::rows, parse_format("nvfp4"), Rounding::up,
                  {1, 1, 1});
  quantize(b, parse_format("nvfp4"), Rounding::up, {1, 1, 1});
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << i;
  // bad shapes
  std::vector<float> z(10);
  EXPECT_THROW(quantize_matrix(z.data(), 2, 5, 4, BlockAxis::rows, parse_format("mxfp4"),
                               Rounding::nearest_even),
               std::invalid_argument);
  EXPECT_THROW(quantize_matrix(nullptr, 2, 5, 5, BlockAxis::rows, parse_format("mxfp4"),
                               Rounding::nearest_even),
               std::invalid_argument);
  EXPECT_NO_THROW(quantize_matrix(nullptr, 0, 5, 5, BlockAxis::rows, parse_format("mxfp4"),
                                  Rounding::nearest_even));
}

TEST(FormatsBlocks, SubtractRoundIsSubtractThenQuantize) {
  const Format fmt = parse_format("mxfp6-e2m3");
  std::vector<float> x = random_blocks(1000, 32, 12), step(1000);
  for (float& v : x)
    if (!std::isfinite(v)) v = 1.0f;
  quantize(x, fmt, Rounding::nearest_even);
  for (std::size_t i = 0; i < step.size(); ++i)
    step[i] = i % 7 == 0 ? 0.0f : static_cast<float>(rng::uniform01(4, i) - 0.5) * 1e-3f;
  std::vector<float> want(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want[i] = x[i] - 0.5f * step[i];
  quantize(want, fmt, Rounding::stochastic, {1, 2, 0});
  std::uint64_t want_lost = 0;
  for (std::size_t i = 0; i < x.size(); ++i) want_lost += step[i] != 0 && want[i] == x[i];
  std::vector<float> got = x;
  EXPECT_EQ(subtract_round(got, step, 0.5f, fmt, Rounding::stochastic, {1, 2, 0}), want_lost);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(same(got[i], want[i])) << i;
  EXPECT_GT(want_lost, 100u);
}

// ---- parsing and names -----------------------------------------------------------------------

TEST(FormatsBlocks, ParsingNamesAndConstants) {
  struct Row {
    const char* name;
    const char* element;
    Scaling scaling;
    int k, emax;
  };
  const Row rows[] = {
      {"mxfp8-e4m3", "fp8-e4m3", Scaling::mx, 32, 8},
      {"mxfp8-e5m2", "E5M2", Scaling::mx, 32, 15},
      {"mxfp6-e3m2", "fp6-e3m2", Scaling::mx, 32, 4},
      {"mxfp6-e2m3", "fp6-e2m3", Scaling::mx, 32, 2},
      {"mxfp4", "fp4-e2m1", Scaling::mx, 32, 2},
      {"mxint8", "int8", Scaling::mx, 32, 0},
      {"nvfp4", "fp4-e2m1", Scaling::nvfp4, 16, 2},
  };
  for (const Row& r : rows) {
    const Format f = parse_format(r.name);
    EXPECT_EQ(f.scaling, r.scaling) << r.name;
    EXPECT_EQ(f.block_size, r.k) << r.name;
    EXPECT_EQ(f.element_emax(), r.emax) << r.name;
    EXPECT_EQ(f.name(), r.name);
    Format e = f.element();
    if (e.kind == Format::Kind::floating && e.encoding != Encoding::finite) e.saturate = false;
    EXPECT_EQ(e.name(), r.element) << r.name;
    // the same element with k = 32 is the MX preset (nvfp4's element gives mxfp4)
    EXPECT_EQ(parse_format(std::string("MX:") + r.element + ":32").name(),
              r.scaling == Scaling::mx ? std::string(r.name) : "mxfp4");
    EXPECT_EQ(parse_format(f.name()), f);
    EXPECT_TRUE(f.element().saturate) << r.name;
  }
  EXPECT_EQ(parse_format("mxint8").element().max_finite(), 127.0 / 64);
  EXPECT_EQ(parse_format("mx:E4M3,fn,no-subnormals:16").name(), "mx:fp8-e4m3,no-subnormals:16");
  EXPECT_EQ(parse_format("mx:int4:7").name(), "mx:int4:7");
  EXPECT_EQ(parse_format("mx:E4M10,fn,saturate:64").name(), "mx:E4M10,fn:64");
  for (const char* n : {"mx:fp8-e4m3:1", "mx:fp8-e4m3:4096", "mx:int24:2", "mx:int2:1",
                        "mx:E3M2,finite:31", "mx:E5M2,fnuz,saturate:32"})
    EXPECT_EQ(parse_format(parse_format(n).name()), parse_format(n)) << n;
  EXPECT_EQ(named_formats().back(), "nvfp4");
  EXPECT_EQ(named_formats().size(), 19u);
}

TEST(FormatsBlocks, BadBlockFormatsAreRejectedWithOneClearMessage) {
  const char* bad[] = {
      "mx:fp16:32",    "mx:bf16:32",     "mx:fp8-e4m3:0",       "mx:fp8-e4m3:4097", "mx:fp8-e4m3:",
      "mx:fp8-e4m3",   "mx::32",         "mx:Q8.8:32",          "mx:int25:32",      "mx:int1:4",
      "mx:mxfp4:32",   "mxfp4,saturate", "nvfp4,no-subnormals", "mx:fp8-e4m3:32x",  "int8",
      "mx:nonsense:8", "mx:fp8-e4m3:-1"};
  for (const char* b : bad) {
    try {
      parse_format(b);
      ADD_FAILURE() << "accepted " << b;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("\"") + b + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find("mx:<element>:<k>"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // a Format assembled by hand that no parser makes is refused before any rounding
  std::vector<Format> malformed(4, parse_format("mxfp4"));
  malformed[0].block_size = 0;
  malformed[1].saturate = false;
  malformed[1].encoding = Encoding::ieee;
  malformed[2] = parse_format("nvfp4");
  malformed[2].block_size = 32;
  malformed[3] = parse_format("fp16");
  malformed[3].block_size = 32;
  std::vector<float> x{1.0f, 2.0f};
  for (const Format& f : malformed) {
    EXPECT_THROW(f.check(), std::invalid_argument);
    EXPECT_THROW(quantize(x, f, Rounding::nearest_even), std::invalid_argument);
  }
  EXPECT_EQ(x, (std::vector<float>{1.0f, 2.0f}));
}

}  // namespace
}  // namespace precsweep
