// The fast accumulation kernel: rows of C[M x N] = sum_k L(i,k) R(k,j) (GemmView), each
// element computed with exactly the steps of the reference loop (acc_step, in increasing k),
// but a block of up to kBlock output columns at a time, 4 columns (independent elements, the
// same k) per vector of acc_step_lanes (GCC vector extensions), with the kernel compiled three
// times (x86-64-v4 = AVX-512, x86-64-v3 = AVX2, baseline SSE2) and the
// right one picked at load time (target_clones), as in formats_kernel.cpp.
// The block's partial sums (and run totals) stay in L1; each k reads one contiguous row
// segment of R. Threading over rows: accumulate.cpp.
// Deliberately leaves out: the definition (accumulate.cpp's *_ref loops), parsing, threading.
#pragma GCC diagnostic ignored "-Wpsabi"
// GCC 12 claims that outer_step's last loop reaches iteration 2^62 when it is inlined into
// outer_dispatch (whose nb <= 64); a false positive of its loop-bound analysis.
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"

// x86-64 only (and not with -DPRECSWEEP_PORTABLE_KERNELS=ON): the instruction-set clones and the
// AVX2 fast path for round to nearest; elsewhere the exact step alone, which gives the same bits.
#if defined(__x86_64__) && !defined(PRECSWEEP_PORTABLE_KERNELS)
#define PRECSWEEP_ACC_X86 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>

#include "accumulate_kernel.hpp"

#if defined(PRECSWEEP_KERNEL_ARCH_TEST) || !defined(PRECSWEEP_ACC_X86)
#define PRECSWEEP_ACC_CLONES
#else
#define PRECSWEEP_ACC_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

