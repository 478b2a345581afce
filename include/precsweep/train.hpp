// One training run: an MLP trained with SGD on a dataset, with the network rounded into a number
// format according to a quantization policy (by default: weights and biases, after every batch,
// the seed study's scheme). Instrumented to explain why a format fails: updates lost to
// rounding (swamping), zero weights, overflow and underflow counts.
// Deliberately leaves out: optimizers other than SGD(+momentum, weight decay), convolutions.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "precsweep/dataset.hpp"
#include "precsweep/formats.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/precision.hpp"
#include "precsweep/update_ratio.hpp"

namespace precsweep {

// "constant", "cosine" or "step:<epochs >= 1>:<factor > 0>"; InputError(reason) otherwise.
void check_lr_schedule(const std::string& text);


// Bit flags: what the policy rounds into the format.
enum ApplyTo : unsigned {
  kApplyWeights = 1u << 0,      // weights and biases after each optimizer step (default)
  kApplyActivations = 1u << 1,  // each layer's output in the forward pass
  kApplyGradients = 1u << 2,    // the backpropagated deltas
  kApplyUpdates = 1u << 3,      // the step lr*grad before it is added
};
unsigned parse_apply_to(std::string_view text);  // "weights,activations" -> flags; InputError
std::string apply_to_string(unsigned flags);      // flags -> "weights,activations"

struct TrainConfig {
  std::vector<int> hidden{100};  // hidden layer widths
  Activation activation = Activation::sigmoid;
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  double label_smoothing = 0.0;  // eps: cross-entropy targets (1 - eps) onehot + eps / classes
  std::string lr_schedule = "constant";  // "constant", "step:<epochs>:<factor>", "cosine"
  int batch = 64;
  int epochs = 1;
  std::uint64_t seed = 1;
  Format format{};                  // default fp32 = no rounding at all
  Rounding rounding = Rounding::toward_zero;
  unsigned apply_to = kApplyWeights;
  int every = 1;                    // round every N batches; 0 = once per epoch
  // Master weights (a master copy receives the updates; the working copy is rounded): unset =
  // the recipe's (none for the shorthand), true adds them, false removes a recipe's.
  std::optional<bool> master_weights;
  // Precision recipe (precision.hpp, docs/training.md): a named recipe ("none": the shorthand
  // format/rounding/apply_to above), per-role overrides and loss scaling (unset: the recipe's).
  std::string recipe = "none";
  std::array<RoleOverride, kRoles> roles{};
  std::optional<LossScaling> loss_scale;
  // Accumulators of the products (docs/accumulation.md): [0] every kind, [1 + GemmKind] one kind.
  std::array<AccumulateOverride, kAccumulateScopes> accumulate{};
  int threads = 1;                  // OpenMP threads for this run (speed only, not results)
  bool save_weights = false;        // keep the final parameters in RunResult::params

