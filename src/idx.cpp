// IDX reader/writer. The whole file is read into memory (decompressing .gz through zlib with a
// hard cap at the size the header promises), then the header is checked against the length.
#include "precsweep/idx.hpp"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "precsweep/error.hpp"

namespace precsweep {
namespace {

constexpr std::uint8_t kUbyte = 0x08;
constexpr std::size_t kMaxRank = 4;
// Largest file we accept: 1 GiB (MNIST train images are 47 MB). Stops a corrupt header from
// asking for a huge allocation.
constexpr std::uint64_t kMaxBytes = 1ull << 30;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw InputError(path.string() + ": " + what);
}

bool is_gz(const std::filesystem::path& path) { return path.extension() == ".gz"; }

// Reads up to `limit` bytes (plus one, to detect "more than that") of a raw or gzipped file.
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path, std::uint64_t limit) {
  std::vector<std::uint8_t> out;
  if (is_gz(path)) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fail(path, "cannot open");
    std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
    std::uint8_t chunk[1 << 16];
    while (out.size() <= limit) {
      const int n = gzread(f, chunk, sizeof chunk);
      if (n < 0) {
        int err = 0;
        fail(path, std::string("corrupt gzip data (") + gzerror(f, &err) + ")");
      }
      if (n == 0) {
        // End of the data: zlib has checked the trailer's CRC-32 and length, unless the
        // stream ended before it (a cut-off file), which gzread reports only here.
        int err = Z_OK;
        const char* msg = gzerror(f, &err);
        if (err != Z_OK)
          fail(path, std::string("truncated or corrupt gzip file (") + msg +
                         "): its CRC-32/length trailer is missing or wrong");
        break;
      }
      out.insert(out.end(), chunk, chunk + n);
    }
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  out.resize(std::min(size, limit + 1));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!in) fail(path, "read error");
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) fail(path, "no such file");
  if (std::filesystem::is_directory(st)) fail(path, "is a directory, not an IDX file");
  if (std::filesystem::is_fifo(st)) fail(path, "is a FIFO (named pipe), not an IDX file");
  if (!std::filesystem::is_regular_file(st))
    fail(path, "is not a regular file (a socket or device), not an IDX file");
  // Header first: 4 magic bytes + up to kMaxRank dimensions.
  std::vector<std::uint8_t> head = read_bytes(path, 4 + 4 * kMaxRank);
  if (head.size() < 4) fail(path, "truncated: shorter than the 4-byte IDX magic");
  if (head[0] != 0 || head[1] != 0)
    fail(path, "not an IDX file (magic must start with two zero bytes)");
  if (head[2] != kUbyte) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", head[2]);
    fail(path, std::string("unsupported IDX element type ") + code + " (only unsigned byte, 0x08)");
  }
  const std::size_t rank = head[3];
  if (rank == 0 || rank > kMaxRank)
    fail(path, "IDX rank " + std::to_string(rank) + " out of range 1.." + std::to_string(kMaxRank));
  const std::size_t header = 4 + 4 * rank;
  if (head.size() < header) fail(path, "truncated inside the header");
  IdxArray a;
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    a.dims.push_back(be32(&head[4 + 4 * i]));
    count *= a.dims.back();
    if (count > kMaxBytes)
      fail(path, "header claims more than 1 GiB of data; the file is corrupt");
  }
  std::vector<std::uint8_t> all = read_bytes(path, header + count);
  if (all.size() < header + count)
    fail(path, "truncated: header claims " + std::to_string(header + count) + " bytes, file has " +
                   std::to_string(all.size()));
  if (all.size() > header + count)
    fail(path, "trailing data after the " + std::to_string(header + count) +
                   " bytes the header describes");
  a.data.assign(all.begin() + static_cast<std::ptrdiff_t>(header), all.end());
  return a;
}

void write_idx(const std::filesystem::path& path, const IdxArray& a) {
  std::vector<std::uint8_t> bytes = {0, 0, kUbyte, static_cast<std::uint8_t>(a.dims.size())};
  for (std::uint32_t d : a.dims)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<std::uint8_t>(d >> s));
  bytes.insert(bytes.end(), a.data.begin(), a.data.end());
  if (is_gz(path)) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error(path.string() + ": cannot create");
    const bool ok = gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                    static_cast<int>(bytes.size());
    if (gzclose(f) != Z_OK || !ok) throw std::runtime_error(path.string() + ": write failed");
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error(path.string() + ": write failed");
}

}  // namespace precsweep
