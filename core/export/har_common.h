#pragma once

// Internals shared by the HAR writer (flow_json.cc), the HAR reader (har_reader.cc), the
// cookie and form/query decoding (har_params.cc) and the dates (http_date.cc). Not for use
// outside core/export.

#include <cstdint>

namespace sightglass::core::detail {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;

// floor_div is |a| / |b| rounded toward negative infinity.
inline int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace sightglass::core::detail
