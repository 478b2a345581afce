// Error-scaling measurement (issue 8): evaluates a stored network in double twice per format —
// once as stored (the reference) and once with the policy's tensors rounded into the format —
// and records per-layer relative errors, bounds (src/errorscale_bounds.cpp) and log-linear fits.
// Conventions and the bound derivation: docs/theory.md.
// Deliberately leaves out: the float fast path (Mlp), whose arithmetic noise (~1e-7) would
// swamp the errors of the widest formats; arithmetic in the format (only stored values are
// rounded, as in the trainer).
#include "precsweep/errorscale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "blas_blocks.hpp"
#include "errorscale_internal.hpp"
#include "precsweep/error.hpp"
#include "precsweep/mlp.hpp"

namespace precsweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint64_t kStreamWeights = 0xE5C0, kStreamActs = 0xE5C1, kStreamDeltas = 0xE5C2;

// Rounds a double tensor into `fmt`: to binary32 (nearest), then quantize() — so every format
// the library knows (fixed point, no-subnormals, stochastic) is handled by the one kernel. The
// binary32 step adds at most 2^-24 relative, below the unit roundoff of every format but fp32.
void round_tensor(std::vector<double>& x, const Format& fmt, Rounding mode, StochasticKey key,
                  std::vector<float>& scratch) {
  scratch.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) scratch[i] = static_cast<float>(x[i]);
  quantize(scratch, fmt, mode, key);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = scratch[i];
}

double act(Activation a, double z) {
  switch (a) {
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::tanh: return std::tanh(z);
    case Activation::relu: return z > 0.0 ? z : 0.0;
  }
  return 0.0;
}
// f' through the stored activation, as Mlp::backward computes it.
double act_derivative(Activation a, double out) {
  switch (a) {
    case Activation::sigmoid: return out * (1.0 - out);
    case Activation::tanh: return 1.0 - out * out;
    case Activation::relu: return out > 0.0 ? 1.0 : 0.0;
  }
  return 0.0;
}

struct Policy {
  const Format* fmt = nullptr;  // null: the reference (nothing rounded)
  Rounding mode = Rounding::toward_zero;
  unsigned apply_to = 0;
  std::uint64_t seed = 1;
  bool rounds(unsigned flag) const { return fmt && (apply_to & flag); }
  StochasticKey key(std::uint64_t stream, int layer) const {
    return {seed, stream * 64 + static_cast<std::uint64_t>(layer), 0};
  }
};

// Sum of squares of row r of M [rows, cols].
double row_sq(const std::vector<double>& M, int r, int cols) {
  double s = 0;
  const double* p = M.data() + static_cast<std::size_t>(r) * cols;
  for (int j = 0; j < cols; ++j) s += p[j] * p[j];
  return s;
}

}  // namespace

// ---- one evaluation in double ---------------------------------------------------------------

