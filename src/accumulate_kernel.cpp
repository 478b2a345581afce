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

// ---- The fast path for round to nearest (AVX2 + FMA) ------------------------------------------
// The argument and the design are in docs/accumulation.md ("How it is computed exactly and
// fast"); in short:
// - u = fma(l, r, acc) is the exact sum rounded once to binary32. Rounding u to F gives the
//   exact sum's rounding unless u lies exactly on a midpoint of F (F's midpoints are binary32
//   numbers and binary32's rounding is monotone). Off a midpoint, rounding to nearest is adding
//   half = 2^(drop-1) to the pattern and clearing the low drop = 23 - m bits.
// - The operands are pre-scaled (prepare_gemm) so that every product is l r 2^(-126-emin)
//   exactly: F's 2^emin sits on binary32's 2^-126, and F's values, subnormals and signed zeros
//   included, are the binary32 patterns with the low drop bits clear. Results are scaled back.
// - Lazy checks: a group's sums run an interval of steps (interval_of) without a branch,
//   collecting a midpoint flag and, for "narrow" formats whose sums could leave F's range, the
//   largest |sum|; a failed interval runs again from the stored sums, step by step
//   (steps<..., kChecked = true>), each vector that needs it taking the exact step (acc_step).
//   E8 formats that overflow to inf need no range flag (inf and NaN are sticky: the interval's
//   last sums show them). Formats that flush subnormals or have no -0 (fnuz) always run
//   checked.
// - When every product has at most m + 1 significant bits (m <= 10), a midpoint hit is an
//   exact tie (GemmView::ties_exact): ties round to even and no midpoint flag is kept.
// - Swamped additions: the kernel counts the steps that left a sum unchanged; a zero product
//   never changes one, so rows_nearest subtracts the zero products (GemmView::r_zeros).
struct FastNearest {
  bool usable = false;
  bool lazy = false;         // lazy checking allowed (subnormals and signed zeros as binary32's)
  bool narrow = false;       // a range check needed (unless GemmView::in_range)
  std::uint32_t half = 0, mask = 0;
  std::uint32_t top = 0;     // largest in-range |r'| pattern
  int scale_exp = 0;         // -126 - emin: u' = u * 2^scale_exp
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
  if (P.mode != Rounding::nearest_even || m < 1 || m > 22 || P.lsb52_exp != 0 ||
      P.max_pos != P.max_neg || P.emin < -126 || P.emin > 1 || !has_avx2_fma())
    return f;
  const int drop = static_cast<int>(23 - m);
  f.mask = (1u << drop) - 1u;
  f.half = 1u << (drop - 1);
  f.scale_exp = static_cast<int>(-126 - P.emin);
  const float scale = std::ldexp(1.0f, f.scale_exp);
  const float max = static_cast<float>(std::bit_cast<double>(P.max_pos));
  f.top = std::bit_cast<std::uint32_t>(max * scale);  // exact: max' >= 2^-126
  const float min_sub = static_cast<float>(std::bit_cast<double>(P.min_sub));
  const bool grid = P.flush || std::bit_cast<std::uint32_t>(min_sub * scale) == 1u << drop;
  f.usable = grid && (f.top & f.mask) == 0 && f.top >= 0x00800000u && f.top < 0x7F800000u;
  f.lazy = f.usable && !P.flush && P.zero_sign == 0x80000000u;
  const bool wide = P.emin == -126 && f.top == (0x7F7FFFFFu & ~f.mask) &&
                    P.ovf_pos == 0x7F800000u && P.ovf_neg == 0x7F800000u;
  f.narrow = !wide;
  if (wide) f.top = 0x7F7FFFFFu;  // every finite lane is in range
  return f;
}

void outer_dispatch(float* total, float* run, std::size_t nb, std::uint32_t counter_lo,
                    const LaneKeys& keys, const AccParams& P, std::size_t j_off);

#ifdef PRECSWEEP_ACC_X86
// Steps between lazy checks: 32, or 16 where midpoints are frequent (at most 15 dropped bits,
// 1 sum in 2^drop: E5M10's 6% of row-intervals of 16 run again).
std::size_t interval_of(const FastNearest& f) { return f.mask >= 0xFFFFu ? 32 : 16; }
constexpr std::size_t kRedo = 4;       // steps per lazy try when a row's interval runs again
constexpr unsigned kMissesBeforeSkip = 4;  // failed intervals in a row, after which
constexpr unsigned kSkip = 8;              // this many intervals run checked at once
constexpr std::size_t kKBlock = 64;    // steps per pass over a column group's rows
constexpr int kMaxVectors = 4;         // vectors of 8 columns per group

struct NearestConsts {
  // keep = ~mask; one = 1 in every lane, halfm1 = half - 1; in this order, read by steps_2x4's
  // assembly
  __m256i half, keep, abs, one, halfm1;
  __m128i drop;  // the shift count of ties to even
  __m256i mask, top, lo;
  __m256i sign, top_signed;  // 0x80000000, top ^ sign: unsigned comparisons with top
  __m256 scale, unscale;         // 2^(l_exp + r_exp) (GemmView) and its inverse
  __m256 l_unscale, r_unscale;   // 2^-l_exp, 2^-r_exp
  bool scaled;       // l_exp + r_exp != 0
  bool outer_fp32;   // the outer accumulator is binary32, round to nearest
  bool exact_below;  // lanes below 2^emin take the exact step (flush, fnuz)
  bool ties_exact;   // every midpoint hit is an exact tie (GemmView::ties_exact)
  std::size_t interval;  // steps between lazy checks (interval_of)
};

