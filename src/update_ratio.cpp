// The update-to-weight ratio histogram and the width prediction (update_ratio.hpp).
// Deliberately leaves out: storing it (results_file.cpp), searching with it (search.cpp).
#include "precsweep/update_ratio.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace precsweep {

int ratio_bin(int d) {
  if (d < kRatioMin) return 1;
  if (d > kRatioMax) return kRatioBins - 1;
  return 2 + (d - kRatioMin);
}

int binary_exponent(float x) {
  std::uint32_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  const int field = static_cast<int>((b >> 23) & 0xffu);
  if (field != 0) return field - 127;
  // Subnormal: |x| = f * 2^-149 with f the 23-bit fraction, floor(log2 f) = 31 - clz(f).
  const std::uint32_t f = b & 0x7fffffu;
  return -149 + (31 - std::countl_zero(f));
}

namespace {
// The bin of one update, exactly: zero, inf and NaN (exponent field 0xff) go to bin 0.
int update_bin(float w, float dw) {
  const auto finite_nonzero = [](float a) { return a != 0.0f && a - a == 0.0f; };
  if (!finite_nonzero(w) || !finite_nonzero(dw)) return 0;
  return ratio_bin(binary_exponent(w) - binary_exponent(dw));
}
}  // namespace

void add_update_ratios(RatioHistogram& h, const float* x, const float* g, const float* v,
                       long n, float lr, float mu, float wd) {
  // Four interleaved partial histograms, so that runs of the same bin do not wait on each
  // other's increments; normal numbers take their exponents straight from the fields, the
  // rest (zero, subnormal, inf, NaN) the exact path.
  std::array<RatioHistogram, 4> part{};
  for (long i = 0; i < n; ++i) {
    float d = wd != 0.0f ? g[i] + wd * x[i] : g[i];
    if (mu != 0.0f) d = mu * v[i] + d;
    const float dw = lr * d;
    std::uint32_t bw = 0, bd = 0;
    std::memcpy(&bw, &x[i], sizeof bw);
    std::memcpy(&bd, &dw, sizeof bd);
    const int fw = static_cast<int>((bw >> 23) & 0xffu), fd = static_cast<int>((bd >> 23) & 0xffu);
    const int bin = (static_cast<unsigned>(fw - 1) < 254u && static_cast<unsigned>(fd - 1) < 254u)
                        ? 2 + std::clamp(fw - fd, kRatioMin - 1, kRatioMax + 1) - kRatioMin
                        : update_bin(x[i], dw);
    ++part[static_cast<std::size_t>(i & 3)][static_cast<std::size_t>(bin)];
  }
  for (const RatioHistogram& p : part)
    for (std::size_t b = 0; b < h.size(); ++b) h[b] += p[b];
}

double ratio_tail(const RatioHistogram& h, int k) {
  // k is clamped to the binned range: the underflow bin (d < kRatioMin) is never in the tail,
  // the overflow bin (d > kRatioMax) always.
  const int first = ratio_bin(std::clamp(k, kRatioMin, kRatioMax + 1));
  std::uint64_t total = 0, tail = 0;
  for (int b = 1; b < kRatioBins; ++b) {
    total += h[static_cast<std::size_t>(b)];
    if (b >= first) tail += h[static_cast<std::size_t>(b)];
  }
  return total ? static_cast<double>(tail) / static_cast<double>(total) : 0.0;
}

int rounding_offset(Rounding mode) {
  switch (mode) {
    case Rounding::toward_zero:
    case Rounding::up:
    case Rounding::down: return 0;
    case Rounding::nearest_even: return 1;
    case Rounding::stochastic: return -1;
  }
  return -1;
}

int predict_width(const LayerRatios& layers, Rounding mode, double tau) {
  const int offset = rounding_offset(mode);
  std::uint64_t total = 0;
  for (const RatioHistogram& h : layers)
    for (std::size_t b = 1; b < h.size(); ++b) total += h[b];
  if (offset < 0 || total == 0) return -1;
  for (int m = 0; m < kRatioMax; ++m) {
    double lost = 0.0;
    for (const RatioHistogram& h : layers) lost += ratio_tail(h, m + 1 + offset);
    if (lost < tau) return m;
  }
  return kRatioMax;
}

int predict_width(const RatioHistogram& h, Rounding mode, double tau) {
  return predict_width(LayerRatios{h}, mode, tau);
}

}  // namespace precsweep
