// Unit tests of the HDF5 wrappers (h5.hpp): round trips of every element type, fill values,
// row writes, fixed-length strings and attributes, errors carrying HDF5's stack, RAII closing
// every handle, and the MPI-IO path on a singleton MPI rank.
// Deliberately leaves out: multi-rank behaviour (tests/test_sweep_mpi.cpp runs real sweeps).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "precsweep/h5.hpp"
#include "precsweep/mpi.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

using precsweep::test::TempDir;

std::int64_t open_objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

}  // namespace

TEST(H5, RoundTripsEveryTypeWithFillAndRows) {
  TempDir dir;
  fs::path file = dir.path / "a.h5";
  {
    h5::File f = h5::File::create(file, h5::Access::serial());
    h5::Group g = f.root().create_group("results");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::int8_t minus1 = -1;
    h5::Dataset d = g.create_dataset("metric", h5::Type::f64, {4, 3}, &nan);
    h5::Dataset s = g.create_dataset("status", h5::Type::i8, {4}, &minus1);
    h5::Dataset i64 = g.create_dataset("big", h5::Type::i64, {2});
    h5::Dataset u64 = g.create_dataset("seed", h5::Type::u64, {2});
    h5::Dataset f32 = g.create_dataset("w", h5::Type::f32, {2});
    h5::Dataset i32 = g.create_dataset("n", h5::Type::i32, {2});
    double row[2][3] = {{1.5, 2.5, 3.5}, {-1, -2, -3}};  // [2, 3]
    d.write_rows(1, 2, &row[0][0]);
    std::int8_t st = 1;
    s.write_rows(2, 1, &st);
    std::int64_t big[2] = {std::int64_t{1} << 60, -7};
    i64.write_rows(0, 2, big);
    std::uint64_t seeds[2] = {~std::uint64_t{0}, 3};
    u64.write_rows(0, 2, seeds);
    float w[2] = {0.25f, -1e-30f};
    f32.write_rows(0, 2, w);
    std::int32_t n[2] = {-5, 123456};
    i32.write_rows(0, 2, n);
    EXPECT_THROW(d.write_rows(3, 2, &row[0][0]), h5::Error);  // rows 3..4 of 4
    f.close();
  }
  EXPECT_EQ(open_objects(), 0);

  h5::File f = h5::File::open(file, false, h5::Access::serial());
  h5::Group g = f.root().open_group("results");
  h5::Dataset d = g.open_dataset("metric");
  EXPECT_EQ(d.dims(), (std::vector<hsize_t>{4, 3}));
  EXPECT_EQ(d.type(), h5::Type::f64);
  std::vector<double> m = d.read_all<double>();  // [4, 3]
  ASSERT_EQ(m.size(), 12u);
  for (int j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(m[static_cast<std::size_t>(j)]));
  EXPECT_EQ(m[3], 1.5);
  EXPECT_EQ(m[8], -3);
  EXPECT_TRUE(std::isnan(m[11]));
  EXPECT_EQ(g.open_dataset("status").read_all<std::int8_t>(),
            (std::vector<std::int8_t>{-1, -1, 1, -1}));
  EXPECT_EQ(g.open_dataset("big").read_all<std::int64_t>(),
            (std::vector<std::int64_t>{std::int64_t{1} << 60, -7}));
  EXPECT_EQ(g.open_dataset("seed").read_all<std::uint64_t>(),
            (std::vector<std::uint64_t>{~std::uint64_t{0}, 3}));
  EXPECT_EQ(g.open_dataset("seed").type(), h5::Type::u64);
  EXPECT_EQ(g.open_dataset("w").read_all<float>(), (std::vector<float>{0.25f, -1e-30f}));
  EXPECT_EQ(g.open_dataset("n").read_all<std::int32_t>(), (std::vector<std::int32_t>{-5, 123456}));
  EXPECT_EQ(g.open_dataset("n").type(), h5::Type::i32);
}

TEST(H5, FixedLengthStringsTruncateAndPad) {
  TempDir dir;
  fs::path file = dir.path / "s.h5";
  {
    h5::File f = h5::File::create(file, h5::Access::serial());
    h5::Dataset s = f.root().create_dataset("names", h5::Type::string, {3}, nullptr, 5);
    EXPECT_EQ(s.string_size(), 5u);
    s.write_strings(1, {"E5M2", "toolongvalue"});
    f.close();
  }
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  EXPECT_EQ(f.root().open_dataset("names").read_strings(),
            (std::vector<std::string>{"", "E5M2", "toolo"}));
  EXPECT_EQ(f.root().open_dataset("names").type(), h5::Type::string);
}