static_assert(offsetof(NearestConsts, keep) == 32 && offsetof(NearestConsts, abs) == 64 &&
              offsetof(NearestConsts, one) == 96 && offsetof(NearestConsts, halfm1) == 128);

// The chains of one group: RB rows of L (from row i), R's columns j .. j + 8V - 1, the last
// vector's existing lanes in tail (when kTail).
struct Group {
  const float* L;
  std::size_t l_row, l_k;
  const float* R;
  std::size_t r_k;
  __m256i tail;
};

__attribute__((target("arch=x86-64-v3"), always_inline)) inline __m256 exact8(
    __m256 old, float l, __m256 rv, const AccParams& P) {
  alignas(32) float o8[8], r8[8], n8[8];
  _mm256_store_ps(o8, old);
  _mm256_store_ps(r8, rv);
  const F32x4 l4 = {l, l, l, l};
  store(n8, acc_step_lanes<Rounding::nearest_even, F64x4>(load<F32x4>(o8), l4, load<F32x4>(r8),
                                                           U32x4{}, P));
  store(n8 + 4, acc_step_lanes<Rounding::nearest_even, F64x4>(
                    load<F32x4>(o8 + 4), l4, load<F32x4>(r8 + 4), U32x4{}, P));
  return _mm256_load_ps(n8);
}

// A row's sums between passes over k blocks: its current run (partial sum) and its total.
struct RowSums {
  alignas(32) float run[8 * kMaxVectors];
  alignas(32) float total[8 * kMaxVectors];
};

// Steps k0 .. k1 of the group's sums, from and back to sums[].run; adds the number of steps that
// left a sum unchanged to unchanged. A lazy run (!kChecked) that returns false stored nothing:
// the interval must run again checked. (The main shape, 2 x 4, runs lazily in steps_2x4.)
template <int RB, int V, bool kTail, bool kNarrow, bool kChecked, bool kTies>
__attribute__((target("arch=x86-64-v3"), noinline)) bool steps_of(
    RowSums* sums, std::uint64_t& unchanged, const Group& g, std::size_t k0, std::size_t k1,
    const NearestConsts& c, const AccParams& P) {
  __m256 acc[RB][V];
#pragma GCC unroll 8
  for (int b = 0; b < RB; ++b)
#pragma GCC unroll 8
    for (int t = 0; t < V; ++t) acc[b][t] = _mm256_load_ps(sums[b].run + 8 * t);
  const __m256i zero = _mm256_setzero_si256();
  // flag: lazy runs fold the midpoint masks (all ones) and |r'| into one unsigned maximum, so
  // that it exceeds top when a lane hit a midpoint or left the range
  __m256i flag = zero, eq = zero;
  for (std::size_t k = k0; k < k1; ++k) {
    const float* r = g.R + k * g.r_k;
#pragma GCC unroll 8
    for (int b = 0; b < RB; ++b) {
      const float l = g.L[static_cast<std::size_t>(b) * g.l_row + k * g.l_k];
      const __m256 lv = _mm256_set1_ps(l);
#pragma GCC unroll 8
      for (int t = 0; t < V; ++t) {
        const __m256 rv = kTail && t == V - 1 ? _mm256_maskload_ps(r + 8 * t, g.tail)
                                              : _mm256_loadu_ps(r + 8 * t);
        const __m256 old = acc[b][t];
        const __m256i ui = _mm256_castps_si256(_mm256_fmadd_ps(lv, rv, old));
        // ties away (a tie is a midpoint, flagged), or to even when ties are exact
        const __m256i lsb = _mm256_and_si256(_mm256_srl_epi32(ui, c.drop), c.one);
        const __m256i vi = _mm256_add_epi32(ui, kTies ? _mm256_add_epi32(c.halfm1, lsb) : c.half);
        const __m256i ri = _mm256_andnot_si256(c.mask, vi);
        const __m256i mid = kTies ? zero : _mm256_cmpeq_epi32(ri, vi);
        __m256 next = _mm256_castsi256_ps(ri);
        __m256 same = _mm256_cmp_ps(next, old, _CMP_EQ_OQ);
        if constexpr (kChecked) {
          const __m256i a = _mm256_and_si256(ri, c.abs);
          __m256i bad = _mm256_or_si256(mid, _mm256_cmpgt_epi32(a, c.top));
          if (c.exact_below)
            bad = _mm256_or_si256(bad, _mm256_andnot_si256(_mm256_cmpeq_epi32(ui, zero),
                                                           _mm256_cmpgt_epi32(c.lo, a)));
          if (!_mm256_testz_si256(bad, bad)) {
            next = c.scaled ? _mm256_mul_ps(
                                  exact8(_mm256_mul_ps(old, c.unscale),
                                         _mm256_cvtss_f32(_mm256_mul_ps(lv, c.l_unscale)),
                                         _mm256_mul_ps(rv, c.r_unscale), P),
                                  c.scale)
                            : exact8(old, l, rv, P);
            const __m256 fz = _mm256_setzero_ps();
            same = _mm256_or_ps(_mm256_cmp_ps(next, old, _CMP_EQ_OQ),
                                _mm256_or_ps(_mm256_cmp_ps(lv, fz, _CMP_EQ_OQ),
                                             _mm256_cmp_ps(rv, fz, _CMP_EQ_OQ)));
          }
        } else if constexpr (kNarrow) {
          flag = _mm256_max_epu32(flag, _mm256_or_si256(mid, _mm256_and_si256(ri, c.abs)));
        } else {
          flag = _mm256_or_si256(flag, mid);
        }
        eq = _mm256_sub_epi32(eq, _mm256_castps_si256(same));
        acc[b][t] = next;
      }
    }
  }
  if constexpr (!kChecked) {
    __m256i bad;
    if constexpr (kNarrow) {
      bad = _mm256_cmpgt_epi32(_mm256_xor_si256(flag, c.sign), c.top_signed);
    } else {  // inf and NaN are sticky: the last sums tell
      bad = flag;
#pragma GCC unroll 8
      for (int b = 0; b < RB; ++b)
#pragma GCC unroll 8
        for (int t = 0; t < V; ++t)
          bad = _mm256_or_si256(
              bad, _mm256_cmpgt_epi32(_mm256_and_si256(_mm256_castps_si256(acc[b][t]), c.abs),
                                      c.top));
    }
    if (!_mm256_testz_si256(bad, bad)) return false;
  }
#pragma GCC unroll 8
  for (int b = 0; b < RB; ++b)
#pragma GCC unroll 8
    for (int t = 0; t < V; ++t) _mm256_store_ps(sums[b].run + 8 * t, acc[b][t]);
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), eq);
  for (std::uint32_t x : lanes) unchanged += x;
  return true;
}

