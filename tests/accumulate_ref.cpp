// Exact reference accumulation (see accumulate_ref.hpp): 640-bit integers in units of 2^-300.
#include "accumulate_ref.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "formats_ref.hpp"

namespace precsweep::ref {
namespace {

constexpr int kUnit = 300;  // values are integers times 2^-300
constexpr int kLimbs = 10;  // 640 bits

struct Big {
  std::array<std::uint64_t, kLimbs> w{};  // little-endian magnitude
  bool neg = false;
};

bool is_zero(const Big& x) {
  for (auto v : x.w)
    if (v) return false;
  return true;
}

int top_bit(const Big& x) {  // index of the highest set bit, -1 for zero
  for (int i = kLimbs - 1; i >= 0; --i)
    if (x.w[i]) return i * 64 + 63 - std::countl_zero(x.w[i]);
  return -1;
}

bool bit(const Big& x, int i) { return i >= 0 && ((x.w[i / 64] >> (i % 64)) & 1u); }

// m * 2^(e + kUnit) for m < 2^64, e + kUnit >= 0
Big make(std::uint64_t m, int e, bool neg) {
  Big x;
  x.neg = neg;
  const int s = e + kUnit;
  for (int i = 0; i < 64; ++i)
    if ((m >> i) & 1u) x.w[(s + i) / 64] |= std::uint64_t{1} << ((s + i) % 64);
  return x;
}

int cmp_mag(const Big& a, const Big& b) {
  for (int i = kLimbs - 1; i >= 0; --i)
    if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
  return 0;
}

Big add_mag(const Big& a, const Big& b) {
  Big r;
  std::uint64_t carry = 0;
  for (int i = 0; i < kLimbs; ++i) {
    const std::uint64_t s = a.w[i] + b.w[i];
    const std::uint64_t t = s + carry;
    carry = (s < a.w[i] ? 1u : 0u) + (t < s ? 1u : 0u);
    r.w[i] = t;
  }
  return r;
}

Big sub_mag(const Big& a, const Big& b) {  // |a| >= |b|
  Big r;
  std::uint64_t borrow = 0;
  for (int i = 0; i < kLimbs; ++i) {
    const std::uint64_t d = a.w[i] - b.w[i] - borrow;
    borrow = (a.w[i] < b.w[i] || (a.w[i] == b.w[i] && borrow)) ? 1 : 0;
    r.w[i] = d;
  }
  return r;
}

Big add(const Big& a, const Big& b) {
  if (a.neg == b.neg) {
    Big r = add_mag(a, b);
    r.neg = a.neg;
    return r;
  }
  const int c = cmp_mag(a, b);
  if (c == 0) return Big{};
  Big r = c > 0 ? sub_mag(a, b) : sub_mag(b, a);
  r.neg = c > 0 ? a.neg : b.neg;
  return r;
}

// A finite binary32 as significand * 2^exponent (significand < 2^24).
void split(float v, std::uint64_t& m, int& e) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(v) & 0x7FFFFFFFu;
  const std::uint32_t be = u >> 23, frac = u & 0x7FFFFFu;
  m = be ? (frac | 0x800000u) : frac;
  e = (be ? static_cast<int>(be) : 1) - 127 - 23;
}

// The value the format gives for an overflowing x (sign `neg`) under `mode`.
double overflow_value(const Format& f, Rounding mode, bool neg, double max) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (f.saturate || f.kind == Format::Kind::fixed) return max;
  const double big = f.encoding == Encoding::ieee ? inf : nan;
  switch (mode) {
    case Rounding::toward_zero:
      return max;
    case Rounding::up:
      return neg ? max : big;
    case Rounding::down:
      return neg ? big : max;
    default:
      return big;
  }
}

