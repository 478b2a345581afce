// Rounds a few values through the installed formats library; exit 0 only if the results are
// the known fp8-e4m3 and bf16 values.
#include <precsweep/formats.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x = {3.14159f, 1000.0f, -0.3f};
  precsweep::quantize(x, precsweep::parse_format("fp8-e4m3,saturate"),
                      precsweep::Rounding::nearest_even);
  const std::vector<float> want = {3.25f, 448.0f, -0.3125f};
  const float b = precsweep::quantize_one(1.00390625f * 3, precsweep::parse_format("bf16"),
                                          precsweep::Rounding::toward_zero);
  if (x != want || b != 3.0f) {
    std::printf("wrong: %a %a %a %a\n", x[0], x[1], x[2], b);
    return 1;
  }
  std::printf("formats ok\n");
  return 0;
}