// steps_of with ties to even compiled in or not (NearestConsts::ties_exact).
template <int RB, int V, bool kTail, bool kNarrow, bool kChecked>
__attribute__((target("arch=x86-64-v3"), always_inline)) inline bool steps(
    RowSums* sums, std::uint64_t& unchanged, const Group& g, std::size_t k0, std::size_t k1,
    const NearestConsts& c, const AccParams& P) {
  return c.ties_exact
             ? steps_of<RB, V, kTail, kNarrow, kChecked, true>(sums, unchanged, g, k0, k1, c, P)
             : steps_of<RB, V, kTail, kNarrow, kChecked, false>(sums, unchanged, g, k0, k1, c, P);
}

// The lazy steps of the main group shape (2 rows x 4 vectors), as steps<2, 4, false, kNarrow,
// false> computes them, in assembly: with 8 sums, their flags and count and the constants, GCC
// runs out of the 16 vector registers and keeps the sums on the stack, which doubles the time
// of a step. Per sum and k (a = the sum, f = its row's flag, t0 and t1 scratch):
//   t0 = a; a = fma(l, r, a); a += half; t1 = a & keep (= ~mask; t1: the rounded sum, a: vi)
//   a = (a == t1)  (a midpoint);  f |= a  (narrow: f = max(f, a | |t1|))
//   t0 = (t0 == t1) as floats;  e -= t0;  a = t1
// (f and e per row.) Returns a bit per row whose interval must run again; the sums and counts
// of the other row are stored.
#define PRECSWEEP_STEP_HEAD(A, OFF)                \
  "vmovaps %[" A "], %[t0]\n\t"                    \
  "vfmadd231ps " OFF "(%[r]), %[lv], %[" A "]\n\t" \
  "vpaddd (%[k]), %[" A "], %[" A "]\n\t"          \
  "vpand 32(%[k]), %[" A "], %[t1]\n\t"            \
  "vpcmpeqd %[t1], %[" A "], %[" A "]\n\t"         \
  "vcmpeqps %[t1], %[t0], %[t0]\n\t"               \
  "vpsubd %[t0], %[e], %[e]\n\t"
#define PRECSWEEP_WIDE(A, OFF) \
  PRECSWEEP_STEP_HEAD(A, OFF) "vpor %[" A "], %[f], %[f]\n\tvmovaps %[t1], %[" A "]\n\t"
#define PRECSWEEP_NARROW(A, OFF)                                            \
  PRECSWEEP_STEP_HEAD(A, OFF) "vpand 64(%[k]), %[t1], %[t0]\n\t"            \
      "vpor %[" A "], %[t0], %[t0]\n\tvpmaxud %[t0], %[f], %[f]\n\t"        \
      "vmovaps %[t1], %[" A "]\n\t"
