// Datasets as the trainer sees them: images as 8-bit pixels (features pixel / 255 in [0,1],
// converted per batch, so MNIST takes 55 MB instead of 220 MB per process) and labels 0..9.
// mnist: data/mnist/ (fetched by scripts/setup); fashion-mnist: Debian's dataset-fashion-mnist
// in /usr/share/datasets/fashion-mnist/; synthetic: a small generated problem for tests.
// Deliberately leaves out: augmentation and validation splits (the study uses train/test).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace precsweep {

struct Dataset {
  int n = 0;                    // number of samples
  int dim = 0;                  // features per sample (784 for 28x28 images)
  int classes = 10;
  std::vector<std::uint8_t> pixels;  // [n, dim] row-major, 0..255
  std::vector<std::uint8_t> y;       // [n], labels in 0..classes-1
};

// A pixel's feature value: the inputs scaled to [0,1] (exactly pixel / 255 in binary32).
inline float pixel_feature(std::uint8_t pixel) { return static_cast<float>(pixel) / 255.0f; }

// Features of rows rows[0..count) of d into out [count, dim] (the trainer's shuffled batch).
void gather_features(const Dataset& d, const int* rows, int count, float* out);
// Features of rows r0 .. r0+count-1 of d: [count, dim].
void copy_features(const Dataset& d, int r0, int count, float* out);
std::vector<float> features(const Dataset& d, int r0, int count);

// The datasets' names and shapes, known without loading data (the spec's dataset values, cost
// estimates, size checks before a run): mnist and fashion-mnist 784 inputs, 60000/10000
// samples; synthetic as make_synthetic's defaults.
struct DatasetShape {
  int dim = 784;
  int n_train = 60000;
  int n_test = 10000;
  int classes = 10;
};
constexpr DatasetShape kSyntheticShape{64, 2000, 500, 10};
// Throws InputError "unknown dataset 'x' (expected mnist, fashion-mnist or synthetic)".
DatasetShape dataset_shape(const std::string& name);

struct DatasetPair {
  std::string name;
  Dataset train;
  Dataset test;
};

// The folder a dataset is looked up in when --data-dir is not given:
// $PRECSWEEP_DATA_DIR/<name> if set; else /usr/share/datasets/fashion-mnist for fashion-mnist;
// else data/<name> found beside the executable (paths.hpp: the build tree's link to the source
// tree's data/, or an installed <prefix>/share/precsweep/data/<name>).
std::filesystem::path default_data_dir(const std::string& name);

// Loads "mnist", "fashion-mnist" (from data_dir, or the default when empty) or "synthetic".
// The folder must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte, each raw or with .gz. Throws InputError (with the command that
// fetches the data) when the folder or a file is missing or malformed.
DatasetPair load_dataset(const std::string& name, const std::filesystem::path& data_dir = {});

// A deterministic synthetic classification problem: `classes` Gaussian blobs in [0,1]^dim
// (stored as pixels like the images), learnable by a small MLP. Same seed, same data.
DatasetPair make_synthetic(int n_train = kSyntheticShape.n_train,
                           int n_test = kSyntheticShape.n_test, int dim = kSyntheticShape.dim,
                           int classes = kSyntheticShape.classes, std::uint64_t seed = 1);

}  // namespace precsweep
