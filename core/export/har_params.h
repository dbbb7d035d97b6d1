#pragma once

// Cookies, query strings and form bodies as HAR has them (name/value lists), as json for the
// tests and the GUI; to_har_entry writes the same lists (har_params_internal.h).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>

#include "core/proxy/flow.h"

namespace sightglass::core {

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

}  // namespace sightglass::core
