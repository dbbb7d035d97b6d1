#include "core/layers/sniff.h"

#include <algorithm>
#include <string_view>

namespace sightglass::core {
namespace {

constexpr uint8_t kTlsHandshakeRecord = 0x16;
constexpr uint8_t kTlsMajorVersion = 0x03;
constexpr uint8_t kTlsClientHello = 0x01;
// The longest method we look for plus its space.
constexpr size_t kMaxMethodBytes = 16;

// is_token_char: RFC 9110 tchar.
bool is_token_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

FirstBytes sniff_first_bytes(std::span<const uint8_t> data) {
  if (data.empty()) {
    return FirstBytes::kNeedMore;
  }
  if (data[0] == kTlsHandshakeRecord) {
    // Record header: type, version (3.x), length (2), then the handshake type.
    if (data.size() >= 2 && data[1] != kTlsMajorVersion) {
      return FirstBytes::kOther;
    }
    if (data.size() < 6) {
      return FirstBytes::kNeedMore;
    }
    return data[5] == kTlsClientHello ? FirstBytes::kTls : FirstBytes::kOther;
  }
  // An HTTP request starts with a method token and a space ("PRI * HTTP/2.0" included).
  const size_t limit = std::min(data.size(), kMaxMethodBytes);
  for (size_t i = 0; i < limit; ++i) {
    if (data[i] == ' ') {
      return i > 0 ? FirstBytes::kHttp : FirstBytes::kOther;
    }
    if (!is_token_char(data[i])) {
      return FirstBytes::kOther;
    }
  }
  return data.size() < kMaxMethodBytes ? FirstBytes::kNeedMore : FirstBytes::kOther;
}

}  // namespace sightglass::core
