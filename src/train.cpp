// One training run (train.hpp): SGD with momentum and weight decay over shuffled mini-batches,
// the quantization policy (weights / activations / gradients / updates, every N batches or per
// epoch, optional fp32 master weights), per-epoch instrumentation and the done/diverged rule.
// The model, init, policy and status rules are written up in docs/training.md.
// Deliberately leaves out: output files (the sweep engine and `train --out` write them),
// checkpointing, and any optimizer but SGD.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
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
constexpr std::uint64_t kStreamRoundWeights = 3ull << 56;
constexpr std::uint64_t kStreamRoundActivations = 4ull << 56;
constexpr std::uint64_t kStreamRoundGradients = 5ull << 56;
constexpr std::uint64_t kStreamRoundUpdates = 6ull << 56;
constexpr std::uint64_t kStreamRoundEvalActivations = 7ull << 56;

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
  throw InputError("lr_schedule: bad value '" + text +
                   "' (expected constant, cosine, or step:<epochs>:<factor> with epochs >= 1 "
                   "and factor > 0)");
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

bool parse_positive_int(std::string_view text, int& value) {
  return parse_int(text, value) && value >= 1;
}

std::vector<int> parse_hidden(const std::string& text, const std::string& where) {
  std::vector<int> widths;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    int w = 0;
    if (!parse_positive_int(item, w))
      throw InputError(where + ": bad width '" + item + "' in '" + text +
                       "' (expected positive integers separated by commas, e.g. 256,128)");
    widths.push_back(w);
    pos = comma + 1;
  }
  return widths;
}

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

