// The fast rounding kernel: rounds binary32 values in place by integer arithmetic on their bit
// patterns (CPFloat's add-then-mask idea, Fasi and Mikaitis 2023), one branch-free loop per
// rounding mode so GCC auto-vectorises it, compiled three times (x86-64-v4 = AVX-512,
// x86-64-v3 = AVX2, baseline SSE2) with the right one picked at load time (target_clones; the
// project builds for baseline x86-64, where per-lane variable shifts do not exist).
// The same loop, fused with the SGD weight update (subtract a scaled step, round, count the
// steps the rounding undid), is compiled as subtract_round_chunk; on AVX-512 and AVX2 CPUs a
// hand-written fast path in front of it (update_avx512, update_avx2) rounds a vector of values
// that all lie in the target's normal range with the constant mask alone.
// Deliberately leaves out: threading and splitting (formats.cpp), parsing, the reference
// (tests/formats_ref.cpp). Definitions of every mode and edge case: docs/formats.md.
//
// Per element, on the magnitude pattern a = |x| bits (sign handled separately, so "up" for a
// negative number is truncation of the magnitude):
//   |x| >= 2^emin (the target's normal range): drop = base_drop = 23 - m low pattern bits lie
//           below the target's spacing. Within one binade (and across the binary32
//           subnormal/normal boundary) the pattern is linear in the value, so rounding |x| to a
//           multiple of 2^drop pattern units is rounding the value; a carry out of the
//           significand bumps the exponent, which is exactly the next binade's first value.
//             toward_zero: a & ~mask                      (mask = 2^drop - 1)
//             nearest_even: (a + mask/2 + lsb) & ~mask, lsb = bit `drop` of a (ties to even:
//                          the target code's last bit; for m = 0 it is the exponent's, whose
//                          parity matches the target's since both biases are odd)
//             away from zero (up for +, down for -): (a + mask) & ~mask
//   |x| < 2^emin (e < 8 only): the spacing stays q = 2^(emin-m) = min_sub, so t = |x| / q is
//           rounded to an integer k (truncate, then nearest-even or away from the fractional
//           part) and the result is k * q; all exact in binary32 (t < 2^24). k is the target's
//           subnormal code, so ties to even k are ties to the even code; |x| < q/2 etc. fall out.
//   stochastic, everywhere: drop grows by one per binade below 2^emin,
//           drop = base_drop + max(0, emin_biased - max(be, 1)), be = biased binary32 exponent;
//             drop <= 23: (a + R) & ~mask, R = top `drop` bits of ~h for the random word h, so
//                         it rounds away iff h < (a & mask) * 2^(32-drop)  (exactly unbiased)
//             drop >= 24 (|x| < min_sub, neighbours 0 and min_sub):
//                         min_sub iff h < floor(2^32 * |x| / min_sub) = floor(sig * 2^(32-drop))
// Then: result > largest finite (or, nearest_even with m = 0, |x| >= 1.5 * 2^emax, IEEE's
// threshold) -> overflow value for the mode; result < 2^emin with
// no-subnormals -> 0; inf and NaN inputs are replaced by their own rules (NaN keeps its bits).
// The vector-typed results of the always-inlined helpers (round_dropping, hash32) never cross a
// call boundary, so GCC's warning that their ABI differs without AVX-512 does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "formats_kernel.hpp"

// The x86 clones and fast paths exist only on x86-64, and not when the portable loops are
// forced (-DPRECSWEEP_PORTABLE_KERNELS=ON, as an aarch64 build would run them); results are the
// same bits either way.
#if defined(__x86_64__) && !defined(PRECSWEEP_PORTABLE_KERNELS)
#define PRECSWEEP_X86_KERNELS 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>

// The tests also build this file once per instruction set without clones
// (PRECSWEEP_KERNEL_ARCH_TEST, tests/CMakeLists.txt), so every clone's code is checked against
// the reference on a machine that would pick only one of them.
#if defined(PRECSWEEP_KERNEL_ARCH_TEST) || !defined(PRECSWEEP_X86_KERNELS)
#define PRECSWEEP_KERNEL_CLONES
#else
#define PRECSWEEP_KERNEL_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

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

