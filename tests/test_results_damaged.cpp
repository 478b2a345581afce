// Damaged results files: `status` and `sweep --resume` must answer every byte-flipped, truncated
// or hand-edited file with exit 0 (the damage did not matter) or exit 2 with one line "not a
// precsweep results file or damaged: ...", never a crash or an internal error. Files of the
// older layout (variable-length string attributes) must still read, damaged ones included.
// Deliberately leaves out: damage while a sweep writes (disk full, kills: test_sweep_mpi).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "precsweep/h5.hpp"
#include "precsweep/precision.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using precsweep::test::CliRun;
using precsweep::test::run_precsweep;
using precsweep::test::TempDir;

namespace {

// Four quick points on the synthetic data; point 1 fails (so /results/message is read too).
const char* kSpec = R"(name: tiny
dataset: synthetic
epochs: 2
seed: [1, 2]
model:
  hidden: [4]
train:
  lr: 0.05
  batch: 64
precision:
  format: [E5M2, E4M3]
  rounding: nearest_even
)";

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<char>& data, std::size_t n) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(n));
}

// A finished tiny sweep in `dir`: dir/tiny.yaml and dir/tiny.h5.
fs::path make_results(const fs::path& dir) {
  std::ofstream(dir / "tiny.yaml") << kSpec;
  const fs::path file = dir / "tiny.h5";
  ::setenv("PRECSWEEP_FAIL_POINTS", "1", 1);
  const CliRun r = run_precsweep("sweep " + q(dir / "tiny.yaml") + " --out " + q(file));
  ::unsetenv("PRECSWEEP_FAIL_POINTS");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  return file;
}

// Exit 0, or exit 2 with one line on stderr; anything else is reported with `what`.
void expect_clean(const CliRun& r, const std::string& what) {
  EXPECT_TRUE(r.code == 0 || r.code == 2) << what << ": exit " << r.code << "\n" << r.err;
  if (r.code == 2) {
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << r.err;
  }
}

// Flips one byte (xor with a nonzero value) at `count` seeded offsets and runs `status` on
// each copy; every `resume_every`-th copy also goes through `sweep --resume`.
// Under AddressSanitizer each run costs several times more: the new-layout test checks the
// first quarter of the same flips there (the fuzzer, in that tree too, covers damaged files far
// more widely). The old-layout test keeps all 60: fewer hit nothing its readers notice.
#if defined(PRECSWEEP_UNDER_ASAN)
constexpr int kFlipDivisor = 4;
#else
constexpr int kFlipDivisor = 1;
#endif

void flip_and_check(const fs::path& dir, const fs::path& file, int count, int resume_every) {
  const std::vector<char> original = read_bytes(file);
  ASSERT_GT(original.size(), 1000u);
  std::mt19937_64 rng(14);
  const fs::path copy = dir / "flipped.h5";
  int damaged = 0;
  for (int i = 0; i < count; ++i) {
    const std::size_t off = rng() % original.size();
    const char x = static_cast<char>(1 + rng() % 255);
    std::vector<char> data = original;
    data[off] = static_cast<char>(data[off] ^ x);
    const std::string what = "byte " + std::to_string(off) + " ^ " +
                             std::to_string(static_cast<unsigned char>(x));
    write_bytes(copy, data, data.size());
    const CliRun s = run_precsweep("status " + q(copy));
    expect_clean(s, "status, " + what);
    damaged += s.code == 2;
    if (i % resume_every == 0) {
      const CliRun r = run_precsweep("sweep " + q(dir / "tiny.yaml") + " --out " + q(copy) +
                                     " --resume --progress 0");
      expect_clean(r, "sweep --resume, " + what);
    }
  }
  EXPECT_GT(damaged, 0) << "no flip was detected: the test no longer reaches the readers";
}

