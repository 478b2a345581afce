// Accumulation precision: parsing and naming of accumulators, their kernel parameters, the
// reference loops that define the three GEMMs, and the drivers that hand rows of the fast
// kernel (accumulate_kernel.cpp) to OpenMP threads. Semantics: docs/accumulation.md.
// Deliberately leaves out: the per-element arithmetic (acc_step, accumulate_kernel.hpp) and
// BLAS (the caller's, for Accumulator::is_blas()).
#include "precsweep/accumulate.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "accumulate_kernel.hpp"
#include "precsweep/error.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

constexpr const char* kAccepted =
    "expected FMT[:MODE][,chunk=C][,outer=FMT2[:MODE2]], e.g. E5M10, E5M10:stochastic,chunk=64, "
    "E5M10,chunk=64,outer=fp32; FMT as for --format, MODE toward_zero, nearest_even, up, down "
    "or stochastic, C >= 0";

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw InputError("invalid accumulator \"" + printable(text) + "\": " + why + " (" + kAccepted +
                   ")");
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// "FMT[:MODE]" -> format and mode (nearest_even when no mode is given).
void parse_format_mode(std::string_view whole, const std::string& text, Format& f, Rounding& r) {
  if (text.empty()) bad(whole, "a format is missing");
  const std::size_t colon = text.rfind(':');
  try {
    f = parse_format(text.substr(0, colon));
    r = colon == std::string::npos ? Rounding::nearest_even
                                   : parse_rounding(text.substr(colon + 1));
  } catch (const InputError& e) {
    bad(whole, e.what());
  }
}

std::string format_mode_name(const Format& f, Rounding r) {
  std::string out = f.name();
  if (r != Rounding::nearest_even) out.append(":").append(to_string(r));
  return out;
}

bool is_fp32_nearest(const Format& f, Rounding r) {
  return f.is_identity() && r == Rounding::nearest_even;
}

// Significand bits of a format (fixed point: the word without its sign bit, plus one).
int precision_bits(const Format& f) {
  return f.kind == Format::Kind::fixed ? f.int_bits + f.frac_bits : f.man_bits + 1;
}

}  // namespace

std::string to_string(GemmKind k) {
  switch (k) {
    case GemmKind::forward: return "forward";
    case GemmKind::backward_data: return "backward_data";
    case GemmKind::backward_weights: return "backward_weights";
  }
  return "?";
}

bool Accumulator::is_blas() const { return chunk == 0 && is_fp32_nearest(format, rounding); }

std::string Accumulator::name() const {
  std::string out = format_mode_name(format, rounding);
  if (chunk > 0) {
    out.append(",chunk=").append(std::to_string(chunk));
    if (!is_fp32_nearest(outer, outer_rounding))
      out.append(",outer=").append(format_mode_name(outer, outer_rounding));
  }
  return out;
}

void Accumulator::check() const {
  format.check();
  outer.check();
  auto check_one = [](const Format& f, Rounding r, const char* which) {
    if (r == Rounding::stochastic && precision_bits(f) > 20)
      throw InputError(std::string("accumulator: stochastic rounding of the ") + which +
                       " accumulator needs a format of at most 20 significand bits (E<e>M<m> "
                       "with m <= 19, Q<i>.<f> with i+f <= 20), got " + f.name() +
                       " (docs/accumulation.md)");
  };
  check_one(format, rounding, "inner");
  check_one(outer, outer_rounding, "outer");
}

