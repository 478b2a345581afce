// IDX reader and dataset loading: valid raw and .gz files, every malformed case the reader must
// reject with a clear message, and (when scripts/setup has fetched it) the real MNIST counts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>

#include "precsweep/dataset.hpp"
#include "precsweep/error.hpp"
#include "precsweep/idx.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace precsweep;

namespace {

using precsweep::test::TempDir;

void write_raw(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

IdxArray images(std::uint32_t n, std::uint32_t rows = 2, std::uint32_t cols = 3) {
  IdxArray a{{n, rows, cols}, {}};
  for (std::uint32_t i = 0; i < n * rows * cols; ++i) a.data.push_back(static_cast<std::uint8_t>(i * 7));
  return a;
}

IdxArray labels(std::uint32_t n) {
  IdxArray a{{n}, {}};
  for (std::uint32_t i = 0; i < n; ++i) a.data.push_back(static_cast<std::uint8_t>(i % 10));
  return a;
}

// Expects read_idx to throw an InputError whose message names the file and contains `what`.
void expect_rejects(const fs::path& p, const std::string& what) {
  try {
    read_idx(p);
    FAIL() << "accepted " << p;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Idx, RoundTripRawAndGz) {
  TempDir d;
  const IdxArray a = images(5);
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    write_idx(d.path / name, a);
    const IdxArray b = read_idx(d.path / name);
    EXPECT_EQ(b.dims, a.dims);
    EXPECT_EQ(b.data, a.data);
  }
  // The .gz file really is compressed (starts with the gzip magic), not a renamed raw file.
  std::ifstream gz(d.path / "a-idx3-ubyte.gz", std::ios::binary);
  std::array<unsigned char, 2> magic{};
  gz.read(reinterpret_cast<char*>(magic.data()), 2);
  EXPECT_EQ(magic[0], 0x1f);
  EXPECT_EQ(magic[1], 0x8b);
}

TEST(Idx, RejectsMissingFile) {
  TempDir d;
  expect_rejects(d.path / "nope-idx1-ubyte", "no such file");
}

TEST(Idx, RejectsWrongMagic) {
  TempDir d;
  write_raw(d.path / "m", {0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1, 5});
  expect_rejects(d.path / "m", "not an IDX file");
  write_raw(d.path / "t", {0x00, 0x00, 0x0d, 0x01, 0, 0, 0, 1, 5, 5, 5, 5});
  expect_rejects(d.path / "t", "element type 0x0d");
  write_raw(d.path / "r", {0x00, 0x00, 0x08, 0x00});
  expect_rejects(d.path / "r", "rank 0");
}

TEST(Idx, RejectsTruncatedFiles) {
  TempDir d;
  write_raw(d.path / "short", {0x00, 0x00});
  expect_rejects(d.path / "short", "truncated");
  write_raw(d.path / "hdr", {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 2, 0, 0});
  expect_rejects(d.path / "hdr", "truncated inside the header");
  IdxArray a = images(4);
  a.data.resize(a.data.size() - 1);  // one byte short of what the header claims
  IdxArray bad = images(4);
  write_idx(d.path / "full", bad);
  auto bytes = std::vector<std::uint8_t>(16 + a.data.size());
  std::ifstream(d.path / "full", std::ios::binary)
      .read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  write_raw(d.path / "cut", bytes);
  expect_rejects(d.path / "cut", "truncated: header claims");
  // Same for a gzip stream that ends early.
  IdxArray g = images(4);
  write_idx(d.path / "cut.gz", IdxArray{{5, 2, 3}, g.data});
  expect_rejects(d.path / "cut.gz", "truncated: header claims");
}

TEST(Idx, RejectsHugeHeaderWithoutAllocating) {
  TempDir d;
  // Claims 65535^3 bytes (~280 TB): must be refused from the header alone.
  write_raw(d.path / "huge", {0x00, 0x00, 0x08, 0x03, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff});
  expect_rejects(d.path / "huge", "more than 1 GiB");
  // Claims 4 GB in a rank-1 file holding 3 bytes: over the cap as well.
  write_raw(d.path / "big1", {0x00, 0x00, 0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 1, 2, 3});
  expect_rejects(d.path / "big1", "more than 1 GiB");
  // Claims 1000 bytes, holds 3.
  write_raw(d.path / "lie", {0x00, 0x00, 0x08, 0x01, 0, 0, 0x03, 0xe8, 1, 2, 3});
  expect_rejects(d.path / "lie", "file has 11");
}

TEST(Idx, RejectsTrailingData) {
  TempDir d;
  write_raw(d.path / "tail", {0x00, 0x00, 0x08, 0x01, 0, 0, 0, 2, 1, 2, 3});
  expect_rejects(d.path / "tail", "trailing data");
}

TEST(Idx, RejectsCorruptGzip) {
  TempDir d;
  write_raw(d.path / "bad.gz", {0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02});
  EXPECT_THROW(read_idx(d.path / "bad.gz"), InputError);
}

TEST(Dataset, LoadsFolderAndChecksCounts) {
  TempDir d;
  write_idx(d.path / "train-images-idx3-ubyte.gz", images(6));
  write_idx(d.path / "train-labels-idx1-ubyte", labels(6));
  write_idx(d.path / "t10k-images-idx3-ubyte", images(3));
  write_idx(d.path / "t10k-labels-idx1-ubyte.gz", labels(3));
  const DatasetPair p = load_dataset("mnist", d.path);
  EXPECT_EQ(p.train.n, 6);
  EXPECT_EQ(p.test.n, 3);
  EXPECT_EQ(p.train.dim, 6);
  EXPECT_EQ(p.train.pixels[1], 7);
  // features are pixel / 255, whole rows or gathered ones
  EXPECT_EQ(features(p.train, 0, 1)[1], 7 / 255.0f);
  const std::vector<float> rows = features(p.train, 0, 6);
  const int order[] = {4, 1};
  std::vector<float> gathered(2 * 6);
  gather_features(p.train, order, 2, gathered.data());
  EXPECT_TRUE(std::equal(gathered.begin(), gathered.begin() + 6, rows.begin() + 4 * 6));
  EXPECT_TRUE(std::equal(gathered.begin() + 6, gathered.end(), rows.begin() + 1 * 6));
  for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i], p.train.pixels[i] / 255.0f);
  EXPECT_EQ(p.test.y[2], 2);