  // Throws InputError naming the bad field (negative lr, batch 0, empty hidden, ...): every
  // field goes through the parameter table's checks (defined with it, src/params.cpp).
  void validate() const;
};

enum class RunStatus : std::int8_t { pending = 0, done = 1, diverged = 2, failed = 3 };
std::string to_string(RunStatus s);

struct EpochMetrics {
  double train_loss = 0;
  double train_accuracy = 0;
  double test_accuracy = 0;
  double wall_seconds = 0;
  double lost_update_fraction = 0;  // weights with a nonzero fp32 update whose stored value
                                    // did not change after rounding, over all weights
  double zero_fraction = 0;         // weights that are exactly zero at the end of the epoch
  std::uint64_t overflow = 0;       // values overflowed in the last quantization
  std::uint64_t underflow = 0;      // nonzero values flushed to zero in the last quantization
  std::uint64_t skipped_steps = 0;  // steps skipped by dynamic loss scaling (inf/NaN gradient)
  double loss_scale = 1.0;          // the loss scale at the end of the epoch (1 without scaling)
  struct RoleEpoch {
    double overflow_fraction = 0;   // of the values the role rounded, overflowed
    double underflow_fraction = 0;  // ... nonzero and flushed to zero
    double mean_log2_scale = 0;     // per-tensor scaling: mean log2 s over the scaled tensors
    double amax_exceeded_fraction = 0;  // scaled tensors whose amax * s exceeded the format's max
    double clamped_block_fraction = 0;  // block formats: blocks whose scale was clamped
    bool operator==(const RoleEpoch&) const = default;
  };
  std::array<RoleEpoch, kRoles> roles{};  // by Role (precision.hpp); 0 for a role not rounded
  // By GemmKind: additions whose nonzero product left the accumulator unchanged, as a fraction
  // of the additions, mean over layers (0 for a kind computed by BLAS).
  std::array<double, kGemmKinds> swamped_fraction{};
  // Runs that round nothing (fp32): every update's d = e(w) - e(dw) over every
  // kRatioStride-th step of the epoch (update_ratio.hpp), one histogram per layer, the input of
  // the critical-width prediction. Empty in other runs.
  LayerRatios update_ratio;
};

struct RunResult {
  RunStatus status = RunStatus::pending;
  std::vector<EpochMetrics> epochs;  // one per epoch run (fewer than config.epochs if diverged)
  double final_test_accuracy = 0;
  double wall_seconds = 0;
  std::string message;               // why it diverged / failed
  std::vector<int> layer_sizes;      // e.g. {784, 100, 10}
  std::vector<float> params;         // final parameters if save_weights (layout: mlp.hpp)
};

// Called after each epoch (for progress lines). Return false to stop the run early (the result
// then has status pending unless it was the last epoch). Also called once for the epoch in which
// a run diverged, after the status is decided.
using EpochCallback = std::function<bool(int epoch, const EpochMetrics&)>;

// Called before each batch (batch = 0 .. batches-1 of the epoch). Return false to abandon the run
// at once: the epoch in progress is dropped and the result has status pending.
using BatchCallback = std::function<bool(int epoch, int batch, int batches)>;

// Whether train() records the update-ratio histogram (EpochMetrics::update_ratio): the run
// rounds nothing (no role, no loss scaling), so its updates are plain fp32 ones.
bool records_update_ratio(const TrainConfig& config);

// Trains one run. Deterministic: same config and data give bit-identical results, at any
// thread count (docs/training.md, "Threads").
// Throws InputError on a bad config; a NaN/inf loss or an accuracy stuck at chance is a result
// (status diverged), not an exception.
RunResult train(const TrainConfig& config, const DatasetPair& data,
                const EpochCallback& on_epoch = {}, const BatchCallback& on_batch = {});

// Weights and biases of an MLP with these hidden widths on `input_dim` inputs and `classes`
// outputs: the sum over layers of (fan_in + 1) * fan_out (the layout of mlp.hpp).
std::int64_t parameter_count(const std::vector<int>& hidden, int input_dim, int classes);

// Estimated cost in arbitrary units (epochs x parameters x training samples) for scheduling.
double estimated_cost(const TrainConfig& config, int input_dim, int n_train, int classes = 10);

// Caps on a run, shared by the spec, the `train`/`sweep` flags and TrainConfig::validate:
// layer widths 1..kMaxLayerWidth, at most kMaxHiddenLayers hidden layers, at most
// kMaxParameters parameters (8 GiB of fp32 weights; BLAS and the kernels index with int),
// threads 1..kMaxThreads.
constexpr int kMaxLayerWidth = 65536;
constexpr int kMaxHiddenLayers = 64;
constexpr std::int64_t kMaxParameters = (std::int64_t{1} << 31) - 1;
constexpr int kMaxThreads = 1024;
// Caps on the batch size and the number of epochs (the results file's max_epochs too).
constexpr int kMaxBatch = 1'000'000;
constexpr int kMaxEpochs = 100'000;

// Parameters of the network `config` describes on `input_dim` inputs and `classes` outputs;
// InputError if above kMaxParameters.
std::int64_t check_network_size(const TrainConfig& config, int input_dim, int classes);
// Bytes a run needs at least: parameters, gradients, momentum and master copies, and the
// per-layer activation buffers (the dataset itself not counted).
std::uint64_t estimated_memory_bytes(const TrainConfig& config, int input_dim, int classes);
// InputError naming both figures if estimated_memory_bytes exceeds what this process can get:
// MemAvailable (/proc/meminfo), and RLIMIT_AS minus what is already mapped.
void check_memory(const TrainConfig& config, int input_dim, int classes);

}  // namespace precsweep