// |x| (magnitude pattern a; neg = all-ones for a negative x) rounded by dropping the low
// `kept_at` pattern bits (mask = 2^kept_at - 1), the rule of the target's normal range; h is
// the stochastic random word (unused otherwise). U is std::uint32_t, or a GCC vector of them
// in the fast paths.
template <Rounding kMode, class U>
[[gnu::always_inline]] inline U round_dropping(const U& a, const U& neg, std::int32_t kept_at,
                                               std::uint32_t mask, const U& h) {
  U inc{};
  if constexpr (kMode == Rounding::nearest_even) {
    // lsb = last kept bit = bit `kept_at` of a (0 when nothing is dropped)
    inc = (mask >> 1) + ((a >> kept_at) & mask & 1u);
  } else if constexpr (kMode == Rounding::up || kMode == Rounding::down) {
    inc = mask & (kMode == Rounding::up ? ~neg : neg);
  } else if constexpr (kMode == Rounding::stochastic) {
    inc = ((~h) >> 9) >> (23 - kept_at);  // top `kept_at` bits of ~h (~h >> 9: its top 23)
  }
  return (a + inc) & ~mask;
}

// The normal range as magnitude patterns. Rounding there cannot overflow (a value at most the
// largest finite, which lies on the grid, rounds to at most it) and cannot give 0 (the lower
// end lies on the grid). Without a subnormal grid of its own (e = 8) the target's grid is
// binary32's below 2^-126 too, down to its smallest value. Fixed point has none (lo > hi).
struct NormalRange {
  std::uint32_t lo, hi;
  std::int32_t kept_at;  // bits dropped there, and their mask
  std::uint32_t mask;
};
template <bool kVarDrop, bool kFlush>
[[gnu::always_inline]] inline NormalRange normal_range(const KernelParams& p) {
  const std::int32_t kept_at = std::clamp(p.base_drop, 0, 23);
  return {kVarDrop ? static_cast<std::uint32_t>(p.emin_biased) << 23
                   : (kFlush ? p.min_normal : p.min_sub),
          std::min(p.max_pos, p.max_neg), kept_at, (1u << kept_at) - 1u};
}

// One loop per (mode, whether the target has a subnormal range below binary32's normal range,
// flush, counting, shape, and whether it is the fused weight update).
// kVarDrop is false for e = 8 formats (emin = -126: the binary32 subnormal range is the
// target's too), which then need neither the subnormal rounding nor per-lane variable shifts.
// kSymmetric: largest finite and overflow result do not depend on the sign (floating formats,
// except the directed modes' overflow). kSpecialsPass: inf and NaN inputs are returned as they
// are (every floating format but E4M3FN). The dispatcher uses the general shape unless both
// hold. kUpdate: the value rounded is x[j] - scale * step[j] (two binary32 operations, never
// contracted into an FMA: the project builds with -ffp-contract=off), and updates lost are
// counted. kExtras (general shape only): the encodings' two extra rules, fnuz's +0 for zero
// results and finite's counting of inf/NaN inputs (p.zero_sign, p.count_specials), so the
// loops of the other formats do not pay for them.
template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount, bool kSymmetric,
          bool kSpecialsPass, bool kUpdate, bool kExtras = false>