// Ties to even when every tie is exact (no midpoint flag): t1 = lsb = (a >> drop) & 1;
// a += halfm1 + t1; a &= keep.
#define PRECSWEEP_TIES_HEAD(A, OFF)                \
  "vmovaps %[" A "], %[t0]\n\t"                    \
  "vfmadd231ps " OFF "(%[r]), %[lv], %[" A "]\n\t" \
  "vpsrld %[cnt], %[" A "], %[t1]\n\t"             \
  "vpand 96(%[k]), %[t1], %[t1]\n\t"               \
  "vpaddd 128(%[k]), %[t1], %[t1]\n\t"             \
  "vpaddd %[t1], %[" A "], %[" A "]\n\t"           \
  "vpand 32(%[k]), %[" A "], %[" A "]\n\t"         \
  "vcmpeqps %[" A "], %[t0], %[t0]\n\t"            \
  "vpsubd %[t0], %[e], %[e]\n\t"
#define PRECSWEEP_TIES_WIDE(A, OFF) PRECSWEEP_TIES_HEAD(A, OFF)
#define PRECSWEEP_TIES_NARROW(A, OFF) \
  PRECSWEEP_TIES_HEAD(A, OFF) "vpand 64(%[k]), %[" A "], %[t1]\n\tvpmaxud %[t1], %[f], %[f]\n\t"
#define PRECSWEEP_ROW(STEP) \
  "vbroadcastss (%[l]), %[lv]\n\t" STEP("a", "0") STEP("b", "32") STEP("c", "64") STEP("d", "96")

// One row's 4 sums, one k: r the row of R, l the factor, k the constants (NearestConsts).
template <bool kNarrow, bool kTies>
__attribute__((target("arch=x86-64-v3"), always_inline)) inline void row_step(
    __m256& a, __m256& b, __m256& c, __m256& d, __m256i& f, __m256i& e, const float* r,
    const float* l, const __m256i* k, __m128i cnt) {
  __m256 lv, t0, t1;
  if constexpr (kTies && kNarrow)
    asm(PRECSWEEP_ROW(PRECSWEEP_TIES_NARROW)
        : [a] "+x"(a), [b] "+x"(b), [c] "+x"(c), [d] "+x"(d), [f] "+x"(f), [e] "+x"(e),
          [lv] "=&x"(lv), [t0] "=&x"(t0), [t1] "=&x"(t1)
        : [r] "r"(r), [l] "r"(l), [k] "r"(k), [cnt] "x"(cnt)
        : "memory");
  else if constexpr (kTies)
    asm(PRECSWEEP_ROW(PRECSWEEP_TIES_WIDE)
        : [a] "+x"(a), [b] "+x"(b), [c] "+x"(c), [d] "+x"(d), [e] "+x"(e), [lv] "=&x"(lv),
          [t0] "=&x"(t0), [t1] "=&x"(t1)
        : [r] "r"(r), [l] "r"(l), [k] "r"(k), [cnt] "x"(cnt)
        : "memory");
  else if constexpr (kNarrow)
    asm(PRECSWEEP_ROW(PRECSWEEP_NARROW)
        : [a] "+x"(a), [b] "+x"(b), [c] "+x"(c), [d] "+x"(d), [f] "+x"(f), [e] "+x"(e),
          [lv] "=&x"(lv), [t0] "=&x"(t0), [t1] "=&x"(t1)
        : [r] "r"(r), [l] "r"(l), [k] "r"(k)
        : "memory");
  else
    asm(PRECSWEEP_ROW(PRECSWEEP_WIDE)
        : [a] "+x"(a), [b] "+x"(b), [c] "+x"(c), [d] "+x"(d), [f] "+x"(f), [e] "+x"(e),
          [lv] "=&x"(lv), [t0] "=&x"(t0), [t1] "=&x"(t1)
        : [r] "r"(r), [l] "r"(l), [k] "r"(k)
        : "memory");
}
#undef PRECSWEEP_ROW
#undef PRECSWEEP_TIES_NARROW
#undef PRECSWEEP_TIES_WIDE
#undef PRECSWEEP_TIES_HEAD
#undef PRECSWEEP_NARROW
#undef PRECSWEEP_WIDE
#undef PRECSWEEP_STEP_HEAD

