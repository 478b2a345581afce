// The MLP's fast path (CBLAS sgemm + fused OpenMP loops), parameter initialisation and the
// weight-update kernel (its frozen reference, plain loops in double, is tests/mlp_ref.cpp). Shapes and the parameter
// layout are documented in include/precsweep/mlp.hpp.
// Thread count independence: every product is cut into fixed blocks that depend on its shape
// only (kRowBlock, kOutBlock below), each block is one single-threaded sgemm, and the blocks are
// spread over the run's OpenMP threads; every other loop is elementwise or sums in a fixed
// order. So 1, 2 or 16 threads give the same bits (docs/training.md, "Threads").
// Deliberately leaves out: any allocation after construction, and libm in the fast path (exp is
// a fixed polynomial below, so results do not change with the libm version and the loops
// vectorise).
#include "precsweep/mlp.hpp"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "blas_blocks.hpp"
#include "precsweep/error.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

constexpr std::uint64_t kStreamInit = 0x1417;
// Elementwise loops below this many elements stay on one thread (a parallel region costs more).
constexpr long kParallelMin = 1L << 15;

// The fixed partition of the products (the same at every thread count):
//   forward Z = A W^T and delta D_prev = D W: blocks of kRowBlock batch rows;
//   dW = D^T A_prev (and db): blocks of kOutBlock output units (rows of dW).
// Each block is one sgemm over the whole reduction dimension, so a value's sum is never split
// between threads. An sgemm's own arithmetic can depend on where a value sits in the call (the
// Haswell/Zen kernels' tile edges do; Prescott's do not), so cutting a product changes its bits
// on some kernels: the sizes are large enough that the default run (batch 64, 784-100-10)
// keeps one block per training product and its results stay as they were at 1 thread, and
// measured at no cost at 1 thread (docs/performance.md). Smaller blocks, e.g. 32 rows, would
// spread a batch of 64 over two threads but cost 6% more sgemm time at 1 thread.
constexpr int kRowBlock = 64;
constexpr int kOutBlock = 128;

using blas_blocks::block_count;
using blas_blocks::for_each_block;

using blas_blocks::gemm_row_blocks;

// Branch-free "x < lo ? lo : x" as an integer blend: GCC (with the default -ftrapping-math)
// does not if-convert a float select that feeds more float arithmetic, which would keep the
// activation loops scalar. A NaN x compares false and is kept.
inline float raise_to(float x, float lo) {
  const std::uint32_t m = 0u - static_cast<std::uint32_t>(x < lo);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(x) & ~m) |
                              (std::bit_cast<std::uint32_t>(lo) & m));
}
inline float lower_to(float x, float hi) {
  const std::uint32_t m = 0u - static_cast<std::uint32_t>(x > hi);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(x) & ~m) |
                              (std::bit_cast<std::uint32_t>(hi) & m));
}

// exp(x) for float in the style of Cephes expf: x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2
// (ln2 split in two parts so n*ln2 is exact), exp(r) by a degree-7 polynomial (max relative error
// ~2 ulp), then scaled by 2^n built from the exponent bits. Inputs are clamped to
// [-87.33, 88.37] so 2^n stays a normal float; NaN propagates through the polynomial.
inline float exp_poly(float x) {
  x = lower_to(raise_to(x, -87.33f), 88.37f);
  // Adding 1.5 * 2^23 rounds x/ln2 to an integer n (ties-even) held in the low bits of t.
  const float magic = 12582912.0f;
  const float t = x * 1.44269504088896341f + magic;
  const float n = t - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::uint32_t bits =
      (std::bit_cast<std::uint32_t>(t) - std::bit_cast<std::uint32_t>(magic) + 127u) << 23;
  return p * std::bit_cast<float>(bits);
}

// Activation of z, and its derivative expressed through the activation a (so only outputs are
// stored): sigmoid' = a(1 - a), tanh' = 1 - a^2, relu' = [a > 0].
inline float act_sigmoid(float z) { return 1.0f / (1.0f + exp_poly(-z)); }
inline float act_tanh(float z) {
  const float t = exp_poly(-2.0f * std::fabs(z));
  return std::copysign((1.0f - t) / (1.0f + t), z);
}
inline float act_relu(float z) { return std::max(z, 0.0f); }  // std::max keeps a NaN z

