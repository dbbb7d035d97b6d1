#pragma once

// The HAR reader: a HAR entry (ours, or another tool's) back into a FlowSnapshot, for reading
// JSON Lines flow logs and HAR files (core/store/capture_files.h, behind `show`, `har` and the
// GUI's open-file).

#include <nlohmann/json.hpp>

#include <string>

#include "core/proxy/flow.h"

namespace sightglass::core {

// from_har_entry rebuilds a finished FlowSnapshot from a HAR entry (one of ours, or another
// tool's; missing optional fields take their defaults). It never throws: on failure it returns
// false and sets *out_error (when |out_error| is not null). Response bodies come back as HAR
// stores them, that is decoded from their Content-Encoding when the entry says so
// ("compression" present); startedDateTime has millisecond precision.
bool from_har_entry(const nlohmann::json& entry, FlowSnapshot* out, std::string* out_error);

}  // namespace sightglass::core
