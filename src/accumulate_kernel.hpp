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
#include <vector>

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
  bool identity = false;  // F is binary32 itself (E8M23 with subnormals, ieee)
  Rounding mode = Rounding::nearest_even;
};
AccParams make_acc_params(const Format& fmt, Rounding mode);

// A product C[M x N] = sum_k L(i,k) * R(k,j) with L(i,k) = L[i*l_row + k*l_k] and
// R(k,j) = R[k*r_k + j] (contiguous in j). The three GEMMs of accumulate.hpp are views of it.
// Element (i, j) is element i*idx_row + j*idx_col of the caller's result (its index for the
// stochastic counters): (N, 1), or (1, M) when the kernel computes a transposed result.
struct GemmView {
  const float* L;
  std::size_t l_row, l_k;
  const float* R;
  std::size_t r_k;
  float* C;
  std::size_t M, N, K;
  std::size_t idx_row, idx_col;
  // Set by prepare_gemm for the nearest fast path (accumulate_kernel.cpp):
  const std::uint32_t* r_zeros = nullptr;  // [K] zeros in each row of R, for the swamped count
  bool nearest_fast = false;               // the fast path applies to this product
  int l_exp = 0, r_exp = 0;                // L and R are the operands times 2^l_exp, 2^r_exp
  bool in_range = false;    // no partial sum can exceed F's range (no range check per step)
  bool ties_exact = false;  // every sum that binary32 rounds onto a midpoint of F was exact
};

// A view made ready for the kernel, once per product: the zero counts of R and, where the fast
// path needs them, scaled copies of the operands (in buffers of the calling thread, valid until
// its next prepare_gemm, which the view then points into).
struct PreparedGemm {
  GemmView view;
  std::vector<std::uint32_t> r_zeros;
};
void prepare_gemm(const GemmView& v, const AccParams& inner, PreparedGemm& out);

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

// Lane types: acc_step is written once for one value (the reference loops, the kernel's last
// columns) and for 4 at a time (GCC vector extensions, in the kernel), with the same
// operations, so both give the same bits. (GCC's auto-vectoriser does not take it: it narrows
// 64-bit shift counts to 32 bits and then has no vector shift for them.) Four lanes: 256-bit
// vectors of 64-bit integers are AVX2's; GCC lowers operations on wider generic vectors that
// the target lacks (compares in particular) to scalar code.
// The vector-typed values of these always-inlined helpers never cross a call boundary, so GCC's
// warning that their ABI differs without AVX/AVX-512 does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
using F32x4 = float __attribute__((vector_size(16)));
using U32x4 = std::uint32_t __attribute__((vector_size(16)));
using I32x4 = std::int32_t __attribute__((vector_size(16)));
using F64x4 = double __attribute__((vector_size(32)));
using U64x4 = std::uint64_t __attribute__((vector_size(32)));
using I64x4 = std::int64_t __attribute__((vector_size(32)));

template <class D>
struct Lanes;
template <>
struct Lanes<double> {
  using F = float;
  using U32 = std::uint32_t;
  using U = std::uint64_t;
  using I = std::int64_t;
  [[gnu::always_inline]] static U m(bool c) { return U{0} - static_cast<U>(c); }
  [[gnu::always_inline]] static double widen(F x) { return static_cast<double>(x); }
  [[gnu::always_inline]] static F narrow(double x) { return static_cast<F>(x); }
  [[gnu::always_inline]] static U32 low32(U x) { return static_cast<U32>(x); }
  [[gnu::always_inline]] static U wide32(U32 x) { return static_cast<U>(x); }
};
template <>
struct Lanes<F64x4> {
  using F = F32x4;
  using U32 = U32x4;
  using U = U64x4;
  using I = I64x4;
  [[gnu::always_inline]] static U m(I c) { return reinterpret_cast<U&>(c); }
  [[gnu::always_inline]] static F64x4 widen(F x) { return __builtin_convertvector(x, F64x4); }
  [[gnu::always_inline]] static F narrow(F64x4 x) { return __builtin_convertvector(x, F); }
  [[gnu::always_inline]] static U32 low32(U x) { return __builtin_convertvector(x, U32); }
  [[gnu::always_inline]] static U wide32(U32 x) { return __builtin_convertvector(x, U); }
};