// out[r, j] = f(out[r, j] + b[j]) over [B, n]; the sgemm left Z = A W^T in out.
template <class F>
void bias_activate(float* out, const float* bias, int B, int n, F f) {
#pragma omp parallel for schedule(static) if (static_cast<long>(B) * n >= kParallelMin)
  for (int r = 0; r < B; ++r) {
    float* row = out + static_cast<std::size_t>(r) * n;
    for (int j = 0; j < n; ++j) row[j] = f(row[j] + bias[j]);
  }
}

// One-thread version of bias_activate for every activation, compiled for AVX2 as well as the
// baseline and picked at load time (8 lanes instead of SSE2's 4). The clone is "avx2" without
// FMA on purpose: GCC would otherwise contract a*b+c, and the numbers would depend on the CPU.
#if defined(__x86_64__) && !defined(PRECSWEEP_PORTABLE_KERNELS)
__attribute__((target_clones("avx2", "default")))
#endif
void bias_activate_serial(float* out, const float* bias, int B, int n, int kind) {
  for (int r = 0; r < B; ++r) {
    float* row = out + static_cast<std::size_t>(r) * n;
    switch (kind) {
      case 0: for (int j = 0; j < n; ++j) row[j] = act_sigmoid(row[j] + bias[j]); break;
      case 1: for (int j = 0; j < n; ++j) row[j] = act_tanh(row[j] + bias[j]); break;
      case 2: for (int j = 0; j < n; ++j) row[j] = act_relu(row[j] + bias[j]); break;
      default: for (int j = 0; j < n; ++j) row[j] = row[j] + bias[j]; break;
    }
  }
}

// d[i] *= f'(a[i]) over [B * n].
void multiply_derivative(float* d, const float* a, long count, Activation act) {
  switch (act) {
    case Activation::sigmoid:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (long i = 0; i < count; ++i) d[i] *= a[i] * (1.0f - a[i]);
      break;
    case Activation::tanh:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (long i = 0; i < count; ++i) d[i] *= 1.0f - a[i] * a[i];
      break;
    case Activation::relu:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (long i = 0; i < count; ++i) d[i] = a[i] > 0.0f ? d[i] : 0.0f;
      break;
  }
}

