// One training run (train.hpp): SGD with momentum and weight decay over shuffled mini-batches,
// the precision recipe (precision.hpp: each tensor role rounded where it arises, with its own
// random stream; loss scaling; master weights), per-epoch instrumentation and the
// done/diverged rule. The model, init, roles and status rules are written up in
// docs/training.md.
// Deliberately leaves out: output files (the sweep engine and `train --out` write them), what
// a recipe contains (precision.cpp), checkpointing, and any optimizer but SGD.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>

#include "precsweep/error.hpp"
#include "precsweep/mlp.hpp"
#include "precsweep/rng.hpp"
#include "precsweep/train.hpp"

namespace precsweep {
namespace {

// Stream ids (rng.hpp): the top byte says what a key is for, the rest which step/layer/epoch.
constexpr std::uint64_t kStreamShuffle = 2ull << 56;
// Stochastic rounding: one stream per role (this table, indexed by Role) and step, so adding a
// role never changes another role's random numbers. weights, activations, errors and updates
// keep the ids the shorthand's sites had before recipes (errors = `gradients`), so every
// result from before is reproduced bit for bit. docs/training.md, "Random streams".
constexpr std::array<std::uint64_t, kRoles> kStreamRole = {
    3ull << 56,   // weights       kind | (step + 1), 0 at init; counter = index in [P]
    4ull << 56,   // activations   kind | (step << 8) | layer; counter = index in [B, out]
    5ull << 56,   // errors        kind | (step << 8) | layer
    8ull << 56,   // weight_grads  kind | step; counter = index in [P]
    6ull << 56,   // updates       kind | step
    9ull << 56,   // momentum      kind | step
    10ull << 56,  // master        kind | (step + 1), 0 at init
};
// A role's copy blocked down columns (block formats: Run::setup_column_operands) draws from the
// role's stream with this bit set.
constexpr std::uint64_t kColumnCopy = 1ull << 55;
constexpr std::uint64_t kStreamRoundEvalActivations = 7ull << 56;
// Stochastic accumulators (docs/accumulation.md): one stream per product kind, layer and step
// (kind | (step << 16) | (GemmKind << 8) | layer), and for the test passes per epoch and chunk.
constexpr std::uint64_t kStreamAccumulate = 11ull << 56;
constexpr std::uint64_t kStreamAccumulateEval = 12ull << 56;

// Forward passes for the test accuracy run in chunks of this many rows.
constexpr int kEvalChunk = 256;
// diverged when the test accuracy is at chance for this many consecutive epochs (or at the end).
constexpr int kChancePatience = 3;

// Sets the OpenMP (and so OpenBLAS) thread count for the run and restores it afterwards.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved_); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

struct LrSchedule {
  enum Kind { constant, step, cosine } kind = constant;
  int step_epochs = 1;
  double factor = 1.0;
};

bool parse_int(std::string_view s, int& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}
bool parse_double(std::string_view s, double& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

LrSchedule parse_schedule(const std::string& text) {
  LrSchedule s;
  if (text == "constant") return s;
  if (text == "cosine") {
    s.kind = LrSchedule::cosine;
    return s;
  }
  const std::string_view t = text;
  if (t.starts_with("step:")) {
    const auto rest = t.substr(5);
    const auto colon = rest.find(':');
    if (colon != std::string_view::npos && parse_int(rest.substr(0, colon), s.step_epochs) &&
        parse_double(rest.substr(colon + 1), s.factor) && s.step_epochs >= 1 && s.factor > 0 &&
        std::isfinite(s.factor)) {
      s.kind = LrSchedule::step;
      return s;
    }
  }
  throw InputError("expected constant, cosine or step:<epochs>:<factor> (epochs >= 1, factor > 0), "
                   "got '" + text + "'");
}

// Learning rate for epoch e (0-based) of E: constant; step: lr * factor^floor(e / epochs);
// cosine: lr * (1 + cos(pi e / E)) / 2 (per epoch, starting at lr).
double lr_at(const TrainConfig& c, const LrSchedule& s, int epoch) {
  switch (s.kind) {
    case LrSchedule::constant: return c.lr;
    case LrSchedule::step: return c.lr * std::pow(s.factor, epoch / s.step_epochs);
    case LrSchedule::cosine:
      return c.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * epoch / c.epochs));
  }
  return c.lr;
}

void check_data(const TrainConfig& c, const DatasetPair& data) {
  const auto& tr = data.train;
  const auto& te = data.test;
  if (tr.n < 1 || te.n < 1) throw InputError("dataset '" + data.name + "' is empty");
  if (tr.dim != te.dim || tr.classes != te.classes)
    throw InputError("dataset '" + data.name + "': train and test shapes differ");
  if (tr.classes < 2) throw InputError("dataset '" + data.name + "': needs >= 2 classes");
  if (tr.pixels.size() != static_cast<std::size_t>(tr.n) * tr.dim ||
      tr.y.size() != std::size_t(tr.n) ||
      te.pixels.size() != static_cast<std::size_t>(te.n) * te.dim || te.y.size() != std::size_t(te.n))
    throw InputError("dataset '" + data.name + "': array sizes do not match n x dim");
  (void)c;
}

// Accuracy a constant predictor gets on the test set (largest class share), plus one point:
// at or below this the network has learnt nothing.
double chance_threshold(const Dataset& test) {
  std::vector<int> counts(static_cast<std::size_t>(test.classes), 0);
  for (auto label : test.y)
    if (label < test.classes) ++counts[label];
  const int top = *std::max_element(counts.begin(), counts.end());
  return static_cast<double>(top) / test.n + 0.01;
}

}  // namespace

