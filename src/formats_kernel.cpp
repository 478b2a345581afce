// The fast rounding kernel: rounds binary32 values in place by integer arithmetic on their bit
// patterns (CPFloat's add-then-mask idea, Fasi and Mikaitis 2023), one branch-free loop per
// rounding mode so GCC auto-vectorises it, compiled three times (x86-64-v4 = AVX-512,
// x86-64-v3 = AVX2, baseline SSE2) with the right one picked at load time (target_clones; the
// project builds for baseline x86-64, where per-lane variable shifts do not exist).
// Deliberately leaves out: threading and splitting (formats.cpp), parsing, the reference
// (tests/formats_ref.cpp). Definitions of every mode and edge case: docs/formats.md.
//
// Per element, on the magnitude pattern a = |x| bits (sign handled separately, so "up" for a
// negative number is truncation of the magnitude):
//   be    = biased binary32 exponent (0 for binary32 subnormals, which have the spacing of be=1)
//   drop  = base_drop + max(0, emin_biased - max(be, 1))
//           the number of low pattern bits below the target's spacing at |x|; in the target's
//           subnormal range the spacing stays 2^(emin-m), so one more bit per binade below.
//   drop <= 23: within one binade (and across the binary32 subnormal/normal boundary) the pattern
//           is linear in the value, so rounding |x| to a multiple of 2^drop pattern units is
//           rounding the value; a carry out of the significand bumps the exponent, which is
//           exactly the next binade's first value.
//             toward_zero: a & ~mask
//             nearest_even: (a + mask/2 + lsb) & ~mask, lsb = bit `drop` of a (ties to even:
//                          the target code's last bit; for m = 0 it is the exponent's, whose
//                          parity matches the target's since both biases are odd. Exception:
//                          drop = 23 below 2^emin, where the lower neighbour is min_sub, odd)
//             away from zero (up for +, down for -): (a + mask) & ~mask
//             stochastic: (a + R) & ~mask, R = top `drop` bits of ~h for the random word h, so
//                          it rounds away iff h < (a & mask) * 2^(32-drop)  (exactly unbiased)
//   drop >= 24: |x| < min_sub, the neighbours are 0 and min_sub; the choice is made by comparing:
//             nearest: |x| > min_sub/2 (a tie goes to 0, which is even)
//             stochastic: h < floor(2^32 * |x| / min_sub) = floor(sig * 2^(32-drop))
// Then: result > largest finite (or, nearest_even with m = 0, |x| >= 1.5 * 2^emax, IEEE's
// threshold) -> overflow value for the mode; result < 2^emin with
// no-subnormals -> 0; inf and NaN inputs are replaced by their own rules (NaN keeps its bits).
#include "formats_kernel.hpp"

#include <algorithm>
#include <bit>