int argmax_row(const float* row, int n) {
  int best = 0;
  for (int j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

}  // namespace

// ---- layout and init -----------------------------------------------------------------------

MlpLayout::MlpLayout(std::vector<int> layer_sizes) : sizes(std::move(layer_sizes)) {
  if (sizes.size() < 2) throw InputError("MLP needs at least an input and an output size");
  for (int s : sizes)
    if (s < 1) throw InputError("MLP layer size must be >= 1, got " + std::to_string(s));
  for (int l = 0; l < layers(); ++l) {
    w_offset.push_back(count);
    count += static_cast<std::size_t>(in(l)) * static_cast<std::size_t>(out(l));
    b_offset.push_back(count);
    count += static_cast<std::size_t>(out(l));
  }
}

void init_params(const MlpLayout& layout, Activation activation, std::uint64_t seed,
                 std::span<float> params) {
  const std::uint64_t key = rng::key(seed, kStreamInit);
  std::fill(params.begin(), params.end(), 0.0f);  // biases 0
  for (int l = 0; l < layout.layers(); ++l) {
    const double fan_in = layout.in(l), fan_out = layout.out(l);
    const double a = activation == Activation::relu ? std::sqrt(6.0 / fan_in)
                                                    : std::sqrt(6.0 / (fan_in + fan_out));
    const std::size_t off = layout.w_offset[static_cast<std::size_t>(l)];
    const std::size_t n = static_cast<std::size_t>(layout.in(l)) * layout.out(l);
    for (std::size_t i = off; i < off + n; ++i)
      params[i] = static_cast<float>((2.0 * rng::uniform01(key, i) - 1.0) * a);
  }
}

// ---- fast path -----------------------------------------------------------------------------

Mlp::Mlp(std::vector<int> layer_sizes, Activation activation, int max_batch)
    : layout_(std::move(layer_sizes)), activation_(activation), max_batch_(max_batch) {
  if (max_batch < 1) throw InputError("MLP batch size must be >= 1");
  params.assign(layout_.count, 0.0f);
  grads.assign(layout_.count, 0.0f);
  for (int l = 0; l < layout_.layers(); ++l) {
    const std::size_t n = static_cast<std::size_t>(max_batch) * layout_.out(l);
    acts_.emplace_back(n, 0.0f);
    deltas_.emplace_back(n, 0.0f);
  }
  sample_loss_.assign(static_cast<std::size_t>(max_batch), 0.0);
  lse_.assign(static_cast<std::size_t>(max_batch), 0.0f);
  reset_accumulate_stats();
}

void Mlp::set_column_operands(ColumnOperands c) {
  columns_ = std::move(c);
  const int L = layout_.layers();
  const auto rows = static_cast<std::size_t>(max_batch_);
  if (columns_.activations && acts_col_.empty())
    for (int l = 0; l + 1 < L; ++l) acts_col_.emplace_back(rows * layout_.out(l), 0.0f);
  if (columns_.errors && delta_col_.empty())
    delta_col_.assign(rows * *std::max_element(layout_.sizes.begin() + 1, layout_.sizes.end()),
                      0.0f);
}

void Mlp::reset_accumulate_stats() {
  for (auto& per_layer : acc_stats_)
    per_layer.assign(static_cast<std::size_t>(layout_.layers()), AccumulateStats{});
}

// X, Y, out and the sizes as the gemm_* function of kind k takes them:
//   forward:          gemm_forward(A=X [B, in], W=Y [out, in], Z=out [B, out])
//   backward_data:    gemm_backward_data(D=X [B, out], W=Y [out, in], dA=out [B, in])
//   backward_weights: gemm_backward_weights(D=X [B, out], A=Y [B, in], dW=out [out, in])
void Mlp::accumulate_gemm(GemmKind k, int l, const float* X, const float* Y, float* out, int B,
                          int in, int n_out) {
  const auto b = static_cast<std::size_t>(B), i = static_cast<std::size_t>(in),
             o = static_cast<std::size_t>(n_out);
  const Accumulator& acc = accumulation_.acc[static_cast<std::size_t>(k)];
  const StochasticKey key = accumulation_.key ? accumulation_.key(k, l) : StochasticKey{};
  AccumulateStats stats;
  AccumulateStats* count = accumulation_.count ? &stats : nullptr;
  switch (k) {
    case GemmKind::forward:
      gemm_forward({X, b * i}, {Y, o * i}, {out, b * o}, b, i, o, acc, key, count);
      break;
    case GemmKind::backward_data:
      gemm_backward_data({X, b * o}, {Y, o * i}, {out, b * i}, b, o, i, acc, key, count);
      break;
    case GemmKind::backward_weights:
      gemm_backward_weights({X, b * o}, {Y, b * i}, {out, o * i}, b, o, i, acc, key, count);
      break;
  }
  if (count) acc_stats_[static_cast<std::size_t>(k)][static_cast<std::size_t>(l)] += stats;
}



const float* Mlp::forward(const float* X, int B, const TensorHook& hook) {
  const int L = layout_.layers();
  const float* A = X;  // [B, in(l)]
  for (int l = 0; l < L; ++l) {
    const int in = layout_.in(l), out = layout_.out(l);
    float* Z = acts_[static_cast<std::size_t>(l)].data();  // [B, out]
    // Z[B, out] = A[B, in] * W[out, in]^T
    if (accumulation_.acc[0].is_blas())
      gemm_row_blocks(true, B, out, in, A, in, W(l), in, Z, out, kRowBlock);
    else
      accumulate_gemm(GemmKind::forward, l, A, W(l), Z, B, in, out);
    const float* bias = b(l);
    if (static_cast<long>(B) * out < kParallelMin) {
      const int kind = l + 1 < L ? static_cast<int>(activation_) : 3;
      bias_activate_serial(Z, bias, B, out, kind);
    } else if (l + 1 < L) {
      switch (activation_) {
        // lambdas, not function pointers, so each loop inlines and vectorises its activation
        case Activation::sigmoid:
          bias_activate(Z, bias, B, out, [](float z) { return act_sigmoid(z); });
          break;
        case Activation::tanh:
          bias_activate(Z, bias, B, out, [](float z) { return act_tanh(z); });
          break;
        case Activation::relu:
          bias_activate(Z, bias, B, out, [](float z) { return act_relu(z); });
          break;
      }
    } else {
      bias_activate(Z, bias, B, out, [](float z) { return z; });
    }
    if (columns_.activations && l + 1 < L) {  // the copy the dW product of layer l+1 takes
      float* C = acts_col_[static_cast<std::size_t>(l)].data();
      std::copy(Z, Z + static_cast<std::size_t>(B) * out, C);
      columns_.activations({C, static_cast<std::size_t>(B) * out}, l);
    }
    if (hook) hook({Z, static_cast<std::size_t>(B) * out}, l);
    A = Z;
  }
  // Softmax of the logits [B, C] into the last delta buffer (the probabilities stay there until
  // backward overwrites them); lse[r] = log sum_j exp(z[r, j]) keeps the loss exact.
  const int C = layout_.classes();
  const float* logits = acts_.back().data();
  float* P = deltas_.back().data();
#pragma omp parallel for schedule(static) if (static_cast<long>(B) * C >= kParallelMin)
  for (int r = 0; r < B; ++r) {
    const float* z = logits + static_cast<std::size_t>(r) * C;
    float* p = P + static_cast<std::size_t>(r) * C;
    float m = z[0];
    for (int j = 1; j < C; ++j) m = std::max(m, z[j]);
    if (!std::isfinite(m)) m = 0.0f;  // inf/NaN logits: let the NaN show in the loss
    float s = 0.0f;
    for (int j = 0; j < C; ++j) {
      p[j] = exp_poly(z[j] - m);
      s += p[j];
    }
    const float inv = 1.0f / s;
    for (int j = 0; j < C; ++j) p[j] *= inv;
    lse_[static_cast<std::size_t>(r)] = m + std::log(s);
  }
  return P;
}

double Mlp::loss_and_output_delta(const std::uint8_t* y, int B, int* correct, double eps) {
  const int C = layout_.classes();
  const float* logits = acts_.back().data();
  float* D = deltas_.back().data();  // holds P on entry, (P - T) / B on exit
  const float inv_b = 1.0f / static_cast<float>(B);
  // Label smoothing: T = (1 - eps) onehot + eps / C, so -sum_j T_j log p_j
  // = lse - (1 - eps) z_y - (eps / C) sum_j z_j. eps = 0 takes the plain one-hot path.
  const bool smooth = eps > 0.0;
  const float off = static_cast<float>(eps / C) * inv_b;         // T_j / B for j != y
  const float hit = static_cast<float>(1.0 - eps) * inv_b;       // (T_y - eps / C) / B
  int hits = 0;
#pragma omp parallel for schedule(static) reduction(+ : hits) \
    if (static_cast<long>(B) * C >= kParallelMin)
  for (int r = 0; r < B; ++r) {
    const float* z = logits + static_cast<std::size_t>(r) * C;
    float* d = D + static_cast<std::size_t>(r) * C;
    const int label = y[r];
    // -log p_y = lse - z_y, computed from the logits so a tiny p_y does not become inf.
    double loss = static_cast<double>(lse_[static_cast<std::size_t>(r)]) - static_cast<double>(z[label]);
    hits += argmax_row(z, C) == label ? 1 : 0;
    if (!smooth) {
      for (int j = 0; j < C; ++j) d[j] *= inv_b;
      d[label] -= inv_b;
    } else {
      double zsum = 0.0;
      for (int j = 0; j < C; ++j) zsum += static_cast<double>(z[j]);
      loss = static_cast<double>(lse_[static_cast<std::size_t>(r)]) -
             (1.0 - eps) * static_cast<double>(z[label]) - eps / C * zsum;
      for (int j = 0; j < C; ++j) d[j] = d[j] * inv_b - off;
      d[label] -= hit;
    }
    sample_loss_[static_cast<std::size_t>(r)] = loss;
  }
  double sum = 0.0;
  for (int r = 0; r < B; ++r) sum += sample_loss_[static_cast<std::size_t>(r)];
  if (correct) *correct = hits;
  return sum / B;
}

void Mlp::backward(const float* X, int B, const TensorHook& hook) {
  for (int l = layout_.layers() - 1; l >= 0; --l) {
    const int in = layout_.in(l), out = layout_.out(l);
    float* D = deltas_[static_cast<std::size_t>(l)].data();  // [B, out]
    const float* Dw = D;  // [B, out] the errors as the dW product takes them
    if (columns_.errors) {
      std::copy(D, D + static_cast<std::size_t>(B) * out, delta_col_.data());
      columns_.errors({delta_col_.data(), static_cast<std::size_t>(B) * out}, l);
      Dw = delta_col_.data();
    }
    if (hook) hook({D, static_cast<std::size_t>(B) * out}, l);
    const float* A = l == 0                ? X  // [B, in]
                     : columns_.activations ? acts_col_[static_cast<std::size_t>(l) - 1].data()
                                            : acts_[static_cast<std::size_t>(l) - 1].data();
    // dW[out, in] = D[B, out]^T * A[B, in], in blocks of output units (rows of dW); with each
    // block, its part of db[out] = the sum over the rows of D, added in row order.
    // (db is a sum of the errors, not a product: always binary32, in row order.)
    float* g = db(l);
    const bool blas_dw = accumulation_.acc[2].is_blas();
    if (!blas_dw) accumulate_gemm(GemmKind::backward_weights, l, Dw, A, dW(l), B, in, out);
    for_each_block(block_count(out, kOutBlock), [&](int i) {
      const int j0 = i * kOutBlock, n = std::min(kOutBlock, out - j0);
      if (blas_dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, in, B, 1.0f, Dw + j0, out, A, in,
                    0.0f, dW(l) + static_cast<std::size_t>(j0) * in, in);
      std::fill(g + j0, g + j0 + n, 0.0f);
      for (int r = 0; r < B; ++r) {
        const float* d = D + static_cast<std::size_t>(r) * out;
        for (int j = j0; j < j0 + n; ++j) g[j] += d[j];
      }
    });
    if (l > 0) {
      float* Dprev = deltas_[static_cast<std::size_t>(l) - 1].data();  // [B, in]
      // Dprev[B, in] = D[B, out] * W[out, in], then times f'(a) of layer l-1
      const float* Wd = columns_.weights
                            ? columns_.weights + layout_.w_offset[static_cast<std::size_t>(l)]
                            : W(l);
      if (accumulation_.acc[1].is_blas())
        gemm_row_blocks(false, B, in, out, D, out, Wd, in, Dprev, in, kRowBlock);
      else
        accumulate_gemm(GemmKind::backward_data, l, D, Wd, Dprev, B, in, out);
      multiply_derivative(Dprev, acts_[static_cast<std::size_t>(l) - 1].data(),
                          static_cast<long>(B) * in, activation_);
    }
  }
}

int Mlp::count_correct(int B, const std::uint8_t* y) const {
  const int C = layout_.classes();
  const float* logits = acts_.back().data();
  int hits = 0;
  for (int r = 0; r < B; ++r)
    hits += argmax_row(logits + static_cast<std::size_t>(r) * C, C) == y[r] ? 1 : 0;
  return hits;
}

// ---- weight update -------------------------------------------------------------------------

namespace {
// The update with the step scale * step[i] (formats.hpp: subtract_round does the subtraction,
// the rounding and the lost-update count in one pass). `r` may replace the weights' rounding
// by its hook and give the master copy a format of its own.
std::uint64_t update(std::span<float> working, std::span<float> master, std::span<const float> step,
                     float scale, bool round, const UpdateRounding& r, StochasticKey key,
                     QuantizeStats* stats, QuantizeStats* master_stats = nullptr) {
  QuantizeStats qs;
  QuantizeStats* count = stats ? &qs : nullptr;  // counting overflow/underflow costs a little
  const bool hook = round && r.weights_hook;
  std::uint64_t lost = 0;
  if (master.empty()) {
    lost = subtract_round(working, step, scale, round && !hook ? r.format : Format{}, r.mode, key,
                          count);
    if (hook) r.weights_hook(working);
  } else {
    // Mixed precision: the master receives the update (lost only to fp32 swamping, or to its
    // own format's rounding), the working copy is re-rounded from it.
    if (r.master_hook) {
      lost = subtract_round(master, step, scale, Format{}, r.master_mode, r.master_key);
      r.master_hook(master);
    } else {
      lost = subtract_round(master, step, scale, r.master_format, r.master_mode, r.master_key,
                            r.master_format.is_identity() ? nullptr : master_stats);
    }
    if (round) {
      std::copy(master.begin(), master.end(), working.begin());
      if (hook) r.weights_hook(working);
      else quantize(working, r.format, r.mode, key, count);
    }
  }
  if (stats) *stats += qs;
  return lost;
}
}  // namespace

std::uint64_t apply_update(std::span<float> working, std::span<float> master,
                           std::span<const float> step, bool round, const Format& fmt,
                           Rounding mode, StochasticKey key, QuantizeStats* stats) {
  if (step.size() != working.size() || (!master.empty() && master.size() != working.size()))
    throw std::invalid_argument("apply_update: buffer sizes differ");
  UpdateRounding r;
  r.format = fmt;
  r.mode = mode;
  return update(working, master, step, 1.0f, round, r, key, stats);  // 1 * s is exact
}

namespace {
// v <- mu v + (g + wd x), the momentum buffer alone (its rounding comes before d = v is used).
void form_velocity(const float* g, float* v, const float* x, long n, float mu, float wd) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (long i = 0; i < n; ++i) v[i] = mu * v[i] + (g[i] + wd * x[i]);
}
}  // namespace

