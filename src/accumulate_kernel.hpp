// Internal interface of the accumulation kernel: the exact fused multiply-add into a format
// (acc_step), shared by the reference loops (accumulate.cpp) and the fast kernel
// (accumulate_kernel.cpp), so the two can only differ in loop order and threading.
// Not installed, not used outside src/accumulate*.cpp.
//
// acc_step computes round_F(acc + a*b) with one rounding:
//   1. p = a*b in double is exact (24 + 24 bits); s = acc + p in double, and TwoSum gives the
//      exact error e = (acc + p) - s (no overflow: |acc| <= 2^128, |p| <= 2^256; no underflow:
//      every quantity is a multiple of 2^-298, far above double's 2^-1074).
//   2. Round to odd: if e != 0 and s's pattern is even, step the pattern one unit towards the
//      exact sum. o is then the exact sum truncated to 53 bits with its last bit set when
//      anything was cut (a sticky bit). F keeps at most 24 bits, so o and the exact sum lie
//      strictly between the same two neighbours in F and on the same side of their midpoint,
//      and o equals a neighbour or the midpoint only when the sum does: every directed and
//      nearest rounding of o to F is that of the exact sum.
//   3. Round o to F on its double bit pattern: drop = 52 - m + max(0, emin - E) low bits lie
//      below F's spacing (E = o's exponent; fixed point Q<i>.<f> is m = i+f-1, emin = i-1), as
//      in formats_kernel.cpp but 64 bits wide. drop >= 53 (|o| < min_sub): the neighbours are
//      0 and min_sub.
//      Stochastic: away from zero iff h < floor(2^32 * (|x| - lower) / gap); with drop >= 33
//      those 32 fraction bits are o's truncated bits, exactly (the sticky bit lies below), so
//      stochastic needs m <= 19 (Accumulator::check).
//   4. Overflow, no-subnormals, fnuz's +0 and inf/NaN as quantize does (KernelParams); an exact
//      zero sum is +0 unless both acc and the product are -0 (IEEE 754's sign rule).
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>

#include "formats_kernel.hpp"
#include "precsweep/accumulate.hpp"