[[gnu::always_inline]] inline void round_loop(float* __restrict x, std::uint32_t n,
                                              std::uint32_t counter_lo, BlockKeys keys,
                                              const KernelParams& p, ChunkCounts* counts,
                                              const float* __restrict step, float scale) {
  const std::int32_t base_drop = p.base_drop;
  const std::int32_t emin_biased = p.emin_biased;
  const NormalRange range = normal_range<kVarDrop, kFlush>(p);
  const std::int32_t const_kept_at = range.kept_at;
  const std::uint32_t const_mask = range.mask;
  const std::uint32_t below_at = static_cast<std::uint32_t>(emin_biased) << 23;  // 2^emin
  const std::uint32_t max_pos = p.max_pos, max_neg = p.max_neg;
  const std::uint32_t ovf_pos = p.overflow_pos, ovf_neg = p.overflow_neg;
  const std::uint32_t inf_pos = p.inf_pos, inf_neg = p.inf_neg;
  const std::uint32_t min_sub = p.min_sub;
  const float q = std::bit_cast<float>(min_sub), inv_q = kVarDrop ? 1.0f / q : 0.0f;
  const std::uint32_t min_normal = p.min_normal;
  const std::uint32_t nearest_overflow_at = p.nearest_overflow_at;
  const std::uint32_t zero_sign = p.zero_sign, count_specials = 0u - p.count_specials;
  std::uint32_t n_overflow = 0, n_underflow = 0, n_lost = 0;

  for (std::uint32_t j = 0; j < n; ++j) {
    // Conditions are all-ones/all-zero lane masks and choices are and/or selects, so GCC's
    // if-conversion has nothing to do and the loop vectorises.
    const float old = x[j];
    float st = 0.0f;
    if constexpr (kUpdate) st = scale * step[j];
    const std::uint32_t u = std::bit_cast<std::uint32_t>(kUpdate ? old - st : old);
    const std::uint32_t s = u & kSign;
    const std::uint32_t a = u ^ s;
    const std::uint32_t neg = static_cast<std::uint32_t>(static_cast<std::int32_t>(u) >> 31);

    std::uint32_t r;  // |x| rounded on the target's grid (before overflow and specials)
    if constexpr (kMode != Rounding::stochastic) {
      r = round_dropping<kMode>(a, neg, const_kept_at, const_mask, 0u);
      if constexpr (kVarDrop) {
        // Below 2^emin the grid is the fixed spacing q = min_sub: round t = |x| / q to an
        // integer k in the mode's direction and scale back. Every step is exact: q is a power
        // of two, t < 2^24, and t - trunc(t) is representable. Ties of nearest go to the even
        // k, which is the even code (k is the subnormal code, or 2^m for 2^emin itself).
        const float t = std::bit_cast<float>(a) * inv_q;
        std::int32_t k = static_cast<std::int32_t>(t);  // truncation
        if constexpr (kMode != Rounding::toward_zero) {
          const float frac = t - static_cast<float>(k);
          if constexpr (kMode == Rounding::nearest_even)
            k += static_cast<std::int32_t>((lane_mask(frac > 0.5f) |
                                            (lane_mask(frac == 0.5f) & static_cast<std::uint32_t>(k))) &
                                           1u);
          else
            k += static_cast<std::int32_t>(
                lane_mask(frac != 0.0f) & (kMode == Rounding::up ? ~neg : neg) & 1u);
        }
        const float kq = static_cast<float>(k) * q;
        r = select(lane_mask(i32(a) < i32(below_at)), std::bit_cast<std::uint32_t>(kq), r);
      }
    } else {
      // Stochastic: the number of dropped bits grows by one per binade below 2^emin.
      std::int32_t drop = base_drop;
      std::int32_t kept_at = const_kept_at;
      std::uint32_t mask = const_mask;
      std::uint32_t tiny = 0;  // lane mask: |x| < min_sub (neighbours 0 and min_sub)
      if constexpr (kVarDrop) {
        const std::int32_t be = static_cast<std::int32_t>(a >> 23);
        drop += emin_biased - std::min(std::max(be, 1), emin_biased);
        tiny = lane_mask(drop >= 24);
        kept_at = std::min(std::max(drop, 0), 23);
        mask = (1u << kept_at) - 1u;
      }
      const std::uint32_t h = hash32(counter_lo + j, keys);
      r = round_dropping<kMode>(a, neg, kept_at, mask, h);
      if constexpr (kVarDrop) {
        // A tiny |x| goes to min_sub with probability |x| / min_sub.
        const std::uint32_t sig =
            (a & 0x007FFFFFu) | (lane_mask(i32(a) >= 0x00800000) & 0x00800000u);
        // Clamped to 31 too: lanes that are not tiny (drop < 24) discard this value, but a
        // shift by 32 would still be undefined behaviour (UBSan, sanitizer build).
        const std::int32_t shl = std::min(std::max(32 - drop, 0), 31);  // 0..8 when tiny
        const std::int32_t shr = std::min(std::max(drop - 32, 0), 31);  // sig < 2^24: >> 31 is 0
        r = select(tiny, min_sub & lane_mask(h < ((sig << shl) >> shr)), r);
      }
    }

    // Every magnitude pattern here is < 2^31, so signed 32-bit compares are exact (and one
    // instruction, where unsigned ones are three on AVX2).
    std::uint32_t over =
        lane_mask(i32(r) > i32(kSymmetric ? max_pos : select(neg, max_neg, max_pos)));
    if constexpr (kMode == Rounding::nearest_even)
      over |= lane_mask(i32(a) >= i32(nearest_overflow_at));
    r = select(over, kSymmetric ? ovf_pos : select(neg, ovf_neg, ovf_pos), r);
    if constexpr (kFlush) r &= lane_mask(i32(r) >= i32(min_normal));

    const std::uint32_t special = lane_mask(i32(a) >= i32(kInf));
    std::uint32_t sign = s;
    if constexpr (kSpecialsPass) {
      r = select(special, a, r);  // inf stays inf and NaN keeps its bits
    } else {
      const std::uint32_t nan = lane_mask(i32(a) > i32(kInf));
      r = select(special, select(nan, a, select(neg, inf_neg, inf_pos)), r);
      if constexpr (kExtras) sign &= lane_mask(r != 0) | zero_sign;  // fnuz: a zero is +0
    }
    const float result = std::bit_cast<float>(sign | r);
    x[j] = result;

    // (bool & bool: GCC turns each count into a compare, a masked compare and one add.)
    if constexpr (kCount) {
      if constexpr (kExtras)
        n_overflow += ((over & ~special) | (special & count_specials)) & 1u;
      else
        n_overflow += over & ~special & 1u;
      // r is never 0 for inf/NaN inputs, so they need no exclusion here
      n_underflow += static_cast<std::uint32_t>((a != 0) & (r == 0));
    }
    // A nonzero step that left the stored value unchanged (as a float: -0 equals +0).
    if constexpr (kUpdate) n_lost += static_cast<std::uint32_t>((st != 0.0f) & (result == old));
  }
  if constexpr (kCount) {
    counts->overflow += n_overflow;
    counts->underflow += n_underflow;
  }
  if constexpr (kUpdate) counts->lost += n_lost;
}