UpdateCounts sgd_update(std::span<float> working, std::span<float> master, std::span<float> grads,
                        std::span<float> velocity, const SgdStep& sgd,
                        const UpdateRounding& rounding) {
  if (grads.size() != working.size() || (!master.empty() && master.size() != working.size()) ||
      (sgd.momentum != 0.0f && velocity.size() != working.size()))
    throw std::invalid_argument("sgd_update: buffer sizes differ");
  const long n = static_cast<long>(grads.size());
  float* g = grads.data();    // [n] gradient in, d or the step out
  float* v = velocity.data(); // [n] when momentum > 0
  const float* x = master.empty() ? working.data() : master.data();  // [n]
  const float mu = sgd.momentum, wd = sgd.weight_decay, lr = sgd.lr;
  UpdateCounts out;
  const bool round_v = mu != 0.0f && static_cast<bool>(rounding.velocity_hook);
  if (rounding.step) {
    // The step lr * d formed in place, rounded into the format, applied with scale 1.
    if (round_v) {
      form_velocity(g, v, x, n, mu, wd);
      rounding.velocity_hook(velocity);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
      for (long i = 0; i < n; ++i) g[i] = lr * v[i];
    } else if (mu != 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
      for (long i = 0; i < n; ++i) {
        v[i] = mu * v[i] + (g[i] + wd * x[i]);
        g[i] = lr * v[i];
      }
    } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
      for (long i = 0; i < n; ++i) g[i] = lr * (g[i] + wd * x[i]);
    }
    if (rounding.step_hook) rounding.step_hook(grads);
    else quantize(grads, rounding.format, rounding.mode, rounding.step_key, &out.step);
    out.lost = update(working, master, grads, 1.0f, rounding.weights, rounding,
                      rounding.weights_key, &out.weights, &out.master);
    return out;
  }
  // d formed in place when it is not g itself; the scale lr is applied inside the update pass.
  if (round_v) {
    form_velocity(g, v, x, n, mu, wd);
    rounding.velocity_hook(velocity);
    std::copy(v, v + n, g);
  } else if (mu != 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (long i = 0; i < n; ++i) g[i] = v[i] = mu * v[i] + (g[i] + wd * x[i]);
  } else if (wd != 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (long i = 0; i < n; ++i) g[i] = g[i] + wd * x[i];
  }
  out.lost = update(working, master, grads, lr, rounding.weights, rounding, rounding.weights_key,
                    &out.weights, &out.master);
  return out;
}

Activation parse_activation(std::string_view text) {
  std::string s(text);  // case-insensitive: "ReLU", "Tanh" (PyTorch's class names)
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "sigmoid") return Activation::sigmoid;
  if (s == "tanh") return Activation::tanh;
  if (s == "relu") return Activation::relu;
  throw InputError("unknown activation '" + std::string(text) +
                   "' (expected sigmoid, tanh or relu)");
}

std::string to_string(Activation a) {
  switch (a) {
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
    case Activation::relu: return "relu";
  }
  return "?";
}

}  // namespace precsweep