namespace precsweep::detail {
namespace {

constexpr std::size_t kBlock = 64;

// Per block column: the stochastic hash keys of its element (counter high half = index).
struct LaneKeys {
  std::uint32_t k1[kBlock], k2[kBlock];
};

[[gnu::always_inline]] inline std::uint32_t lane_word(std::uint32_t counter_lo, std::uint32_t k1,
                                                      std::uint32_t k2) {
  return lowbias32<std::uint32_t>(lowbias32<std::uint32_t>(counter_lo + k1) ^ k2);
}

// 4 columns at a time through the vector form of acc_step, the rest one at a time; the same
// operations either way, so the same bits.
constexpr std::size_t kLanes = 4;

template <class T>
[[gnu::always_inline]] inline T load(const void* p) {
  T v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
[[gnu::always_inline]] inline void store(void* p, const T& v) {
  __builtin_memcpy(p, &v, sizeof v);
}

// One k for the block: run[j] <- round(run[j] + l * r[j]); returns the swamped count.
template <Rounding kMode>
[[gnu::always_inline]] inline std::uint32_t inner_step(float* __restrict run, float l,
                                                       const float* __restrict r,
                                                       std::size_t nb, std::uint32_t counter_lo,
                                                       const LaneKeys& keys,
                                                       const AccParams& P) {
  std::size_t j = 0;
  const F32x4 lv = {l, l, l, l};  // (not 0 + l: that turns -0 into +0)
  I32x4 sw{};  // minus the swamped count per lane
  for (; j + kLanes <= nb; j += kLanes) {
    const F32x4 old = load<F32x4>(run + j);
    const F32x4 rv = load<F32x4>(r + j);
    U32x4 h{};
    if constexpr (kMode == Rounding::stochastic)
      h = lowbias32<U32x4>(lowbias32<U32x4>(counter_lo + load<U32x4>(keys.k1 + j)) ^
                           load<U32x4>(keys.k2 + j));
    const F32x4 next = acc_step_lanes<kMode, F64x4>(old, lv, rv, h, P);
    sw += (lv != 0.0f) & (rv != 0.0f) & (next == old);
    store(run + j, next);
  }
  std::uint32_t swamped = 0;
  for (std::size_t t = 0; t < kLanes; ++t) swamped += static_cast<std::uint32_t>(-sw[t]);
  const bool l_nonzero = l != 0.0f;
  for (; j < nb; ++j) {
    std::uint32_t h = 0;
    if constexpr (kMode == Rounding::stochastic) h = lane_word(counter_lo, keys.k1[j], keys.k2[j]);
    const float old = run[j];
    const float next = acc_step<kMode>(old, l, r[j], h, P);
    swamped += static_cast<std::uint32_t>(l_nonzero & (r[j] != 0.0f) & (next == old));
    run[j] = next;
  }
  return swamped;
}

// A fast path for nearest_even on AVX2 CPUs, 8 columns at a time: r = fma(l, r[j], run[j]) is
// the exact sum rounded once to binary32 (round to nearest). If every r of the vector lies in
// F's normal range [2^emin, max] and none lies exactly on a midpoint between two neighbours in
// F (low drop32 = 23 - m bits 100...0), then rounding r to F is rounding the exact sum: F's
// midpoints there are binary32 numbers, binary32's rounding is monotone, so r and the exact
// sum lie on the same side of each of them (and r cannot exceed max, so nothing overflows).
// r is then rounded with the constant mask. A vector with any lane outside, or on a midpoint,
// takes the exact acc_step for its 8 columns. F must be a float format with m <= 22 and one max
// for both signs (FastNearest::usable).
// Below 2^emin (F's subnormals and zero, when F has subnormals and signed zeros) F's values are
// the multiples of g = 2^(emin - m), and its midpoints the odd multiples of g/2, binary32
// numbers too (emin - m - 1 >= -149): the same argument holds, and rounding |r| to the grid is
// (|r| + C) - C with C = 1.5 * 2^(emin - m + 23), whose binary32 ulp is g (round to nearest
// even on the grid: even multiples of g, as F's codes), with r's sign put back (a -0 stays -0).
// A lane there on a midpoint (|r| - t = g/2) takes the exact step as well.
struct FastNearest {
  std::uint32_t lo, span, mask, half;  // normal range [lo, lo + span] as |pattern|; F's mask
  int drop;
  bool usable;
  bool below;          // the range below 2^emin takes the grid path (subnormals, signed zeros)
  float grid_c, half_g;  // C and g/2 above
};

// Whether this CPU runs the fast path. A test build for one instruction set
// (PRECSWEEP_KERNEL_ARCH_TEST, tests/CMakeLists.txt) decides by what it was compiled for, so
// the baseline build checks the exact step alone.
bool has_avx2_fma() {
#if !defined(PRECSWEEP_ACC_X86)
  return false;
#elif defined(PRECSWEEP_KERNEL_ARCH_TEST)
#if defined(__AVX2__) && defined(__FMA__)
  return true;
#else
  return false;
#endif
#else
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#endif
}

FastNearest fast_nearest(const AccParams& P) {
  FastNearest f{};
  const std::int64_t m = 52 - P.drop0;
  const auto lo = std::bit_cast<std::uint32_t>(
      static_cast<float>(std::bit_cast<double>(P.min_normal)));
  const auto hi = std::bit_cast<std::uint32_t>(static_cast<float>(std::bit_cast<double>(P.max_pos)));
  f.usable = P.mode == Rounding::nearest_even && m <= 22 && P.lsb52_exp == 0 && m >= 1 &&
             P.max_pos == P.max_neg && P.emin >= -126 && lo > 0 && lo <= hi &&
             has_avx2_fma();
  f.lo = lo;
  f.span = hi - lo;
  f.drop = static_cast<int>(23 - m);
  f.mask = (1u << f.drop) - 1u;
  f.half = 1u << (f.drop - 1);
  f.below = f.usable && !P.flush && P.zero_sign == 0x80000000u;
  f.grid_c = std::ldexp(1.5f, static_cast<int>(P.emin - m + 23));
  f.half_g = std::ldexp(1.0f, static_cast<int>(P.emin - m - 1));
  return f;
}

void outer_dispatch(float* total, float* run, std::size_t nb, std::uint32_t counter_lo,
                    const LaneKeys& keys, const AccParams& P, std::size_t j_off);

#ifdef PRECSWEEP_ACC_X86
// The fast path's constants, as vectors.
struct NearestConsts {
  __m256i lo, span_flipped, sign, abs, mask, half, halfm, one;
  __m128i drop;
  __m256i hi;           // max's |pattern|: above it, out of range
  __m256 grid_c, half_g;  // FastNearest's grid path
  bool below;
};

// Whether a vector with some lane outside F's normal range can take the grid path: no lane
// above max (or inf/NaN), no normal lane on a midpoint, no lane below 2^emin on a grid midpoint.
__attribute__((target("arch=x86-64-v3"), always_inline)) inline bool below_ok(
    __m256i a, const NearestConsts& c) {
  const __m256i big = _mm256_cmpgt_epi32(a, c.hi);
  const __m256i small = _mm256_cmpgt_epi32(c.lo, a);
  const __m256i mid = _mm256_andnot_si256(small, _mm256_cmpeq_epi32(_mm256_and_si256(a, c.mask), c.half));
  const __m256 ar = _mm256_castsi256_ps(a);
  const __m256 t = _mm256_sub_ps(_mm256_add_ps(ar, c.grid_c), c.grid_c);
  const __m256 d = _mm256_sub_ps(ar, t);  // exact: both within one grid step
  const __m256i gmid = _mm256_and_si256(
      small, _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_castsi256_ps(c.sign), d),
                                               c.half_g, _CMP_EQ_OQ)));
  const __m256i bad = _mm256_or_si256(_mm256_or_si256(big, mid), gmid);
  return _mm256_testz_si256(bad, bad);
}