// ---- small parsers and names ---------------------------------------------------------------

void check_lr_schedule(const std::string& text) { parse_schedule(text); }

unsigned parse_apply_to(std::string_view text) {
  unsigned flags = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const auto item = text.substr(pos, comma - pos);
    if (item == "weights") flags |= kApplyWeights;
    else if (item == "activations") flags |= kApplyActivations;
    else if (item == "gradients") flags |= kApplyGradients;
    else if (item == "updates") flags |= kApplyUpdates;
    else
      throw InputError("apply_to: unknown item '" + std::string(item) + "' in '" +
                       std::string(text) +
                       "' (expected a comma list of weights, activations, gradients, updates)");
    pos = comma + 1;
  }
  return flags;
}

std::string apply_to_string(unsigned flags) {
  std::string s;
  const std::pair<unsigned, const char*> names[] = {{kApplyWeights, "weights"},
                                                    {kApplyActivations, "activations"},
                                                    {kApplyGradients, "gradients"},
                                                    {kApplyUpdates, "updates"}};
  for (auto [bit, name] : names) {
    if (!(flags & bit)) continue;
    if (!s.empty()) s.push_back(',');
    s.append(name);
  }
  return s;
}

std::string to_string(RunStatus s) {
  switch (s) {
    case RunStatus::pending: return "pending";
    case RunStatus::done: return "done";
    case RunStatus::diverged: return "diverged";
    case RunStatus::failed: return "failed";
  }
  return "?";
}

std::int64_t parameter_count(const std::vector<int>& hidden, int input_dim, int classes) {
  std::int64_t params = 0;
  std::int64_t prev = input_dim;
  for (int h : hidden) {
    params += (prev + 1) * h;  // at most 64 layers of (65536 + 1) * 65536: no overflow
    prev = h;
  }
  return params + (prev + 1) * classes;
}

double estimated_cost(const TrainConfig& config, int input_dim, int n_train, int classes) {
  const double params = static_cast<double>(parameter_count(config.hidden, input_dim, classes));
  return static_cast<double>(config.epochs) * params * n_train;
}

static std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

std::int64_t check_network_size(const TrainConfig& config, int input_dim, int classes) {
  const std::int64_t params = parameter_count(config.hidden, input_dim, classes);
  if (params > kMaxParameters)
    throw InputError("hidden: a network of " + std::to_string(params) + " parameters (" +
                     std::to_string(input_dim) + " inputs, " + std::to_string(config.hidden.size()) +
                     " hidden layers up to " +
                     std::to_string(*std::max_element(config.hidden.begin(), config.hidden.end())) +
                     " wide, " + std::to_string(classes) + " classes) needs at least " +
                     gib(estimated_memory_bytes(config, input_dim, classes)) +
                     " of memory; one run holds at most " + std::to_string(kMaxParameters) +
                     " parameters");
  return params;
}

