#pragma once

// Small text helpers shared by the serializers: base64, UTF-8 checks and percent-decoding.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sightglass::core {

// base64_encode returns the standard (RFC 4648, padded) base64 form of |data|.
std::string base64_encode(std::string_view data);
// base64_encoded_size returns the length of the base64 form of |size| bytes.
size_t base64_encoded_size(size_t size);
// base64_encode_into writes the base64 form of |data| at |out|, which has room for
// base64_encoded_size(data.size()) bytes, and returns the end of what it wrote.
char* base64_encode_into(std::string_view data, char* out);

// base64_decode decodes standard base64 (padding optional, ASCII whitespace ignored), or
// returns std::nullopt when |text| is not base64.
std::optional<std::string> base64_decode(std::string_view text);

// is_valid_utf8 reports whether |data| is well-formed UTF-8 (no overlongs, no surrogates, no
// code points above U+10FFFF).
bool is_valid_utf8(std::string_view data);

// to_valid_utf8 returns |data| with every ill-formed UTF-8 sequence replaced by U+FFFD, so the
// result can always be stored in a JSON string.
std::string to_valid_utf8(std::string_view data);

// percent_decode decodes %XX escapes (an invalid escape is kept as is) and, when
// |plus_as_space|, turns '+' into ' ' (application/x-www-form-urlencoded).
std::string percent_decode(std::string_view text, bool plus_as_space);

}  // namespace sightglass::core
