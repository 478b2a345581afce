// Dataset loading: the four IDX files of MNIST-style datasets, checked against each other, and
// a synthetic problem for tests.
#include "precsweep/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <cstdlib>

#include "precsweep/error.hpp"
#include "precsweep/idx.hpp"
#include "precsweep/paths.hpp"
#include "precsweep/rng.hpp"

namespace precsweep {
namespace {

std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    auto p = dir / (stem + suffix);
    if (std::filesystem::exists(p)) return p;
  }
  throw InputError(dir.string() + ": missing " + stem + " (or " + stem +
                   ".gz); run scripts/setup to fetch the data, or pass --data-dir");
}

// One split; `img_path` and `shape` ([rows, cols]) are returned for the train/test comparison.
Dataset load_split(const std::filesystem::path& dir, const std::string& prefix,
                   std::filesystem::path& img_path, std::string& shape) {
  img_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const auto lbl_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(img_path);
  IdxArray labels = read_idx(lbl_path);
  if (images.dims.size() != 3)
    throw InputError(img_path.string() + ": images must have 3 dimensions [n, rows, cols], got " +
                     std::to_string(images.dims.size()));
  if (labels.dims.size() != 1)
    throw InputError(lbl_path.string() + ": labels must have 1 dimension [n], got " +
                     std::to_string(labels.dims.size()));
  shape = std::to_string(images.dims[1]) + "x" + std::to_string(images.dims[2]);
  if (images.dims[0] == 0 || images.dims[1] == 0 || images.dims[2] == 0)
    throw InputError(img_path.string() + ": holds " + std::to_string(images.dims[0]) +
                     " images of " + shape + " pixels; a dataset needs images with pixels");
  if (images.dims[0] != labels.dims[0])
    throw InputError(img_path.string() + " holds " + std::to_string(images.dims[0]) +
                     " images but " + lbl_path.filename().string() + " holds " +
                     std::to_string(labels.dims[0]) + " labels");
  Dataset d;
  d.n = static_cast<int>(images.dims[0]);
  d.dim = static_cast<int>(images.dims[1] * images.dims[2]);
  d.pixels = std::move(images.data);
  d.y = std::move(labels.data);
  for (std::size_t i = 0; i < d.y.size(); ++i)
    if (d.y[i] >= d.classes)
      throw InputError(lbl_path.string() + ": label " + std::to_string(d.y[i]) + " at index " +
                       std::to_string(i) + " is outside 0..9");
  return d;
}

}  // namespace

void gather_features(const Dataset& d, const int* rows, int count, float* out) {
  const std::size_t dim = static_cast<std::size_t>(d.dim);
  for (int r = 0; r < count; ++r) {
    const std::uint8_t* in = d.pixels.data() + static_cast<std::size_t>(rows[r]) * dim;
    float* o = out + static_cast<std::size_t>(r) * dim;
    for (std::size_t k = 0; k < dim; ++k) o[k] = pixel_feature(in[k]);
  }
}

void copy_features(const Dataset& d, int r0, int count, float* out) {
  const std::size_t n = static_cast<std::size_t>(count) * static_cast<std::size_t>(d.dim);
  const std::uint8_t* in = d.pixels.data() + static_cast<std::size_t>(r0) * d.dim;
  for (std::size_t k = 0; k < n; ++k) out[k] = pixel_feature(in[k]);
}

std::vector<float> features(const Dataset& d, int r0, int count) {
  std::vector<float> out(static_cast<std::size_t>(count) * static_cast<std::size_t>(d.dim));
  copy_features(d, r0, count, out.data());
  return out;
}

std::filesystem::path default_data_dir(const std::string& name) {
  if (const char* env = std::getenv("PRECSWEEP_DATA_DIR"); env && *env)
    return std::filesystem::path(env) / name;
  if (name == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (auto found = find_beside_executable("data/" + name); !found.empty()) return found;
  return installed_path("data/" + name);
}

DatasetShape dataset_shape(const std::string& name) {
  if (name == "mnist" || name == "fashion-mnist") return DatasetShape{784, 60000, 10000, 10};
  if (name == "synthetic") return kSyntheticShape;
  throw InputError("unknown dataset '" + name + "' (expected mnist, fashion-mnist or synthetic)");
}

DatasetPair load_dataset(const std::string& name, const std::filesystem::path& data_dir) {
  dataset_shape(name);  // a known name
  if (name == "synthetic") return make_synthetic();
  const auto dir = data_dir.empty() ? default_data_dir(name) : data_dir;
  if (!std::filesystem::is_directory(dir))
    throw InputError("data folder " + dir.string() + " for " + name +
                     " does not exist; run scripts/setup to fetch it, or pass --data-dir");
  DatasetPair p;
  p.name = name;
  std::filesystem::path train_path, test_path;
  std::string train_shape, test_shape;
  p.train = load_split(dir, "train", train_path, train_shape);
  p.test = load_split(dir, "t10k", test_path, test_shape);
  if (train_shape != test_shape)  // same pixel count in another shape is still another image
    throw InputError(test_path.string() + " holds " + test_shape + " images but " +
                     train_path.filename().string() + " holds " + train_shape +
                     "; train and test images must have the same shape");
  return p;
}

// Each class c has a centre mu_c in [0.2, 0.8]^dim; a sample is mu_c + N(0, 0.15^2) per
// feature (Box-Muller from counter-based uniforms), clamped to [0,1] and rounded to a pixel
// (1/255 steps). Train and test draw from disjoint counters.
DatasetPair make_synthetic(int n_train, int n_test, int dim, int classes, std::uint64_t seed) {
  const std::uint64_t kc = rng::key(seed, 0x5c3e);
  std::vector<float> centre(static_cast<std::size_t>(classes) * dim);  // [classes, dim]
  for (std::size_t i = 0; i < centre.size(); ++i)
    centre[i] = static_cast<float>(0.2 + 0.6 * rng::uniform01(kc, i));
  auto make = [&](int n, std::uint64_t stream) {
    const std::uint64_t k = rng::key(seed, stream);
    Dataset d;
    d.n = n;
    d.dim = dim;
    d.classes = classes;
    d.pixels.resize(static_cast<std::size_t>(n) * dim);
    d.y.resize(n);
    for (int s = 0; s < n; ++s) {
      const int c = static_cast<int>(rng::bits64(k, 2ull * s * (dim + 1)) % classes);
      d.y[s] = static_cast<std::uint8_t>(c);
      for (int j = 0; j < dim; ++j) {
        const std::uint64_t ctr = 2ull * (static_cast<std::uint64_t>(s) * (dim + 1) + j + 1);
        const double u1 = 1.0 - rng::uniform01(k, ctr), u2 = rng::uniform01(k, ctr + 1);
        const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
        const double v = centre[static_cast<std::size_t>(c) * dim + j] + 0.15 * z;
        d.pixels[static_cast<std::size_t>(s) * dim + j] =
            static_cast<std::uint8_t>(std::lround(255.0 * std::clamp(v, 0.0, 1.0)));
      }
    }
    return d;
  };
  DatasetPair p;
  p.name = "synthetic";
  p.train = make(n_train, 0x7a1);
  p.test = make(n_test, 0x7e5);
  return p;
}

}  // namespace precsweep