std::uint64_t estimated_memory_bytes(const TrainConfig& config, int input_dim, int classes) {
  const auto params = static_cast<std::uint64_t>(parameter_count(config.hidden, input_dim, classes));
  std::uint64_t units = static_cast<std::uint64_t>(classes);
  for (int h : config.hidden) units += static_cast<std::uint64_t>(h);
  // params, grads, velocity, master (train.cpp, mlp.hpp); activations and deltas per unit and
  // the input batch, for the larger of the batch and the evaluation chunk.
  const std::uint64_t rows = static_cast<std::uint64_t>(std::max(config.batch, kEvalChunk));
  return sizeof(float) * (4 * params + rows * (2 * units + static_cast<std::uint64_t>(input_dim)));
}

namespace {

// MemAvailable from /proc/meminfo, else free physical pages (sysconf); 0 if neither is known.
std::uint64_t available_memory() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (f) {
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (!found && std::fgets(line, sizeof line, f))
      found = std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    std::fclose(f);
    if (found) return static_cast<std::uint64_t>(kb) * 1024;
  }
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), size = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size) : 0;
}

// RLIMIT_AS minus the address space already mapped (/proc/self/statm); max if unlimited.
std::uint64_t address_space_left() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return std::numeric_limits<std::uint64_t>::max();
  unsigned long long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const std::uint64_t used = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return lim.rlim_cur > used ? lim.rlim_cur - used : 0;
}

}  // namespace

void check_memory(const TrainConfig& config, int input_dim, int classes) {
  const std::uint64_t need = estimated_memory_bytes(config, input_dim, classes);
  const std::uint64_t avail = available_memory();
  if (avail > 0 && need > avail)
    throw InputError("hidden: this network needs at least " + gib(need) + " of memory, the machine " +
                     "has " + gib(avail) + " available (MemAvailable); use narrower layers");
  const std::uint64_t left = address_space_left();
  if (need > left)
    throw InputError("hidden: this network needs at least " + gib(need) + " of memory, the " +
                     "address-space limit (ulimit -v) leaves " + gib(left));
}

// ---- the run -------------------------------------------------------------------------------
namespace {

// What one epoch's batches add up.
struct EpochTotals {
  double loss_sum = 0.0;  // sum over samples of -log p_y
  long hits = 0, seen = 0;
  std::uint64_t lost = 0, lost_denominator = 0;
  std::uint64_t skipped = 0;  // steps skipped by dynamic loss scaling
  LayerRatios update_ratio;  // fp32 runs only, per layer (Run::optimizer_step)
  bool nonfinite = false;  // a batch's loss was NaN/inf (the epoch stopped there)
};

// One run's buffers and its named steps; train() below is the loop over them. Shapes:
// B = batch, P = parameters, n = training samples, dim = input features.
class Run {
 public:
  Run(const TrainConfig& c, const DatasetPair& data)
      : c_(c), tr_(data.train), te_(data.test), prec_(resolve_precision(c)), rounder_(prec_),
        loss_(prec_.loss), batch_(std::min(c.batch, tr_.n)),
        batches_((tr_.n + batch_ - 1) / batch_), net_(layer_sizes(), c.activation,
                                                      std::max(batch_, kEvalChunk)),
        xb_(static_cast<std::size_t>(std::max(batch_, kEvalChunk)) * tr_.dim),
        yb_(static_cast<std::size_t>(batch_)), order_(static_cast<std::size_t>(tr_.n)) {
    init_params(net_.layout(), c.activation, c.seed, net_.params);
    if (prec_.master) {
      master_ = net_.params;
      if (on(Role::master)) round_params(Role::master, master_, 0);  // the master in its format
      net_.params = master_;
    }
    if (c.momentum > 0) velocity_.assign(net_.layout().count, 0.0f);
    if (on(Role::weights)) round_params(Role::weights, net_.params, 0);  // init in the format
    if (accumulating()) net_.set_accumulation(training_accumulation());
    setup_column_operands();
  }

  int batches() const { return batches_; }
  const std::vector<int>& sizes() const { return net_.layout().sizes; }
  const std::vector<float>& params() const { return net_.params; }

