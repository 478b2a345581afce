// Rounding-error bounds for the error-scaling measurement, propagated layer by layer per sample
// (derivation and constants: docs/theory.md, "Bounds"), the log-linear fit, spectral norms,
// and the parsing of format lists.
// Deliberately leaves out: componentwise (per-unit) bounds — every bound here is normwise in the
// 2-norm of one sample's vector, then aggregated over samples.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "blas_blocks.hpp"
#include "errorscale_internal.hpp"
#include "precsweep/error.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Rows' 2-norms and largest |entry| of M [rows, cols].
std::vector<double> row_norms(const std::vector<double>& M, int rows, int cols) {
  std::vector<double> n(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    for (int j = 0; j < cols; ++j) s += M[static_cast<std::size_t>(r) * cols + j] * M[static_cast<std::size_t>(r) * cols + j];
    n[static_cast<std::size_t>(r)] = std::sqrt(s);
  }
  return n;
}
std::vector<double> row_max_abs(const std::vector<double>& M, int rows, int cols) {
  std::vector<double> n(static_cast<std::size_t>(rows), 0.0);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j)
      n[static_cast<std::size_t>(r)] =
          std::max(n[static_cast<std::size_t>(r)], std::fabs(M[static_cast<std::size_t>(r) * cols + j]));
  return n;
}
double fro(const std::vector<double>& M) {
  double s = 0;
  for (double v : M) s += v * v;
  return std::sqrt(s);
}
std::vector<double> absolute(const double* p, std::size_t n) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::fabs(p[i]);
  return out;
}

// a*b with 0*inf = 0 (an infinite gamma_n times an exactly zero factor).
double mul(double a, double b) { return a == 0 || b == 0 ? 0.0 : a * b; }

// Lipschitz constants: L_f of the activation (global), L'_a of f' as a function of the stored
// activation a (Mlp computes sigmoid' = a(1-a), tanh' = 1-a^2): |1-2a| <= 1 on [0,1], |2a| <= 2
// on [-1,1]; relu' is a step, taken as 0 (first order: no unit changes sign).
double lip_f(Activation a) { return a == Activation::sigmoid ? 0.25 : 1.0; }
double lip_fprime_of_a(Activation a) {
  switch (a) {
    case Activation::sigmoid: return 1.0;
    case Activation::tanh: return 2.0;
    case Activation::relu: return 0.0;
  }
  return 0.0;
}

}  // namespace

double unit_roundoff(const Format& fmt, Rounding mode) {
  if (fmt.kind != Format::Kind::floating) return kNaN;
  return std::ldexp(1.0, -(fmt.man_bits + (mode == Rounding::nearest_even ? 1 : 0)));
}

double gamma_n(double n, double u) {
  const double nu = n * u;
  return nu < 1.0 ? nu / (1.0 - nu) : std::numeric_limits<double>::infinity();
}

double spectral_norm(const double* W, int rows, int cols) {
  // v <- W^T W v / ||W^T W v||; sigma = sqrt(||W^T W v||) for unit v. Start vector: positive
  // pseudo-random entries (not orthogonal to the top singular vector of a nonnegative |W|, and
  // almost surely not of W).
  const std::uint64_t key = rng::key(0x5EC7, 0x0001);
  std::vector<double> v(static_cast<std::size_t>(cols)), w(static_cast<std::size_t>(rows));
  double norm = 0;
  for (int k = 0; k < cols; ++k) norm += (v[static_cast<std::size_t>(k)] = 0.5 + rng::uniform01(key, static_cast<std::uint64_t>(k))) * v[static_cast<std::size_t>(k)];
  norm = std::sqrt(norm);
  for (double& x : v) x /= norm;
  double sigma2 = 0;
  for (int it = 0; it < 2000; ++it) {
    double s = 0;
    blas_blocks::single_threaded([&] {  // a threaded dgemv^T would sum in thread-count order
      cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0, W, cols, v.data(), 1, 0.0,
                  w.data(), 1);
      cblas_dgemv(CblasRowMajor, CblasTrans, rows, cols, 1.0, W, cols, w.data(), 1, 0.0,
                  v.data(), 1);
      s = cblas_dnrm2(cols, v.data(), 1);
    });
    if (s == 0) return 0.0;
    for (double& x : v) x /= s;
    const bool done = std::fabs(s - sigma2) <= 1e-12 * s;
    sigma2 = s;
    if (done) break;
  }
  return std::sqrt(sigma2);
}

