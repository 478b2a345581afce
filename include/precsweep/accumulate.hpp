// Accumulation precision: dot products and the trainer's three matrix products computed as if
// the hardware added each product into an accumulator of a given number format (a fused
// multiply-add into that format, in increasing k), optionally in chunks whose sums are added
// into an outer accumulator. Exact semantics: docs/accumulation.md.
// Each GEMM has a plain reference loop (`*_ref`) that is the definition and a fast kernel that
// is bit for bit the same (vectorised across output columns, OpenMP across rows).
// Deliberately leaves out: BLAS (binary32 accumulation without chunks is what the caller's
// sgemm does, in BLAS's own order; see Accumulator::is_blas), and which GEMM uses which
// accumulator (the trainer's business).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "precsweep/formats.hpp"

namespace precsweep {

struct Accumulator {
  Format format = Format::floating(8, 23);  // F: the format every partial sum is rounded to
  Rounding rounding = Rounding::nearest_even;
  // 0: one run over all k. c > 0: runs of c consecutive products, each summed from +0 in F,
  // the run sums added in order into the outer accumulator (F_out, outer_rounding).
  std::uint32_t chunk = 0;
  Format outer = Format::floating(8, 23);
  Rounding outer_rounding = Rounding::nearest_even;

  // binary32, round to nearest even, no chunks: the caller keeps using BLAS (whose summation
  // order is not the sequential order these functions define).
  bool is_blas() const;
  // Canonical text, parseable by parse_accumulator: "E5M10", "E5M10:stochastic,chunk=64",
  // "E5M10,chunk=64,outer=bf16:up". The mode is shown when it is not nearest_even; outer only
  // with a chunk, and only when it is not fp32 nearest_even.
  std::string name() const;
  // Throws InputError when the accumulator is not supported: stochastic rounding needs a format
  // of at most 20 significand bits (E<e>M<m> with m <= 19, Q<i>.<f> with i + f <= 20), so that
  // the 32 random bits are compared with the exact fraction (docs/accumulation.md).
  void check() const;
  bool operator==(const Accumulator&) const = default;
};

// "FMT[:MODE][,chunk=C][,outer=FMT2[:MODE2]]", FMT as parse_format (its own ",saturate" etc.
// options included, e.g. "E5M2,saturate:up,chunk=64"), MODE as parse_rounding (default
// nearest_even), C >= 1 (chunk=0 means no chunks). Throws InputError naming the bad part.
Accumulator parse_accumulator(std::string_view text);

// The trainer's three products of a layer (shapes below, at gemm_forward & co.), each with an
// accumulator of its own in a run's precision recipe.
enum class GemmKind : std::uint8_t { forward, backward_data, backward_weights };
inline constexpr int kGemmKinds = 3;
std::string to_string(GemmKind k);  // "forward", "backward_data", "backward_weights"

// Counts from one call. additions: products added into the inner accumulator (M*N*K for a
// GEMM). swamped: those whose product was nonzero but left the accumulator unchanged (compared
// as floats). The outer additions are not counted.
struct AccumulateStats {
  std::uint64_t additions = 0;
  std::uint64_t swamped = 0;
  AccumulateStats& operator+=(const AccumulateStats& o) {
    additions += o.additions;
    swamped += o.swamped;
    return *this;
  }
};

// Stochastic rounding: output element `index` (row-major in the result) adding product k uses
// the random word stochastic_bits({key.seed, key.stream, 0}, index * 2^32 + 2k); the outer
// addition that closes the run ending at product k uses counter index * 2^32 + 2k + 1.
// key.offset must be 0 (std::invalid_argument otherwise); give each GEMM its own stream.

// sum_k a[k] * b[k] under `acc`, as output element `index` of a product (the stochastic
// counters above). Throws std::invalid_argument when the sizes differ.
float dot(std::span<const float> a, std::span<const float> b, const Accumulator& acc,
          StochasticKey key = {}, AccumulateStats* stats = nullptr, std::uint32_t index = 0);

// The trainer's three products, row-major, every matrix dense:
//   forward:          Z[batch x out] = A[batch x in] * W[out x in]^T   (reduction over in)
//   backward_data:    dA[batch x in] = D[batch x out] * W[out x in]    (reduction over out)
//   backward_weights: dW[out x in]   = D[batch x out]^T * A[batch x in] (reduction over batch)
// The result is overwritten. Throws std::invalid_argument when a span's size does not match
// the shape or a size is too large for the counters (rows * cols >= 2^32 or K >= 2^31).
// The fast versions thread their rows with OpenMP; results never depend on the thread count.
void gemm_forward(std::span<const float> A, std::span<const float> W, std::span<float> Z,
                  std::size_t batch, std::size_t in, std::size_t out, const Accumulator& acc,
                  StochasticKey key = {}, AccumulateStats* stats = nullptr);
void gemm_backward_data(std::span<const float> D, std::span<const float> W, std::span<float> dA,
                        std::size_t batch, std::size_t out, std::size_t in,
                        const Accumulator& acc, StochasticKey key = {},
                        AccumulateStats* stats = nullptr);
void gemm_backward_weights(std::span<const float> D, std::span<const float> A,
                           std::span<float> dW, std::size_t batch, std::size_t out,
                           std::size_t in, const Accumulator& acc, StochasticKey key = {},
                           AccumulateStats* stats = nullptr);

// The definitions: a plain loop over (row, column, k), one element at a time, no threads.
void gemm_forward_ref(std::span<const float> A, std::span<const float> W, std::span<float> Z,
                      std::size_t batch, std::size_t in, std::size_t out,
                      const Accumulator& acc, StochasticKey key = {},
                      AccumulateStats* stats = nullptr);
void gemm_backward_data_ref(std::span<const float> D, std::span<const float> W,
                            std::span<float> dA, std::size_t batch, std::size_t out,
                            std::size_t in, const Accumulator& acc, StochasticKey key = {},
                            AccumulateStats* stats = nullptr);
void gemm_backward_weights_ref(std::span<const float> D, std::span<const float> A,
                               std::span<float> dW, std::size_t batch, std::size_t out,
                               std::size_t in, const Accumulator& acc, StochasticKey key = {},
                               AccumulateStats* stats = nullptr);

}  // namespace precsweep