// round_F(acc + a*b) for one lane (D = double) or 4 (D = F64x4); h is the stochastic random
// word (unused otherwise). Conditions are all-ones/all-zero lane masks and choices and/or
// selects: no branches.
template <Rounding kMode, class D>
[[gnu::always_inline]] inline typename Lanes<D>::F acc_step_lanes(typename Lanes<D>::F acc,
                                                                  typename Lanes<D>::F a,
                                                                  typename Lanes<D>::F b,
                                                                  typename Lanes<D>::U32 h,
                                                                  const AccParams& P) {
  using L = Lanes<D>;
  using U = typename L::U;
  using I = typename L::I;
  using F = typename L::F;
  auto sel = [](U m, U x, U y) { return (x & m) | (y & ~m); };
  auto as_i = [](U x) { return std::bit_cast<I>(x); };
  const U zero{};
  const U one = zero + 1u;
  const D c = L::widen(acc);
  const D p = L::widen(a) * L::widen(b);
  const D s = c + p;
  const D bp = s - c;
  const D e = (c - (s - bp)) + (p - bp);  // TwoSum: acc + p = s + e exactly
  const U u = std::bit_cast<U>(s);
  const U sgn = u & kSign64;
  const U neg = std::bit_cast<U>(as_i(u) >> 63);
  U am = u ^ sgn;
  // round to odd: s even and inexact -> one unit towards the exact sum (+1, or -1 = +~0)
  const U eu = std::bit_cast<U>(e);
  const U inexact = L::m((eu << 1) != zero);  // e != 0 (e is never NaN for finite s)
  const U even = (am & 1u) - 1u;                // all-ones if the last bit is 0
  const U towards = L::m((eu & kSign64) == sgn);
  am += inexact & even & ((towards & 1u) | ~towards);

  // drop = 52 - m + max(0, emin - E) bits lie below F's spacing (E = o's exponent)
  const I E = as_i(am >> 52) - 1023;
  const I below_raw = P.emin - E;
  const I below = std::bit_cast<I>(sel(L::m(below_raw > 0), std::bit_cast<U>(below_raw), zero));
  const I drop = P.drop0 + below;
  const U tiny = L::m(drop >= 53);
  const U dropc = sel(L::m(drop < 63), std::bit_cast<U>(drop), zero + 63u);
  const U unit = one << dropc;  // 2^drop (2^63 when clamped)
  const U mask = unit - 1u;
  const U nonzero = L::m(am != zero);

  U r;
  U away_tiny;  // |o| < min_sub: to min_sub (else to 0)
  if constexpr (kMode == Rounding::stochastic) {
    const U sig = (am & kFrac64) | (std::uint64_t{1} << 52);
    const U sh_raw = std::bit_cast<U>(drop - 32);  // >= 1: m <= 19
    const U sh = sel(L::m(drop - 32 < 63), sh_raw, zero + 63u);
    const U frac = sel(tiny, sig, am & mask);
    const U away = L::m(as_i(L::wide32(h)) < as_i(frac >> sh));
    r = (am & ~mask) + (away & unit);
    away_tiny = away & nonzero;
  } else if constexpr (kMode == Rounding::nearest_even) {
    // the last kept bit; at drop 52 it is the exponent's (m = 0) or that of code 1 (odd)
    const U kept = L::m((am & unit) != zero) & 1u;
    const U lsb = sel(L::m(drop < 52), kept, ((am >> 52) & 1u) | (P.lsb52_exp ^ 1u));
    r = (am + (mask >> 1) + lsb) & ~mask;
    away_tiny = L::m(drop == 53) & L::m((am & kFrac64) != zero);
  } else if constexpr (kMode == Rounding::toward_zero) {
    r = am & ~mask;
    away_tiny = zero;
  } else {  // up, down: away from zero for one sign
    const U away = kMode == Rounding::up ? ~neg : neg;
    r = (am + (mask & away)) & ~mask;
    away_tiny = away & nonzero;
  }
  r = sel(tiny, away_tiny & P.min_sub, r);

  // (magnitude patterns are < 2^63: signed compares, which AVX2 has)
  U over = L::m(as_i(r) > as_i(sel(neg, zero + P.max_neg, zero + P.max_pos)));
  if constexpr (kMode == Rounding::nearest_even)
    over |= L::m(as_i(am) >= static_cast<std::int64_t>(P.nearest_overflow_at));
  if (P.flush) r &= L::m(as_i(r) >= static_cast<std::int64_t>(P.min_normal));
  // r lies on F's grid, so the conversion to binary32 is exact (an overflowed r may become
  // inf, but is replaced below)
  const U mag = L::wide32(std::bit_cast<typename L::U32>(L::narrow(std::bit_cast<D>(r))));
  U res = sel(over, sel(neg, zero + P.ovf_neg, zero + P.ovf_pos), mag);
  // a zero keeps the sum's sign, except fnuz's (always +0)
  res |= (sgn >> 32) & (L::m(res != zero) | P.zero_sign);
  // inf or NaN sums: NaN stays NaN, inf becomes the format's value for it
  const U au = u & ~kSign64;
  const U special = L::m(as_i(au) >= static_cast<std::int64_t>(kInf64));
  const U nan = L::m(as_i(au) > static_cast<std::int64_t>(kInf64));
  const U inf_res = sel(neg, zero + P.inf_neg, zero + P.inf_pos) | (sgn >> 32);
  res = sel(special, sel(nan, (sgn >> 32) | 0x7FC00000u, inf_res), res);
  return std::bit_cast<F>(L::low32(res));
}

#pragma GCC diagnostic pop

template <Rounding kMode>
[[gnu::always_inline]] inline float acc_step(float acc, float a, float b, std::uint32_t h,
                                             const AccParams& P) {
  return acc_step_lanes<kMode, double>(acc, a, b, h, P);
}

// The random word of element `index`, counter 2k + which (accumulate.hpp).
std::uint32_t acc_random_word(std::uint64_t key, std::uint64_t index, std::uint64_t k,
                              unsigned which);

// The fast kernel: rows [row_begin, row_end) of the view. The caller threads it, in calls of
// kAccRowsPerCall rows (the nearest fast path passes over them once per block of k).
constexpr std::size_t kAccRowsPerCall = 16;
AccumulateStats acc_gemm_rows(const GemmView& v, std::size_t row_begin, std::size_t row_end,
                              const Accumulator& acc, const AccParams& inner,
                              const AccParams& outer, std::uint64_t key_inner,
                              std::uint64_t key_outer);

}  // namespace precsweep::detail
