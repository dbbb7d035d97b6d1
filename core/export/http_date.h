#pragma once

// Dates as HAR and HTTP write them: ISO 8601 timestamps and Set-Cookie Expires dates. The
// calendar arithmetic never depends on the process's time zone.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sightglass::core {

// format_iso8601_ms formats microseconds since the Unix epoch as "2024-01-02T03:04:05.678Z".
std::string format_iso8601_ms(int64_t time_us);

// parse_iso8601 parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into microseconds
// since the Unix epoch.
std::optional<int64_t> parse_iso8601(std::string_view text);

// parse_cookie_date parses a Set-Cookie Expires date the way RFC 6265 section 5.1.1 says, into
// seconds since the Unix epoch.
std::optional<int64_t> parse_cookie_date(std::string_view text);

}  // namespace sightglass::core