// Shortest text that reads back as `x` ("-1e-07", "0.1"): messages show the value given.
static std::string number_text(double x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

void TrainConfig::validate() const {
  auto bad = [](const std::string& what) { throw InputError(what); };
  if (hidden.empty()) bad("hidden: at least one hidden layer width is needed");
  if (hidden.size() > static_cast<std::size_t>(kMaxHiddenLayers))
    bad("hidden: " + std::to_string(hidden.size()) + " layers, at most " +
        std::to_string(kMaxHiddenLayers));
  for (int h : hidden)
    if (h < 1 || h > kMaxLayerWidth)
      bad("hidden: layer width " + std::to_string(h) + " out of range (1.." +
          std::to_string(kMaxLayerWidth) + ")");
  if (!(std::isfinite(lr) && lr > 0)) bad("lr: must be a finite number > 0, got " + number_text(lr));
  if (!(std::isfinite(momentum) && momentum >= 0 && momentum < 1))
    bad("momentum: must be in [0, 1), got " + number_text(momentum));
  if (!(std::isfinite(weight_decay) && weight_decay >= 0))
    bad("weight_decay: must be a finite number >= 0, got " + number_text(weight_decay));
  parse_schedule(lr_schedule);
  if (batch < 1) bad("batch: must be >= 1, got " + std::to_string(batch));
  if (epochs < 1) bad("epochs: must be >= 1, got " + std::to_string(epochs));
  if (every < 0) bad("every: must be >= 0 (0 = once per epoch), got " + std::to_string(every));
  if (threads < 1 || threads > kMaxThreads)
    bad("threads: must be in 1.." + std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
  if (apply_to == 0 || (apply_to & ~15u) != 0)
    bad("apply_to: must name at least one of weights, activations, gradients, updates");
}

double estimated_cost(const TrainConfig& config, int input_dim, int n_train, int classes) {
  double params = 0;
  int prev = input_dim;
  for (int h : config.hidden) {
    params += (static_cast<double>(prev) + 1) * h;
    prev = h;
  }
  params += (static_cast<double>(prev) + 1) * classes;
  return static_cast<double>(config.epochs) * params * n_train;
}

static std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

std::int64_t check_network_size(const TrainConfig& config, int input_dim, int classes) {
  std::int64_t params = 0;
  std::int64_t prev = input_dim;
  for (int h : config.hidden) {
    params += (prev + 1) * h;  // at most 64 layers of (65536 + 1) * 65536: no overflow
    prev = h;
  }
  params += (prev + 1) * classes;
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
  std::uint64_t params = 0, units = 0;
  std::uint64_t prev = static_cast<std::uint64_t>(input_dim);
  for (int h : config.hidden) {
    params += (prev + 1) * static_cast<std::uint64_t>(h);
    units += static_cast<std::uint64_t>(h);
    prev = static_cast<std::uint64_t>(h);
  }
  params += (prev + 1) * static_cast<std::uint64_t>(classes);
  units += static_cast<std::uint64_t>(classes);
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

RunResult train(const TrainConfig& config, const DatasetPair& data, const EpochCallback& on_epoch,
                const BatchCallback& on_batch) {
  config.validate();
  check_data(config, data);
  const auto t_run = std::chrono::steady_clock::now();
  ThreadScope threads(config.threads);
  const LrSchedule schedule = parse_schedule(config.lr_schedule);

  const Dataset& tr = data.train;
  const Dataset& te = data.test;
  std::vector<int> sizes{tr.dim};
  sizes.insert(sizes.end(), config.hidden.begin(), config.hidden.end());
  sizes.push_back(tr.classes);

  // fp32 (and E8M23 with subnormals) is the identity: no rounding call anywhere.
  const bool quantizing = !config.format.is_identity();
  const bool round_weights = quantizing && (config.apply_to & kApplyWeights);
  const bool round_acts = quantizing && (config.apply_to & kApplyActivations);
  const bool round_grads = quantizing && (config.apply_to & kApplyGradients);
  const bool round_updates = quantizing && (config.apply_to & kApplyUpdates);
  const bool use_master = config.master_weights && round_weights;

  const int batch = std::min(config.batch, tr.n);
  Mlp net(sizes, config.activation, std::max(batch, kEvalChunk));
  const std::size_t P = net.layout().count;
  init_params(net.layout(), config.activation, config.seed, net.params);

  std::vector<float> master;    // [P] fp32 master weights (mixed-precision scheme only)
  std::vector<float> velocity;  // [P] momentum buffer
  if (use_master) master = net.params;
  if (config.momentum > 0) velocity.assign(P, 0.0f);

  const Format& fmt = config.format;
  const Rounding mode = config.rounding;
  QuantizeStats last_stats;  // counts of the most recent quantize call of any tensor
  auto round_into = [&](std::span<float> x, std::uint64_t stream) {
    QuantizeStats s;
    quantize(x, fmt, mode, StochasticKey{config.seed, stream, 0}, &s);
    last_stats = s;
  };
  if (round_weights) round_into(net.params, kStreamRoundWeights);  // init lands in the format

  std::uint64_t step = 0;  // global optimizer step (batch) counter
  TensorHook act_hook, grad_hook, eval_hook;
  if (round_acts)
    act_hook = [&](std::span<float> x, int layer) {
      round_into(x, kStreamRoundActivations | (step << 8) | static_cast<std::uint64_t>(layer));
    };
  if (round_grads)
    grad_hook = [&](std::span<float> x, int layer) {
      round_into(x, kStreamRoundGradients | (step << 8) | static_cast<std::uint64_t>(layer));
    };

  // [max(batch, kEvalChunk), dim] features of the batch being trained or the test rows being
  // evaluated, converted from the dataset's pixels.
  std::vector<float> xb(static_cast<std::size_t>(std::max(batch, kEvalChunk)) * tr.dim);

  // Test accuracy: forward in chunks; rounding of activations applies here too (own stream).
  auto evaluate = [&](int epoch) {
    std::uint64_t chunk_id = 0;
    if (round_acts)
      eval_hook = [&](std::span<float> x, int layer) {
        QuantizeStats s;
        quantize(x, fmt, mode,
                 StochasticKey{config.seed,
                               kStreamRoundEvalActivations | (static_cast<std::uint64_t>(epoch) << 32) |
                                   (chunk_id << 8) | static_cast<std::uint64_t>(layer),
                               0},
                 &s);
      };
    long hits = 0;
    for (int r0 = 0; r0 < te.n; r0 += kEvalChunk, ++chunk_id) {
      const int B = std::min(kEvalChunk, te.n - r0);
      copy_features(te, r0, B, xb.data());
      net.forward(xb.data(), B, eval_hook);
      hits += net.count_correct(B, te.y.data() + r0);
    }
    return static_cast<double>(hits) / te.n;
  };

  std::vector<int> order(static_cast<std::size_t>(tr.n));  // [n_train] sample order of an epoch
  std::vector<std::uint8_t> yb(static_cast<std::size_t>(batch));   // [batch]
  const double chance = chance_threshold(te);
  const int batches = (tr.n + batch - 1) / batch;

  RunResult result;
  result.layer_sizes = sizes;
  result.status = RunStatus::done;
  int chance_streak = 0;

  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    // Fisher-Yates with counter-based draws keyed by (seed, epoch).
    for (int i = 0; i < tr.n; ++i) order[static_cast<std::size_t>(i)] = i;
    const std::uint64_t shuffle_key = rng::key(config.seed, kStreamShuffle | static_cast<std::uint64_t>(epoch));
    for (int i = tr.n - 1; i > 0; --i) {
      const std::uint64_t r = rng::bits64(shuffle_key, static_cast<std::uint64_t>(i)) >> 32;
      const auto j = static_cast<int>((r * static_cast<std::uint64_t>(i + 1)) >> 32);
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    const float lr = static_cast<float>(lr_at(config, schedule, epoch));
    const float mu = static_cast<float>(config.momentum);
    const float wd = static_cast<float>(config.weight_decay);

    double loss_sum = 0.0;
    long hits = 0, seen = 0;
    std::uint64_t lost = 0, lost_denominator = 0;
    bool nonfinite = false;
    bool abandoned = false;
    for (int bi = 0; bi < batches; ++bi, ++step) {
      if (on_batch && !on_batch(epoch, bi, batches)) {
        abandoned = true;
        break;
      }
      const int r0 = bi * batch;
      const int B = std::min(batch, tr.n - r0);
      const int* rows = order.data() + r0;  // [B] this batch's samples
      gather_features(tr, rows, B, xb.data());
      for (int r = 0; r < B; ++r)
        yb[static_cast<std::size_t>(r)] = tr.y[static_cast<std::size_t>(rows[r])];
      // Prefetch the next batch's rows (13 cache lines each for MNIST's 784 bytes) so its
      // gather does not wait on DRAM for each randomly placed row.
      if (bi + 1 < batches) {
        const int n_next = std::min(batch, tr.n - r0 - B);
        for (int r = 0; r < n_next; ++r) {
          const std::uint8_t* row =
              tr.pixels.data() + static_cast<std::size_t>(rows[B + r]) * tr.dim;
          for (int off = 0; off < tr.dim; off += 64) __builtin_prefetch(row + off);
        }
      }
      net.forward(xb.data(), B, act_hook);
      int correct = 0;
      const double loss = net.loss_and_output_delta(yb.data(), B, &correct);
      if (!std::isfinite(loss)) {
        nonfinite = true;
        break;
      }
      loss_sum += loss * B;
      hits += correct;
      seen += B;
      net.backward(xb.data(), B, grad_hook);

      const bool event = config.every > 0 ? (step + 1) % static_cast<std::uint64_t>(config.every) == 0
                                          : bi + 1 == batches;
      const bool round_now = round_weights && event;
      const std::span<float> master_view = use_master ? std::span<float>(master) : std::span<float>();
      const StochasticKey weight_key{config.seed, kStreamRoundWeights | (step + 1), 0};
      QuantizeStats s;
      if (round_updates) {
        // step = lr v, v = mu v + g + wd w (PyTorch SGD), in place in grads; rounded; applied.
        float* g = net.grads.data();
        const float* w = use_master ? master.data() : net.params.data();
        if (config.momentum > 0) {
          float* v = velocity.data();
          for (std::size_t i = 0; i < P; ++i) {
            v[i] = mu * v[i] + (g[i] + wd * w[i]);
            g[i] = lr * v[i];
          }
        } else {
          for (std::size_t i = 0; i < P; ++i) g[i] = lr * (g[i] + wd * w[i]);
        }
        round_into(net.grads, kStreamRoundUpdates | step);
        lost += apply_update(net.params, master_view, net.grads, round_now, fmt, mode, weight_key, &s);
      } else {
        // The same step computed inside the update pass (one pass over the arrays).
        lost += sgd_update(net.params, master_view, net.grads, velocity, lr, mu, wd, round_now,
                           fmt, mode, weight_key, &s);
      }
      lost_denominator += P;
      if (round_now) last_stats = s;
    }

    if (abandoned) {
      result.status = RunStatus::pending;
      result.message = "stopped by the caller in epoch " + std::to_string(epoch + 1);
      break;
    }
    EpochMetrics m;
    m.train_loss = seen > 0 ? loss_sum / seen : std::nan("");
    if (nonfinite) m.train_loss = std::nan("");
    m.train_accuracy = seen > 0 ? static_cast<double>(hits) / seen : 0.0;
    m.test_accuracy = evaluate(epoch);
    m.lost_update_fraction = lost_denominator ? static_cast<double>(lost) / lost_denominator : 0.0;
    std::size_t zeros = 0;
    for (float v : net.params) zeros += v == 0.0f;
    m.zero_fraction = static_cast<double>(zeros) / P;
    m.overflow = last_stats.overflow;
    m.underflow = last_stats.underflow;
    m.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_epoch).count();
    result.epochs.push_back(m);
    result.final_test_accuracy = m.test_accuracy;

    if (nonfinite) {
      result.status = RunStatus::diverged;
      result.message = "loss became NaN/inf in epoch " + std::to_string(epoch + 1);
      break;
    }
    chance_streak = m.test_accuracy <= chance ? chance_streak + 1 : 0;
    const bool last = epoch + 1 == config.epochs;
    if (chance_streak >= kChancePatience || (last && chance_streak > 0)) {
      result.status = RunStatus::diverged;
      char buf[160];
      std::snprintf(buf, sizeof buf, "test accuracy at chance (<= %.4f) for %d epoch(s)%s", chance,
                    chance_streak, last ? "" : "; stopped early");
      result.message = buf;
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
  if (config.save_weights) result.params = net.params;
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  return result;
}

}  // namespace precsweep
