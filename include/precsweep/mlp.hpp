// The multilayer perceptron the trainer runs: dense layers, a hidden activation (sigmoid, tanh or
// relu), softmax + cross-entropy output. Fast forward/backward through CBLAS sgemm (row-major;
// each product in fixed blocks, one single-threaded sgemm per block, so the results do not
// depend on the thread count) with bias, activation and derivative in fused OpenMP loops. Its
// frozen reference (plain loops, double accumulation) is tests/mlp_ref.hpp.
//
// Parameter layout (one contiguous buffer of layout.count floats, llm.c style), for each layer
// l = 0 .. L-1 with in = sizes[l], out = sizes[l+1]:
//   W[l]  [out, in]  row-major (PyTorch nn.Linear order: row j holds the weights into unit j)
//   b[l]  [out]
// stored as W[0] b[0] W[1] b[1] ... The gradient and optimizer-state buffers use the same layout,
// so "round every weight and bias" is one call over one array.
// Deliberately leaves out: dropout, batch norm, other losses, storing pre-activations (every
// derivative used here is a function of the activation output).
#pragma once
#include <cstddef>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "precsweep/accumulate.hpp"
#include "precsweep/formats.hpp"

namespace precsweep {

enum class Activation : std::uint8_t { sigmoid, tanh, relu };
Activation parse_activation(std::string_view text);  // throws InputError
std::string to_string(Activation a);

// A trained network: layer sizes {in, hidden..., classes}, activation, and parameters in the
// layout below (W[0] b[0] W[1] b[1] ...), as `train --save-weights` stores them (weights.hpp).
struct StoredNetwork {
  std::vector<int> sizes;
  Activation activation = Activation::sigmoid;
  std::vector<float> params;  // [MlpLayout(sizes).count]
};

struct MlpLayout {
  std::vector<int> sizes;            // {inputs, hidden..., classes}
  std::vector<std::size_t> w_offset; // [L] offset of W[l] in the parameter buffer
  std::vector<std::size_t> b_offset; // [L] offset of b[l]
  std::size_t count = 0;             // total parameters

  MlpLayout() = default;
  explicit MlpLayout(std::vector<int> layer_sizes);  // InputError on < 2 sizes or a size < 1
  int layers() const { return static_cast<int>(sizes.size()) - 1; }
  int in(int l) const { return sizes[static_cast<std::size_t>(l)]; }
  int out(int l) const { return sizes[static_cast<std::size_t>(l) + 1]; }
  int classes() const { return sizes.back(); }
};

// Called on a tensor right after it is computed, so a policy can round it in place:
// forward: the output of layer l ([B, out(l)]: activation for hidden layers, logits for the
// last); backward: the delta dL/dz of layer l ([B, out(l)]).
using TensorHook = std::function<void(std::span<float> values, int layer)>;

// How the products add: an accumulator per kind (BLAS sgemm where Accumulator::is_blas()), the
// stochastic key of (kind, layer) for this pass, and whether to count swamped additions.
struct GemmAccumulation {
  std::array<Accumulator, kGemmKinds> acc{};  // by GemmKind; default fp32 nearest: BLAS
  std::function<StochasticKey(GemmKind, int layer)> key;  // needed for stochastic accumulators
  bool count = false;  // add each product's AccumulateStats to Mlp::accumulate_stats
  bool any() const {
    return !acc[0].is_blas() || !acc[1].is_blas() || !acc[2].is_blas();
  }
};

// Block formats in training (docs/training.md, "Block formats in training"): each product's
// operands are blocked along that product's reduction dimension. The tensors themselves are
// rounded along their rows (the hooks of forward/backward); where a product reduces down the
// columns instead, it takes a copy rounded that way:
//   activations: layer l's output [B, out(l)] (hidden layers), copied before the forward hook
//                rounds it, for the dW product of layer l+1 (which reduces over the batch);
//   errors:      layer l's delta [B, out(l)], copied before the backward hook rounds it, for
//                the dW product of layer l;
//   weights:     a [layout.count] buffer whose W[l] [out, in] is blocked down its columns, for
//                the delta below (D_prev = D W reduces over the output units); null: params.
// An unset hook leaves that operand as the tensor itself (elementwise formats: the same bits).
struct ColumnOperands {
  TensorHook activations;
  TensorHook errors;
  const float* weights = nullptr;
  bool any() const { return activations || errors || weights; }
};

// Network with its parameter, gradient and workspace buffers, all allocated once for a maximum
// batch size; forward/backward never allocate.
class Mlp {
 public:
  Mlp(std::vector<int> layer_sizes, Activation activation, int max_batch);

