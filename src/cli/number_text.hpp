// The number text shared by the commands that read binary32 tokens from standard input and print
// hex floats (quantize, dot): parsing one token, showing a bad one in a message, printing a
// result. Deliberately leaves out: reading the input and the commands' own error messages.
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "precsweep/error.hpp"

namespace precsweep::cli {

// Converts one whitespace-free token to binary32 with round to nearest (strtof: decimal, C99
// hex float, inf/infinity, nan). Out-of-range decimals round like IEEE: to +-inf or to a
// subnormal/zero. Returns false if the token is not entirely a number; strtof stops at a NUL
// byte, so the whole token must be consumed ("1\0" "2" is one bad token, not the number 1).
inline bool parse_number(const std::string& token, float& out) {
  const char* begin = token.c_str();
  char* end = nullptr;
  errno = 0;
  out = std::strtof(begin, &end);
  return end != begin && end == begin + token.size();
}

// A token as shown in a message: at most 40 bytes, control bytes (NUL included) as \xNN so the
// message stays one printable line.
inline std::string shown_token(const std::string& token) {
  if (token.size() <= 40) return printable(token);
  return printable(std::string_view(token).substr(0, 40)) + "...";
}

inline std::string format_hex(float v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", static_cast<double>(v));  // "inf", "-inf", "-0x0p+0"
  return buf;
}

}  // namespace precsweep::cli