// What a dispatch chain ends in: quantize's loop, the fused update's general loop, or one of
// its fast paths (update_avx512, update_avx2), which the caller picks only on a CPU that has it.
enum class Pass { round, update, update_avx512, update_avx2 };

// The fused weight update's fast paths, 16 (AVX-512) or 8 (AVX2) values at a time: when every
// x[j] - scale * step[j] of a vector lies in the target's normal range [lo, hi], the rounding
// is round_dropping with the constant drop alone (no subnormal grid, no overflow, no flush, no
// inf or NaN, nothing to count but the lost updates). A vector with any value outside is left
// untouched and done by the general round_loop, as are the last n % 16 (n % 8) values. Results
// and counts are round_loop's, bit for bit.
// Why by hand: the per-vector branch is what saves the work, and GCC's auto-vectoriser makes
// no per-vector branches. With MNIST MLP weights about 1 vector in 80 takes the general loop
// (1 weight in 500 is below fp16's 2^-14). Integer arithmetic is written with GCC vector
// extensions (the same round_dropping and hash32 as the scalar loop); the intrinsics are only
// loads, stores, float arithmetic and compares.
#ifdef PRECSWEEP_X86_KERNELS
using U32x16 = std::uint32_t __attribute__((vector_size(64)));
using I32x16 = std::int32_t __attribute__((vector_size(64)));
using U32x8 = std::uint32_t __attribute__((vector_size(32)));
using I32x8 = std::int32_t __attribute__((vector_size(32)));

template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount, bool kSymmetric,
          bool kSpecialsPass, bool kExtras>