  const MlpLayout& layout() const { return layout_; }
  Activation activation() const { return activation_; }
  int max_batch() const { return max_batch_; }

  std::vector<float> params;  // [layout.count] W[0] b[0] W[1] b[1] ...
  std::vector<float> grads;   // [layout.count] same layout: d(mean loss)/d(param)

  float* W(int l) { return params.data() + layout_.w_offset[static_cast<std::size_t>(l)]; }
  float* b(int l) { return params.data() + layout_.b_offset[static_cast<std::size_t>(l)]; }
  float* dW(int l) { return grads.data() + layout_.w_offset[static_cast<std::size_t>(l)]; }
  float* db(int l) { return grads.data() + layout_.b_offset[static_cast<std::size_t>(l)]; }

  // X: [B, in] row-major, B <= max_batch. Computes every layer's output; returns the class
  // probabilities [B, classes] (softmax of the last layer's logits), valid until the next
  // loss_and_output_delta (they live in the last layer's delta buffer).
  // `hook` sees each layer's output before it feeds the next layer (and before softmax).
  const float* forward(const float* X, int B, const TensorHook& hook = {});

  // After forward(X, B): mean cross-entropy over the batch given labels y [B] against the
  // targets T = (1 - eps) onehot(y) + eps / classes (eps = label smoothing in [0, 1); 0: plain
  // one-hot); per-sample losses are summed in order in double so the value does not depend on
  // the thread count. `correct` receives the number of argmax hits. Sets the last layer's delta
  // to (P - T) / B.
  double loss_and_output_delta(const std::uint8_t* y, int B, int* correct, double eps = 0.0);

  // After loss_and_output_delta: fills grads (mean over the batch). `hook` sees each layer's
  // delta before it is used for that layer's gradient and for the layer below.
  void backward(const float* X, int B, const TensorHook& hook = {});

  // Products of later passes add as `a` says (default: every product through BLAS).
  void set_accumulation(GemmAccumulation a) { accumulation_ = std::move(a); }
  const GemmAccumulation& accumulation() const { return accumulation_; }
  // Products of later passes take these column-blocked operands (default: none).
  void set_column_operands(ColumnOperands c);
  const ColumnOperands& column_operands() const { return columns_; }
  // [kind][layer] additions and swamped additions counted since the last reset.
  const std::array<std::vector<AccumulateStats>, kGemmKinds>& accumulate_stats() const {
    return acc_stats_;
  }
  void reset_accumulate_stats();

  // Output of layer l from the last forward ([B, out(l)]: activations; logits for the last).
  const float* output(int l) const { return acts_[static_cast<std::size_t>(l)].data(); }

  // After forward(X, B): how many rows' argmax logit equals y[r] (first index wins ties).
  int count_correct(int B, const std::uint8_t* y) const;

 private:
  MlpLayout layout_;
  Activation activation_;
  int max_batch_;
  std::vector<std::vector<float>> acts_;    // [L] x [max_batch, out(l)]: layer outputs
  std::vector<std::vector<float>> deltas_;  // [L] x [max_batch, out(l)]: dL/dz of layer l
  std::vector<double> sample_loss_;         // [max_batch] -log p_y per row
  std::vector<float> lse_;                  // [max_batch] log sum_j exp(logit[r, j])
  GemmAccumulation accumulation_;
  ColumnOperands columns_;
  std::vector<std::vector<float>> acts_col_;  // [L-1] x [max_batch, out(l)]: see ColumnOperands
  std::vector<float> delta_col_;              // [max_batch, max out(l)]: see ColumnOperands
  std::array<std::vector<AccumulateStats>, kGemmKinds> acc_stats_;  // [kind][L]

