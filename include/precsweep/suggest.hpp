// "Did you mean": the known names nearest to a misspelt one, for error messages (commands and
// options of the CLI, number formats, rounding modes, spec keys). Distance is the optimal
// string alignment distance (insert, delete, substitute, swap two neighbours), case-insensitive.
// Deliberately leaves out: accepting a guess; callers only name it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace precsweep {
// Edit distance between a and b, ignoring case (a swap of neighbours counts 1: "trian"/"train").
int edit_distance(std::string_view a, std::string_view b);
// The `limit` candidates nearest to `word`, nearest first (ties in the candidates' order).
std::vector<std::string> nearest_names(std::string_view word,
                                       const std::vector<std::string>& candidates,
                                       std::size_t limit = 3);
// The candidates close enough to be what was meant: within distance max(1, |word| / 3), or
// starting with `word` when it has at least 3 characters ("--epoch" -> "--epochs"); nearest
// first, at most 2.
std::vector<std::string> close_names(std::string_view word,
                                     const std::vector<std::string>& candidates);
// "; did you mean 'train'?" (or "'a' or 'b'"), "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
}  // namespace precsweep