__attribute__((target("arch=x86-64-v4"))) void update_avx512(
    float* __restrict x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys,
    const KernelParams& p, ChunkCounts* counts, const float* __restrict step, float scale) {
  const NormalRange range = normal_range<kVarDrop, kFlush>(p);
  std::uint32_t j = 0;
  if (range.lo <= range.hi) {
    const __m512i v_lo = _mm512_set1_epi32(i32(range.lo));
    const __m512i v_span = _mm512_set1_epi32(i32(range.hi - range.lo));
    const __m512i v_abs = _mm512_set1_epi32(i32(~kSign));
    const __m512 v_scale = _mm512_set1_ps(scale);
    const U32x16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    std::uint32_t n_lost = 0;
    for (; j + 16 <= n; j += 16) {
      const __m512 old = _mm512_loadu_ps(x + j);
      const __m512 st = _mm512_mul_ps(v_scale, _mm512_loadu_ps(step + j));
      const __m512i u = _mm512_castps_si512(_mm512_sub_ps(old, st));
      const __m512i a = _mm512_and_si512(u, v_abs);
      // a < lo or a > hi, as one unsigned compare: a - lo > hi - lo
      if (_mm512_cmpgt_epu32_mask(_mm512_sub_epi32(a, v_lo), v_span)) {
        round_loop<kMode, kVarDrop, kFlush, kCount, kSymmetric, kSpecialsPass, true, kExtras>(
            x + j, 16, counter_lo + j, keys, p, counts, step + j, scale);
        continue;
      }
      // On the signed pattern: |x| + inc < 2^31, so the sign bit is untouched (and ~mask
      // keeps it).
      const U32x16 us = (U32x16)u;
      const U32x16 neg = (U32x16)((I32x16)us >> 31);
      U32x16 h{};
      if constexpr (kMode == Rounding::stochastic) h = hash32<U32x16>(counter_lo + j + lane, keys);
      const __m512 result =
          (__m512)round_dropping<kMode>(us, neg, range.kept_at, range.mask, h);
      _mm512_storeu_ps(x + j, result);
      // lost: a nonzero step (C++'s !=, so a NaN counts) that left the value equal
      const __mmask16 moved = _mm512_cmp_ps_mask(st, _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __mmask16 same = _mm512_mask_cmp_ps_mask(moved, result, old, _CMP_EQ_OQ);
      n_lost += static_cast<std::uint32_t>(std::popcount(static_cast<unsigned>(same)));
    }
    counts->lost += n_lost;
  }
  if (j < n)
    round_loop<kMode, kVarDrop, kFlush, kCount, kSymmetric, kSpecialsPass, true, kExtras>(
        x + j, n - j, counter_lo + j, keys, p, counts, step + j, scale);
}

// update_avx512 for AVX2: 8 lanes, lane masks in vectors instead of k-registers, and the
// unsigned range compare done as a signed one on patterns with their top bit flipped.
template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount, bool kSymmetric,
          bool kSpecialsPass, bool kExtras>
__attribute__((target("arch=x86-64-v3"))) void update_avx2(
    float* __restrict x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys,
    const KernelParams& p, ChunkCounts* counts, const float* __restrict step, float scale) {
  const NormalRange range = normal_range<kVarDrop, kFlush>(p);
  std::uint32_t j = 0;
  if (range.lo <= range.hi) {
    const __m256i v_lo = _mm256_set1_epi32(i32(range.lo));
    const __m256i v_span_flipped = _mm256_set1_epi32(i32((range.hi - range.lo) ^ kSign));
    const __m256i v_sign = _mm256_set1_epi32(i32(kSign));
    const __m256i v_abs = _mm256_set1_epi32(i32(~kSign));
    const __m256 v_scale = _mm256_set1_ps(scale);
    const U32x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    std::uint32_t n_lost = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 old = _mm256_loadu_ps(x + j);
      const __m256 st = _mm256_mul_ps(v_scale, _mm256_loadu_ps(step + j));
      const __m256i u = _mm256_castps_si256(_mm256_sub_ps(old, st));
      const __m256i a = _mm256_and_si256(u, v_abs);
      const __m256i out = _mm256_cmpgt_epi32(
          _mm256_xor_si256(_mm256_sub_epi32(a, v_lo), v_sign), v_span_flipped);
      if (!_mm256_testz_si256(out, out)) {
        round_loop<kMode, kVarDrop, kFlush, kCount, kSymmetric, kSpecialsPass, true, kExtras>(
            x + j, 8, counter_lo + j, keys, p, counts, step + j, scale);
        continue;
      }
      const U32x8 us = (U32x8)u;
      const U32x8 neg = (U32x8)((I32x8)us >> 31);
      U32x8 h{};
      if constexpr (kMode == Rounding::stochastic) h = hash32<U32x8>(counter_lo + j + lane, keys);
      const __m256 result = (__m256)round_dropping<kMode>(us, neg, range.kept_at, range.mask, h);
      _mm256_storeu_ps(x + j, result);
      const __m256 same = _mm256_and_ps(_mm256_cmp_ps(st, _mm256_setzero_ps(), _CMP_NEQ_UQ),
                                        _mm256_cmp_ps(result, old, _CMP_EQ_OQ));
      n_lost += static_cast<std::uint32_t>(
          std::popcount(static_cast<unsigned>(_mm256_movemask_ps(same))));
    }
    counts->lost += n_lost;
  }
  if (j < n)
    round_loop<kMode, kVarDrop, kFlush, kCount, kSymmetric, kSpecialsPass, true, kExtras>(
        x + j, n - j, counter_lo + j, keys, p, counts, step + j, scale);
}

