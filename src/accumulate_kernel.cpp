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

#include <algorithm>

#include "accumulate_kernel.hpp"

#ifdef PRECSWEEP_KERNEL_ARCH_TEST
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

// The run sums of the block into the outer accumulator, then the runs restart from +0.
template <Rounding kMode>
[[gnu::always_inline]] inline void outer_step(float* __restrict total, float* __restrict run,
                                              std::size_t nb, std::uint32_t counter_lo,
                                              const LaneKeys& keys, const AccParams& P) {
  std::size_t j = 0;
  const F32x4 ones = F32x4{} + 1.0f;
  for (; j + kLanes <= nb; j += kLanes) {
    U32x4 h{};
    if constexpr (kMode == Rounding::stochastic)
      h = lowbias32<U32x4>(lowbias32<U32x4>(counter_lo + load<U32x4>(keys.k1 + j)) ^
                           load<U32x4>(keys.k2 + j));
    store(total + j, acc_step_lanes<kMode, F64x4>(load<F32x4>(total + j), load<F32x4>(run + j),
                                                  ones, h, P));
    store(run + j, F32x4{});
  }
  for (; j < nb; ++j) {
    std::uint32_t h = 0;
    if constexpr (kMode == Rounding::stochastic) h = lane_word(counter_lo, keys.k1[j], keys.k2[j]);
    total[j] = acc_step<kMode>(total[j], run[j], 1.0f, h, P);
    run[j] = 0.0f;
  }
}

void outer_dispatch(float* total, float* run, std::size_t nb, std::uint32_t counter_lo,
                    const LaneKeys& keys, const AccParams& P) {
  switch (P.mode) {
    case Rounding::toward_zero:
      return outer_step<Rounding::toward_zero>(total, run, nb, counter_lo, keys, P);
    case Rounding::nearest_even:
      return outer_step<Rounding::nearest_even>(total, run, nb, counter_lo, keys, P);
    case Rounding::up:
      return outer_step<Rounding::up>(total, run, nb, counter_lo, keys, P);
    case Rounding::down:
      return outer_step<Rounding::down>(total, run, nb, counter_lo, keys, P);
    case Rounding::stochastic:
      return outer_step<Rounding::stochastic>(total, run, nb, counter_lo, keys, P);
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
        const auto index = static_cast<std::uint32_t>(i * v.N + j0 + j);
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
      const float* l_row = v.L + i * v.l_row;
      std::uint32_t in_run = 0;
      for (std::size_t k = 0; k < v.K; ++k) {
        const auto counter = static_cast<std::uint32_t>(2 * k);
        swamped += inner_step<kMode>(run, l_row[k * v.l_k], v.R + k * v.r_k + j0, nb, counter,
                                     keys_in, inner_p);
        if (chunk > 0 && (++in_run == chunk || k + 1 == v.K)) {
          outer_dispatch(total, run, nb, counter + 1, keys_out, outer_p);
          in_run = 0;
        }
      }
      float* c = v.C + i * v.N + j0;
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
