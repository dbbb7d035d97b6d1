#pragma once

// The one JSON shape of a flow: a HAR 1.2 entry with Sightglass's extensions
// (../shared/CONTRACT.md, "The flow log"). The JSON Lines log, the HAR export and the GUI's
// open-file all go through these functions.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// kHarSchemaVersion is the value of every entry's "_schemaVersion"; it changes when the shape
// of the extensions changes incompatibly.
inline constexpr int kHarSchemaVersion = 1;

// kMinDecodedBodyCap is the least a body may grow to when its Content-Encoding is undone for
// the log; the cap is max(kMinDecodedBodyCap, 4 * kept bytes), so a small compressed body can
// never expand without bound.
inline constexpr size_t kMinDecodedBodyCap = size_t{64} << 20;

// to_har_entry serializes |flow| as one HAR 1.2 entry with every field HAR requires, plus the
// extensions of CONTRACT.md. Every string in the result is valid UTF-8 (ill-formed bytes in
// headers become U+FFFD; bodies that are not text, that is not UTF-8 or with control characters
// other than tab, CR, LF and FF, are base64), so dump() never throws on it.
nlohmann::json to_har_entry(const FlowSnapshot& flow);

// to_json is nlohmann's conversion hook (json j = flow;): the same as to_har_entry.
void to_json(nlohmann::json& out, const FlowSnapshot& flow);

// to_json_line returns to_har_entry(flow) as compact JSON, without a newline: byte for byte
// to_har_entry(flow).dump(-1, ' ', false, json::error_handler_t::replace), but written straight
// into the string (JsonTextWriter) without building the json tree, for the JSON Lines log.
std::string to_json_line(const FlowSnapshot& flow);

// from_har_entry rebuilds a finished FlowSnapshot from a HAR entry (one of ours, or another
// tool's; missing optional fields take their defaults). It never throws: on failure it returns
// false and sets *out_error (when |out_error| is not null). Response bodies come back as HAR
// stores them, that is decoded from their Content-Encoding when the entry says so
// ("compression" present); startedDateTime has millisecond precision.
bool from_har_entry(const nlohmann::json& entry, FlowSnapshot* out, std::string* out_error);

// har_creator returns HAR's "creator" object for this build.
nlohmann::json har_creator();

// har_document wraps |entries| as a HAR 1.2 log:
// {"log": {"version": "1.2", "creator": {...}, "pages": [], "entries": [...]}}.
nlohmann::json har_document(std::vector<nlohmann::json> entries);

// The pieces below are exposed for the tests and the GUI.

// request_cookies_json parses every Cookie header into HAR cookies [{name, value}].
nlohmann::json request_cookies_json(const Headers& headers);

// response_cookies_json parses every Set-Cookie header into HAR cookies: name, value, and path,
// domain, expires (ISO 8601; from Max-Age relative to |now_us| when given), httpOnly, secure
// and sameSite when present.
nlohmann::json response_cookies_json(const Headers& headers, int64_t now_us);

// urlencoded_params_json parses "a=1&b=x+y%21" into [{name, value}], percent-decoded with '+'
// as a space, keeping order and repeated names.
nlohmann::json urlencoded_params_json(std::string_view text);

// query_string_json parses the query of a request target ("/p?a=1&b=2").
nlohmann::json query_string_json(std::string_view target);

// format_iso8601_ms formats microseconds since the Unix epoch as "2024-01-02T03:04:05.678Z".
std::string format_iso8601_ms(int64_t time_us);

// parse_iso8601 parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into microseconds
// since the Unix epoch.
std::optional<int64_t> parse_iso8601(std::string_view text);

// parse_cookie_date parses a Set-Cookie Expires date the way RFC 6265 section 5.1.1 says, into
// seconds since the Unix epoch.
std::optional<int64_t> parse_cookie_date(std::string_view text);

}  // namespace sightglass::core
