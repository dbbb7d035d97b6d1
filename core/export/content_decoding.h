#pragma once

// Content-Encoding decoding (gzip, deflate, br, zstd and chains of them) for showing and
// logging bodies. Decoding is bounded: a small compressed body can never make it allocate more
// than the caller's cap (a "zip bomb" only yields a truncated result).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sightglass::core {

// ContentDecodeInfo tells how decode_content ended when it returned a value.
struct ContentDecodeInfo {
  // truncated is true when the output stops short of the whole decoded body: the output cap
  // was reached, or (with |input_is_prefix|) the input ended inside a compressed stream.
  bool truncated = false;
  // identity is true when no decoding happened (no coding, or only "identity").
  bool identity = true;
};

// decode_content undoes |content_encoding_header| ("gzip", "x-gzip", "deflate" (zlib-wrapped or
// raw, as browsers accept), "br", "zstd", "identity", or a comma-separated chain of them,
// undone last to first) on |body|. The output holds at most |max_output| bytes; a longer body
// is cut there and reported in |out_info|. Returns std::nullopt for an unknown coding or data
// that does not decode. When |input_is_prefix| is true (the caller kept only the first bytes of
// the body), an input that ends inside a stream yields what decoded so far, marked truncated;
// otherwise that is an error too. An empty body decodes to "" under every known coding.
std::optional<std::string> decode_content(std::string_view content_encoding_header,
                                          std::string_view body, size_t max_output,
                                          ContentDecodeInfo* out_info = nullptr,
                                          bool input_is_prefix = false);

// encode_content applies |content_encoding_header|'s codings (first to last) to |body|: what
// a body changed after decoding goes back on the wire as. std::nullopt for an unknown coding.
std::optional<std::string> encode_content(std::string_view content_encoding_header,
                                          std::string_view body);

// is_identity_encoding reports whether |content_encoding_header| names no coding at all ("" or
// only "identity" tokens).
bool is_identity_encoding(std::string_view content_encoding_header);

}  // namespace sightglass::core