Fit fit_log2_linear(const std::vector<double>& values, const std::vector<int>& m,
                    const std::vector<std::int8_t>& use, std::vector<double>* residual) {
  Fit fit;
  const std::size_t F = values.size();
  double sx = 0, sy = 0;
  for (std::size_t f = 0; f < F; ++f)
    if (use[f]) {
      sx += m[f];
      sy += std::log2(values[f]);
      ++fit.n;
    }
  if (residual) residual->assign(F, kNaN);
  if (fit.n < 2) {
    fit.a = fit.b = fit.rms = fit.max_residual = kNaN;
    return fit;
  }
  const double mx = sx / fit.n, my = sy / fit.n;
  double sxx = 0, sxy = 0;
  for (std::size_t f = 0; f < F; ++f)
    if (use[f]) {
      sxx += (m[f] - mx) * (m[f] - mx);
      sxy += (m[f] - mx) * (std::log2(values[f]) - my);
    }
  if (sxx == 0) {
    fit.a = fit.b = fit.rms = fit.max_residual = kNaN;
    return fit;
  }
  fit.b = -sxy / sxx;
  fit.a = my + fit.b * mx;
  double ss = 0;
  for (std::size_t f = 0; f < F; ++f)
    if (use[f]) {
      const double r = std::log2(values[f]) - (fit.a - fit.b * m[f]);
      ss += r * r;
      fit.max_residual = std::max(fit.max_residual, std::fabs(r));
      if (residual) (*residual)[f] = r;
    }
  fit.rms = std::sqrt(ss / fit.n);
  return fit;
}

BoundInputs bound_inputs(const MlpLayout& layout, Activation, const Evaluation& ref,
                         const std::vector<double>& X, int N) {
  const int L = layout.layers();
  BoundInputs b;
  const auto Ls = static_cast<std::size_t>(L);
  for (auto* v : {&b.abs_z, &b.na, &b.nz, &b.nd, &b.g_inf, &b.abs_g}) v->resize(Ls);
  b.normW.resize(Ls);
  b.normAbsW.resize(Ls);
  for (auto* v : {&b.fro_z, &b.fro_a, &b.fro_d, &b.fro_G}) v->resize(Ls);
  b.nx = row_norms(X, N, layout.in(0));
  for (int l = 0; l < L; ++l) {
    const std::size_t li = static_cast<std::size_t>(l);
    const int in = layout.in(l), out = layout.out(l);
    const double* W = ref.params.data() + layout.w_offset[li];  // [out, in]
    const double* bias = ref.params.data() + layout.b_offset[li];
    const std::vector<double> absW = absolute(W, static_cast<std::size_t>(out) * in);  // [out, in]
    b.normW[li] = spectral_norm(W, out, in);
    b.normAbsW[li] = spectral_norm(absW.data(), out, in);
    const std::vector<double>& Ain = l == 0 ? X : ref.A[li - 1];  // [N, in]
    // |Z| bound operand: |A| |W|^T + |b|  [N, out]
    const std::vector<double> absA = absolute(Ain.data(), Ain.size());
    std::vector<double> T(static_cast<std::size_t>(N) * out, 0.0);
    blas_blocks::gemm_row_blocks(true, N, out, in, absA.data(), in, absW.data(), in, T.data(),
                                  out, kRowBlock);
    for (int r = 0; r < N; ++r)
      for (int j = 0; j < out; ++j) T[static_cast<std::size_t>(r) * out + j] += std::fabs(bias[j]);
    b.abs_z[li] = row_norms(T, N, out);
    b.na[li] = row_norms(ref.A[li], N, out);
    b.nz[li] = row_norms(ref.Z[li], N, out);
    b.nd[li] = row_norms(ref.D[li], N, out);
    b.fro_z[li] = fro(ref.Z[li]);
    b.fro_a[li] = fro(ref.A[li]);
    b.fro_d[li] = fro(ref.D[li]);
    b.fro_G[li] = fro(ref.G[li]);
    if (l > 0) {
      // g = D W [N, in] (before f'), and |D| |W| [N, in]
      std::vector<double> g(static_cast<std::size_t>(N) * in, 0.0), ga(g.size(), 0.0);
      blas_blocks::gemm_row_blocks(false, N, in, out, ref.D[li].data(), out, W, in, g.data(), in,
                                    kRowBlock);
      const std::vector<double> absD = absolute(ref.D[li].data(), ref.D[li].size());
      blas_blocks::gemm_row_blocks(false, N, in, out, absD.data(), out, absW.data(), in,
                                    ga.data(), in, kRowBlock);
      b.g_inf[li] = row_max_abs(g, N, in);
      b.abs_g[li] = row_norms(ga, N, in);
    }
  }
  return b;
}