  // order <- a permutation of the training samples: Fisher-Yates with counter-based draws keyed
  // by (seed, epoch).
  void shuffle(int epoch) {
    for (int i = 0; i < tr_.n; ++i) order_[static_cast<std::size_t>(i)] = i;
    const std::uint64_t key = rng::key(c_.seed, kStreamShuffle | static_cast<std::uint64_t>(epoch));
    for (int i = tr_.n - 1; i > 0; --i) {
      const std::uint64_t r = rng::bits64(key, static_cast<std::uint64_t>(i)) >> 32;
      const auto j = static_cast<int>((r * static_cast<std::uint64_t>(i + 1)) >> 32);
      std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
    }
    rounder_.reset_counts();
    net_.reset_accumulate_stats();
  }

  // xb [B, dim], yb [B] <- batch bi of the order; returns B. Prefetches the next batch's rows
  // (13 cache lines each for MNIST's 784 bytes) so its gather does not wait on DRAM.
  int gather(int bi) {
    const int r0 = bi * batch_;
    const int B = std::min(batch_, tr_.n - r0);
    const int* rows = order_.data() + r0;  // [B] this batch's samples
    gather_features(tr_, rows, B, xb_.data());
    for (int r = 0; r < B; ++r)
      yb_[static_cast<std::size_t>(r)] = tr_.y[static_cast<std::size_t>(rows[r])];
    const int n_next = bi + 1 < batches_ ? std::min(batch_, tr_.n - r0 - B) : 0;
    for (int r = 0; r < n_next; ++r) {
      const std::uint8_t* row = tr_.pixels.data() + static_cast<std::size_t>(rows[B + r]) * tr_.dim;
      for (int off = 0; off < tr_.dim; off += 64) __builtin_prefetch(row + off);
    }
    return B;
  }

  // Forward (each layer's output A' [B, out] rounded as role `activations`), loss and output
  // delta; false when the loss is not finite (nothing is added to the totals then).
  bool forward(int B, EpochTotals& t) {
    TensorHook round_activations;
    if (on(Role::activations))
      round_activations = [this](std::span<float> a, int layer) {
        round_layer(Role::activations, a, layer);
      };
    net_.forward(xb_.data(), B, round_activations);
    int correct = 0;
    const double loss = net_.loss_and_output_delta(yb_.data(), B, &correct, c_.label_smoothing);
    if (!std::isfinite(loss)) return false;
    t.loss_sum += loss * B;
    t.hits += correct;
    t.seen += B;
    return true;
  }

  // Backward: the output delta times the loss scale, each layer's delta D [B, out] rounded as
  // role `errors`, then the gradients dW, db into net_.grads [P].
  void backward(int B) {
    TensorHook on_delta;
    const int last = net_.layout().layers() - 1;
    if (on(Role::errors) || loss_.on())
      on_delta = [this, last](std::span<float> d, int layer) {
        if (layer == last && loss_.on()) scale_loss(d);
        if (on(Role::errors)) round_layer(Role::errors, d, layer);
      };
    net_.backward(xb_.data(), B, on_delta);
  }

  // grads [P] rounded as role `weight_grads` (still loss-scaled, as a low-precision GEMM would
  // produce them), then unscaled; false when dynamic loss scaling skips this step.
  bool finish_gradients(EpochTotals& t) {
    if (on(Role::weight_grads)) round_params(Role::weight_grads, net_.grads, step_);
    if (!loss_.on()) return true;
    const bool finite = unscale_gradients();
    if (loss_.step_ok(finite)) return true;
    ++t.skipped;
    return false;
  }