Evaluation evaluate_network(const MlpLayout& layout, Activation activation,
                            const std::vector<double>& params, const std::vector<double>& X,
                            const std::uint8_t* y, int N, const Format* fmt, Rounding mode,
                            unsigned apply_to, std::uint64_t seed) {
  Policy p{fmt, mode, apply_to, seed};
  const int L = layout.layers();
  Evaluation e;
  e.params = params;
  std::vector<float> scratch;
  if (p.rounds(kApplyWeights)) round_tensor(e.params, *fmt, mode, p.key(kStreamWeights, 0), scratch);
  e.Z.resize(static_cast<std::size_t>(L));
  e.A.resize(static_cast<std::size_t>(L));
  e.D.resize(static_cast<std::size_t>(L));
  e.G.resize(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) {
    const int in = layout.in(l), out = layout.out(l);
    const double* W = e.params.data() + layout.w_offset[static_cast<std::size_t>(l)];  // [out, in]
    const double* b = e.params.data() + layout.b_offset[static_cast<std::size_t>(l)];  // [out]
    const std::vector<double>& Ain = l == 0 ? X : e.A[static_cast<std::size_t>(l) - 1];  // [N, in]
    std::vector<double>& Z = e.Z[static_cast<std::size_t>(l)];  // [N, out]
    Z.assign(static_cast<std::size_t>(N) * out, 0.0);
    // Z[N, out] = Ain[N, in] W[out, in]^T + b
    blas_blocks::gemm_row_blocks(true, N, out, in, Ain.data(), in, W, in, Z.data(), out,
                                  kRowBlock);
    for (int r = 0; r < N; ++r)
      for (int j = 0; j < out; ++j) Z[static_cast<std::size_t>(r) * out + j] += b[j];
    std::vector<double>& A = e.A[static_cast<std::size_t>(l)];  // [N, out]
    if (l + 1 < L) {
      A.resize(Z.size());
      for (std::size_t i = 0; i < Z.size(); ++i) A[i] = act(activation, Z[i]);
      if (p.rounds(kApplyActivations)) round_tensor(A, *fmt, mode, p.key(kStreamActs, l), scratch);
    } else {
      // The trainer's hook rounds the logits; softmax itself is exact here.
      if (p.rounds(kApplyActivations)) round_tensor(Z, *fmt, mode, p.key(kStreamActs, l), scratch);
      A = Z;
      for (int r = 0; r < N; ++r) {
        double* z = A.data() + static_cast<std::size_t>(r) * out;
        double m = z[0], s = 0.0;
        for (int j = 1; j < out; ++j) m = std::max(m, z[j]);
        for (int j = 0; j < out; ++j) s += (z[j] = std::exp(z[j] - m));
        for (int j = 0; j < out; ++j) z[j] /= s;
      }
    }
  }
  // Backward: D[L-1] = (P - onehot(y)) / N; D[l-1] = (D[l] W[l]) * f'(A[l-1]); G[l] = D[l]^T A[l-1].
  {
    const int C = layout.classes();
    std::vector<double>& D = e.D.back();
    D = e.A.back();
    for (int r = 0; r < N; ++r) {
      D[static_cast<std::size_t>(r) * C + y[r]] -= 1.0;
      for (int j = 0; j < C; ++j) D[static_cast<std::size_t>(r) * C + j] /= N;
    }
  }
  for (int l = L - 1; l >= 0; --l) {
    const int in = layout.in(l), out = layout.out(l);
    std::vector<double>& D = e.D[static_cast<std::size_t>(l)];  // [N, out]
    if (p.rounds(kApplyGradients)) round_tensor(D, *fmt, mode, p.key(kStreamDeltas, l), scratch);
    const std::vector<double>& Ain = l == 0 ? X : e.A[static_cast<std::size_t>(l) - 1];  // [N, in]
    std::vector<double>& G = e.G[static_cast<std::size_t>(l)];  // [out, in]
    G.assign(static_cast<std::size_t>(out) * in, 0.0);
    blas_blocks::dgemm_tn_row_blocks(out, in, N, D.data(), out, Ain.data(), in, G.data(), in,
                                     kOutBlock);
    if (l > 0) {
      const double* W = e.params.data() + layout.w_offset[static_cast<std::size_t>(l)];
      std::vector<double>& Dp = e.D[static_cast<std::size_t>(l) - 1];  // [N, in]
      Dp.assign(static_cast<std::size_t>(N) * in, 0.0);
      blas_blocks::gemm_row_blocks(false, N, in, out, D.data(), out, W, in, Dp.data(), in,
                                    kRowBlock);
      for (std::size_t i = 0; i < Dp.size(); ++i) Dp[i] *= act_derivative(activation, Ain[i]);
    }
  }
  return e;
}

// ---- comparison ------------------------------------------------------------------------------