template <bool kNarrow, bool kTies>
__attribute__((target("arch=x86-64-v3"), noinline)) unsigned steps_2x4(
    RowSums* sums, std::uint64_t& unchanged, const Group& g, std::size_t k0, std::size_t k1,
    const NearestConsts& c) {
  __m256 a0 = _mm256_load_ps(sums[0].run), a1 = _mm256_load_ps(sums[0].run + 8),
         a2 = _mm256_load_ps(sums[0].run + 16), a3 = _mm256_load_ps(sums[0].run + 24),
         a4 = _mm256_load_ps(sums[1].run), a5 = _mm256_load_ps(sums[1].run + 8),
         a6 = _mm256_load_ps(sums[1].run + 16), a7 = _mm256_load_ps(sums[1].run + 24);
  __m256i f0 = _mm256_setzero_si256(), f1 = f0, e0 = f0, e1 = f0;
  const __m256i* consts = &c.half;  // half, keep, abs: consecutive members
  for (std::size_t k = k0; k < k1; ++k) {
    const float* r = g.R + k * g.r_k;
    const float* l0 = g.L + k * g.l_k;
    row_step<kNarrow, kTies>(a0, a1, a2, a3, f0, e0, r, l0, consts, c.drop);
    row_step<kNarrow, kTies>(a4, a5, a6, a7, f1, e1, r, l0 + g.l_row, consts, c.drop);
  }
  const __m256 rows[2][4] = {{a0, a1, a2, a3}, {a4, a5, a6, a7}};
  const __m256i flags[2] = {f0, f1}, counts[2] = {e0, e1};
  unsigned failed = 0;
  for (int b = 0; b < 2; ++b) {
    __m256i bad;
    if constexpr (kNarrow) {
      bad = _mm256_cmpgt_epi32(_mm256_xor_si256(flags[b], c.sign), c.top_signed);
    } else {  // inf and NaN are sticky: the last sums tell
      bad = flags[b];
      for (__m256 x : rows[b])
        bad = _mm256_or_si256(
            bad, _mm256_cmpgt_epi32(_mm256_and_si256(_mm256_castps_si256(x), c.abs), c.top));
    }
    if (!_mm256_testz_si256(bad, bad)) {
      failed |= 1u << b;
      continue;
    }
    for (int t = 0; t < 4; ++t) _mm256_store_ps(sums[b].run + 8 * t, rows[b][t]);
    alignas(32) std::uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), counts[b]);
    for (std::uint32_t x : lanes) unchanged += x;
  }
  return failed;
}
#undef PRECSWEEP_ROWS
#undef PRECSWEEP_NARROW
#undef PRECSWEEP_WIDE
#undef PRECSWEEP_STEP_TAIL
#undef PRECSWEEP_STEP_HEAD

// A row's run back from the scaled operands' domain (exact: F's values).
__attribute__((target("arch=x86-64-v3"), always_inline)) inline void unscale(
    float* run, const NearestConsts& c) {
  for (int t = 0; t < kMaxVectors; ++t)
    _mm256_store_ps(run + 8 * t, _mm256_mul_ps(_mm256_load_ps(run + 8 * t), c.unscale));
}

// Steps kb .. ke (of K) of a group of RB rows: loads their sums from sums[0 .. RB), runs the
// steps in lazy intervals that end at run ends, adds each finished run into its total (outer
// accumulator), stores the sums back. Returns the number of steps that left a sum unchanged.
template <int RB, int V, bool kTail, bool kNarrow>
__attribute__((target("arch=x86-64-v3"))) std::uint64_t group_span(
    const Group& g, RowSums* sums, std::size_t kb, std::size_t ke, std::size_t K,
    std::uint32_t chunk, const NearestConsts& c, bool lazy, const AccParams& P,
    const AccParams& outer, const LaneKeys* keys_out, std::size_t ncols) {
  std::uint64_t unchanged = 0;
  unsigned misses = 0, skip = 0;
  for (std::size_t k = kb; k < ke;) {
    const std::size_t run_end =
        chunk > 0 ? std::min<std::size_t>(K, (k / chunk + 1) * std::size_t{chunk}) : K;
    const std::size_t k1 = std::min({ke, run_end, k + c.interval});
    // a lazy interval that fails leaves sums as they were; after kMissesBeforeSkip failures in
    // a row the next kSkip run checked at once (operands whose sums hit midpoints all the time)
    bool done = false;
    const bool try_lazy = lazy && skip == 0;
    skip -= skip > 0;
    if constexpr (RB == 2 && V == 4 && !kTail) {
      if (try_lazy) {  // a failed row runs again alone
        const unsigned failed = c.ties_exact
                                    ? steps_2x4<kNarrow, true>(sums, unchanged, g, k, k1, c)
                                    : steps_2x4<kNarrow, false>(sums, unchanged, g, k, k1, c);
        misses = failed ? misses + 1 : 0;
        for (int b = 0; b < 2; ++b)
          if (failed & (1u << b)) {
            Group row = g;
            row.L += static_cast<std::size_t>(b) * g.l_row;
            for (std::size_t q = k; q < k1; q += kRedo) {
              const std::size_t q1 = std::min(k1, q + kRedo);
              if (!steps<1, V, kTail, kNarrow, false>(sums + b, unchanged, row, q, q1, c, P))
                steps<1, V, kTail, kNarrow, true>(sums + b, unchanged, row, q, q1, c, P);
            }
          }
        done = true;
      }
    } else if (try_lazy) {
      done = steps<RB, V, kTail, kNarrow, false>(sums, unchanged, g, k, k1, c, P);
      misses = done ? 0 : misses + 1;
    }
    if (misses >= kMissesBeforeSkip) {
      skip = kSkip;
      misses = 0;
    }
    if (!done)
      steps<RB, V, kTail, kNarrow, true>(sums, unchanged, g, k, k1, c, P);
    k = k1;
    if (chunk > 0 && k == run_end)
      for (int b = 0; b < RB; ++b) {
        if (c.outer_fp32) {  // binary32 round to nearest: one IEEE addition (see outer_dispatch)
          for (int t = 0; t < V; ++t) {
            const __m256 run = _mm256_load_ps(sums[b].run + 8 * t);
            _mm256_store_ps(sums[b].total + 8 * t,
                            _mm256_add_ps(_mm256_load_ps(sums[b].total + 8 * t),
                                          c.scaled ? _mm256_mul_ps(run, c.unscale) : run));
            _mm256_store_ps(sums[b].run + 8 * t, _mm256_setzero_ps());
          }
          continue;
        }
        if (c.scaled) unscale(sums[b].run, c);
        outer_dispatch(sums[b].total, sums[b].run, ncols, static_cast<std::uint32_t>(2 * k - 1),
                       keys_out[b], outer, 0);
      }
  }
  return unchanged;
}