  // The SGD step: momentum (role `momentum`), the step lr * v (role `updates`), the master copy
  // (role `master`) and the working weights (role `weights`, every N steps).
  void optimizer_step(int bi, float lr, EpochTotals& t) {
    const RoleRounding& w = prec_[Role::weights];
    UpdateRounding r;
    r.format = w.format;
    r.mode = w.mode;
    r.weights = weights_at(bi);
    r.weights_key = key(Role::weights, step_ + 1);
    // per-tensor scaling and block formats (blocks per weight row): tensor by tensor, not
    // fused into the subtraction over the whole [P] buffer
    if (w.scaling.kind != TensorScaling::none || w.format.is_block())
      r.weights_hook = [this](std::span<float> x) { round_params(Role::weights, x, step_ + 1); };
    r.step = on(Role::updates);
    r.step_hook = [this](std::span<float> x) { round_params(Role::updates, x, step_); };
    if (on(Role::momentum))
      r.velocity_hook = [this](std::span<float> v) { round_params(Role::momentum, v, step_); };
    if (on(Role::master)) {
      r.master_format = prec_[Role::master].format;
      r.master_mode = prec_[Role::master].mode;
      r.master_key = key(Role::master, step_ + 1);
      if (r.master_format.is_block())
        r.master_hook = [this](std::span<float> x) { round_params(Role::master, x, step_ + 1); };
    }
    const std::span<float> master = prec_.master ? std::span<float>(master_) : std::span<float>();
    // Read-only, before the update consumes the gradients: the step as sgd_update forms it.
    if (records_ratio_ && bi % kRatioStride == 0) add_layer_ratios(t.update_ratio, lr);
    const UpdateCounts n = sgd_update(net_.params, master, net_.grads, velocity_,
                                      SgdStep{lr, static_cast<float>(c_.momentum),
                                              static_cast<float>(c_.weight_decay)}, r);
    const auto P = static_cast<std::uint64_t>(net_.layout().count);
    if (on(Role::master) && !r.master_hook) rounder_.add(Role::master, n.master, P);
    if (r.weights && !r.weights_hook) {
      last_ = n.weights;
      rounder_.add(Role::weights, n.weights, P);
    }
    t.lost += n.lost;
    t.lost_denominator += P;
    if (!w_columns_.empty()) round_weight_columns(step_ + 1);
  }
  void next_step() { ++step_; }

  // Test accuracy: forward in chunks of kEvalChunk rows; the activations' rounding applies here
  // too, from its own stream (epoch, chunk, layer), and leaves the counts alone (per-tensor
  // scaling: each chunk's tensor by its own amax).
  double evaluate(int epoch) {
    std::uint64_t chunk = 0;
    const ColumnOperands columns = net_.column_operands();  // no backward here: no copies
    net_.set_column_operands({});
    if (accumulating()) {  // the forward products accumulate as in training, not counted
      GemmAccumulation a{prec_.accumulate, {}, false};
      a.key = [&](GemmKind k, int layer) {
        return StochasticKey{c_.seed,
                             kStreamAccumulateEval | (static_cast<std::uint64_t>(epoch) << 40) |
                                 (chunk << 16) | (static_cast<std::uint64_t>(k) << 8) |
                                 static_cast<std::uint64_t>(layer),
                             0};
      };
      net_.set_accumulation(std::move(a));
    }
    TensorHook hook;
    if (on(Role::activations))
      hook = [&](std::span<float> x, int layer) {
        const std::uint64_t stream = kStreamRoundEvalActivations |
                                     (static_cast<std::uint64_t>(epoch) << 32) | (chunk << 8) |
                                     static_cast<std::uint64_t>(layer);
        const int out = net_.layout().out(layer);
        round_unrecorded(prec_[Role::activations], x, static_cast<int>(x.size()) / out, out,
                         {c_.seed, stream, 0});
      };
    long hits = 0;
    for (int r0 = 0; r0 < te_.n; r0 += kEvalChunk, ++chunk) {
      const int B = std::min(kEvalChunk, te_.n - r0);
      copy_features(te_, r0, B, xb_.data());
      net_.forward(xb_.data(), B, hook);
      hits += net_.count_correct(B, te_.y.data() + r0);
    }
    if (accumulating()) net_.set_accumulation(training_accumulation());
    net_.set_column_operands(columns);
    return static_cast<double>(hits) / te_.n;
  }