// Rounds the exact nonzero x into f.
float round_exact(const Big& x, const Format& f, Rounding mode, std::uint32_t word) {
  const bool fixed = f.kind == Format::Kind::fixed;
  const bool neg = x.neg;
  const double max = fixed && neg ? std::ldexp(1.0, f.int_bits - 1) : f.max_finite();
  const int E = top_bit(x) - kUnit;  // 2^E <= |x| < 2^(E+1)
  auto finish = [&](double mag) {
    if (mag == 0 && f.encoding == Encoding::fnuz && !fixed) return 0.0f;
    return static_cast<float>(neg ? -mag : mag);
  };
  const int emax_cut = fixed ? f.int_bits : f.emax() + 1;  // |x| >= 2^this: above every max
  if (E >= emax_cut) return finish(overflow_value(f, mode, neg, max));
  const int m = fixed ? 0 : f.man_bits;
  const int qe = fixed ? -f.frac_bits : std::max(E, f.emin()) - m;  // the gap is 2^qe
  const int qpos = qe + kUnit;
  std::uint64_t lo_k = 0;  // |x| = lo_k * 2^qe + remainder
  for (int i = top_bit(x); i >= qpos; --i) lo_k = (lo_k << 1) | (bit(x, i) ? 1u : 0u);
  bool rem_zero = true;
  for (int i = qpos - 1; i >= 0 && rem_zero; --i) rem_zero = !bit(x, i);
  const bool half_bit = bit(x, qpos - 1);
  bool below_half_zero = true;  // bits under the half bit all zero
  for (int i = qpos - 2; i >= 0 && below_half_zero; --i) below_half_zero = !bit(x, i);
  std::uint64_t thr = 0;  // floor(2^32 * remainder / gap)
  for (int i = qpos - 1; i >= qpos - 32; --i) thr = (thr << 1) | (bit(x, i) ? 1u : 0u);

  bool lo_even;
  if (!fixed && m == 0 && E >= f.emin())
    lo_even = ((E + f.bias()) & 1) == 0;  // m = 0: the code's last bit is the exponent's
  else
    lo_even = (lo_k & 1u) == 0;
  bool up = false;
  switch (mode) {
    case Rounding::toward_zero:
      up = false;
      break;
    case Rounding::nearest_even:
      up = half_bit && (!below_half_zero || !lo_even);
      break;
    case Rounding::up:
      up = !rem_zero && !neg;
      break;
    case Rounding::down:
      up = !rem_zero && neg;
      break;
    case Rounding::stochastic:
      up = word < thr;
      break;
  }
  const double g = std::ldexp(static_cast<double>(lo_k + (up ? 1 : 0)), qe);
  bool over = g > max;
  if (mode == Rounding::nearest_even && !fixed && m == 0 && f.encoding == Encoding::ieee) {
    // IEEE: |x| >= 1.5 * 2^emax overflows even though the tie would keep max (even code)
    const Big t = make(3, f.emax() - 1, false);
    Big ax = x;
    ax.neg = false;
    over = over || cmp_mag(ax, t) >= 0;
  }
  if (over) return finish(overflow_value(f, mode, neg, max));
  if (!fixed && !f.subnormals && g < std::ldexp(1.0, f.emin())) return finish(0.0);
  return finish(g);
}

}  // namespace

float fma_round_ref(float acc, float a, float b, const Format& fmt, Rounding mode,
                    std::uint32_t random_word) {
  if (!std::isfinite(acc) || !std::isfinite(a) || !std::isfinite(b)) {
    const double s = static_cast<double>(acc) + static_cast<double>(a) * static_cast<double>(b);
    return quantize_ref(static_cast<float>(s), fmt, mode, random_word);
  }
  std::uint64_t ma, mb, mc;
  int ea, eb, ec;
  split(a, ma, ea);
  split(b, mb, eb);
  split(acc, mc, ec);
  const bool pneg = std::signbit(a) != std::signbit(b);
  const Big p = make(ma * mb, ea + eb, pneg);
  const Big c = make(mc, ec, std::signbit(acc));
  const Big x = add(p, c);
  if (is_zero(x)) {
    // an exact zero sum: -0 only when both the accumulator and the product are -0
    const bool negzero = std::signbit(acc) && pneg && ma * mb == 0 && mc == 0;
    if (negzero && !(fmt.kind == Format::Kind::floating && fmt.encoding == Encoding::fnuz))
      return -0.0f;
    return 0.0f;
  }
  return round_exact(x, fmt, mode, random_word);
}

float dot_ref(std::span<const float> a, std::span<const float> b, const Accumulator& acc,
              StochasticKey key, std::uint64_t index, std::uint64_t* swamped) {
  const StochasticKey k0{key.seed, key.stream, 0};
  float run = 0.0f, total = 0.0f;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const std::uint32_t w = stochastic_bits(k0, (index << 32) + 2 * k);
    const float next = fma_round_ref(run, a[k], b[k], acc.format, acc.rounding, w);
    if (swamped && a[k] != 0.0f && b[k] != 0.0f && next == run) ++*swamped;
    run = next;
    if (acc.chunk > 0 && ((k + 1) % acc.chunk == 0 || k + 1 == a.size())) {
      const std::uint32_t wo = stochastic_bits(k0, (index << 32) + 2 * k + 1);
      total = fma_round_ref(total, run, 1.0f, acc.outer, acc.outer_rounding, wo);
      run = 0.0f;
    }
  }
  return acc.chunk > 0 ? total : run;
}

}  // namespace precsweep::ref
