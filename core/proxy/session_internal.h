#pragma once

// Shared by the files that implement ProxySession and its layers (session*.cc, server_side.cc);
// not part of their interfaces.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/proxy/events.h"
#include "core/tls/ssl_engine.h"

namespace sightglass::core::session_internal {

// What is held of a client's bytes while the stage they are for waits (a tunnel being
// connected, a server handshake): past it, reading from the client pauses.
constexpr size_t kHeldClientBytes = 256 * 1024;
// How long a tunnel may stay silent before it is taken for a server-speaks-first protocol.
constexpr int64_t kServerFirstDelayMs = 1000;

// is_http1_alpn says whether an ALPN choice means HTTP/1.x ("" included: no ALPN).
inline bool is_http1_alpn(const std::string& protocol) {
  return protocol.empty() || protocol == "http/1.1" || protocol == "http/1.0";
}

// send_ciphertext sends what |tls| has for the peer to |conn|, if anything.
inline void send_ciphertext(SslEngine& tls, ConnId conn, Commands& out) {
  std::string cipher;
  tls.drain_ciphertext(&cipher);
  if (!cipher.empty()) {
    out.push_back(SendData{conn, std::move(cipher)});
  }
}

}  // namespace sightglass::core::session_internal