#endif  // PRECSWEEP_X86_KERNELS

// The step array and its scale (unused unless kUpdate), and whether overflow and underflow
// are counted, travel together through the dispatchers.
struct Step {
  const float* values;
  float scale;
  bool count_range;
};

template <Rounding kMode, bool kVarDrop, bool kFlush, bool kCount, Pass kPass>
[[gnu::always_inline]] inline void dispatch_shape(float* x, std::uint32_t n, std::uint32_t c,
                                                  BlockKeys k, const KernelParams& p,
                                                  ChunkCounts* counts, Step st) {
  const bool symmetric = p.max_pos == p.max_neg && p.overflow_pos == p.overflow_neg;
  const bool specials_pass = p.inf_pos == kInf && p.inf_neg == kInf;
  // fnuz and finite (whose inf is never inf, so they take the general shape)
  const bool extras = p.zero_sign == 0 || p.count_specials != 0;
  constexpr bool kUpdate = kPass != Pass::round;
#ifdef PRECSWEEP_X86_KERNELS
  if constexpr (kPass == Pass::update_avx512) {
    if (symmetric && specials_pass)
      update_avx512<kMode, kVarDrop, kFlush, kCount, true, true, false>(x, n, c, k, p, counts,
                                                                        st.values, st.scale);
    else if (extras)
      update_avx512<kMode, kVarDrop, kFlush, kCount, false, false, true>(x, n, c, k, p, counts,
                                                                         st.values, st.scale);
    else
      update_avx512<kMode, kVarDrop, kFlush, kCount, false, false, false>(x, n, c, k, p, counts,
                                                                          st.values, st.scale);
  } else if constexpr (kPass == Pass::update_avx2) {
    if (symmetric && specials_pass)
      update_avx2<kMode, kVarDrop, kFlush, kCount, true, true, false>(x, n, c, k, p, counts,
                                                                      st.values, st.scale);
    else if (extras)
      update_avx2<kMode, kVarDrop, kFlush, kCount, false, false, true>(x, n, c, k, p, counts,
                                                                       st.values, st.scale);
    else
      update_avx2<kMode, kVarDrop, kFlush, kCount, false, false, false>(x, n, c, k, p, counts,
                                                                        st.values, st.scale);
  } else
#endif
  if (symmetric && specials_pass) {
    round_loop<kMode, kVarDrop, kFlush, kCount, true, true, kUpdate>(x, n, c, k, p, counts,
                                                                     st.values, st.scale);
  } else if (extras) {
    round_loop<kMode, kVarDrop, kFlush, kCount, false, false, kUpdate, true>(
        x, n, c, k, p, counts, st.values, st.scale);
  } else {
    round_loop<kMode, kVarDrop, kFlush, kCount, false, false, kUpdate>(x, n, c, k, p, counts,
                                                                       st.values, st.scale);
  }
}

template <Rounding kMode, bool kVarDrop, Pass kPass>
[[gnu::always_inline]] inline void dispatch_flags(float* x, std::uint32_t n, std::uint32_t c,
                                                  BlockKeys k, const KernelParams& p,
                                                  ChunkCounts* counts, Step st) {
  if (p.flush) {
    if (st.count_range)
      dispatch_shape<kMode, kVarDrop, true, true, kPass>(x, n, c, k, p, counts, st);
    else
      dispatch_shape<kMode, kVarDrop, true, false, kPass>(x, n, c, k, p, counts, st);
  } else {
    if (st.count_range)
      dispatch_shape<kMode, kVarDrop, false, true, kPass>(x, n, c, k, p, counts, st);
    else
      dispatch_shape<kMode, kVarDrop, false, false, kPass>(x, n, c, k, p, counts, st);
  }
}