// Every lane rounded to F: normal lanes with the mask, lanes below 2^emin on the grid (sign of
// u kept). Only after below_ok.
__attribute__((target("arch=x86-64-v3"), always_inline)) inline __m256 round_below(
    __m256i u, __m256i a, const NearestConsts& c) {
  const __m256i lsb = _mm256_and_si256(_mm256_srl_epi32(a, c.drop), c.one);
  const __m256i sum = _mm256_add_epi32(u, _mm256_add_epi32(c.halfm, lsb));
  const __m256 normal = _mm256_castsi256_ps(_mm256_andnot_si256(c.mask, sum));
  const __m256 ar = _mm256_castsi256_ps(a);
  const __m256 t = _mm256_sub_ps(_mm256_add_ps(ar, c.grid_c), c.grid_c);
  const __m256 grid = _mm256_or_ps(t, _mm256_castsi256_ps(_mm256_and_si256(u, c.sign)));
  return _mm256_blendv_ps(normal, grid, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c.lo, a)));
}

// Columns jc .. jc + 8V of the block (row i, block start j0), all k, their V partial-sum vectors
// held in registers across k (V independent chains hide the latency of each step). A vector
// with a lane outside F's normal range or on a midpoint takes the exact step. Returns the
// swamped count.
template <int V>
__attribute__((target("arch=x86-64-v3"), always_inline)) inline std::uint64_t cols_nearest(
    const GemmView& v, std::size_t i, std::size_t j0, std::size_t jc, std::uint32_t chunk,
    const AccParams& P, const AccParams& outer, const NearestConsts& c, float* run,
    float* total, const LaneKeys& keys_out) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 acc[V];
  for (int t = 0; t < V; ++t) acc[t] = _mm256_loadu_ps(run + jc + 8 * t);
  __m256i swv = _mm256_setzero_si256();  // swamped count per lane
  const float* l_row = v.L + i * v.l_row;
  std::uint32_t in_run = 0;
  for (std::size_t k = 0; k < v.K; ++k) {
    const float l = l_row[k * v.l_k];
    const float* r = v.R + k * v.r_k + j0 + jc;
    const __m256 lv = _mm256_set1_ps(l);
    const __m256 l_nonzero = _mm256_cmp_ps(lv, zero, _CMP_NEQ_UQ);
#pragma GCC unroll 8
    for (int t = 0; t < V; ++t) {
      const __m256 old = acc[t];
      const __m256 rv = _mm256_loadu_ps(r + 8 * t);
      const __m256i u = _mm256_castps_si256(_mm256_fmadd_ps(lv, rv, old));
      const __m256i a = _mm256_and_si256(u, c.abs);
      const __m256i out = _mm256_cmpgt_epi32(
          _mm256_xor_si256(_mm256_sub_epi32(a, c.lo), c.sign), c.span_flipped);
      const __m256i mid = _mm256_cmpeq_epi32(_mm256_and_si256(a, c.mask), c.half);
      const __m256i bad = _mm256_or_si256(out, mid);
      __m256 next;
      if (__builtin_expect(_mm256_testz_si256(bad, bad), 1)) {
        const __m256i lsb = _mm256_and_si256(_mm256_srl_epi32(a, c.drop), c.one);
        const __m256i sum = _mm256_add_epi32(u, _mm256_add_epi32(c.halfm, lsb));
        next = _mm256_castsi256_ps(_mm256_andnot_si256(c.mask, sum));
      } else if (c.below && below_ok(a, c)) {
        next = round_below(u, a, c);
      } else {
        alignas(32) float o8[8], r8[8], n8[8];
        _mm256_store_ps(o8, old);
        _mm256_storeu_ps(r8, rv);
        const F32x4 l4 = {l, l, l, l};
        store(n8, acc_step_lanes<Rounding::nearest_even, F64x4>(load<F32x4>(o8), l4,
                                                                 load<F32x4>(r8), U32x4{}, P));
        store(n8 + 4, acc_step_lanes<Rounding::nearest_even, F64x4>(
                          load<F32x4>(o8 + 4), l4, load<F32x4>(r8 + 4), U32x4{}, P));
        next = _mm256_load_ps(n8);
      }
      const __m256 same = _mm256_and_ps(
          _mm256_and_ps(l_nonzero, _mm256_cmp_ps(rv, zero, _CMP_NEQ_UQ)),
          _mm256_cmp_ps(next, old, _CMP_EQ_OQ));
      swv = _mm256_sub_epi32(swv, _mm256_castps_si256(same));
      acc[t] = next;
    }
    if (chunk > 0 && (++in_run == chunk || k + 1 == v.K)) {
      for (int t = 0; t < V; ++t) _mm256_storeu_ps(run + jc + 8 * t, acc[t]);
      outer_dispatch(total + jc, run + jc, 8 * V, static_cast<std::uint32_t>(2 * k + 1),
                     keys_out, outer, jc);
      for (int t = 0; t < V; ++t) acc[t] = zero;
      in_run = 0;
    }
  }
  for (int t = 0; t < V; ++t) _mm256_storeu_ps(run + jc + 8 * t, acc[t]);
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), swv);
  std::uint64_t swamped = 0;
  for (std::uint32_t x : lanes) swamped += x;
  return swamped;
}