namespace precsweep::detail {
namespace {

constexpr std::uint32_t kSign = 0x80000000u;
constexpr std::uint32_t kInf = 0x7F800000u;

// All-ones if c, else zero; and the lane select m ? a : b for such masks.
[[gnu::always_inline]] inline std::uint32_t lane_mask(bool c) {
  return 0u - static_cast<std::uint32_t>(c);
}
[[gnu::always_inline]] inline std::uint32_t select(std::uint32_t m, std::uint32_t a,
                                                   std::uint32_t b) {
  return (a & m) | (b & ~m);
}

[[gnu::always_inline]] inline std::int32_t i32(std::uint32_t v) {
  return static_cast<std::int32_t>(v);
}

// One loop per (mode, whether the drop count varies per element, flush, counting, shape).
// kVarDrop is false for e = 8 formats (emin = -126: the binary32 subnormal range is the
// target's too), which then need no per-lane variable shifts at all. kSymmetric: largest finite
// and overflow result do not depend on the sign (floating formats, except the directed modes'
// overflow). kSpecialsPass: inf and NaN inputs are returned as they are (every floating format
// but E4M3FN). The dispatcher uses the general shape unless both hold.
template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount, bool kSymmetric,
          bool kSpecialsPass>
[[gnu::always_inline]] inline void round_loop(float* __restrict x, std::uint32_t n,
                                              std::uint32_t counter_lo, BlockKeys keys,
                                              const KernelParams& p, ChunkCounts* counts) {
  const std::int32_t base_drop = p.base_drop;
  const std::int32_t emin_biased = p.emin_biased;
  const std::uint32_t const_mask = (1u << std::clamp(base_drop, 0, 23)) - 1u;
  const std::uint32_t max_pos = p.max_pos, max_neg = p.max_neg;
  const std::uint32_t ovf_pos = p.overflow_pos, ovf_neg = p.overflow_neg;
  const std::uint32_t inf_pos = p.inf_pos, inf_neg = p.inf_neg;
  const std::uint32_t min_sub = p.min_sub, half_min_sub = p.half_min_sub;
  const std::uint32_t min_normal = p.min_normal;
  const std::uint32_t nearest_overflow_at = p.nearest_overflow_at;
  std::uint32_t n_overflow = 0, n_underflow = 0;

  for (std::uint32_t j = 0; j < n; ++j) {
    // Conditions are all-ones/all-zero lane masks and choices are and/or selects, so GCC's
    // if-conversion has nothing to do and the loop vectorises.
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x[j]);
    const std::uint32_t s = u & kSign;
    const std::uint32_t a = u ^ s;
    const std::uint32_t neg = static_cast<std::uint32_t>(static_cast<std::int32_t>(u) >> 31);

    std::int32_t drop = base_drop;
    std::int32_t kept_at = std::min(std::max(base_drop, 0), 23);  // = drop clamped to 0..23
    std::uint32_t mask = const_mask;
    std::uint32_t tiny = 0;   // lane mask: |x| < min_sub (neighbours 0 and min_sub)
    std::uint32_t below = 0;  // lane mask: |x| < 2^emin
    if constexpr (kVarDrop) {
      const std::int32_t be = static_cast<std::int32_t>(a >> 23);
      const std::int32_t extra = emin_biased - std::min(std::max(be, 1), emin_biased);
      drop += extra;
      tiny = lane_mask(drop >= 24);
      below = lane_mask(extra > 0);
      kept_at = std::min(std::max(drop, 0), 23);
      mask = (1u << kept_at) - 1u;
    }

    // Rounding of the magnitude on the target's grid (valid outside `tiny`), and whether a
    // tiny |x| goes to min_sub (tiny_up, a lane mask).
    std::uint32_t inc = 0;
    std::uint32_t tiny_up = 0;
    if constexpr (kMode == Rounding::nearest_even) {
      // lsb = last kept bit = bit `drop` of a (0 when drop == 0: nothing is dropped). Below
      // 2^emin it is taken from the significand with its implicit bit instead, since with
      // drop = 23 the kept bit is the target's code bit 0 (min_sub is odd), not binary32's
      // exponent bit.
      std::uint32_t lsb_src = a;
      if constexpr (kVarDrop) {
        const std::uint32_t sig =
            (a & 0x007FFFFFu) | (lane_mask(i32(a) >= 0x00800000) & 0x00800000u);
        lsb_src = select(below, sig, a);
      }
      const std::uint32_t lsb = (lsb_src >> kept_at) & mask & 1u;
      inc = (mask >> 1) + lsb;
      tiny_up = lane_mask(i32(a) > i32(half_min_sub));
    } else if constexpr (kMode == Rounding::up || kMode == Rounding::down) {
      const std::uint32_t away = kMode == Rounding::up ? ~neg : neg;
      inc = mask & away;
      tiny_up = away & lane_mask(a != 0);
    } else if constexpr (kMode == Rounding::stochastic) {
      const std::uint32_t h = hash32(counter_lo + j, keys);
      // Top `drop` bits of ~h: ((~h) >> 9) holds its top 23 bits.
      inc = ((~h) >> 9) >> (23 - kept_at);
      if constexpr (kVarDrop) {
        const std::uint32_t sig =
            (a & 0x007FFFFFu) | (lane_mask(i32(a) >= 0x00800000) & 0x00800000u);
        const std::int32_t shl = std::max(32 - drop, 0);                // 0..8 when tiny
        const std::int32_t shr = std::min(std::max(drop - 32, 0), 31);  // sig < 2^24: >> 31 is 0
        tiny_up = lane_mask(h < ((sig << shl) >> shr));
      }
    }
    (void)below;
    std::uint32_t r = (a + inc) & ~mask;
    if constexpr (kVarDrop) r = select(tiny, min_sub & tiny_up, r);

    // Every magnitude pattern here is < 2^31, so signed 32-bit compares are exact (and one
    // instruction, where unsigned ones are three on AVX2).
    std::uint32_t over =
        lane_mask(i32(r) > i32(kSymmetric ? max_pos : select(neg, max_neg, max_pos)));
    if constexpr (kMode == Rounding::nearest_even)
      over |= lane_mask(i32(a) >= i32(nearest_overflow_at));
    r = select(over, kSymmetric ? ovf_pos : select(neg, ovf_neg, ovf_pos), r);
    if constexpr (kFlush) r &= lane_mask(i32(r) >= i32(min_normal));

    const std::uint32_t special = lane_mask(i32(a) >= i32(kInf));
    if constexpr (kSpecialsPass) {
      r = select(special, a, r);  // inf stays inf and NaN keeps its bits
    } else {
      const std::uint32_t nan = lane_mask(i32(a) > i32(kInf));
      r = select(special, select(nan, a, select(neg, inf_neg, inf_pos)), r);
    }
    x[j] = std::bit_cast<float>(s | r);

    if constexpr (kCount) {
      n_overflow += over & ~special & 1u;
      n_underflow += lane_mask(a != 0) & lane_mask(r == 0) & ~special & 1u;
    }
  }
  if constexpr (kCount) {
    counts->overflow += n_overflow;
    counts->underflow += n_underflow;
  }
}

template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount>
[[gnu::always_inline]] inline void dispatch_shape(float* x, std::uint32_t n, std::uint32_t c,
                                                  BlockKeys k, const KernelParams& p,
                                                  ChunkCounts* counts) {
  const bool symmetric = p.max_pos == p.max_neg && p.overflow_pos == p.overflow_neg;
  const bool specials_pass = p.inf_pos == kInf && p.inf_neg == kInf;
  if (symmetric && specials_pass)
    round_loop<kMode, kVarDrop, kFlush, kCount, true, true>(x, n, c, k, p, counts);
  else
    round_loop<kMode, kVarDrop, kFlush, kCount, false, false>(x, n, c, k, p, counts);
}

template <Rounding kMode, bool kVarDrop>
[[gnu::always_inline]] inline void dispatch_flags(float* x, std::uint32_t n, std::uint32_t c,
                                                  BlockKeys k, const KernelParams& p,
                                                  ChunkCounts* counts) {
  if (p.flush) {
    if (counts)
      dispatch_shape<kMode, kVarDrop, true, true>(x, n, c, k, p, counts);
    else
      dispatch_shape<kMode, kVarDrop, true, false>(x, n, c, k, p, counts);
  } else {
    if (counts)
      dispatch_shape<kMode, kVarDrop, false, true>(x, n, c, k, p, counts);
    else
      dispatch_shape<kMode, kVarDrop, false, false>(x, n, c, k, p, counts);
  }
}

template <Rounding kMode>
[[gnu::always_inline]] inline void dispatch_drop(float* x, std::uint32_t n, std::uint32_t c,
                                                 BlockKeys k, const KernelParams& p,
                                                 ChunkCounts* counts) {
  if (p.emin_biased > 1)
    dispatch_flags<kMode, true>(x, n, c, k, p, counts);
  else
    dispatch_flags<kMode, false>(x, n, c, k, p, counts);
}

}  // namespace

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void quantize_chunk(
    float* x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys, const KernelParams& p,
    ChunkCounts* counts) {
  switch (p.mode) {
    case Rounding::toward_zero:
      dispatch_drop<Rounding::toward_zero>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::nearest_even:
      dispatch_drop<Rounding::nearest_even>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::up:
      dispatch_drop<Rounding::up>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::down:
      dispatch_drop<Rounding::down>(x, n, counter_lo, keys, p, counts);
      break;
    case Rounding::stochastic:
      dispatch_drop<Rounding::stochastic>(x, n, counter_lo, keys, p, counts);
      break;
  }
}

}  // namespace precsweep::detail