// The zero products of a row: sum over k of (l_k == 0 ? N : zeros of R's row k).
PRECSWEEP_ACC_CLONES std::uint64_t row_zero_products(const float* l, std::size_t l_k,
                                                     std::size_t K, std::size_t N,
                                                     const std::uint32_t* r_zeros) {
  std::uint64_t z = 0;
  for (std::size_t k = 0; k < K; ++k)
    z += l[k * l_k] == 0.0f ? N : r_zeros[k];
  return z;
}

// Rows per group for V vectors: about 8 chains in all (a step's latency over its throughput).
template <int V>
constexpr int kRowsFor = V == 1 ? 8 : V == 2 ? 4 : 2;

// Steps kb .. ke of one column group (V vectors from column j) for rows row0 + b .. row0 + nrows:
// groups of RB rows, then of RB/2, ... for the rows left over.
template <int RB, int V, bool kTail, bool kNarrow>
__attribute__((target("arch=x86-64-v3"))) std::uint64_t block_rows(
    const GemmView& v, std::size_t row0, std::size_t b, std::size_t nrows, std::size_t j,
    __m256i tail_mask, RowSums* sums, std::size_t kb, std::size_t ke, std::uint32_t chunk,
    const NearestConsts& c, bool lazy, const AccParams& P, const AccParams& outer,
    const LaneKeys* keys_out, std::size_t ncols) {
  std::uint64_t unchanged = 0;
  for (; b + RB <= nrows; b += RB) {
    const Group g{v.L + (row0 + b) * v.l_row, v.l_row, v.l_k, v.R + j, v.r_k, tail_mask};
    unchanged += group_span<RB, V, kTail, kNarrow>(g, sums + b, kb, ke, v.K, chunk, c, lazy, P,
                                                   outer, keys_out + b, ncols);
  }
  if constexpr (RB > 1)
    unchanged += block_rows<RB / 2, V, kTail, kNarrow>(v, row0, b, nrows, j, tail_mask, sums, kb,
                                                       ke, chunk, c, lazy, P, outer, keys_out,
                                                       ncols);
  return unchanged;
}

template <bool kNarrow>
__attribute__((target("arch=x86-64-v3"))) std::uint64_t block_dispatch(
    int V, bool tail, const GemmView& v, std::size_t row0, std::size_t nrows, std::size_t j,
    __m256i tail_mask, RowSums* sums, std::size_t kb, std::size_t ke, std::uint32_t chunk,
    const NearestConsts& c, bool lazy, const AccParams& P, const AccParams& outer,
    const LaneKeys* keys_out, std::size_t ncols) {
#define PRECSWEEP_BLOCK(V_, T_)                                                          \
  return block_rows<kRowsFor<V_>, V_, T_, kNarrow>(v, row0, 0, nrows, j, tail_mask, sums, kb, \
                                                   ke, chunk, c, lazy, P, outer, keys_out,   \
                                                   ncols)
  switch (V * 2 + tail) {
    case 2: PRECSWEEP_BLOCK(1, false);
    case 3: PRECSWEEP_BLOCK(1, true);
    case 4: PRECSWEEP_BLOCK(2, false);
    case 5: PRECSWEEP_BLOCK(2, true);
    case 6: PRECSWEEP_BLOCK(3, false);
    case 7: PRECSWEEP_BLOCK(3, true);
    case 8: PRECSWEEP_BLOCK(4, false);
    default: PRECSWEEP_BLOCK(4, true);
  }
#undef PRECSWEEP_BLOCK
}