namespace precsweep::detail {

// Everything acc_step needs about one format and mode, as double bit patterns (magnitudes)
// where it compares with the rounded sum and binary32 patterns where it builds a result.
struct AccParams {
  std::int64_t drop0 = 29;      // 52 - m (fixed point: 52 - (i+f-1))
  std::int64_t emin = -126;     // F's 2^emin (fixed point: i-1)
  std::uint64_t lsb52_exp = 0;  // 1: float with m = 0, the tie parity at drop 52 is o's
                                //    exponent's (both biases odd); 0: that code is 1 (odd)
  std::uint64_t max_pos = 0, max_neg = 0;  // largest finite per sign (double patterns)
  std::uint64_t min_sub = 0;               // smallest positive value (double pattern)
  std::uint64_t min_normal = 0;            // 2^emin (double pattern), no-subnormals' threshold
  std::uint64_t nearest_overflow_at = 0x7FF0000000000000ull;  // IEEE's m = 0 threshold
  std::uint32_t ovf_pos = 0, ovf_neg = 0;  // results of overflow (binary32 magnitude patterns)
  std::uint32_t inf_pos = 0, inf_neg = 0;  // results for +-inf sums
  std::uint32_t zero_sign = 0x80000000u;   // 0 for fnuz (every zero is +0)
  bool flush = false;
  Rounding mode = Rounding::nearest_even;
};
AccParams make_acc_params(const Format& fmt, Rounding mode);

// A product C[M x N] = sum_k L(i,k) * R(k,j) with L(i,k) = L[i*l_row + k*l_k] and
// R(k,j) = R[k*r_k + j] (contiguous in j). The three GEMMs of accumulate.hpp are views of it.
struct GemmView {
  const float* L;
  std::size_t l_row, l_k;
  const float* R;
  std::size_t r_k;
  float* C;
  std::size_t M, N, K;
};

constexpr std::uint64_t kSign64 = 0x8000000000000000ull;
constexpr std::uint64_t kInf64 = 0x7FF0000000000000ull;
constexpr std::uint64_t kFrac64 = 0x000FFFFFFFFFFFFFull;

[[gnu::always_inline]] inline std::uint64_t mask64(bool c) {
  return std::uint64_t{0} - static_cast<std::uint64_t>(c);
}
[[gnu::always_inline]] inline std::uint64_t sel64(std::uint64_t m, std::uint64_t a,
                                                  std::uint64_t b) {
  return (a & m) | (b & ~m);
}

// round_F(acc + a*b), branch-free so the fast kernel's loop over columns vectorises. h is the
// stochastic random word (unused otherwise).
template <Rounding kMode>
[[gnu::always_inline]] inline float acc_step(float acc, float a, float b, std::uint32_t h,
                                             const AccParams& P) {
  // Conditions are all-ones/all-zero lane masks and choices and/or selects (no branches, no
  // ?: on values), so GCC vectorises the fast kernel's loop over columns.
  using I64 = std::int64_t;
  using U64 = std::uint64_t;
  const double c = acc;
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double s = c + p;
  const double bp = s - c;
  const double e = (c - (s - bp)) + (p - bp);  // TwoSum: acc + p = s + e exactly
  const U64 u = std::bit_cast<U64>(s);
  const U64 sgn = u & kSign64;
  const U64 neg = static_cast<U64>(static_cast<I64>(u) >> 63);
  U64 am = u ^ sgn;
  // round to odd: s even and inexact -> one unit towards the exact sum (+1, or -1 = +~0)
  const U64 eu = std::bit_cast<U64>(e);
  const U64 inexact = mask64((eu << 1) != 0);  // e != 0 (e is never NaN for finite s)
  const U64 even = (am & 1u) - 1u;            // all-ones if the last bit is 0
  const U64 towards = mask64((eu & kSign64) == sgn);
  am += inexact & even & ((towards & 1u) | ~towards);

  const I64 E = static_cast<I64>(am >> 52) - 1023;
  const I64 below = std::max<I64>(P.emin - E, 0);
  const I64 drop = P.drop0 + below;
  const U64 tiny = mask64(drop >= 53);
  const U64 dropc = static_cast<U64>(std::min<I64>(drop, 63));  // (shift counts unsigned: vectorises)
  const U64 mask = (U64{1} << dropc) - 1u;
  const U64 nonzero = mask64(am != 0);

  U64 r;
  U64 away_tiny;  // |o| < min_sub: to min_sub (else to 0)
  if constexpr (kMode == Rounding::stochastic) {
    const U64 sig = (am & kFrac64) | (U64{1} << 52);
    const U64 sh = static_cast<U64>(std::min<I64>(drop - 32, 63));  // >= 1: m <= 19
    const U64 frac = sel64(tiny, sig, am & mask);
    const U64 away = mask64(static_cast<U64>(h) < (frac >> sh));
    r = (am & ~mask) + (away & (mask + 1u));
    away_tiny = away & nonzero;
  } else if constexpr (kMode == Rounding::nearest_even) {
    // the last kept bit; at drop 52 it is the exponent's (m = 0) or that of code 1 (odd)
    const U64 lsb = sel64(mask64(drop < 52), (am >> dropc) & 1u,
                          ((am >> 52) & 1u) | (P.lsb52_exp ^ 1u));
    r = (am + (mask >> 1) + lsb) & ~mask;
    away_tiny = mask64(drop == 53) & mask64((am & kFrac64) != 0);
  } else if constexpr (kMode == Rounding::toward_zero) {
    r = am & ~mask;
    away_tiny = 0;
  } else {  // up, down: away from zero for one sign
    const U64 away = kMode == Rounding::up ? ~neg : neg;
    r = (am + (mask & away)) & ~mask;
    away_tiny = away & nonzero;
  }
  r = sel64(tiny, away_tiny & P.min_sub, r);

  // (magnitude patterns are < 2^63: signed compares, which AVX2 has)
  U64 over = mask64(static_cast<I64>(r) > static_cast<I64>(sel64(neg, P.max_neg, P.max_pos)));
  if constexpr (kMode == Rounding::nearest_even)
    over |= mask64(static_cast<I64>(am) >= static_cast<I64>(P.nearest_overflow_at));
  r &= mask64(static_cast<I64>(r) >= static_cast<I64>(P.min_normal)) | (P.flush ? 0u : ~0ull);
  // r lies on F's grid, so the conversion to binary32 is exact (an overflowed r may become
  // inf, but is replaced below)
  const U64 mag64 = std::bit_cast<std::uint32_t>(static_cast<float>(std::bit_cast<double>(r)));
  const U64 ovf = sel64(neg, P.ovf_neg, P.ovf_pos);
  U64 res = sel64(over, ovf, mag64);
  // a zero keeps the sum's sign, except fnuz's (always +0)
  res |= (sgn >> 32) & (mask64(res != 0) | P.zero_sign);
  // inf or NaN sums: NaN stays NaN, inf becomes the format's value for it
  const U64 special = mask64((u & ~kSign64) >= kInf64);
  const U64 nan = mask64((u & ~kSign64) > kInf64);
  const U64 inf_res = sel64(neg, P.inf_neg, P.inf_pos) | (sgn >> 32);
  res = sel64(special, sel64(nan, 0x7FC00000u | (sgn >> 32), inf_res), res);
  return std::bit_cast<float>(static_cast<std::uint32_t>(res));
}

// The random word of element `index`, counter 2k + which (accumulate.hpp).
std::uint32_t acc_random_word(std::uint64_t key, std::uint64_t index, std::uint64_t k,
                              unsigned which);

// The fast kernel: rows [row_begin, row_end) of the view. The caller threads it.
AccumulateStats acc_gemm_rows(const GemmView& v, std::size_t row_begin, std::size_t row_end,
                              const Accumulator& acc, const AccParams& inner,
                              const AccParams& outer, std::uint64_t key_inner,
                              std::uint64_t key_outer);

}  // namespace precsweep::detail