  // The epoch's metrics (docs/training.md, "Instrumentation").
  EpochMetrics record(const EpochTotals& t, double test_accuracy, double seconds) const {
    EpochMetrics m;
    m.train_loss = t.seen > 0 && !t.nonfinite ? t.loss_sum / t.seen : std::nan("");
    m.train_accuracy = t.seen > 0 ? static_cast<double>(t.hits) / t.seen : 0.0;
    m.test_accuracy = test_accuracy;
    m.lost_update_fraction =
        t.lost_denominator ? static_cast<double>(t.lost) / t.lost_denominator : 0.0;
    std::size_t zeros = 0;
    for (float v : net_.params) zeros += v == 0.0f;
    m.zero_fraction = static_cast<double>(zeros) / net_.layout().count;
    m.overflow = last_.overflow;
    m.underflow = last_.underflow;
    m.skipped_steps = t.skipped;
    m.update_ratio = t.update_ratio;
    m.loss_scale = loss_.scale();
    for (Role r : kAllRoles) {
      const RoleCounts& k = rounder_.counts(r);
      auto& e = m.roles[static_cast<std::size_t>(r)];
      const auto frac = [](std::uint64_t a, std::uint64_t b) {
        return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
      };
      e.overflow_fraction = frac(k.overflow, k.values);
      e.underflow_fraction = frac(k.underflow, k.values);
      e.mean_log2_scale = k.tensors ? k.log2_scale_sum / static_cast<double>(k.tensors) : 0.0;
      e.amax_exceeded_fraction = frac(k.exceeded, k.tensors);
      e.clamped_block_fraction = frac(k.clamped_blocks, k.blocks);
    }
    m.swamped_fraction = swamped_fractions();
    m.wall_seconds = seconds;
    return m;
  }

 private:
  std::vector<int> layer_sizes() const {
    std::vector<int> sizes{tr_.dim};
    sizes.insert(sizes.end(), c_.hidden.begin(), c_.hidden.end());
    sizes.push_back(tr_.classes);
    return sizes;
  }
  bool on(Role r) const { return prec_[r].on; }
  bool accumulating() const { return GemmAccumulation{prec_.accumulate, {}, false}.any(); }
  // The products of a training step: each kind, layer and step its own stream; counted.
  GemmAccumulation training_accumulation() {
    GemmAccumulation a{prec_.accumulate, {}, true};
    a.key = [this](GemmKind k, int layer) {
      return StochasticKey{c_.seed,
                           kStreamAccumulate | (step_ << 16) | (static_cast<std::uint64_t>(k) << 8) |
                               static_cast<std::uint64_t>(layer),
                           0};
    };
    return a;
  }
  // Per kind: the mean over layers of swamped / additions this epoch (layers with additions).
  std::array<double, kGemmKinds> swamped_fractions() const {
    std::array<double, kGemmKinds> f{};
    for (int k = 0; k < kGemmKinds; ++k) {
      double sum = 0;
      int layers = 0;
      for (const AccumulateStats& s : net_.accumulate_stats()[static_cast<std::size_t>(k)]) {
        if (s.additions == 0) continue;
        sum += static_cast<double>(s.swamped) / static_cast<double>(s.additions);
        ++layers;
      }
      f[static_cast<std::size_t>(k)] = layers ? sum / layers : 0.0;
    }
    return f;
  }
  StochasticKey key(Role r, std::uint64_t counter) const {
    return {c_.seed, kStreamRole[static_cast<std::size_t>(r)] | counter, 0};
  }
  // Whether this step (batch bi) rounds the working weights: every N steps, or the epoch's last.
  bool weights_at(int bi) const {
    const int every = prec_.every;
    const bool event = every > 0 ? (step_ + 1) % static_cast<std::uint64_t>(every) == 0
                                 : bi + 1 == batches_;
    return on(Role::weights) && event;
  }

  // One sampled step's update ratios, per layer: W(l) and b(l) into histogram l (read-only,
  // before sgd_update consumes the gradients; the step as sgd_update forms it).
  void add_layer_ratios(LayerRatios& h, float lr) const {
    const MlpLayout& lay = net_.layout();
    h.resize(static_cast<std::size_t>(lay.layers()));
    const float mu = static_cast<float>(c_.momentum), wd = static_cast<float>(c_.weight_decay);
    for (int l = 0; l < lay.layers(); ++l) {
      const auto li = static_cast<std::size_t>(l);
      const std::pair<std::size_t, long> parts[] = {
          {lay.w_offset[li], static_cast<long>(lay.in(l)) * lay.out(l)},
          {lay.b_offset[li], static_cast<long>(lay.out(l))}};
      for (const auto& [off, n] : parts)
        add_update_ratios(h[li], net_.params.data() + off, net_.grads.data() + off,
                          velocity_.empty() ? nullptr : velocity_.data() + off, n, lr, mu, wd);
    }
  }

