// Small text helpers shared by the statistics and the analyzers.
#pragma once

#include <cmath>
#include <string>
#include <string_view>

namespace insightd::analysis {

// `text` cut to at most `max_chars` Unicode characters, ending in "…" when cut.
// Cuts only between characters, so valid UTF-8 stays valid.
std::string truncate_chars(std::string_view text, size_t max_chars);

// `text` cut to at most `max_bytes` bytes, between characters.
std::string_view truncate_bytes(std::string_view text, size_t max_bytes);

// Lower-case ASCII copy (event types and metadata keys are compared this way).
std::string ascii_lower(std::string_view text);

// Rounds to `decimals` places: the statistics hold what people will read and
// what a model may quote, so they are stored already rounded.
inline double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

}  // namespace insightd::analysis
