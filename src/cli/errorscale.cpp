// `precsweep errorscale`: how the rounding error of a format propagates through a stored network
// (issue 8). Reads the network from a results file (`train --save-weights --out run.h5`), runs
// the measurement on the first N test images, prints per-format and per-layer tables and the
// fits, and optionally writes the HDF5 error-scaling file (docs/results-format.md).
// All flags and the weights file are checked before the data is read; --out is refused if it
// exists. Deliberately leaves out: plotting (analysis/errorscale.py).
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/errorscale.hpp"
#include "precsweep/new_output.hpp"
#include "precsweep/weights.hpp"

namespace precsweep::cli {
namespace {

struct ErrorScaleArgs {
  std::string weights;
  std::string point;
  std::string formats = "E8M2..E8M23";
  std::string rounding = "toward_zero";
  std::string apply_to = "weights";
  int samples = 1000;
  std::string dataset = "mnist";
  std::string data_dir;
  std::string out;
  double lambda = 1.0;
  std::uint64_t seed = 1;
  int threads = 1;
};

void print_series(const ErrorScaleResult& r, const QuantitySeries& q, const char* title) {
  const int L = r.layers;
  std::printf("\n%s: relative error ||X_q - X||_F / ||X||_F per layer (* = not in fit)\n", title);
  std::printf("%-16s", "format");
  for (int l = 0; l < L; ++l) std::printf("   layer %-5d", l);
  std::printf("\n");
  for (std::size_t f = 0; f < r.formats.size(); ++f) {
    std::printf("%-16s", r.formats[f].name().c_str());
    for (int l = 0; l < L; ++l) {
      const std::size_t i = f * static_cast<std::size_t>(L) + static_cast<std::size_t>(l);
      std::printf("   %10.3e%c", q.rel[i], q.used[i] ? ' ' : '*');
    }
    std::printf("\n");
  }
  std::printf("%-16s", "fit b (slope)");
  for (const Fit& fit : q.fits) std::printf("   %10.3f ", fit.b);
  std::printf("\n%-16s", "fit a");
  for (const Fit& fit : q.fits) std::printf("   %10.3f ", fit.a);
  std::printf("\n%-16s", "fit rms resid");
  for (const Fit& fit : q.fits) std::printf("   %10.3f ", fit.rms);
  std::printf("\n%-16s", "fit points");
  for (const Fit& fit : q.fits) std::printf("   %10d ", fit.n);
  // Largest measured/bound ratio over the formats, per layer (<= 1: the bound held).
  const std::vector<double>* ratios[3] = {&q.ratio_det, &q.ratio_prob, &q.ratio_stored};
  const char* names[3] = {"max/bound det", "max/bound prob", "max/bound strd"};
  for (int k = 0; k < 3; ++k) {
    std::printf("\n%-16s", names[k]);
    for (int l = 0; l < L; ++l) {
      double w = 0;
      for (std::size_t f = 0; f < r.formats.size(); ++f) {
        const double v = (*ratios[k])[f * static_cast<std::size_t>(L) + static_cast<std::size_t>(l)];
        if (std::isfinite(v) || std::isinf(v)) w = std::max(w, v);
      }
      std::printf("   %10.3e ", w);
    }
  }
  std::printf("\n");
}

int run_errorscale(const ErrorScaleArgs& args) {
  ErrorScaleConfig cfg;
  cfg.formats = parse_format_list(args.formats);
  cfg.rounding = parse_rounding(args.rounding);
  cfg.apply_to = parse_apply_to(args.apply_to);
  cfg.lambda = args.lambda;
  cfg.seed = args.seed;
  cfg.validate();
  if (args.samples < 1) throw InputError("--samples must be >= 1, got " + std::to_string(args.samples));
  if (args.threads < 1) throw InputError("--threads must be >= 1, got " + std::to_string(args.threads));
  if (!args.out.empty()) check_new_output(args.out, "--out");  // written at the end, via a temp name
  const StoredNetwork net = read_weights(args.weights, args.point);
  const DatasetPair data = load_dataset(args.dataset, args.data_dir);
  if (data.test.dim != net.sizes.front() || data.test.classes != net.sizes.back())
    throw InputError("--weights: network " + std::to_string(net.sizes.front()) + " inputs / " +
                     std::to_string(net.sizes.back()) + " classes does not match dataset '" +
                     data.name + "' (" + std::to_string(data.test.dim) + " / " +
                     std::to_string(data.test.classes) + ")");
  const int N = std::min(args.samples, data.test.n);
  omp_set_num_threads(args.threads);

  std::string shape;
  for (int s : net.sizes) shape += (shape.empty() ? "" : "-") + std::to_string(s);
  std::printf("errorscale: %s %s %s samples=%d formats=%zu rounding=%s apply_to=%s "
              "reference=double\n",
              args.weights.c_str(), shape.c_str(), to_string(net.activation).c_str(), N,
              cfg.formats.size(), to_string(cfg.rounding).c_str(),
              apply_to_string(cfg.apply_to).c_str());
  std::fflush(stdout);
  const std::vector<float> X = features(data.test, 0, N);  // [N, dim]
  const ErrorScaleResult r = measure_error_scaling(net, X.data(), data.test.y.data(), N, cfg);

  std::printf("\nreference accuracy on the samples: %.4f\n", r.reference_accuracy);
  std::printf("%-16s %10s %12s %12s %10s %9s\n", "format", "u", "output rel", "output worst",
              "changed", "accuracy");
  const std::size_t last = static_cast<std::size_t>(r.layers) - 1;
  for (std::size_t f = 0; f < r.formats.size(); ++f) {
    const std::size_t i = f * static_cast<std::size_t>(r.layers) + last;
    std::printf("%-16s %10.3e %12.3e %12.3e %10.4f %9.4f\n", r.formats[f].name().c_str(), r.u[f],
                r.a.rel[i], r.a.worst[i], r.changed_fraction[f], r.accuracy[f]);
  }
  print_series(r, r.z, "forward pre-activations z");
  print_series(r, r.a, "forward activations a (last layer: output probabilities)");
  print_series(r, r.delta, "backward deltas dL/dz");
  print_series(r, r.dW, "backward weight gradients dL/dW");

  if (!args.out.empty()) {
    write_error_scaling(args.out, r, cfg, net.sizes,
                        {{"weights_file", args.weights},
                         {"point", args.point},
                         {"dataset", data.name},
                         {"activation", to_string(net.activation)},
                         {"formats_spec", args.formats}});
    std::printf("\nwrote %s\n", args.out.c_str());
  }
  return kExitOk;
}

}  // namespace

Command add_errorscale(CLI::App& root) {
  auto args = std::make_shared<ErrorScaleArgs>();
  auto* app = root.add_subcommand(
      "errorscale", "Measure how a format's rounding error propagates through a stored network");
  app->add_option("--weights", args->weights, "Results file with stored weights (train --save-weights)")
      ->required();
  app->add_option("--point", args->point, "Point id inside a sweep file's /weights group");
  app->add_option("--formats", args->formats, "E8M2..E8M23 (a range) or a comma list of formats")
      ->capture_default_str();
  app->add_option("--rounding", args->rounding, "toward_zero, nearest_even, up, down or stochastic")
      ->capture_default_str();
  app->add_option("--apply-to", args->apply_to, "Comma list of weights, activations, gradients")
      ->capture_default_str();
  app->add_option("--samples", args->samples, "Test images used (the first N)")->capture_default_str();
  app->add_option("--dataset", args->dataset, "mnist, fashion-mnist or synthetic")->capture_default_str();
  app->add_option("--data-dir", args->data_dir, "Folder with the four IDX files");
  app->add_option("--out", args->out, "Write the error-scaling HDF5 file here (must not exist)");
  app->add_option("--lambda", args->lambda, "Constant of the probabilistic bound lambda*sqrt(n)*u")
      ->capture_default_str();
  app->add_option("--seed", args->seed, "Seed for stochastic rounding")->capture_default_str()
      ->check(seed_range());
  app->add_option("--threads", args->threads, "OpenMP/BLAS threads")->capture_default_str();
  return {app, [args]() -> int { return run_errorscale(*args); }};
}

}  // namespace precsweep::cli
