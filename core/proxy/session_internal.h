#pragma once

// Shared by the files that implement ProxySession and its layers (session*.cc, server_side.cc);
// not part of their interfaces.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sightglass::core::session_internal {

// What is held of a client's bytes while the stage they are for waits (a tunnel being
// connected, a server handshake): past it, reading from the client pauses.
constexpr size_t kHeldClientBytes = 256 * 1024;

// is_http1_alpn says whether an ALPN choice means HTTP/1.x ("" included: no ALPN).
inline bool is_http1_alpn(const std::string& protocol) {
  return protocol.empty() || protocol == "http/1.1" || protocol == "http/1.0";
}
}  // namespace sightglass::core::session_internal
