#pragma once

// Shared by the files that implement ProxySession (session.cc, session_limits.cc,
// session_server.cc, session_tunnel.cc); not part of its interface.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sightglass::core::session_internal {

// What is held of a client's bytes while the stage they are for waits (a tunnel being
// connected, a server handshake): past it, reading from the client pauses.
constexpr size_t kHeldClientBytes = 256 * 1024;

}  // namespace sightglass::core::session_internal