// The last nb - jc (< 8) columns of the block, all k, through the exact step (4 lanes, then
// one at a time).
__attribute__((target("arch=x86-64-v3"))) std::uint64_t tail_nearest(
    const GemmView& v, std::size_t i, std::size_t j0, std::size_t jc, std::size_t nb,
    std::uint32_t chunk, const AccParams& P, const AccParams& outer, float* run, float* total,
    const LaneKeys& keys_out) {
  const float* l_row = v.L + i * v.l_row;
  std::uint64_t swamped = 0;
  std::uint32_t in_run = 0;
  for (std::size_t k = 0; k < v.K; ++k) {
    const float l = l_row[k * v.l_k];
    const float* r = v.R + k * v.r_k + j0;
    std::size_t j = jc;
    if (j + 4 <= nb) {
      const F32x4 l4 = {l, l, l, l};
      const F32x4 o = load<F32x4>(run + j), rv = load<F32x4>(r + j);
      const F32x4 n = acc_step_lanes<Rounding::nearest_even, F64x4>(o, l4, rv, U32x4{}, P);
      const I32x4 s4 = (l4 != 0.0f) & (rv != 0.0f) & (n == o);
      for (int t = 0; t < 4; ++t) swamped += static_cast<std::uint32_t>(-s4[t]);
      store(run + j, n);
      j += 4;
    }
    for (; j < nb; ++j) {
      const float o = run[j];
      const float n = acc_step<Rounding::nearest_even>(o, l, r[j], 0, P);
      swamped += static_cast<std::uint32_t>((l != 0.0f) & (r[j] != 0.0f) & (n == o));
      run[j] = n;
    }
    if (chunk > 0 && (++in_run == chunk || k + 1 == v.K)) {
      outer_dispatch(total + jc, run + jc, nb - jc, static_cast<std::uint32_t>(2 * k + 1),
                     keys_out, outer, jc);
      in_run = 0;
    }
  }
  return swamped;
}