  // Label/image count mismatch names both files' counts.
  write_idx(d.path / "t10k-labels-idx1-ubyte.gz", labels(4));
  try {
    load_dataset("mnist", d.path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("3 images but t10k-labels-idx1-ubyte.gz holds 4"),
              std::string::npos)
        << e.what();
  }
  // A label outside 0..9.
  write_idx(d.path / "t10k-labels-idx1-ubyte.gz", IdxArray{{3}, {1, 12, 3}});
  EXPECT_THROW(load_dataset("mnist", d.path), InputError);
}

TEST(Dataset, MissingFolderAndFilesNameTheFix) {
  TempDir d;
  try {
    load_dataset("mnist", d.path / "absent");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/setup"), std::string::npos) << e.what();
  }
  try {
    load_dataset("mnist", d.path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_dataset("cifar", d.path), InputError);
}

TEST(Dataset, SyntheticIsDeterministicAndBalanced) {
  const DatasetPair a = make_synthetic(1000, 200, 16, 10, 7);
  const DatasetPair b = make_synthetic(1000, 200, 16, 10, 7);
  const DatasetPair c = make_synthetic(1000, 200, 16, 10, 8);
  EXPECT_EQ(a.train.pixels, b.train.pixels);
  EXPECT_EQ(a.test.y, b.test.y);
  EXPECT_NE(a.train.pixels, c.train.pixels);
  std::array<int, 10> count{};
  for (auto y : a.train.y) count[y]++;
  for (int k : count) EXPECT_GT(k, 60);  // ~100 each
  // blobs in [0.2, 0.8] with spread 0.15: the pixels use the whole 0..255 range
  EXPECT_LT(*std::min_element(a.train.pixels.begin(), a.train.pixels.end()), 10);
  EXPECT_GT(*std::max_element(a.train.pixels.begin(), a.train.pixels.end()), 245);
}

// The real data, as fetched by scripts/setup (always present under the README's test command).
TEST(Dataset, MnistLabelCounts) {
  const fs::path dir = fs::path(PRECSWEEP_SOURCE_DIR) / "data" / "mnist";
  if (!fs::exists(dir / "train-labels-idx1-ubyte")) GTEST_SKIP() << "run scripts/setup first";
  const DatasetPair p = load_dataset("mnist", dir);
  ASSERT_EQ(p.train.n, 60000);
  ASSERT_EQ(p.test.n, 10000);
  ASSERT_EQ(p.train.dim, 784);
  const std::array<int, 10> train_expected = {5923, 6742, 5958, 6131, 5842,
                                              5421, 5918, 6265, 5851, 5949};
  const std::array<int, 10> test_expected = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  std::array<int, 10> train{}, test{};
  for (auto y : p.train.y) train[y]++;
  for (auto y : p.test.y) test[y]++;
  EXPECT_EQ(train, train_expected);
  EXPECT_EQ(test, test_expected);
}

TEST(Dataset, FashionMnistFromDebianPackage) {
  const fs::path dir = default_data_dir("fashion-mnist");
  if (!fs::exists(dir)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const DatasetPair p = load_dataset("fashion-mnist");
  EXPECT_EQ(p.train.n, 60000);
  EXPECT_EQ(p.test.n, 10000);
  std::array<int, 10> test{};
  for (auto y : p.test.y) test[y]++;
  for (int k : test) EXPECT_EQ(k, 1000);  // Fashion-MNIST's test set is balanced
}

// Issue 14: what is in the way is named (not "no such file").
TEST(Idx, DirectoryOrFifoIsNamed) {
  TempDir d;
  fs::create_directory(d.path / "dir-idx3-ubyte");
  expect_rejects(d.path / "dir-idx3-ubyte", "is a directory, not an IDX file");
  ASSERT_EQ(::mkfifo((d.path / "fifo-idx3-ubyte").c_str(), 0600), 0);
  expect_rejects(d.path / "fifo-idx3-ubyte", "is a FIFO (named pipe), not an IDX file");
  expect_rejects(d.path / "absent-idx3-ubyte", "no such file");
}

// A .gz file cut before (or inside) its 8-byte CRC-32/length trailer, or with a wrong CRC.
TEST(Idx, GzipWithoutTrailerOrWrongCrcIsRejected) {
  TempDir d;
  write_idx(d.path / "a.gz", images(5));
  std::ifstream in(d.path / "a.gz", std::ios::binary);
  const std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 20u);
  for (std::size_t cut : {std::size_t{8}, std::size_t{4}, std::size_t{1}}) {
    write_raw(d.path / "cut.gz", std::vector<std::uint8_t>(gz.begin(), gz.end() - static_cast<std::ptrdiff_t>(cut)));
    expect_rejects(d.path / "cut.gz", "gzip");
  }
  std::vector<std::uint8_t> bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 0x01;  // first byte of the CRC-32
  write_raw(d.path / "crc.gz", bad_crc);
  expect_rejects(d.path / "crc.gz", "gzip");
  std::vector<std::uint8_t> bad_len = gz;
  bad_len[bad_len.size() - 4] ^= 0x01;  // first byte of the length
  write_raw(d.path / "len.gz", bad_len);
  expect_rejects(d.path / "len.gz", "gzip");
}

TEST(Dataset, ZeroWidthImagesNameTheFile) {
  TempDir d;
  write_idx(d.path / "train-images-idx3-ubyte", IdxArray{{4, 28, 0}, {}});
  write_idx(d.path / "train-labels-idx1-ubyte", labels(4));
  write_idx(d.path / "t10k-images-idx3-ubyte", images(3));
  write_idx(d.path / "t10k-labels-idx1-ubyte", labels(3));
  try {
    load_dataset("mnist", d.path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte: holds 4 images of 28x0 pixels"),
              std::string::npos)
        << e.what();
  }
}

TEST(Dataset, TestImagesOfAnotherShapeAreRefused) {
  TempDir d;
  write_idx(d.path / "train-images-idx3-ubyte", images(6, 2, 3));
  write_idx(d.path / "train-labels-idx1-ubyte", labels(6));
  write_idx(d.path / "t10k-images-idx3-ubyte", images(3, 3, 2));  // 6 pixels too
  write_idx(d.path / "t10k-labels-idx1-ubyte", labels(3));
  try {
    load_dataset("mnist", d.path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-images-idx3-ubyte holds 3x2 images but "
                                         "train-images-idx3-ubyte holds 2x3"),
              std::string::npos)
        << e.what();
  }
}
