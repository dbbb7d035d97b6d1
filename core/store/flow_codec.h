#pragma once

// A lossless binary form of a FlowSnapshot, for the session store: every field the flow model
// has (headers in order with their case, bodies as kept, WebSocket messages, TLS details,
// timings in microseconds), so a flow read back serializes to exactly the JSON line it had
// when it was captured. Varints and length-prefixed strings; the result is then compressed
// with zstd. The format is versioned with the session schema (session_file.h).

#include <optional>
#include <string>
#include <string_view>

#include "core/proxy/flow.h"

namespace sightglass::core {

// encode_flow returns |flow| in the binary form, uncompressed.
std::string encode_flow(const FlowSnapshot& flow);

// decode_flow rebuilds a flow from encode_flow's output; false on malformed input (never
// reads out of bounds, never throws).
bool decode_flow(std::string_view data, FlowSnapshot* out);

// compress_zstd compresses |data| at a fast level.
std::string compress_zstd(std::string_view data);

// decompress_zstd undoes compress_zstd; nullopt on malformed input or when the content size
// is missing or larger than |max_size|.
std::optional<std::string> decompress_zstd(std::string_view data, size_t max_size);

}  // namespace sightglass::core