template <Rounding kMode, Pass kPass>
[[gnu::always_inline]] inline void dispatch_drop(float* x, std::uint32_t n, std::uint32_t c,
                                                 BlockKeys k, const KernelParams& p,
                                                 ChunkCounts* counts, Step st) {
  if (p.emin_biased > 1)
    dispatch_flags<kMode, true, kPass>(x, n, c, k, p, counts, st);
  else
    dispatch_flags<kMode, false, kPass>(x, n, c, k, p, counts, st);
}

template <Pass kPass>
[[gnu::always_inline]] inline void dispatch_mode(float* x, std::uint32_t n, std::uint32_t c,
                                                 BlockKeys k, const KernelParams& p,
                                                 ChunkCounts* counts, Step st) {
  switch (p.mode) {
    case Rounding::toward_zero:
      dispatch_drop<Rounding::toward_zero, kPass>(x, n, c, k, p, counts, st);
      break;
    case Rounding::nearest_even:
      dispatch_drop<Rounding::nearest_even, kPass>(x, n, c, k, p, counts, st);
      break;
    case Rounding::up:
      dispatch_drop<Rounding::up, kPass>(x, n, c, k, p, counts, st);
      break;
    case Rounding::down:
      dispatch_drop<Rounding::down, kPass>(x, n, c, k, p, counts, st);
      break;
    case Rounding::stochastic:
      dispatch_drop<Rounding::stochastic, kPass>(x, n, c, k, p, counts, st);
      break;
  }
}

// Which fused update this CPU runs: x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) takes update_avx512,
// x86-64-v3 (AVX2, FMA, BMI2) update_avx2, any other the general loop for baseline x86-64
// (SSE2). A test build for one instruction set (PRECSWEEP_KERNEL_ARCH_TEST) takes the path of
// the set it was compiled for.
Pass update_pass() {
#if !defined(PRECSWEEP_X86_KERNELS)
  return Pass::update;
#elif defined(PRECSWEEP_KERNEL_ARCH_TEST)
#if defined(__AVX512F__)
  return Pass::update_avx512;
#elif defined(__AVX2__)
  return Pass::update_avx2;
#else
  return Pass::update;
#endif
#else
  static const Pass pass = __builtin_cpu_supports("x86-64-v4")   ? Pass::update_avx512
                           : __builtin_cpu_supports("x86-64-v3") ? Pass::update_avx2
                                                                 : Pass::update;
  return pass;
#endif
}

}  // namespace

PRECSWEEP_KERNEL_CLONES void quantize_chunk(
    float* x, std::uint32_t n, std::uint32_t counter_lo, BlockKeys keys, const KernelParams& p,
    ChunkCounts* counts) {
  dispatch_mode<Pass::round>(x, n, counter_lo, keys, p, counts,
                             Step{nullptr, 0.0f, counts != nullptr});
}

void subtract_round_chunk(float* x, const float* step, float scale, std::uint32_t n,
                          std::uint32_t counter_lo, BlockKeys keys, const KernelParams& p,
                          ChunkCounts* counts, bool count_range) {
  const Step st{step, scale, count_range};
  switch (update_pass()) {
    case Pass::update_avx512:
      dispatch_mode<Pass::update_avx512>(x, n, counter_lo, keys, p, counts, st);
      break;
    case Pass::update_avx2:
      dispatch_mode<Pass::update_avx2>(x, n, counter_lo, keys, p, counts, st);
      break;
    default:
      dispatch_mode<Pass::update>(x, n, counter_lo, keys, p, counts, st);
  }
}

PRECSWEEP_KERNEL_CLONES void
subtract_chunk(float* __restrict x, const float* __restrict step, float scale, std::uint32_t n,
               ChunkCounts* counts) {
  std::uint32_t n_lost = 0;
  for (std::uint32_t j = 0; j < n; ++j) {
    const float st = scale * step[j];
    const float v = x[j] - st;
    n_lost += lane_mask(st != 0.0f) & lane_mask(v == x[j]) & 1u;
    x[j] = v;
  }
  counts->lost += n_lost;
}

}  // namespace precsweep::detail