void fill_bounds(ErrorScaleResult& res, std::size_t f, const Format& fmt,
                 const ErrorScaleConfig& cfg, const MlpLayout& layout, Activation activation,
                 const BoundInputs& bin, const std::vector<std::vector<double>>& ez,
                 const std::vector<std::vector<double>>& ea,
                 const std::vector<std::vector<double>>& ed, int N) {
  const double u = unit_roundoff(fmt, cfg.rounding);
  if (!std::isfinite(u)) return;  // fixed point: no bounds
  const int L = layout.layers();
  const auto Ls = static_cast<std::size_t>(L);
  const bool rw = cfg.apply_to & kApplyWeights, ra = cfg.apply_to & kApplyActivations,
             rg = cfg.apply_to & kApplyGradients;
  const double Lf = lip_f(activation), Lfp = lip_fprime_of_a(activation);
  // Inner-product constant for a product of length n under the three models.
  enum Model { kDet = 0, kProb = 1, kStored = 2 };
  auto phi = [&](int model, double n) {
    switch (model) {
      case kDet: return gamma_n(n, u);
      case kProb: return cfg.lambda * std::sqrt(n) * u;
      default: return u;
    }
  };
  for (int model = 0; model < 3; ++model) {
    // Per-sample absolute bounds [L][N].
    std::vector<std::vector<double>> Bz(Ls), Ba(Ls), Bd(Ls);
    for (auto* v : {&Bz, &Ba, &Bd})
      for (auto& x : *v) x.assign(static_cast<std::size_t>(N), 0.0);
    for (int r = 0; r < N; ++r) {
      const std::size_t ri = static_cast<std::size_t>(r);
      double Ea = 0;  // input is exact
      for (int l = 0; l < L; ++l) {
        const std::size_t li = static_cast<std::size_t>(l);
        // z^ - z = W (a^ - a) + dW a^ + db, |dW| <= phi |W|, |a^| <= |a| + |a^ - a|
        double Ez = mul(bin.normW[li], Ea);
        if (rw) Ez += mul(phi(model, layout.in(l) + 1.0), bin.abs_z[li][ri] + mul(bin.normAbsW[li], Ea));
        if (l + 1 < L) {
          Ea = mul(Lf, Ez);
          if (ra) Ea += u * (bin.na[li][ri] + Lf * Ez);  // ||fl(f(z^)) - f(z^)|| <= u ||f(z^)||
        } else {
          if (ra) Ez += u * (bin.nz[li][ri] + Ez);  // rounded logits
          Ea = 0.5 * Ez;  // softmax is 1/2-Lipschitz in the 2-norm (Gershgorin on its Jacobian)
        }
        Bz[li][ri] = Ez;
        Ba[li][ri] = Ea;
      }
      // delta[L-1] = (p - onehot) / N
      double Ed = Ba[Ls - 1][ri] / N;
      if (rg) Ed += u * (bin.nd[Ls - 1][ri] + Ed);
      Bd[Ls - 1][ri] = Ed;
      for (int l = L - 1; l >= 1; --l) {
        const std::size_t li = static_cast<std::size_t>(l);
        // g^ - g = W^T (d^ - d) + dW^T d^ ; delta[l-1] = f'(a[l-1]) * g
        double Eg = mul(bin.normW[li], Ed);
        if (rw) Eg += mul(phi(model, layout.out(l)), bin.abs_g[li][ri] + mul(bin.normAbsW[li], Ed));
        Ed = mul(Lf, Eg) + mul(mul(Lfp, Ba[li - 1][ri]), bin.g_inf[li][ri] + Eg);
        if (rg) Ed += u * (bin.nd[li - 1][ri] + Ed);
        Bd[li - 1][ri] = Ed;
      }
    }
    for (int l = 0; l < L; ++l) {
      const std::size_t li = static_cast<std::size_t>(l), i = f * Ls + li;
      // Aggregate: ||dX||_F^2 = sum_r ||dx_r||^2 <= sum_r B_r^2.
      auto agg = [&](const std::vector<double>& B, double fro_ref) {
        double s = 0;
        for (double v : B) s += v * v;
        return std::sqrt(s) / fro_ref;
      };
      auto worst_ratio = [&](const std::vector<double>& e, const std::vector<double>& B) {
        double w = 0;
        for (int r = 0; r < N; ++r) {
          const std::size_t ri = static_cast<std::size_t>(r);
          if (B[ri] > 0) w = std::max(w, e[ri] / B[ri]);
          else if (e[ri] > 0) w = std::numeric_limits<double>::infinity();
        }
        return w;
      };
      // dW[l] = sum_r delta_r a_{l-1,r}^T: ||dG||_F <= sum_r (Ed ||a|| + ||d|| Ea + Ed Ea).
      double BG = 0;
      for (int r = 0; r < N; ++r) {
        const std::size_t ri = static_cast<std::size_t>(r);
        const double na = l == 0 ? bin.nx[ri] : bin.na[li - 1][ri];
        const double Eap = l == 0 ? 0.0 : Ba[li - 1][ri];
        BG += mul(Bd[li][ri], na) + mul(bin.nd[li][ri], Eap) + mul(Bd[li][ri], Eap);
      }
      const double bz = agg(Bz[li], bin.fro_z[li]), ba = agg(Ba[li], bin.fro_a[li]),
                   bd = agg(Bd[li], bin.fro_d[li]), bg = BG / bin.fro_G[li];
      const double rz = worst_ratio(ez[li], Bz[li]), ra_ = worst_ratio(ea[li], Ba[li]),
                   rd = worst_ratio(ed[li], Bd[li]);
      const double rG = bg > 0 ? res.dW.rel[i] / bg
                               : (res.dW.rel[i] > 0 ? std::numeric_limits<double>::infinity() : 0.0);
      QuantitySeries* qs[4] = {&res.z, &res.a, &res.delta, &res.dW};
      const double bounds[4] = {bz, ba, bd, bg}, ratios[4] = {rz, ra_, rd, rG};
      for (int k = 0; k < 4; ++k) {
        std::vector<double>& bv = model == kDet ? qs[k]->bound_det
                                  : model == kProb ? qs[k]->bound_prob
                                                   : qs[k]->bound_stored;
        std::vector<double>& rv = model == kDet ? qs[k]->ratio_det
                                  : model == kProb ? qs[k]->ratio_prob
                                                   : qs[k]->ratio_stored;
        bv[i] = bounds[k];
        rv[i] = ratios[k];
      }
    }
  }
}