TEST(H5, AttributesRoundTripAndOverwrite) {
  TempDir dir;
  fs::path file = dir.path / "attr.h5";
  {
    h5::File f = h5::File::create(file, h5::Access::serial());
    h5::Group& r = f.root();
    r.write_attr("text", std::string("name: x\nepochs: 2\n"));
    r.write_attr("empty", std::string());
    r.write_attr("hosts", std::vector<std::string>{"node1", "a-much-longer-host"});
    r.write_attr("none", std::vector<std::string>{});
    r.write_attr("n", std::int64_t{-42});
    r.write_attr("x", 0.125);
    r.write_attr("n", std::int64_t{7});             // replace, same type
    r.write_attr("end", std::string(""));
    r.write_attr("end", std::string("2026-01-01T00:00:00Z"));  // replace with a longer value
    f.close();
  }
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  const h5::Group& r = f.root();
  EXPECT_EQ(r.read_attr_string("text"), "name: x\nepochs: 2\n");
  EXPECT_EQ(r.read_attr_string("empty"), "");
  EXPECT_EQ(r.read_attr_strings("hosts"),
            (std::vector<std::string>{"node1", "a-much-longer-host"}));
  EXPECT_TRUE(r.read_attr_strings("none").empty());
  EXPECT_EQ(r.read_attr_int("n"), 7);
  EXPECT_EQ(r.read_attr_double("x"), 0.125);
  EXPECT_EQ(r.read_attr_string("end"), "2026-01-01T00:00:00Z");
  EXPECT_TRUE(r.has_attr("x"));
  EXPECT_FALSE(r.has_attr("nope"));
  EXPECT_THROW(r.read_attr_string("nope"), h5::Error);
}

TEST(H5, ErrorsCarryTheCallAndHdf5Stack) {
  TempDir dir;
  try {
    h5::File::open(dir.path / "missing.h5", false, h5::Access::serial());
    FAIL() << "opening a missing file must throw";
  } catch (const h5::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("H5Fopen"), std::string::npos) << what;
    EXPECT_NE(what.find("missing.h5"), std::string::npos) << what;
    EXPECT_NE(what.find("#0 H5Fopen"), std::string::npos) << "no HDF5 stack in: " << what;
    EXPECT_NE(what.find("unable to open file"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
  // Refuses to create over an existing file.
  fs::path file = dir.path / "x.h5";
  h5::File::create(file, h5::Access::serial()).close();
  EXPECT_THROW(h5::File::create(file, h5::Access::serial()), h5::Error);
  EXPECT_TRUE(h5::File::is_hdf5(file));
  EXPECT_FALSE(h5::File::is_hdf5(dir.path / "missing.h5"));
  EXPECT_EQ(open_objects(), 0);
}

TEST(H5, HandlesMoveAndCloseOnce) {
  TempDir dir;
  fs::path file = dir.path / "m.h5";
  {
    h5::File f = h5::File::create(file, h5::Access::serial());
    h5::Dataset a = f.root().create_dataset("a", h5::Type::i32, {2});
    h5::Dataset b = std::move(a);
    EXPECT_LT(a.id(), 0);  // NOLINT: moved-from is empty by contract
    EXPECT_GE(b.id(), 0);
    EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET), 1);
  }
  EXPECT_EQ(open_objects(), 0);
}

TEST(H5, MpioAccessOnOneRank) {
  mpi::Environment env;  // singleton MPI: this test runs without mpirun
  TempDir dir;
  fs::path file = dir.path / "p.h5";
  {
    h5::File f = h5::File::create(file, h5::Access::mpio(mpi::world()));
    EXPECT_TRUE(f.parallel());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    h5::Dataset d = f.root().create_dataset("v", h5::Type::f64, {3}, &nan);
    h5::Dataset s = f.root().create_dataset("msg", h5::Type::string, {3}, nullptr, 8);
    double v = 2.0;
    d.write_rows(1, 1, &v);
    s.write_strings(2, {"failed"});
    f.root().write_attr("mpi_size", std::int64_t{mpi::size()});
    f.flush();
    d = h5::Dataset();
    s = h5::Dataset();
    f.close();
  }
  h5::File f = h5::File::open(file, false, h5::Access::serial());
  std::vector<double> v = f.root().open_dataset("v").read_all<double>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 2.0);
  EXPECT_EQ(f.root().open_dataset("msg").read_strings()[2], "failed");
  EXPECT_EQ(f.root().read_attr_int("mpi_size"), 1);
}
