// Reader for the IDX files MNIST and Fashion-MNIST ship in (LeCun's format): a big-endian
// header (0x00 0x00 <type> <rank>, then rank uint32 dimensions) followed by the data. Raw or
// gzip-compressed (.gz). The header is validated and the file length checked against it before
// anything is allocated, so a bad file gives an InputError naming the file and the problem.
// Deliberately leaves out: element types other than unsigned bytes (all the data we read).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace precsweep {

struct IdxArray {
  std::vector<std::uint32_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<std::uint8_t> data;   // row-major, product(dims) bytes
};

// Reads a ubyte IDX file (type code 0x08). Throws InputError on a missing or malformed file.
IdxArray read_idx(const std::filesystem::path& path);

// Writes a ubyte IDX file, gzip-compressed when the name ends in .gz (for tests and tools).
void write_idx(const std::filesystem::path& path, const IdxArray& array);

}  // namespace precsweep