// ---- configuration ---------------------------------------------------------------------------

void ErrorScaleConfig::validate() const {
  if (formats.empty()) throw InputError("errorscale: --formats lists no format");
  if (apply_to == 0 || (apply_to & ~(kApplyWeights | kApplyActivations | kApplyGradients)))
    throw InputError("errorscale: --apply-to must be a comma list of weights, activations, "
                     "gradients (got '" + apply_to_string(apply_to) + "')");
  if (!(lambda > 0) || !std::isfinite(lambda))
    throw InputError("errorscale: lambda must be a positive number");
  if (!(saturation > 0) || !(floor_factor >= 1))
    throw InputError("errorscale: saturation must be > 0 and floor factor >= 1");
}

std::vector<Format> parse_format_list(std::string_view text) {
  std::vector<Format> out;
  const std::size_t dots = text.find("..");
  if (dots != std::string_view::npos) {
    const std::string lo_text(text.substr(0, dots)), hi_text(text.substr(dots + 2));
    const Format lo = parse_format(lo_text), hi = parse_format(hi_text);
    if (lo.kind != Format::Kind::floating || hi.kind != Format::Kind::floating ||
        lo.exp_bits != hi.exp_bits || lo.man_bits > hi.man_bits ||
        lo.subnormals != hi.subnormals || lo.saturate != hi.saturate || lo.encoding != Encoding::ieee ||
        hi.encoding != Encoding::ieee)
      throw InputError("--formats: range '" + std::string(text) +
                       "' must join two E<e>M<m> formats with the same exponent width and "
                       "increasing mantissa width, e.g. E8M2..E8M23");
    for (int m = lo.man_bits; m <= hi.man_bits; ++m) {
      Format f = lo;
      f.man_bits = m;
      out.push_back(f);
    }
    return out;
  }
  std::vector<std::string> items;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    std::string item(text.substr(pos, comma - pos));
    if (item.empty()) throw InputError("--formats: empty item in '" + std::string(text) + "'");
    if ((item == "no-subnormals" || item == "saturate") && !items.empty())
      items.back() += "," + item;
    else
      items.push_back(item);
    pos = comma + 1;
  }
  for (const std::string& item : items) out.push_back(parse_format(item));
  return out;
}

}  // namespace precsweep