  // The product of kind k for layer l ([B] rows, in(l) inputs, out(l) outputs) through the
  // accumulation kernels, for an accumulator that is not BLAS.
  void accumulate_gemm(GemmKind k, int l, const float* X, const float* Y, float* result, int B,
                       int in, int out);
};

// Glorot/Xavier uniform U(-a, a), a = sqrt(6 / (in + out)) for sigmoid and tanh; He uniform
// a = sqrt(6 / in) for relu; biases 0. Element i of the buffer uses counter i of the stream
// rng::key(seed, kStreamInit), so the values depend only on (seed, layer sizes).
void init_params(const MlpLayout& layout, Activation activation, std::uint64_t seed,
                 std::span<float> params);

// ---- weight update kernel -----------------------------------------------------------------------
// One SGD step on the stored weights, rounding the result into `fmt` when `round` is set:
//   master empty  (plain scheme):   working[i] <- q(working[i] - step[i])
//   master given  (mixed precision): master[i] <- master[i] - step[i]; working[i] <- q(master[i])
// where q is quantize(fmt, mode, key) (stochastic bits at key.offset + i) or the identity when
// `round` is false. Returns how many i had step[i] != 0 but an unchanged working[i] (updates
// lost to rounding or to fp32 swamping). Adds the rounding's counts to *stats.
std::uint64_t apply_update(std::span<float> working, std::span<float> master,
                           std::span<const float> step, bool round, const Format& fmt,
                           Rounding mode, StochasticKey key, QuantizeStats* stats);

// One SGD step (PyTorch's rule) on the stored weights, with its rounding. The step is lr * d,
//   d = v, v <- momentum v + (g + weight_decay x)   (momentum > 0; v is `velocity`)
//   d = g + weight_decay x                            (momentum == 0)
// where x is the value the step is applied to (master if given, else working); it is applied
// as apply_update does, the weights rounded per `UpdateRounding`. grads is consumed (its
// contents afterwards are unspecified); velocity is only touched when momentum > 0.
struct SgdStep {
  float lr = 0.1f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
};
// What the step rounds into `format` in `mode`: the updated weights (the working copy, with
// master weights), and the step lr * d itself before it is applied (--apply-to updates; d is
// then formed as (g + weight_decay x) even at weight_decay 0, the step rounded with step_key,
// and applied with scale 1). Each with its own counter-based stream.
struct UpdateRounding {
  Format format{};
  Rounding mode = Rounding::toward_zero;
  bool weights = false;
  StochasticKey weights_key{};
  bool step = false;
  StochasticKey step_key{};
  // Precision recipes (precision.hpp; train.cpp sets these per role), each optional. A hook
  // rounds a whole [P] buffer in place (layer by layer, with per-tensor scaling if any).
  std::function<void(std::span<float>)> velocity_hook{};  // momentum: v after it is formed
  std::function<void(std::span<float>)> step_hook{};    // replaces the step's quantize
  std::function<void(std::span<float>)> weights_hook{};  // replaces the weights' rounding
  // The master copy's own format (master given): master[i] <- q_m(master[i] - step[i]) in the
  // same pass (binary32 = the identity, as without recipes).
  Format master_format{};
  Rounding master_mode = Rounding::nearest_even;
  StochasticKey master_key{};
  // Replaces master_format's rounding (block formats: blocks per weight row, train.cpp): the
  // master receives the update in binary32, then the hook rounds it.
  std::function<void(std::span<float>)> master_hook{};
};
struct UpdateCounts {
  std::uint64_t lost = 0;  // step != 0 but the stored weight unchanged (swamping)
  QuantizeStats step;      // the step's rounding (when rounded)
  QuantizeStats weights;   // the weights' rounding (when rounded, without weights_hook)
  QuantizeStats master;    // the master copy's rounding (master_format not binary32)
};
// Without step rounding the subtraction, rounding and lost-update count are one pass
// (subtract_round in formats.hpp), preceded by one pass forming d when momentum or weight
// decay is on. Elementwise passes, OpenMP-threaded for large buffers.
UpdateCounts sgd_update(std::span<float> working, std::span<float> master, std::span<float> grads,
                        std::span<float> velocity, const SgdStep& sgd, const UpdateRounding& rounding);

}  // namespace precsweep