// Rewrites every root string attribute as variable-length, as precsweep wrote them before.
void make_old_layout(const fs::path& file) {
  namespace h5 = precsweep::h5;
  h5::File f = h5::File::open(file, true, h5::Access::serial());
  h5::Group& root = f.root();
  std::vector<std::string> names;
  H5Aiterate2(
      root.id(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  for (const std::string& name : names) {
    const hid_t a = H5Aopen(root.id(), name.c_str(), H5P_DEFAULT);
    const hid_t t = H5Aget_type(a);
    const hid_t space = H5Aget_space(a);
    const bool fixed_string = H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0;
    const bool scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR;
    H5Sclose(space);
    H5Tclose(t);
    H5Aclose(a);
    if (!fixed_string) continue;
    const std::vector<std::string> values = root.read_attr_strings(name);
    ASSERT_GE(H5Adelete(root.id(), name.c_str()), 0) << name;
    const hid_t vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    H5Tset_cset(vt, H5T_CSET_UTF8);
    const hsize_t n = values.size();
    const hid_t vs = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
    const hid_t va = H5Acreate2(root.id(), name.c_str(), vt, vs, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<const char*> ptrs;
    for (const std::string& v : values) ptrs.push_back(v.c_str());
    if (!ptrs.empty()) {
      EXPECT_GE(H5Awrite(va, vt, ptrs.data()), 0) << name;
    }
    H5Aclose(va);
    H5Sclose(vs);
    H5Tclose(vt);
  }
  f.close();
}

// Replaces dataset `path` of `file` by an int8 [n] dataset holding `values`.
void replace_status(const fs::path& file, const std::vector<std::int8_t>& values) {
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  ASSERT_GE(H5Ldelete(f, "/results/status", H5P_DEFAULT), 0);
  const hsize_t n = values.size();
  const hid_t space = H5Screate_simple(1, &n, nullptr);
  const hid_t d = H5Dcreate2(f, "/results/status", H5T_NATIVE_INT8, space, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Dwrite(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

void set_int_attr(const fs::path& file, const char* name, std::int64_t value) {
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t a = H5Aopen_by_name(f, "/", name, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(a, 0) << name;
  EXPECT_GE(H5Awrite(a, H5T_NATIVE_INT64, &value), 0);
  H5Aclose(a);
  H5Fclose(f);
}

// Both readers refuse `file` with exit 2 and a message containing `expect`.
void expect_refused(const fs::path& dir, const fs::path& file, const std::string& expect) {
  const CliRun s = run_precsweep("status " + q(file));
  EXPECT_EQ(s.code, 2) << s.out << s.err;
  EXPECT_NE(s.err.find(expect), std::string::npos) << s.err;
  EXPECT_EQ(s.out, "") << "status printed part of a damaged file";
  const CliRun r = run_precsweep("sweep " + q(dir / "tiny.yaml") + " --out " + q(file) +
                                 " --resume --progress 0");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
}

}  // namespace

TEST(ResultsDamaged, StringAttributesAreFixedLength) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const char* name : {"spec_sha256", "spec_name", "axes", "created_by", "hostnames",
                           "start_time", "last_start_time", "end_time", "tool_version"}) {
    const hid_t a = H5Aopen_by_name(f, "/", name, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(a, 0) << name;
    const hid_t t = H5Aget_type(a);
    EXPECT_EQ(H5Tget_class(t), H5T_STRING) << name;
    EXPECT_EQ(H5Tis_variable_str(t), 0) << name << " is variable-length";
    H5Tclose(t);
    H5Aclose(a);
  }
  H5Fclose(f);
}

TEST(ResultsDamaged, ByteFlipsGiveExit0Or2) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  EXPECT_EQ(run_precsweep("status " + q(file)).code, 0);
  flip_and_check(dir.path, file, 160 / kFlipDivisor, 10);
}

TEST(ResultsDamaged, OldLayoutReadsAndItsByteFlipsGiveExit0Or2) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  make_old_layout(file);
  const CliRun s = run_precsweep("status " + q(file));
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("spec: tiny (sha256"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("failed 1"), std::string::npos) << s.out;
  flip_and_check(dir.path, file, 60, 10);
  const fs::path copy = dir.path / "resumed.h5";
  fs::copy_file(file, copy);
  const CliRun r = run_precsweep("sweep " + q(dir.path / "tiny.yaml") + " --out " + q(copy) +
                                 " --resume --retry-failed --progress 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(run_precsweep("status " + q(copy)).code, 0);
}

// A file from before the parameter table (issue 15): no table attributes, no /points column
// for label_smoothing. status reads it, and a resume re-runs a point into it with the row it
// had (kSpec leaves label_smoothing at its default, which is how those points ran).
TEST(ResultsDamaged, FileFromBeforeTheParameterTableReadsAndResumes) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const char* name : {"parameters", "parameter_kinds", "epoch_metrics", "run_metrics"})
    EXPECT_GE(H5Adelete(f, name), 0) << name;
  EXPECT_GE(H5Ldelete(f, "/points/label_smoothing", H5P_DEFAULT), 0);
  H5Fclose(f);
  const CliRun s = run_precsweep("status " + q(file));
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("failed 1"), std::string::npos) << s.out;
  const CliRun r = run_precsweep("sweep " + q(dir.path / "tiny.yaml") + " --out " + q(file) +
                                 " --resume --retry-failed --progress 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const CliRun after = run_precsweep("status " + q(file));
  EXPECT_NE(after.out.find("failed=0 pending=0"), std::string::npos) << after.out;
}

// A file from before precision recipes: no recipe, role or loss_scale columns, no per-epoch
// skipped_steps, loss_scale or per-role metrics. status reads it and a resume runs into it
// (the missing metrics are not written).
TEST(ResultsDamaged, FileFromBeforeRecipesReadsAndResumes) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  const hid_t f = H5Fopen(file.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  std::vector<std::string> gone = {"/points/recipe", "/points/loss_scale", "/points/loss_scaling",
                                   "/results/skipped_steps", "/results/loss_scale"};
  for (precsweep::Role role : precsweep::kAllRoles) {
    const std::string n = precsweep::to_string(role);
    for (const char* part : {"_format", "_rounding", "_scale"}) gone.push_back("/points/" + n + part);
    gone.push_back("/points/round_" + n);
    for (const char* m : {"_overflow_fraction", "_underflow_fraction", "_log2_scale", "_amax_exceeded"})
      gone.push_back("/results/" + n + m);
  }
  for (const std::string& name : gone) EXPECT_GE(H5Ldelete(f, name.c_str(), H5P_DEFAULT), 0) << name;
  H5Fclose(f);
  const CliRun s = run_precsweep("status " + q(file));
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("failed 1"), std::string::npos) << s.out;
  const CliRun r = run_precsweep("sweep " + q(dir.path / "tiny.yaml") + " --out " + q(file) +
                                 " --resume --retry-failed --progress 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const CliRun after = run_precsweep("status " + q(file));
  EXPECT_NE(after.out.find("failed=0 pending=0"), std::string::npos) << after.out;
}

TEST(ResultsDamaged, TruncatedFileIsExit2) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  const std::vector<char> data = read_bytes(file);
  for (std::size_t n : {std::size_t{0}, std::size_t{7}, data.size() / 3, data.size() - 1}) {
    write_bytes(file, data, n);
    const CliRun s = run_precsweep("status " + q(file));
    EXPECT_EQ(s.code, 2) << n << " bytes: " << s.err;
  }
}

TEST(ResultsDamaged, StatusOutOfRangeIsRefused) {
  for (std::int8_t bad : {std::int8_t{7}, std::int8_t{-3}}) {
    TempDir dir;
    const fs::path file = make_results(dir.path);
    replace_status(file, {1, bad, 0, 1});
    expect_refused(dir.path, file, "/results/status of point 1 is " + std::to_string(bad));
  }
}

TEST(ResultsDamaged, ShortStatusIsRefused) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  replace_status(file, {1, 1});
  expect_refused(dir.path, file, "damaged: /results/status has shape [2], expected [4]");
}