// Rows row_begin .. row_end (at most kAccRowsPerCall) of the view, all columns, through the
// fast path; returns their swamped count. Columns go in groups of 4 vectors (the last group
// takes what is left, its last vector possibly partial); for each group, k goes in blocks of
// kKBlock (R's slice for the block stays in L1), each block over all the rows, their sums
// kept in RowSums between blocks.
template <bool kNarrow>
__attribute__((target("arch=x86-64-v3"))) std::uint64_t rows_nearest(
    const GemmView& v, std::size_t row_begin, std::size_t row_end, std::uint32_t chunk,
    const AccParams& P, const AccParams& outer, const FastNearest& f, std::uint64_t key_out) {
  const NearestConsts c{_mm256_set1_epi32(static_cast<int>(f.half)),
                        _mm256_set1_epi32(static_cast<int>(~f.mask)),
                        _mm256_set1_epi32(0x7FFFFFFF),
                        _mm256_set1_epi32(1),
                        _mm256_set1_epi32(static_cast<int>(f.half - 1)),
                        _mm_cvtsi32_si128(static_cast<int>(std::countr_one(f.mask))),
                        _mm256_set1_epi32(static_cast<int>(f.mask)),
                        _mm256_set1_epi32(static_cast<int>(f.top)),
                        _mm256_set1_epi32(0x00800000),
                        _mm256_set1_epi32(static_cast<int>(0x80000000u)),
                        _mm256_set1_epi32(static_cast<int>(f.top ^ 0x80000000u)),
                        _mm256_set1_ps(std::ldexp(1.0f, v.l_exp + v.r_exp)),
                        _mm256_set1_ps(std::ldexp(1.0f, -(v.l_exp + v.r_exp))),
                        _mm256_set1_ps(std::ldexp(1.0f, -v.l_exp)),
                        _mm256_set1_ps(std::ldexp(1.0f, -v.r_exp)),
                        v.l_exp + v.r_exp != 0,
                        outer.identity && outer.mode == Rounding::nearest_even,
                        !f.lazy,
                        v.ties_exact,
                        interval_of(f)};
  const std::size_t nvec = (v.N + 7) / 8;
  const std::size_t rem = v.N - 8 * (nvec - 1);  // lanes of the last vector
  alignas(32) std::int32_t tail_lanes[8];
  for (std::size_t t = 0; t < 8; ++t) tail_lanes[t] = t < rem ? -1 : 0;
  const __m256i tail_mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail_lanes));
  const bool sto_out = chunk > 0 && outer.mode == Rounding::stochastic;
  const std::size_t nrows = row_end - row_begin;
  RowSums sums[kAccRowsPerCall];
  LaneKeys keys_out[kAccRowsPerCall];
  std::uint64_t unchanged = 0;
  for (std::size_t j = 0; j < v.N;) {
    const std::size_t vec0 = j / 8;
    const int V = static_cast<int>(std::min<std::size_t>(kMaxVectors, nvec - vec0));
    const bool last = vec0 + static_cast<std::size_t>(V) == nvec;
    const std::size_t ncols = last ? v.N - j : 8 * static_cast<std::size_t>(V);
    for (std::size_t b = 0; b < nrows; ++b) {
      for (int t = 0; t < kMaxVectors; ++t) {  // (std::fill becomes a slow rep stos here)
        _mm256_store_ps(sums[b].run + 8 * t, _mm256_setzero_ps());
        _mm256_store_ps(sums[b].total + 8 * t, _mm256_setzero_ps());
      }
      for (std::size_t t = 0; sto_out && t < ncols; ++t) {
        const BlockKeys bk = block_keys(
            key_out, static_cast<std::uint32_t>((row_begin + b) * v.idx_row + (j + t) * v.idx_col));
        keys_out[b].k1[t] = bk.k1;
        keys_out[b].k2[t] = bk.k2;
      }
    }
    for (std::size_t kb = 0; kb < v.K; kb += kKBlock)
      unchanged += block_dispatch<kNarrow>(V, last && rem < 8, v, row_begin, nrows, j, tail_mask,
                                           sums, kb, std::min(v.K, kb + kKBlock), chunk, c,
                                           f.lazy, P, outer, keys_out, ncols);
    for (std::size_t b = 0; b < nrows; ++b) {
      if (chunk == 0 && c.scaled) unscale(sums[b].run, c);
      const float* from = chunk > 0 ? sums[b].total : sums[b].run;
      std::copy(from, from + ncols, v.C + (row_begin + b) * v.N + j);
    }
    unchanged -= nrows * v.K * (8 * static_cast<std::size_t>(V) - ncols);  // dead tail lanes
    j += ncols;
  }
  // a zero product leaves the sum unchanged without being swamped
  std::uint64_t zero_products = 0;
  for (std::size_t i = row_begin; i < row_end; ++i)
    zero_products += row_zero_products(v.L + i * v.l_row, v.l_k, v.K, v.N, v.r_zeros);
  return unchanged - zero_products;
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
#ifdef PRECSWEEP_ACC_X86
  if (kMode == Rounding::nearest_even && v.nearest_fast) {  // (set by prepare_gemm from fast)
    const bool range_checks = fast.narrow && !v.in_range;
    std::uint64_t swamped = 0;
    for (std::size_t i = row_begin; i < row_end; i += kAccRowsPerCall) {
      const std::size_t end = std::min(row_end, i + kAccRowsPerCall);
      swamped += range_checks
                     ? rows_nearest<true>(v, i, end, chunk, inner_p, outer_p, fast, key_out)
                     : rows_nearest<false>(v, i, end, chunk, inner_p, outer_p, fast, key_out);
    }
    return {static_cast<std::uint64_t>(row_end - row_begin) * v.N * v.K, swamped};
  }
#endif
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