  // Role r of layer `layer`'s tensor x [B, out(layer)] (activations, errors); blocked down the
  // columns for the copy a dW product takes (block formats).
  void round_layer(Role r, std::span<float> x, int layer, BlockAxis axis = BlockAxis::rows) {
    const int out = net_.layout().out(layer);
    const std::uint64_t copy = axis == BlockAxis::columns ? kColumnCopy : 0;
    last_ = rounder_.round(r, x, static_cast<int>(x.size()) / out, out, layer,
                           key(r, copy | (step_ << 8) | static_cast<std::uint64_t>(layer)), axis);
  }

  // Block formats: the copies blocked down their columns that the products reducing over the
  // batch (dW) or over the output units (the delta below) take (mlp.hpp, ColumnOperands;
  // docs/training.md, "Block formats in training"). Elementwise formats need none.
  bool blocked(Role r) const { return on(r) && prec_[r].format.is_block(); }
  void setup_column_operands() {
    ColumnOperands c;
    if (blocked(Role::activations))
      c.activations = [this](std::span<float> x, int layer) {
        round_layer(Role::activations, x, layer, BlockAxis::columns);
      };
    if (blocked(Role::errors))
      c.errors = [this](std::span<float> x, int layer) {
        round_layer(Role::errors, x, layer, BlockAxis::columns);
      };
    if (blocked(Role::weights)) {
      w_columns_.assign(net_.layout().count, 0.0f);
      c.weights = w_columns_.data();
      round_weight_columns(0);
    }
    if (c.any()) net_.set_column_operands(std::move(c));
  }
  // w_columns_ [P] <- each W[l] [out, in] of the weights' source (the master with master
  // weights, else the working copy) blocked down its columns in the weights' format (biases
  // do not enter the delta below: left 0). Counter as the weights' rounding: step + 1, 0 at init.
  void round_weight_columns(std::uint64_t counter) {
    const std::vector<float>& src = prec_.master ? master_ : net_.params;
    const MlpLayout& L = net_.layout();
    for (int l = 0; l < L.layers(); ++l) {
      const std::size_t w = L.w_offset[static_cast<std::size_t>(l)];
      const std::size_t n = static_cast<std::size_t>(L.out(l)) * static_cast<std::size_t>(L.in(l));
      std::copy_n(src.begin() + static_cast<std::ptrdiff_t>(w), n,
                  w_columns_.begin() + static_cast<std::ptrdiff_t>(w));
      StochasticKey k = key(Role::weights, kColumnCopy | counter);
      k.offset = w;
      rounder_.round(Role::weights, {w_columns_.data() + w, n}, L.out(l), L.in(l), 2 * l, k,
                     BlockAxis::columns);
    }
  }

  // Role r of a parameter-shaped buffer x [P] (weights, weight_grads, updates, momentum,
  // master), tensor by tensor: W[l] [out, in] and b[l] [1, out]; the stochastic counter is the
  // index in [P], so the bits are those of one call over the whole buffer.
  void round_params(Role r, std::span<float> x, std::uint64_t counter) {
    const MlpLayout& L = net_.layout();
    StochasticKey k = key(r, counter);
    QuantizeStats total;
    for (int l = 0; l < L.layers(); ++l) {
      const std::size_t w = L.w_offset[static_cast<std::size_t>(l)];
      const std::size_t b = L.b_offset[static_cast<std::size_t>(l)];
      const auto out = static_cast<std::size_t>(L.out(l)), in = static_cast<std::size_t>(L.in(l));
      k.offset = w;
      total += rounder_.round(r, x.subspan(w, out * in), L.out(l), L.in(l), 2 * l, k);
      k.offset = b;
      total += rounder_.round(r, x.subspan(b, out), 1, L.out(l), 2 * l + 1, k);
    }
    last_ = total;
  }

  // The output delta D [B, classes] times the loss scale (before `errors` rounds it).
  void scale_loss(std::span<float> d) {
    const auto s = static_cast<float>(loss_.scale());
    for (float& v : d) v *= s;
  }
  // grads [P] divided by the loss scale (times 1/s: exact for the power-of-two dynamic scale);
  // whether every gradient is finite.
  bool unscale_gradients() {
    const auto inv = static_cast<float>(1.0 / loss_.scale());
    bool finite = true;
    for (float& g : net_.grads) {
      g *= inv;
      finite = finite && std::isfinite(g);
    }
    return finite;
  }