Accumulator parse_accumulator(std::string_view text) {
  const std::string s = trimmed(text);
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t comma = s.find(',', start);
    parts.push_back(trimmed(std::string_view(s).substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  // Parts up to the first option belong to the inner format; parts after "outer=" that are not
  // options belong to the outer format.
  std::string inner, outer;
  std::string* current = &inner;
  bool chunk_given = false, outer_given = false;
  Accumulator acc;
  for (const std::string& part : parts) {
    std::string low = part;
    for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (low.rfind("chunk=", 0) == 0) {
      if (chunk_given) bad(text, "chunk given twice");
      chunk_given = true;
      const std::string v = low.substr(6);
      if (v.empty() || v.size() > 9 ||
          !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        bad(text, "chunk must be a whole number 0..999999999, got \"" + v + "\"");
      acc.chunk = static_cast<std::uint32_t>(std::stoul(v));
      current = nullptr;
    } else if (low.rfind("outer=", 0) == 0) {
      if (outer_given) bad(text, "outer given twice");
      outer_given = true;
      outer = part.substr(6);
      current = &outer;
    } else if (current) {
      if (!current->empty()) current->append(",");
      current->append(part);
    } else {
      bad(text, "unknown option \"" + part + "\" (options: chunk=C, outer=FMT)");
    }
  }
  parse_format_mode(text, inner, acc.format, acc.rounding);
  if (outer_given) parse_format_mode(text, outer, acc.outer, acc.outer_rounding);
  if (outer_given && acc.chunk == 0) bad(text, "outer= needs chunk=C with C >= 1");
  acc.check();
  return acc;
}

namespace detail {

AccParams make_acc_params(const Format& fmt, Rounding mode) {
  const KernelParams k = make_kernel_params(fmt, mode, StochasticKey{});
  auto dbits = [](double v) { return std::bit_cast<std::uint64_t>(v); };
  auto from32 = [&](std::uint32_t b) { return dbits(std::bit_cast<float>(b)); };
  AccParams p;
  const bool fixed = fmt.kind == Format::Kind::fixed;
  const int m = fixed ? fmt.int_bits + fmt.frac_bits - 1 : fmt.man_bits;
  p.drop0 = 52 - m;
  p.emin = fixed ? fmt.int_bits - 1 : fmt.emin();
  p.lsb52_exp = !fixed && m == 0 ? 1u : 0u;
  p.max_pos = from32(k.max_pos);
  p.max_neg = from32(k.max_neg);
  p.min_sub = from32(k.min_sub);
  p.min_normal = from32(k.min_normal);
  if (k.nearest_overflow_at != 0x7FFFFFFFu) p.nearest_overflow_at = from32(k.nearest_overflow_at);
  p.ovf_pos = k.overflow_pos;
  p.ovf_neg = k.overflow_neg;
  p.inf_pos = k.inf_pos;
  p.inf_neg = k.inf_neg;
  p.zero_sign = k.zero_sign;
  p.flush = k.flush;
  p.identity = fmt.is_identity();
  p.mode = mode;
  return p;
}

std::uint32_t acc_random_word(std::uint64_t key, std::uint64_t index, std::uint64_t k,
                              unsigned which) {
  const BlockKeys keys = block_keys(key, static_cast<std::uint32_t>(index));
  return hash32(static_cast<std::uint32_t>(2 * k + which), keys);
}

}  // namespace detail

namespace {

float step_rt(float acc, float a, float b, std::uint32_t h, const detail::AccParams& P) {
  switch (P.mode) {
    case Rounding::toward_zero:
      return detail::acc_step<Rounding::toward_zero>(acc, a, b, h, P);
    case Rounding::nearest_even:
      return detail::acc_step<Rounding::nearest_even>(acc, a, b, h, P);
    case Rounding::up:
      return detail::acc_step<Rounding::up>(acc, a, b, h, P);
    case Rounding::down:
      return detail::acc_step<Rounding::down>(acc, a, b, h, P);
    case Rounding::stochastic:
      return detail::acc_step<Rounding::stochastic>(acc, a, b, h, P);
  }
  return acc;
}

// Everything a call needs besides the operands.
struct Setup {
  Accumulator acc;
  detail::AccParams inner, outer;
  std::uint64_t key = 0;
};

Setup make_setup(const Accumulator& acc, const StochasticKey& key) {
  acc.check();
  if (key.offset != 0)
    throw std::invalid_argument("accumulate: StochasticKey::offset must be 0 (the counter is "
                                "fixed by the element index and k; use a stream per GEMM)");
  return {acc, detail::make_acc_params(acc.format, acc.rounding),
          detail::make_acc_params(acc.outer, acc.outer_rounding), rng::key(key.seed, key.stream)};
}

// The definition of one output element (index = its row-major position in the result):
// L(k) and R(k) give the k-th factors.
template <class FL, class FR>
float ref_element(const Setup& S, std::uint64_t index, std::size_t K, FL L, FR R,
                  AccumulateStats& st) {
  const bool sto_in = S.acc.rounding == Rounding::stochastic;
  const bool sto_out = S.acc.outer_rounding == Rounding::stochastic;
  float run = 0.0f, total = 0.0f;
  for (std::size_t k = 0; k < K; ++k) {
    const float a = L(k), b = R(k);
    const std::uint32_t h = sto_in ? detail::acc_random_word(S.key, index, k, 0) : 0;
    const float next = step_rt(run, a, b, h, S.inner);
    ++st.additions;
    st.swamped += (a != 0.0f && b != 0.0f && next == run) ? 1 : 0;
    run = next;
    if (S.acc.chunk > 0 && ((k + 1) % S.acc.chunk == 0 || k + 1 == K)) {
      const std::uint32_t ho = sto_out ? detail::acc_random_word(S.key, index, k, 1) : 0;
      total = step_rt(total, run, 1.0f, ho, S.outer);
      run = 0.0f;
    }
  }
  return S.acc.chunk > 0 ? total : run;
}

void check_shape(std::size_t have, std::size_t rows, std::size_t cols, const char* what) {
  if (cols != 0 && rows > SIZE_MAX / cols)
    throw std::invalid_argument(std::string("accumulate: ") + what + " is too large");
  if (have != rows * cols)
    throw std::invalid_argument(std::string("accumulate: ") + what + " has " +
                                std::to_string(have) + " values, the shape needs " +
                                std::to_string(rows) + " x " + std::to_string(cols));
}

void check_counters(std::size_t M, std::size_t N, std::size_t K) {
  if ((N != 0 && M > (std::size_t{1} << 32) / N) || M * N >= (std::size_t{1} << 32) ||
      K >= (std::size_t{1} << 31))
    throw std::invalid_argument("accumulate: result too large for the stochastic counters "
                                "(rows * cols must be < 2^32 and the sum length < 2^31)");
}

// The fast path for any view: rows split over OpenMP threads (each row's result depends only
// on its index, so the split does not matter).
AccumulateStats run_fast(const detail::GemmView& view, const Setup& S) {
  detail::PreparedGemm prepared;
  detail::prepare_gemm(view, S.inner, prepared);
  const detail::GemmView& v = prepared.view;
  [[maybe_unused]] const double work = static_cast<double>(v.M) * static_cast<double>(v.N) * static_cast<double>(v.K);
  std::uint64_t additions = 0, swamped = 0;
  constexpr std::size_t step = detail::kAccRowsPerCall;
  const auto calls = static_cast<std::int64_t>((v.M + step - 1) / step);
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : additions, swamped) \
    if (work >= 65536.0 && calls > 1)
  for (std::int64_t c = 0; c < calls; ++c) {
    const std::size_t i = static_cast<std::size_t>(c) * step;
    const AccumulateStats st = detail::acc_gemm_rows(v, i, std::min(i + step, v.M), S.acc,
                                                     S.inner, S.outer, S.key, S.key);
    additions += st.additions;
    swamped += st.swamped;
  }
  return {additions, swamped};
}

// Per-thread buffers for the transposed operands, kept between calls: a fresh vector of a few
// hundred KiB per product costs its page faults every time.
std::vector<float>& scratch(int which, std::size_t n) {
  thread_local std::vector<float> buffers[2];
  buffers[which].resize(n);
  return buffers[which];
}

void put_stats(AccumulateStats* stats, const AccumulateStats& st) {
  if (stats) *stats = st;
}

}  // namespace

float dot(std::span<const float> a, std::span<const float> b, const Accumulator& acc,
          StochasticKey key, AccumulateStats* stats, std::uint32_t index) {
  if (a.size() != b.size()) throw std::invalid_argument("dot: the two vectors' sizes differ");
  const Setup S = make_setup(acc, key);
  check_counters(1, 1, a.size());
  AccumulateStats st;
  const float r = ref_element(
      S, index, a.size(), [&](std::size_t k) { return a[k]; }, [&](std::size_t k) { return b[k]; },
      st);
  put_stats(stats, st);
  return r;
}

// ---- the three products: definitions --------------------------------------------------------

void gemm_forward_ref(std::span<const float> A, std::span<const float> W, std::span<float> Z,
                      std::size_t batch, std::size_t in, std::size_t out, const Accumulator& acc,
                      StochasticKey key, AccumulateStats* stats) {
  check_shape(A.size(), batch, in, "A");
  check_shape(W.size(), out, in, "W");
  check_shape(Z.size(), batch, out, "Z");
  check_counters(batch, out, in);
  const Setup S = make_setup(acc, key);
  AccumulateStats st;
  for (std::size_t i = 0; i < batch; ++i)
    for (std::size_t j = 0; j < out; ++j)
      Z[i * out + j] = ref_element(
          S, i * out + j, in, [&](std::size_t k) { return A[i * in + k]; },
          [&](std::size_t k) { return W[j * in + k]; }, st);
  put_stats(stats, st);
}

void gemm_backward_data_ref(std::span<const float> D, std::span<const float> W,
                            std::span<float> dA, std::size_t batch, std::size_t out,
                            std::size_t in, const Accumulator& acc, StochasticKey key,
                            AccumulateStats* stats) {
  check_shape(D.size(), batch, out, "D");
  check_shape(W.size(), out, in, "W");
  check_shape(dA.size(), batch, in, "dA");
  check_counters(batch, in, out);
  const Setup S = make_setup(acc, key);
  AccumulateStats st;
  for (std::size_t i = 0; i < batch; ++i)
    for (std::size_t j = 0; j < in; ++j)
      dA[i * in + j] = ref_element(
          S, i * in + j, out, [&](std::size_t k) { return D[i * out + k]; },
          [&](std::size_t k) { return W[k * in + j]; }, st);
  put_stats(stats, st);
}

void gemm_backward_weights_ref(std::span<const float> D, std::span<const float> A,
                               std::span<float> dW, std::size_t batch, std::size_t out,
                               std::size_t in, const Accumulator& acc, StochasticKey key,
                               AccumulateStats* stats) {
  check_shape(D.size(), batch, out, "D");
  check_shape(A.size(), batch, in, "A");
  check_shape(dW.size(), out, in, "dW");
  check_counters(out, in, batch);
  const Setup S = make_setup(acc, key);
  AccumulateStats st;
  for (std::size_t o = 0; o < out; ++o)
    for (std::size_t j = 0; j < in; ++j)
      dW[o * in + j] = ref_element(
          S, o * in + j, batch, [&](std::size_t k) { return D[k * out + o]; },
          [&](std::size_t k) { return A[k * in + j]; }, st);
  put_stats(stats, st);
}

// ---- the three products: fast ----------------------------------------------------------------

void gemm_forward(std::span<const float> A, std::span<const float> W, std::span<float> Z,
                  std::size_t batch, std::size_t in, std::size_t out, const Accumulator& acc,
                  StochasticKey key, AccumulateStats* stats) {
  check_shape(A.size(), batch, in, "A");
  check_shape(W.size(), out, in, "W");
  check_shape(Z.size(), batch, out, "Z");
  check_counters(batch, out, in);
  const Setup S = make_setup(acc, key);
  // The kernel vectorises over the result's columns in groups of 32 (accumulate_kernel.cpp):
  // compute Z, or Z^T = W A^T, whichever wastes the smaller share of those lanes.
  auto waste = [](std::size_t n) {
    return n == 0 ? 0.0 : static_cast<double>((n + 31) / 32 * 32 - n) / static_cast<double>(n);
  };
  if (waste(out) < waste(batch)) {
    // W^T packed as [in x out] so that the kernel reads a row of factors per k
    std::vector<float>& Wt = scratch(0, in * out);
    for (std::size_t k = 0; k < in; ++k)
      for (std::size_t j = 0; j < out; ++j) Wt[k * out + j] = W[j * in + k];
    const detail::GemmView v{A.data(), in, 1, Wt.data(), out, Z.data(), batch, out, in, out, 1};
    put_stats(stats, run_fast(v, S));
    return;
  }
  // Z^T[out x batch] = W * A^T: the same elements with the same k order, then transposed into Z.
  std::vector<float>& At = scratch(0, in * batch);
  std::vector<float>& Zt = scratch(1, out * batch);
  for (std::size_t k = 0; k < in; ++k)
    for (std::size_t b = 0; b < batch; ++b) At[k * batch + b] = A[b * in + k];
  const detail::GemmView v{W.data(), in, 1, At.data(), batch, Zt.data(), out, batch, in, 1, out};
  put_stats(stats, run_fast(v, S));
  for (std::size_t o = 0; o < out; ++o)
    for (std::size_t b = 0; b < batch; ++b) Z[b * out + o] = Zt[o * batch + b];
}

void gemm_backward_data(std::span<const float> D, std::span<const float> W, std::span<float> dA,
                        std::size_t batch, std::size_t out, std::size_t in,
                        const Accumulator& acc, StochasticKey key, AccumulateStats* stats) {
  check_shape(D.size(), batch, out, "D");
  check_shape(W.size(), out, in, "W");
  check_shape(dA.size(), batch, in, "dA");
  check_counters(batch, in, out);
  const Setup S = make_setup(acc, key);
  const detail::GemmView v{D.data(), out, 1, W.data(), in, dA.data(), batch, in, out, in, 1};
  put_stats(stats, run_fast(v, S));
}

void gemm_backward_weights(std::span<const float> D, std::span<const float> A,
                           std::span<float> dW, std::size_t batch, std::size_t out,
                           std::size_t in, const Accumulator& acc, StochasticKey key,
                           AccumulateStats* stats) {
  check_shape(D.size(), batch, out, "D");
  check_shape(A.size(), batch, in, "A");
  check_shape(dW.size(), out, in, "dW");
  check_counters(out, in, batch);
  const Setup S = make_setup(acc, key);
  const detail::GemmView v{D.data(), 1, out, A.data(), in, dW.data(), out, in, batch, in, 1};
  put_stats(stats, run_fast(v, S));
}

}  // namespace precsweep
