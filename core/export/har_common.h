#pragma once

// Internals shared by the HAR writer (flow_json.cc), the HAR reader (har_reader.cc), the
// cookie and form/query decoding (har_params.cc) and the dates (http_date.cc). Not for use
// outside core/export.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/export/text_util.h"

namespace sightglass::core::detail {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;

// floor_div is |a| / |b| rounded toward negative infinity.
inline int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

// text returns |data| as a JSON string that is always valid UTF-8.
inline nlohmann::json text(std::string_view data) { return to_valid_utf8(data); }

// name_value_json is HAR's {name, value} (a header, cookie or parameter).
inline nlohmann::json name_value_json(std::string_view name, std::string_view value) {
  return {{"name", text(name)}, {"value", text(value)}};
}

}  // namespace sightglass::core::detail