TEST(ResultsDamaged, HugeMaxEpochsIsRefused) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  set_int_attr(file, "max_epochs", std::int64_t{1} << 40);
  expect_refused(dir.path, file, "damaged: max_epochs 1099511627776 is outside 0..100000");
}

// An attribute message nobody reads back (mpi_size: `status` shows it, `--resume` only rewrites
// its neighbours) with a damaged name length: the resume's attribute rewrite walks every
// message, so the readers check them all up front (it was exit 1 from the parallel phase).
TEST(ResultsDamaged, DamagedAttributeMessageIsExit2ForBothReaders) {
  TempDir dir;
  const fs::path file = make_results(dir.path);
  std::vector<char> data = read_bytes(file);
  const std::string name("mpi_size\0", 9);
  const auto at = std::search(data.begin(), data.end(), name.begin(), name.end());
  ASSERT_NE(at, data.end());
  // Attribute message (version 1): version, reserved, name size (2 bytes), ..., then the name.
  const std::size_t pos = static_cast<std::size_t>(at - data.begin());
  ASSERT_GE(pos, 6u);
  ASSERT_EQ(static_cast<unsigned char>(data[pos - 6]), name.size());  // "mpi_size" + NUL
  data[pos - 6] = static_cast<char>(data[pos - 6] + 1);
  write_bytes(file, data, data.size());
  expect_refused(dir.path, file, "not a precsweep results file or damaged: ");
}