// One block of columns j0 .. j0+nb of row i, all k, through the fast path: 32 columns at a
// time in registers, then 8, then the rest. Returns the swamped count.
__attribute__((target("arch=x86-64-v3"))) std::uint64_t block_nearest_avx2(
    const GemmView& v, std::size_t i, std::size_t j0, std::size_t nb, std::uint32_t chunk,
    const AccParams& P, const AccParams& outer, const FastNearest& f, float* run, float* total,
    const LaneKeys& keys_out) {
  constexpr std::uint32_t kSign = 0x80000000u;
  const NearestConsts c{_mm256_set1_epi32(static_cast<int>(f.lo)),
                        _mm256_set1_epi32(static_cast<int>(f.span ^ kSign)),
                        _mm256_set1_epi32(static_cast<int>(kSign)),
                        _mm256_set1_epi32(static_cast<int>(~kSign)),
                        _mm256_set1_epi32(static_cast<int>(f.mask)),
                        _mm256_set1_epi32(static_cast<int>(f.half)),
                        _mm256_set1_epi32(static_cast<int>(f.mask >> 1)),
                        _mm256_set1_epi32(1),
                        _mm_cvtsi32_si128(f.drop),
                        _mm256_set1_epi32(static_cast<int>(f.lo + f.span)),
                        _mm256_set1_ps(f.grid_c),
                        _mm256_set1_ps(f.half_g),
                        f.below};
  std::uint64_t swamped = 0;
  std::size_t jc = 0;
  for (; jc + 32 <= nb; jc += 32)
    swamped += cols_nearest<4>(v, i, j0, jc, chunk, P, outer, c, run, total, keys_out);
  for (; jc + 8 <= nb; jc += 8)
    swamped += cols_nearest<1>(v, i, j0, jc, chunk, P, outer, c, run, total, keys_out);
  if (jc < nb) swamped += tail_nearest(v, i, j0, jc, nb, chunk, P, outer, run, total, keys_out);
  return swamped;
}
#endif  // PRECSWEEP_ACC_X86

// The run sums of the block into the outer accumulator, then the runs restart from +0.
template <Rounding kMode>
[[gnu::always_inline]] inline void outer_step(float* __restrict total, float* __restrict run,
                                              std::size_t nb, std::uint32_t counter_lo,
                                              const std::uint32_t* k1, const std::uint32_t* k2,
                                              const AccParams& P) {
  std::size_t j = 0;
  const F32x4 ones = F32x4{} + 1.0f;
  for (; j + kLanes <= nb; j += kLanes) {
    U32x4 h{};
    if constexpr (kMode == Rounding::stochastic)
      h = lowbias32<U32x4>(lowbias32<U32x4>(counter_lo + load<U32x4>(k1 + j)) ^
                           load<U32x4>(k2 + j));
    store(total + j, acc_step_lanes<kMode, F64x4>(load<F32x4>(total + j), load<F32x4>(run + j),
                                                  ones, h, P));
    store(run + j, F32x4{});
  }
  for (; j < nb; ++j) {
    std::uint32_t h = 0;
    if constexpr (kMode == Rounding::stochastic) h = lane_word(counter_lo, k1[j], k2[j]);
    total[j] = acc_step<kMode>(total[j], run[j], 1.0f, h, P);
    run[j] = 0.0f;
  }
}

// (columns j_off .. j_off+nb of the block: total and run point at column j_off). Called once
// per run, so never inlined.
[[gnu::noinline]] void outer_dispatch(float* total, float* run, std::size_t nb, std::uint32_t counter_lo,
                    const LaneKeys& keys, const AccParams& P, std::size_t j_off) {
  const std::uint32_t* k1 = keys.k1 + j_off;
  const std::uint32_t* k2 = keys.k2 + j_off;
  if (P.identity && P.mode == Rounding::nearest_even) {
    // binary32 round to nearest (the default outer accumulator): one IEEE addition is exactly
    // round(total + run), zero signs, subnormals, overflow and inf/NaN included
    for (std::size_t j = 0; j < nb; ++j) {
      total[j] += run[j];
      run[j] = 0.0f;
    }
    return;
  }
  switch (P.mode) {
    case Rounding::toward_zero:
      return outer_step<Rounding::toward_zero>(total, run, nb, counter_lo, k1, k2, P);
    case Rounding::nearest_even:
      return outer_step<Rounding::nearest_even>(total, run, nb, counter_lo, k1, k2, P);
    case Rounding::up:
      return outer_step<Rounding::up>(total, run, nb, counter_lo, k1, k2, P);
    case Rounding::down:
      return outer_step<Rounding::down>(total, run, nb, counter_lo, k1, k2, P);
    case Rounding::stochastic:
      return outer_step<Rounding::stochastic>(total, run, nb, counter_lo, k1, k2, P);
  }
}

