// Reference for the block formats (see blocks_ref.hpp and docs/formats.md, "Block formats").
// Deliberately simple: one block at a time, one element at a time, neighbours by binary search
// on the element's code grid.
#include "blocks_ref.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace precsweep::ref {
namespace {

// binary32 round to nearest even of an exact double (the double is the exact result of one
// binary32 operation on binary32 operands: a product of two floats has <= 48 bits; a quotient
// rounded to double first is still rounded correctly to binary32, as 53 >= 2 * 24 + 2).
float rn(double exact) { return static_cast<float>(exact); }

struct Element {
  std::vector<double> grid;  // non-negative values, increasing, index = code; then `next`
  double max = 0;            // grid[grid.size() - 2]
  double min_normal = 0;     // flush threshold for no-subnormals
  bool flush = false, fnuz = false;
  bool ieee_m0 = false;  // an IEEE-style E<e>M0: nearest_even overflows from 1.5 * 2^emax
  int emax = 0;          // exponent of max
};

Element make_element(const Format& f) {
  Element e;
  e.grid = element_grid(f);
  e.max = e.grid[e.grid.size() - 2];
  e.emax = std::ilogb(e.max);
  e.fnuz = f.kind == Format::Kind::floating && f.encoding == Encoding::fnuz;
  e.flush = f.kind == Format::Kind::floating && !f.subnormals;
  e.ieee_m0 = f.kind == Format::Kind::floating && f.encoding == Encoding::ieee && f.man_bits == 0;
  if (e.flush) e.min_normal = e.grid[std::size_t{1} << f.man_bits];  // code E = 1, F = 0
  return e;
}

// The element value nearest t in direction `mode` (all saturating), with t's sign. Counts a
// saturation when the rounded value (on the grid continued above max) exceeds max.
double round_element(double t, const Element& e, Rounding mode, std::uint32_t word,
                     bool& saturated) {
  const bool neg = std::signbit(t);
  const double a = std::fabs(t);
  const std::vector<double>& g = e.grid;
  double chosen;
  if (a >= g.back()) {
    chosen = g.back();  // at or beyond the continued grid's last point: above max
  } else {
    const std::size_t hi =
        static_cast<std::size_t>(std::upper_bound(g.begin(), g.end(), a) - g.begin());
    const std::size_t lo = hi - 1;
    bool away = false;
    if (g[lo] != a) {
      const double gap = g[hi] - g[lo], d = a - g[lo];
      switch (mode) {
        case Rounding::toward_zero:
          away = false;
          break;
        case Rounding::up:
          away = !neg;
          break;
        case Rounding::down:
          away = neg;
          break;
        case Rounding::nearest_even:
          away = d > gap / 2 || (d == gap / 2 && lo % 2 == 1);
          break;
        case Rounding::stochastic:
          away = static_cast<double>(word) < std::floor(d / gap * 4294967296.0);
          break;
      }
    }
    chosen = away ? g[hi] : g[lo];
  }
  // The element's overflow rule (docs/formats.md, "Overflow"): the rounded value exceeds max;
  // for IEEE-style m = 0 under nearest_even also |t| >= 1.5 * 2^emax (max's code is even there)
  saturated = chosen > e.max ||
              (e.ieee_m0 && mode == Rounding::nearest_even && a >= 1.5 * std::ldexp(1.0, e.emax));
  if (saturated) chosen = e.max;
  if (e.flush && chosen < e.min_normal) chosen = 0;
  if (chosen == 0 && e.fnuz) return 0.0;
  return neg ? -chosen : chosen;
}

bool finite_block(const std::vector<float>& x, std::size_t lo, std::size_t hi) {
  for (std::size_t i = lo; i < hi; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

double block_amax(const std::vector<float>& x, std::size_t lo, std::size_t hi) {
  double m = 0;
  for (std::size_t i = lo; i < hi; ++i) m = std::max(m, std::fabs(static_cast<double>(x[i])));
  return m;
}

// OCP MX: X = 2^s, s = clamp(floor(log2 amax) - emax, -127, 127); v / X rounded into the
// element (saturating), times X. All exact in double; the result must be a binary32.
void mx_block(const std::vector<float>& x, std::vector<float>& out, std::size_t lo, std::size_t hi,
              const Element& e, Rounding mode, const std::vector<std::uint32_t>& words,
              BlockRefStats& st) {
  const double amax = block_amax(x, lo, hi);
  int s = -127;
  if (amax > 0) {
    int exp2 = 0;
    std::frexp(amax, &exp2);  // amax = m * 2^exp2, m in [0.5, 1): floor(log2 amax) = exp2 - 1
    const int wanted = exp2 - 1 - e.emax;
    s = std::clamp(wanted, -127, 127);
    st.clamped += s != wanted;
  }
  for (std::size_t i = lo; i < hi; ++i) {
    bool sat = false;
    const double q =
        round_element(std::ldexp(static_cast<double>(x[i]), -s), e, mode, words[i], sat);
    const double r = std::ldexp(q, s);
    out[i] = rn(r);
    if (static_cast<double>(out[i]) != r)
      out[i] = std::numeric_limits<float>::infinity();  // "not exact": fails the test
    st.saturated += sat;
    st.flushed += x[i] != 0 && r == 0;
  }
}

struct Nvfp4Tensor {
  float A, S, M, D, F;
};

// docs/formats.md, NVFP4 steps 1-2 (Transformer Engine's global encode scale).
Nvfp4Tensor nvfp4_tensor(const std::vector<float>& x) {
  float A = 0;
  for (float v : x)
    if (std::isfinite(v)) A = std::max(A, std::fabs(v));
  Nvfp4Tensor t{};
  t.A = A;
  float S = rn(2688.0 / static_cast<double>(A));  // A = 0: inf
  S = std::min(S, std::numeric_limits<float>::max());
  if (A == 0 || S == 0) S = 1;
  t.S = S;
  t.M = rn(static_cast<double>(S) * static_cast<double>(rn(1.0 / 6.0)));
  t.D = rn(1.0 / static_cast<double>(S));
  t.F = rn(1.0 / 2688.0);
  return t;
}

// docs/formats.md, NVFP4 steps 3-6, literally (a zero block scale gives e = FLT_MAX here).
void nvfp4_block(const std::vector<float>& x, std::vector<float>& out, std::size_t lo,
                 std::size_t hi, const Nvfp4Tensor& t, const Element& e2m1, const Element& e4m3,
                 Rounding mode, const std::vector<std::uint32_t>& words, BlockRefStats& st) {
  const float b = static_cast<float>(block_amax(x, lo, hi));
  bool scale_saturated = false;
  const float raw = rn(static_cast<double>(b) * t.M);
  const float d =
      static_cast<float>(round_element(raw, e4m3, Rounding::nearest_even, 0, scale_saturated));
  st.clamped += scale_saturated || (b != 0 && d < 0x1p-6f);
  const float g = rn(static_cast<double>(d) * t.D);
  const float enc = std::min(rn(1.0 / static_cast<double>(g)), std::numeric_limits<float>::max());
  const float f = rn(static_cast<double>(rn(static_cast<double>(d) * t.A)) * t.F);
  for (std::size_t i = lo; i < hi; ++i) {
    const float y = rn(static_cast<double>(x[i]) * enc);
    bool sat = false;
    const double q = round_element(y, e2m1, mode, words[i], sat);
    out[i] = rn(q * static_cast<double>(f));
    st.saturated += sat && d != 0;  // a block with scale 0 is all flushed, nothing saturates
    st.flushed += x[i] != 0 && out[i] == 0;
  }
}

}  // namespace

std::vector<double> element_grid(const Format& f) {
  std::vector<double> g;
  if (f.kind == Format::Kind::fixed) {  // int<w>: k * 2^-(w-2), |k| <= 2^(w-1) - 1
    const int w = f.int_bits + f.frac_bits;
    for (std::int64_t k = 0; k <= (std::int64_t{1} << (w - 1)); ++k)  // last: the next point
      g.push_back(std::ldexp(static_cast<double>(k), -(w - 2)));
    return g;
  }
  const int e = f.exp_bits, m = f.man_bits;
  const int bias = (1 << (e - 1)) - (f.encoding == Encoding::fnuz ? 0 : 1);
  const std::uint32_t top = (1u << e) - 1, all_f = (1u << m) - 1;
  for (std::uint32_t code = 0; code < (1u << (e + m)); ++code) {  // sign bit 0
    const std::uint32_t E = code >> m, F = code & all_f;
    if (f.encoding == Encoding::ieee && E == top) break;              // inf, NaN
    if (f.encoding == Encoding::fn && E == top && F == all_f) break;  // NaN
    const double sig = E == 0 ? F : static_cast<double>((1u << m) + F);
    g.push_back(std::ldexp(sig, (E == 0 ? 1 : static_cast<int>(E)) - bias - m));
  }
  const double max = g.back();
  g.push_back(max + std::ldexp(1.0, std::ilogb(max) - m));  // the next code's value
  return g;
}

std::vector<float> quantize_blocks_ref(const std::vector<float>& x, const Format& fmt,
                                       Rounding mode, const std::vector<std::uint32_t>& words,
                                       BlockRefStats* stats) {
  BlockRefStats st;
  std::vector<float> out(x.size());
  Format elem = fmt;
  elem.scaling = Scaling::none;
  elem.block_size = 0;
  const Element e = make_element(elem);
  const Element e4m3 = make_element(parse_format("fp8-e4m3"));
  const Nvfp4Tensor t = nvfp4_tensor(x);
  const std::size_t k = static_cast<std::size_t>(fmt.block_size);
  for (std::size_t lo = 0; lo < x.size(); lo += k) {
    const std::size_t hi = std::min(x.size(), lo + k);
    ++st.blocks;
    if (!finite_block(x, lo, hi)) {  // a block with inf or NaN: all NaN
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(lo),
                out.begin() + static_cast<std::ptrdiff_t>(hi),
                std::numeric_limits<float>::quiet_NaN());
      ++st.nan_blocks;
      continue;
    }
    if (fmt.scaling == Scaling::mx)
      mx_block(x, out, lo, hi, e, mode, words, st);
    else
      nvfp4_block(x, out, lo, hi, t, e, e4m3, mode, words, st);
  }
  if (stats) *stats = st;
  return out;
}

}  // namespace precsweep::ref
