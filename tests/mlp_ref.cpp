// The MLP's frozen reference: see mlp_ref.hpp.
#include "mlp_ref.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace precsweep {

namespace {
double ref_act(Activation a, double z) {
  switch (a) {
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::tanh: return std::tanh(z);
    case Activation::relu: return z > 0.0 ? z : 0.0;
  }
  return 0.0;
}
double ref_act_derivative(Activation a, double out) {
  switch (a) {
    case Activation::sigmoid: return out * (1.0 - out);
    case Activation::tanh: return 1.0 - out * out;
    case Activation::relu: return out > 0.0 ? 1.0 : 0.0;
  }
  return 0.0;
}
}  // namespace

std::vector<std::vector<double>> forward_ref(const MlpLayout& layout, Activation activation,
                                             std::span<const double> params, const float* X,
                                             int B) {
  const int L = layout.layers();
  std::vector<std::vector<double>> outs(static_cast<std::size_t>(L));
  std::vector<double> A(X, X + static_cast<std::size_t>(B) * layout.in(0));
  for (int l = 0; l < L; ++l) {
    const int in = layout.in(l), out = layout.out(l);
    const double* Wl = params.data() + layout.w_offset[static_cast<std::size_t>(l)];
    const double* bl = params.data() + layout.b_offset[static_cast<std::size_t>(l)];
    std::vector<double> Z(static_cast<std::size_t>(B) * out);
    for (int r = 0; r < B; ++r)
      for (int j = 0; j < out; ++j) {
        double z = bl[j];
        for (int k = 0; k < in; ++k)
          z += A[static_cast<std::size_t>(r) * in + k] * Wl[static_cast<std::size_t>(j) * in + k];
        Z[static_cast<std::size_t>(r) * out + j] = l + 1 < L ? ref_act(activation, z) : z;
      }
    if (l + 1 == L) {  // softmax
      for (int r = 0; r < B; ++r) {
        double* z = Z.data() + static_cast<std::size_t>(r) * out;
        double m = z[0], s = 0.0;
        for (int j = 1; j < out; ++j) m = std::max(m, z[j]);
        for (int j = 0; j < out; ++j) s += (z[j] = std::exp(z[j] - m));
        for (int j = 0; j < out; ++j) z[j] /= s;
      }
    }
    outs[static_cast<std::size_t>(l)] = Z;
    A = std::move(Z);
  }
  return outs;
}

// Target T[r, j] of the (smoothed) cross-entropy.
static double target(int j, int label, int C, double eps) {
  return (j == label ? 1.0 - eps : 0.0) + eps / C;
}

double loss_ref(const MlpLayout& layout, const std::vector<std::vector<double>>& outputs,
                const std::uint8_t* y, int B, double eps) {
  const int C = layout.classes();
  double sum = 0.0;
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < C; ++j) {
      const double t = target(j, y[r], C, eps);
      if (t != 0.0) sum -= t * std::log(outputs.back()[static_cast<std::size_t>(r) * C + j]);
    }
  return sum / B;
}

std::vector<double> backward_ref(const MlpLayout& layout, Activation activation,
                                 std::span<const double> params,
                                 const std::vector<std::vector<double>>& outputs, const float* X,
                                 const std::uint8_t* y, int B, double eps) {
  const int L = layout.layers();
  std::vector<double> grad(layout.count, 0.0);
  // delta of the last layer: (P - T) / B
  std::vector<double> D = outputs.back();
  const int C = layout.classes();
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < C; ++j) {
      D[static_cast<std::size_t>(r) * C + j] -= target(j, y[r], C, eps);
      D[static_cast<std::size_t>(r) * C + j] /= B;
    }
  for (int l = L - 1; l >= 0; --l) {
    const int in = layout.in(l), out = layout.out(l);
    const double* Wl = params.data() + layout.w_offset[static_cast<std::size_t>(l)];
    double* gW = grad.data() + layout.w_offset[static_cast<std::size_t>(l)];
    double* gb = grad.data() + layout.b_offset[static_cast<std::size_t>(l)];
    auto a_prev = [&](int r, int k) -> double {
      return l == 0 ? static_cast<double>(X[static_cast<std::size_t>(r) * in + k])
                    : outputs[static_cast<std::size_t>(l) - 1][static_cast<std::size_t>(r) * in + k];
    };
    for (int j = 0; j < out; ++j)
      for (int r = 0; r < B; ++r) {
        const double d = D[static_cast<std::size_t>(r) * out + j];
        gb[j] += d;
        for (int k = 0; k < in; ++k) gW[static_cast<std::size_t>(j) * in + k] += d * a_prev(r, k);
      }
    if (l > 0) {
      std::vector<double> Dprev(static_cast<std::size_t>(B) * in, 0.0);
      for (int r = 0; r < B; ++r)
        for (int k = 0; k < in; ++k) {
          double s = 0.0;
          for (int j = 0; j < out; ++j)
            s += D[static_cast<std::size_t>(r) * out + j] * Wl[static_cast<std::size_t>(j) * in + k];
          Dprev[static_cast<std::size_t>(r) * in + k] = s * ref_act_derivative(activation, a_prev(r, k));
        }
      D = std::move(Dprev);
    }
  }
  return grad;
}

}  // namespace precsweep