  const TrainConfig& c_;
  const Dataset& tr_;
  const Dataset& te_;
  const Precision prec_;
  RoleRounder rounder_;
  LossScaler loss_;
  const int batch_, batches_;
  Mlp net_;
  std::vector<float> master_;      // [P] master weights (with master weights only)
  std::vector<float> velocity_;    // [P] momentum buffer
  std::vector<float> w_columns_;   // [P] weights blocked down columns (block-format weights only)
  bool records_ratio_ = records_update_ratio(c_);
  std::vector<float> xb_;          // [max(batch, kEvalChunk), dim] features of the rows in use
  std::vector<std::uint8_t> yb_;   // [batch] labels of the batch
  std::vector<int> order_;         // [n_train] sample order of the epoch
  std::uint64_t step_ = 0;         // global optimizer step (batch) counter
  QuantizeStats last_;             // counts of the most recent rounding (EpochMetrics::overflow)
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The done/diverged rule after an epoch (docs/training.md): a NaN/inf loss, or a test accuracy
// at chance for kChancePatience epochs in a row (or in the last epoch). Empty: go on.
std::string divergence(const EpochTotals& t, const EpochMetrics& m, double chance, int epoch,
                       bool last, int& chance_streak) {
  if (t.nonfinite) return "loss became NaN/inf in epoch " + std::to_string(epoch + 1);
  chance_streak = m.test_accuracy <= chance ? chance_streak + 1 : 0;
  if (chance_streak < kChancePatience && !(last && chance_streak > 0)) return {};
  char buf[160];
  std::snprintf(buf, sizeof buf, "test accuracy at chance (<= %.4f) for %d epoch(s)%s", chance,
                chance_streak, last ? "" : "; stopped early");
  return buf;
}

}  // namespace

bool records_update_ratio(const TrainConfig& config) {
  const Precision p = resolve_precision(config);
  return !p.rounds_anything() && !p.master;
}

RunResult train(const TrainConfig& config, const DatasetPair& data, const EpochCallback& on_epoch,
                const BatchCallback& on_batch) {
  config.validate();
  check_data(config, data);
  const auto t_run = std::chrono::steady_clock::now();
  ThreadScope threads(config.threads);
  const LrSchedule schedule = parse_schedule(config.lr_schedule);
  const double chance = chance_threshold(data.test);
  Run run(config, data);

  RunResult result;
  result.layer_sizes = run.sizes();
  result.status = RunStatus::done;
  int chance_streak = 0;
  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    run.shuffle(epoch);
    const float lr = static_cast<float>(lr_at(config, schedule, epoch));
    EpochTotals totals;
    int bi = 0;
    for (; bi < run.batches(); ++bi, run.next_step()) {
      if (on_batch && !on_batch(epoch, bi, run.batches())) break;
      const int B = run.gather(bi);
      if (!run.forward(B, totals)) {
        totals.nonfinite = true;
        break;
      }
      run.backward(B);
      if (run.finish_gradients(totals)) run.optimizer_step(bi, lr, totals);
    }
    if (bi < run.batches() && !totals.nonfinite) {  // abandoned by on_batch
      result.status = RunStatus::pending;
      result.message = "stopped by the caller in epoch " + std::to_string(epoch + 1);
      break;
    }
    const EpochMetrics m = run.record(totals, run.evaluate(epoch), seconds_since(t_epoch));
    result.epochs.push_back(m);
    result.final_test_accuracy = m.test_accuracy;
    const bool last = epoch + 1 == config.epochs;
    result.message = divergence(totals, m, chance, epoch, last, chance_streak);
    if (!result.message.empty()) {
      result.status = RunStatus::diverged;
      break;
    }
    if (on_epoch && !on_epoch(epoch, m)) {
      if (!last) {
        result.status = RunStatus::pending;
        result.message = "stopped by the caller after epoch " + std::to_string(epoch + 1);
      }
      break;
    }
  }
  if (result.status == RunStatus::diverged && on_epoch && !result.epochs.empty())
    on_epoch(static_cast<int>(result.epochs.size()) - 1, result.epochs.back());
  if (config.save_weights) result.params = run.params();
  result.wall_seconds = seconds_since(t_run);
  return result;
}

}  // namespace precsweep