namespace {

// The smallest and largest |pattern| of the nonzero values of x[0 .. n) (least: finite ones;
// 0x7F800000 for none; largest >= 0x7F800000 with an inf or NaN).
// bits: the most significant bits of a value (24 - the fewest trailing zeros of a significand
// with its leading 1; subnormals count as 24-bit).
struct Magnitudes {
  std::uint32_t least, largest;
  int bits;
};
PRECSWEEP_ACC_CLONES Magnitudes magnitudes(const float* x, std::size_t n) {
  std::uint32_t least = 0x7F800000u, largest = 0, significands = 0;
  for (std::size_t i = 0; i < n; ++i) {  // (branch-free, so that GCC vectorises it)
    const std::uint32_t a = std::bit_cast<std::uint32_t>(x[i]) & 0x7FFFFFFFu;
    const std::uint32_t finite_nonzero = 0u - static_cast<std::uint32_t>(a - 1u < 0x7F7FFFFFu);
    least = std::min(least, (a & finite_nonzero) | (0x7F800000u & ~finite_nonzero));
    largest = std::max(largest, a);
    significands |= ((a & 0x7FFFFFu) | 0x800000u) & finite_nonzero;
  }
  return {least, largest, significands ? 24 - std::countr_zero(significands) : 0};
}

// The largest e such that 2^-e |x| is still normal for every nonzero finite x (0 with a
// subnormal; "no limit" without a nonzero finite value).
int headroom(const Magnitudes& m) {
  return m.least == 0x7F800000u ? 1 << 20 : static_cast<int>(std::max(m.least >> 23, 1u)) - 1;
}

// Whether no partial sum of the product can leave F's range: |acc_k| <= (sum of |l r|) (1+u)^K
// for round to nearest (u = 2^-(m+1)), and the sum is at most K max|L| max|R|.
bool cannot_overflow(const Magnitudes& l, const Magnitudes& r, std::size_t K,
                     const AccParams& P) {
  if (l.largest >= 0x7F800000u || r.largest >= 0x7F800000u) return false;
  const double u = std::ldexp(1.0, -static_cast<int>(53 - P.drop0));  // 2^-(m+1)
  const double bound = static_cast<double>(K) *
                       static_cast<double>(std::bit_cast<float>(l.largest)) *
                       static_cast<double>(std::bit_cast<float>(r.largest)) *
                       std::exp(static_cast<double>(K) * std::log1p(u));
  return 2 * bound < std::bit_cast<double>(P.max_pos);
}

// copy[0 .. n) = x * 2^e, exact (e >= -headroom)
PRECSWEEP_ACC_CLONES void scaled_copy(const float* x, std::size_t n, int e, float* copy) {
  const float f = std::ldexp(1.0f, e);
  for (std::size_t i = 0; i < n; ++i) copy[i] = x[i] * f;
}

PRECSWEEP_ACC_CLONES std::uint32_t zeros(const float* x, std::size_t n) {
  std::uint32_t z = 0;
  for (std::size_t j = 0; j < n; ++j) z += x[j] == 0.0f ? 1u : 0u;
  return z;
}

}  // namespace

// The fast path runs in F's range moved to binary32's (FastNearest::scale_exp): every product
// l * r * 2^scale_exp must be exact, so the operands are scaled, the smaller one first, as far
// as their smallest values allow; if both together cannot take the scale, the product takes
// the exact step throughout.
void prepare_gemm(const GemmView& v, const AccParams& inner, PreparedGemm& out) {
  out.view = v;
  GemmView& w = out.view;
  out.r_zeros.assign(v.K, 0);  // [K]
  for (std::size_t k = 0; k < v.K; ++k) out.r_zeros[k] = zeros(v.R + k * v.r_k, v.N);
  w.r_zeros = out.r_zeros.data();
  const FastNearest f = fast_nearest(inner);
  if (!f.usable || v.M == 0 || v.N == 0 || v.K == 0) return;
  const std::size_t nl = (v.M - 1) * v.l_row + (v.K - 1) * v.l_k + 1;  // L's extent
  const std::size_t nr = (v.K - 1) * v.r_k + v.N;                      // R's extent
  const int need = -f.scale_exp;  // >= 0
  const Magnitudes ml = magnitudes(v.L, nl), mr = magnitudes(v.R, nr);
  w.in_range = cannot_overflow(ml, mr, v.K, inner);
  // Products of at most m + 1 significant bits (m <= 10): a sum that binary32 rounds onto a
  // midpoint of F was exact (docs/accumulation.md), so ties are ties, to even.
  const int m = static_cast<int>(52 - inner.drop0);
  w.ties_exact = ml.bits + mr.bits <= m + 1 && m <= 10;
  if (need > 0) {
    // scale the smaller operand first
    const bool l_first = nl <= nr;
    const int h1 = headroom(l_first ? ml : mr), h2 = headroom(l_first ? mr : ml);
    const int e1 = std::min(h1, need);
    if (e1 + h2 < need) return;
    (l_first ? w.l_exp : w.r_exp) = -e1;
    (l_first ? w.r_exp : w.l_exp) = -(need - e1);
    // per-thread buffers kept between calls (fresh ones would cost their page faults)
    thread_local std::vector<float> l_copy, r_copy;
    if (w.l_exp != 0) {
      l_copy.resize(std::max(l_copy.size(), nl));
      scaled_copy(v.L, nl, w.l_exp, l_copy.data());
      w.L = l_copy.data();
    }
    if (w.r_exp != 0) {
      r_copy.resize(std::max(r_copy.size(), nr));
      scaled_copy(v.R, nr, w.r_exp, r_copy.data());
      w.R = r_copy.data();
    }
  }
  w.nearest_fast = true;
}

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
