// `precsweep train`: one training run from the command line. Prints a header, one progress line
// per epoch, the status, and finally `test_accuracy=<4 decimals>`. Bad flag values are
// InputErrors (exit 2, one line); a diverged run is a result (exit 0, status=diverged).
// With --out the run is also written as a one-point results file in the sweep layout
// (write_single_run, results_file.hpp: the sweep engine's code).
// Deliberately leaves out: any training logic (train.cpp) and file layout (results_file.cpp).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "precsweep/build_info.hpp"
#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/new_output.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/spec.hpp"
#include "precsweep/train.hpp"

namespace precsweep::cli {
namespace {

struct TrainArgs {
  std::string dataset = "mnist";
  std::string data_dir;
  std::string hidden = "100";
  std::string activation = "sigmoid";
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  std::string lr_schedule = "constant";
  int batch = 64;
  int epochs = 1;
  std::uint64_t seed = 1;
  std::string format = "fp32";
  std::string rounding = "toward_zero";
  std::string apply_to = "weights";
  std::string every = "batch";
  bool master_weights = false;
  int threads = 1;
  std::string out;  // --out: one-point results file, sweep layout (results_file.hpp)
  bool save_weights = false;  // --save-weights: final parameters into --out's /weights
};

// "batch" -> 1, "epoch" -> 0, "N" -> N >= 1
int parse_every(const std::string& text) {
  if (text == "batch") return 1;
  if (text == "epoch") return 0;
  int n = 0;
  if (!parse_positive_int(text, n))
    throw InputError("--every: bad value '" + text +
                     "' (expected batch, epoch or a positive number of batches)");
  return n;
}

TrainConfig to_config(const TrainArgs& a) {
  TrainConfig c;
  c.hidden = parse_hidden(a.hidden, "--hidden");
  c.activation = parse_activation(a.activation);
  c.lr = a.lr;
  c.momentum = a.momentum;
  c.weight_decay = a.weight_decay;
  c.lr_schedule = a.lr_schedule;
  c.batch = a.batch;
  c.epochs = a.epochs;
  c.seed = a.seed;
  c.format = parse_format(a.format);
  c.rounding = parse_rounding(a.rounding);
  c.apply_to = parse_apply_to(a.apply_to);
  c.every = parse_every(a.every);
  c.master_weights = a.master_weights;
  c.save_weights = a.save_weights;
  c.threads = a.threads;
  c.validate();
  return c;
}

int run_train(const TrainArgs& args) {
  const TrainConfig config = to_config(args);  // all flag errors before any data is read
  if (args.save_weights && args.out.empty())
    throw InputError("--save-weights needs --out FILE (the weights are stored in that file)");
  std::unique_ptr<NewOutput> out;  // checked now, written under a temporary name at the end
  if (!args.out.empty()) out = std::make_unique<NewOutput>(args.out, "--out");
  if (args.dataset == "mnist" || args.dataset == "fashion-mnist" || args.dataset == "synthetic") {
    const DatasetShape shape = dataset_shape(args.dataset);  // refuse before reading any data
    check_network_size(config, shape.dim, shape.classes);
    check_memory(config, shape.dim, shape.classes);
  }
  const DatasetPair data = load_dataset(args.dataset, args.data_dir);

  std::string shape = std::to_string(data.train.dim);
  for (int h : config.hidden) shape += "-" + std::to_string(h);
  shape += "-" + std::to_string(data.train.classes);
  std::printf("train: %s %s %s lr=%g momentum=%g batch=%d epochs=%d seed=%llu format=%s "
              "rounding=%s apply_to=%s every=%s%s threads=%d blas=%s\n",
              data.name.c_str(), shape.c_str(), to_string(config.activation).c_str(), config.lr,
              config.momentum, config.batch, config.epochs,
              static_cast<unsigned long long>(config.seed), config.format.name().c_str(),
              to_string(config.rounding).c_str(), apply_to_string(config.apply_to).c_str(),
              args.every.c_str(), config.master_weights ? " master_weights" : "", config.threads,
              build_info::blas_core().c_str());
  std::fflush(stdout);

  const RunResult result = train(config, data, [&](int epoch, const EpochMetrics& m) {
    std::printf("epoch %d/%d train_loss=%.4f train_acc=%.4f test_acc=%.4f lost=%.4f zero=%.4f "
                "overflow=%llu underflow=%llu time=%.2fs\n",
                epoch + 1, config.epochs, m.train_loss, m.train_accuracy, m.test_accuracy,
                m.lost_update_fraction, m.zero_fraction,
                static_cast<unsigned long long>(m.overflow),
                static_cast<unsigned long long>(m.underflow), m.wall_seconds);
    std::fflush(stdout);
    return true;
  });

  if (out) {
    try {
      write_single_run(out->temp_path(), config, args.dataset, result);
    } catch (const h5::DiskFull& e) {  // named by the file the user asked for
      throw h5::DiskFull(args.out + ": " + e.what());
    }
    out->commit();
  }

  std::printf("status=%s%s%s\n", to_string(result.status).c_str(),
              result.message.empty() ? "" : " ", result.message.c_str());
  std::printf("test_accuracy=%.4f\n", result.final_test_accuracy);
  return kExitOk;
}

}  // namespace

Command add_train(CLI::App& root) {
  auto args = std::make_shared<TrainArgs>();
  auto* app = root.add_subcommand("train", "Train one MLP with its weights rounded into a format");
  app->add_option("--dataset", args->dataset, "mnist, fashion-mnist or synthetic")
      ->capture_default_str();
  app->add_option("--data-dir", args->data_dir,
                  "Folder with the four IDX files (default: where scripts/setup put them)");
  app->add_option("--hidden", args->hidden, "Hidden widths, e.g. 100 or 256,128")
      ->capture_default_str();
  app->add_option("--activation", args->activation, "sigmoid, tanh or relu")
      ->capture_default_str();
  app->add_option("--lr", args->lr, "Learning rate (> 0)")->capture_default_str();
  app->add_option("--momentum", args->momentum, "SGD momentum in [0, 1)")->capture_default_str();
  app->add_option("--weight-decay", args->weight_decay, "L2 weight decay (>= 0)")
      ->capture_default_str();
  app->add_option("--lr-schedule", args->lr_schedule, "constant, cosine or step:<epochs>:<factor>")
      ->capture_default_str();
  app->add_option("--batch", args->batch, "Mini-batch size (>= 1)")->capture_default_str();
  app->add_option("--epochs", args->epochs, "Epochs (>= 1)")->capture_default_str();
  app->add_option("--seed", args->seed, "Seed for init, shuffling and stochastic rounding")
      ->capture_default_str()
      ->check(seed_range());
  app->add_option("--format", args->format, "Number format: fp32, E5M10, bf16, fp8-e4m3, Q8.8, ...")
      ->capture_default_str();
  app->add_option("--rounding", args->rounding,
                  "toward_zero, nearest_even, up, down or stochastic")
      ->capture_default_str();
  app->add_option("--apply-to", args->apply_to,
                  "What is rounded: comma list of weights, activations, gradients, updates")
      ->capture_default_str();
  app->add_option("--every", args->every, "Round the weights every batch, epoch or N batches")
      ->capture_default_str();
  app->add_flag("--master-weights", args->master_weights,
                "Keep fp32 master weights; round a working copy for forward/backward");
  app->add_option("--threads", args->threads, "OpenMP/BLAS threads (>= 1)")->capture_default_str();
  app->add_option("--out", args->out, "Write the run as a one-point results file (HDF5)");
  app->add_flag("--save-weights", args->save_weights,
                "Store the final parameters in the --out file (read by `precsweep errorscale`)");
  return {app, [args]() -> int { return run_train(*args); }};
}

}  // namespace precsweep::cli
