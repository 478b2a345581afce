// Nearest-name suggestions (include/precsweep/suggest.hpp). Part of precsweep_formats, which
// needs it for its own messages; names are short, so the quadratic distance is nothing.
// Deliberately leaves out: phonetic or keyboard-layout distances.
#include "precsweep/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace precsweep {
namespace {
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
}  // namespace

int edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  // d[i][j]: distance between the first i chars of a and the first j of b; [(n+1) x (m+1)]
  std::vector<int> d((n + 1) * (m + 1));
  auto at = [&](std::size_t i, std::size_t j) -> int& { return d[i * (m + 1) + j]; };
  for (std::size_t i = 0; i <= n; ++i) at(i, 0) = static_cast<int>(i);
  for (std::size_t j = 0; j <= m; ++j) at(0, j) = static_cast<int>(j);
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const int cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      const bool swap = i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                        lower(a[i - 2]) == lower(b[j - 1]);
      if (swap)
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
    }
  return at(n, m);
}

std::vector<std::string> nearest_names(std::string_view word,
                                       const std::vector<std::string>& candidates,
                                       std::size_t limit) {
  std::vector<int> dist(candidates.size());
  for (std::size_t k = 0; k < candidates.size(); ++k) dist[k] = edit_distance(word, candidates[k]);
  std::vector<std::size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return dist[x] < dist[y]; });
  std::vector<std::string> out;
  for (std::size_t k = 0; k < order.size() && out.size() < limit; ++k)
    if (std::find(out.begin(), out.end(), candidates[order[k]]) == out.end())
      out.push_back(candidates[order[k]]);
  return out;
}

std::vector<std::string> close_names(std::string_view word,
                                     const std::vector<std::string>& candidates) {
  const int max_dist = std::max<int>(1, static_cast<int>(word.size()) / 3);
  std::vector<std::string> out;
  for (const std::string& c : nearest_names(word, candidates, candidates.size())) {
    const bool prefix = word.size() >= 3 && c.size() > word.size() &&
                        edit_distance(word, std::string_view(c).substr(0, word.size())) == 0;
    if ((edit_distance(word, c) <= max_dist || prefix) && out.size() < 2) out.push_back(c);
  }
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::vector<std::string> close = close_names(word, candidates);
  if (close.empty()) return "";
  std::string s = "; did you mean '" + close[0] + "'";
  if (close.size() > 1) s += " or '" + close[1] + "'";
  return s + "?";
}
}  // namespace precsweep