namespace {

// rel = ||Q - R||_F / ||R||_F; worst = max_r ||q_r - r_r|| / ||r_r||; per-row errors into err.
void compare(const std::vector<double>& Q, const std::vector<double>& R, int rows, int cols,
             double* rel, double* worst, std::vector<double>* err) {
  double num = 0, den = 0, w = 0;
  if (err) err->assign(static_cast<std::size_t>(rows), 0.0);
  for (int r = 0; r < rows; ++r) {
    double n2 = 0;
    const std::size_t o = static_cast<std::size_t>(r) * cols;
    for (int j = 0; j < cols; ++j) {
      const double d = Q[o + j] - R[o + j];
      n2 += d * d;
    }
    const double d2 = row_sq(R, r, cols);
    num += n2;
    den += d2;
    if (d2 > 0) w = std::max(w, std::sqrt(n2 / d2));
    else if (n2 > 0) w = std::numeric_limits<double>::infinity();
    if (err) (*err)[static_cast<std::size_t>(r)] = std::sqrt(n2);
  }
  *rel = den > 0 ? std::sqrt(num / den) : (num > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  *worst = w;
}

void init_series(QuantitySeries& q, const char* name, std::size_t F, std::size_t L) {
  q.name = name;
  for (auto* v : {&q.rel, &q.worst, &q.amplification, &q.bound_det, &q.bound_prob,
                  &q.bound_stored, &q.ratio_det, &q.ratio_prob, &q.ratio_stored, &q.residual})
    v->assign(F * L, kNaN);
  q.floor_rel.assign(L, kNaN);
  q.used.assign(F * L, 0);
  q.fits.assign(L, Fit{});
}

int argmax_row(const std::vector<double>& P, int r, int C) {
  const double* p = P.data() + static_cast<std::size_t>(r) * C;
  return static_cast<int>(std::max_element(p, p + C) - p);
}

}  // namespace

// ---- driver ----------------------------------------------------------------------------------

ErrorScaleResult measure_error_scaling(const StoredNetwork& net, const float* X,
                                       const std::uint8_t* y, int N, const ErrorScaleConfig& cfg) {
  cfg.validate();
  const MlpLayout layout(net.sizes);
  if (net.params.size() != layout.count)
    throw InputError("errorscale: network has " + std::to_string(net.params.size()) +
                     " parameters, layer sizes need " + std::to_string(layout.count));
  if (N < 1) throw InputError("errorscale: need at least one sample");
  for (int r = 0; r < N; ++r)
    if (y[r] >= layout.classes())
      throw InputError("errorscale: label " + std::to_string(y[r]) + " of sample " +
                       std::to_string(r) + " is not below " + std::to_string(layout.classes()));
  const int L = layout.layers();
  const std::size_t F = cfg.formats.size(), Ls = static_cast<std::size_t>(L);

  const std::vector<double> P(net.params.begin(), net.params.end());
  const std::vector<double> Xd(X, X + static_cast<std::size_t>(N) * layout.in(0));  // [N, in]
  const Evaluation ref = evaluate_network(layout, net.activation, P, Xd, y, N, nullptr,
                                          cfg.rounding, 0, cfg.seed);
  const BoundInputs bin = bound_inputs(layout, net.activation, ref, Xd, N);

  ErrorScaleResult res;
  res.formats = cfg.formats;
  res.samples = N;
  res.layers = L;
  init_series(res.z, "z", F, Ls);
  init_series(res.a, "a", F, Ls);
  init_series(res.delta, "delta", F, Ls);
  init_series(res.dW, "dW", F, Ls);
  res.changed_fraction.assign(F, kNaN);
  res.accuracy.assign(F, kNaN);
  const int C = layout.classes();
  int hits = 0;
  for (int r = 0; r < N; ++r) hits += argmax_row(ref.A.back(), r, C) == y[r];
  res.reference_accuracy = static_cast<double>(hits) / N;

  // Measures one format into row f of every series (f = F: the fp32 floor, into floor_rel).
  const Format fp32 = parse_format("fp32");
  for (std::size_t f = 0; f <= F; ++f) {
    const bool floor_run = f == F;
    const Format& fmt = floor_run ? fp32 : cfg.formats[f];
    const Evaluation q = evaluate_network(layout, net.activation, P, Xd, y, N, &fmt, cfg.rounding,
                                          cfg.apply_to, cfg.seed);
    std::vector<std::vector<double>> ez(Ls), ea(Ls), ed(Ls);  // [L][N] per-sample errors
    for (int l = 0; l < L; ++l) {
      const std::size_t i = f * Ls + static_cast<std::size_t>(l), li = static_cast<std::size_t>(l);
      const int out = layout.out(l);
      double rel[4], worst[4];
      compare(q.Z[li], ref.Z[li], N, out, &rel[0], &worst[0], &ez[li]);
      compare(q.A[li], ref.A[li], N, out, &rel[1], &worst[1], &ea[li]);
      compare(q.D[li], ref.D[li], N, out, &rel[2], &worst[2], &ed[li]);
      compare(q.G[li], ref.G[li], 1, out * layout.in(l), &rel[3], &worst[3], nullptr);
      QuantitySeries* qs[4] = {&res.z, &res.a, &res.delta, &res.dW};
      for (int k = 0; k < 4; ++k) {
        if (floor_run) {
          qs[k]->floor_rel[li] = rel[k];
        } else {
          qs[k]->rel[i] = rel[k];
          qs[k]->worst[i] = worst[k];
        }
      }
    }
    if (floor_run) break;
    int changed = 0, qhits = 0;
    for (int r = 0; r < N; ++r) {
      const int c = argmax_row(q.A.back(), r, C);
      changed += c != argmax_row(ref.A.back(), r, C);
      qhits += c == y[r];
    }
    res.changed_fraction[f] = static_cast<double>(changed) / N;
    res.accuracy[f] = static_cast<double>(qhits) / N;
    fill_bounds(res, f, fmt, cfg, layout, net.activation, bin, ez, ea, ed, N);
  }

  // Per-format metadata, amplification, fits.
  res.man_bits.assign(F, -1);
  res.u.assign(F, kNaN);
  for (std::size_t f = 0; f < F; ++f) {
    if (cfg.formats[f].kind == Format::Kind::floating) res.man_bits[f] = cfg.formats[f].man_bits;
    res.u[f] = unit_roundoff(cfg.formats[f], cfg.rounding);
  }
  for (QuantitySeries* q : {&res.z, &res.a, &res.delta, &res.dW}) {
    const bool backward = q == &res.delta || q == &res.dW;
    for (std::size_t f = 0; f < F; ++f)
      for (int l = 0; l < L; ++l) {
        const int prev = backward ? l + 1 : l - 1;
        if (prev < 0 || prev >= L) continue;
        const double den = q->rel[f * Ls + static_cast<std::size_t>(prev)];
        if (den > 0) q->amplification[f * Ls + static_cast<std::size_t>(l)] =
            q->rel[f * Ls + static_cast<std::size_t>(l)] / den;
      }
    for (int l = 0; l < L; ++l) {
      const std::size_t li = static_cast<std::size_t>(l);
      std::vector<double> vals(F), resid;
      std::vector<std::int8_t> use(F, 0);
      for (std::size_t f = 0; f < F; ++f) {
        const double v = q->rel[f * Ls + li];
        vals[f] = v;
        use[f] = res.man_bits[f] >= 0 && std::isfinite(v) && v > 0 && v < cfg.saturation &&
                 !(v <= cfg.floor_factor * q->floor_rel[li]);
      }
      q->fits[li] = fit_log2_linear(vals, res.man_bits, use, &resid);
      for (std::size_t f = 0; f < F; ++f) {
        q->used[f * Ls + li] = use[f];
        q->residual[f * Ls + li] = resid[f];
      }
    }
  }
  return res;
}

}  // namespace precsweep