template <Rounding kMode>
[[gnu::always_inline]] inline AccumulateStats rows(const GemmView& v, std::size_t row_begin,
                                                   std::size_t row_end, std::uint32_t chunk,
                                                   const AccParams& inner,
                                                   const AccParams& outer, std::uint64_t key_in,
                                                   std::uint64_t key_out) {
  // local copies: the kernel's stores (memcpy) could otherwise alias the caller's parameters,
  // which would then be reloaded at every step
  const AccParams inner_p = inner, outer_p = outer;
  [[maybe_unused]] const FastNearest fast =
      kMode == Rounding::nearest_even ? fast_nearest(inner_p) : FastNearest{};
  const bool sto_out = outer.mode == Rounding::stochastic;
  alignas(64) float run[kBlock];
  alignas(64) float total[kBlock];
  LaneKeys keys_in{}, keys_out{};
  std::uint64_t swamped = 0;
  for (std::size_t i = row_begin; i < row_end; ++i) {
    for (std::size_t j0 = 0; j0 < v.N; j0 += kBlock) {
      const std::size_t nb = std::min(kBlock, v.N - j0);
      for (std::size_t j = 0; j < nb; ++j) {
        run[j] = 0.0f;
        total[j] = 0.0f;
        const auto index = static_cast<std::uint32_t>(i * v.idx_row + (j0 + j) * v.idx_col);
        if (kMode == Rounding::stochastic) {
          const BlockKeys b = block_keys(key_in, index);
          keys_in.k1[j] = b.k1;
          keys_in.k2[j] = b.k2;
        }
        if (sto_out) {
          const BlockKeys b = block_keys(key_out, index);
          keys_out.k1[j] = b.k1;
          keys_out.k2[j] = b.k2;
        }
      }
      float* c = v.C + i * v.N + j0;
#ifdef PRECSWEEP_ACC_X86
      if (kMode == Rounding::nearest_even && fast.usable) {
        swamped += block_nearest_avx2(v, i, j0, nb, chunk, inner_p, outer_p, fast, run, total,
                                      keys_out);
        for (std::size_t j = 0; j < nb; ++j) c[j] = chunk > 0 ? total[j] : run[j];
        continue;
      }
#endif
      const float* l_row = v.L + i * v.l_row;
      std::uint32_t in_run = 0;
      for (std::size_t k = 0; k < v.K; ++k) {
        const auto counter = static_cast<std::uint32_t>(2 * k);
        swamped += inner_step<kMode>(run, l_row[k * v.l_k], v.R + k * v.r_k + j0, nb, counter,
                                     keys_in, inner_p);
        if (chunk > 0 && (++in_run == chunk || k + 1 == v.K)) {
          outer_dispatch(total, run, nb, counter + 1, keys_out, outer_p, 0);
          in_run = 0;
        }
      }
      for (std::size_t j = 0; j < nb; ++j) c[j] = chunk > 0 ? total[j] : run[j];
    }
  }
  return {static_cast<std::uint64_t>(row_end - row_begin) * v.N * v.K, swamped};
}

}  // namespace

PRECSWEEP_ACC_CLONES AccumulateStats acc_gemm_rows(const GemmView& v, std::size_t row_begin,
                                                   std::size_t row_end, const Accumulator& acc,
                                                   const AccParams& inner,
                                                   const AccParams& outer,
                                                   std::uint64_t key_inner,
                                                   std::uint64_t key_outer) {
  switch (inner.mode) {
    case Rounding::toward_zero:
      return rows<Rounding::toward_zero>(v, row_begin, row_end, acc.chunk, inner, outer,
                                         key_inner, key_outer);
    case Rounding::nearest_even:
      return rows<Rounding::nearest_even>(v, row_begin, row_end, acc.chunk, inner, outer,
                                          key_inner, key_outer);
    case Rounding::up:
      return rows<Rounding::up>(v, row_begin, row_end, acc.chunk, inner, outer, key_inner,
                                key_outer);
    case Rounding::down:
      return rows<Rounding::down>(v, row_begin, row_end, acc.chunk, inner, outer, key_inner,
                                  key_outer);
    case Rounding::stochastic:
      return rows<Rounding::stochastic>(v, row_begin, row_end, acc.chunk, inner, outer,
                                        key_inner, key_outer);
  }
  return {};
}

}  // namespace precsweep::detail
