// Writes the binary seed corpora the fuzz targets start from, into OUT/idx and OUT/results:
// small IDX files (raw and gzip, ranks 1 to 3, an empty array) and small results files (a
// sweep-shaped file with done, failed and pending points, and a `train --out` file), written
// with the project's own writers so they match today's layout. Run by scripts/fuzz at build
// time; nothing binary is committed.
// Deliberately leaves out: the text seeds (fuzz/corpus/, sweeps/*.yaml).
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "precsweep/idx.hpp"
#include "precsweep/results_file.hpp"
#include "precsweep/spec.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

void write_idx_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  IdxArray labels{{5}, {0, 1, 2, 3, 9}};
  IdxArray images{{2, 3, 3}, {}};
  for (int i = 0; i < 18; ++i) images.data.push_back(static_cast<std::uint8_t>(i * 14));
  IdxArray matrix{{2, 2}, {0, 255, 128, 7}};
  IdxArray empty{{0}, {}};
  write_idx(dir / "labels.idx", labels);
  write_idx(dir / "images.idx", images);
  write_idx(dir / "matrix.idx", matrix);
  write_idx(dir / "empty.idx", empty);
  write_idx(dir / "labels.idx.gz", labels);
  write_idx(dir / "images.idx.gz", images);
}

RunResult fake_result(RunStatus status, int epochs, const std::string& message) {
  RunResult r;
  r.status = status;
  for (int e = 0; e < epochs; ++e) {
    EpochMetrics m;
    m.train_loss = 1.0 / (e + 1);
    m.test_accuracy = 0.5 + 0.1 * e;
    m.overflow = static_cast<std::uint64_t>(e);
    r.epochs.push_back(m);
  }
  r.final_test_accuracy = epochs > 0 ? r.epochs.back().test_accuracy : 0;
  r.wall_seconds = 0.25;
  r.message = message;
  r.layer_sizes = {64, 4, 10};
  return r;
}

void write_results_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  const SweepSpec spec = parse_spec(
      "name: fuzz-seed\ndataset: synthetic\nepochs: 2\nmodel: {hidden: [4]}\n"
      "precision: {format: [E5M2, bf16], rounding: [nearest_even, stochastic]}\n"
      "baseline: true\n",
      "fuzz-seed.yaml");
  RunInfo info;
  info.hostnames = {"seedhost"};
  info.start_time = "2026-01-01T00:00:00Z";
  const fs::path sweep = dir / "sweep.h5";
  fs::remove(sweep);
  {
    ResultsFile f = ResultsFile::create(sweep, spec, info, h5::Access::serial(), true);
    f.write_point(0, fake_result(RunStatus::done, 2, ""), 0);
    f.write_point(1, fake_result(RunStatus::failed, 1, "seed: a failed point's message"), 0);
    f.write_point(2, fake_result(RunStatus::diverged, 1, "loss is nan"), 0);
    f.finish("2026-01-01T00:01:00Z");
  }
  const fs::path single = dir / "train.h5";
  fs::remove(single);
  write_single_run(single, spec.points[0].config, "synthetic", fake_result(RunStatus::done, 2, ""));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  try {
    write_idx_seeds(out / "idx");
    write_results_seeds(out / "results");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  std::printf("fuzz_make_seeds: wrote %s/{idx,results}\n", out.c_str());
  return 0;
}
