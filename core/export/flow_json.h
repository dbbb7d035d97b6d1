#pragma once

// The one JSON shape of a flow: a HAR 1.2 entry with Sightglass's extensions
// (../shared/CONTRACT.md, "The flow log"). The JSON Lines log and the HAR export go through
// these functions; the way back (the GUI's open-file) is har_reader.h, and the pieces HAR builds
// on are http_date.h (dates) and har_params.h (cookies, query strings, form bodies).

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// kHarSchemaVersion is the value of every entry's "_schemaVersion"; it changes when the shape
// of the extensions changes incompatibly.
inline constexpr int kHarSchemaVersion = 1;

// kMinDecodedBodyCap is the least a body may grow to when its Content-Encoding is undone for
// the log; the cap is max(kMinDecodedBodyCap, 4 * kept bytes): a compressed body of
// --body-limit's default (1 MiB) shows 4 MiB decoded at most, and a "zip bomb" costs no more.
inline constexpr size_t kMinDecodedBodyCap = size_t{4} << 20;

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

// har_creator returns HAR's "creator" object for this build.
nlohmann::json har_creator();

// har_document wraps |entries| as a HAR 1.2 log:
// {"log": {"version": "1.2", "creator": {...}, "pages": [], "entries": [...]}}.
nlohmann::json har_document(std::vector<nlohmann::json> entries);

}  // namespace sightglass::core
