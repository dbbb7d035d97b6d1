#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "core/proxy/events.h"
#include "core/proxy/flow.h"

namespace sightglass::core {

// ProxyConfig is what every session of one proxy shares. Immutable while sessions run; the
// SSL_CTXs are owned elsewhere and outlive every session.
struct ProxyConfig {
  enum class Mode : uint8_t { kRegular, kReverse };
  Mode mode = Mode::kRegular;
  // kReverse: where every client connection goes.
  std::string reverse_scheme = "https";
  std::string reverse_host;
  uint16_t reverse_port = 0;
  // Bytes of each body kept in the flow; bodies are always forwarded whole.
  uint64_t body_limit = 1024 * 1024;
  // Toward clients: a server context whose select-certificate callback mints leaves.
  SSL_CTX* client_tls_ctx = nullptr;
  // Toward servers: a client context with the trust store.
  SSL_CTX* upstream_tls_ctx = nullptr;
  bool verify_upstream = true;
  // How long to wait for the upstream's response head once the request is sent.
  int64_t response_timeout_ms = 120'000;
  // The CA certificate, served by the magic host http://sightglass/ (PEM and DER).
  std::string ca_cert_pem;
  std::string ca_cert_der;
};

// Clock gives the time; tests substitute their own.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t monotonic_us() const = 0;
  virtual int64_t wall_us() const = 0;
};

// SystemClock is the real clock.
class SystemClock : public Clock {
 public:
  int64_t monotonic_us() const override;
  int64_t wall_us() const override;
};

// SessionContext is the per-client-connection state shared by the layers of one session.
struct SessionContext {
  const ProxyConfig* config = nullptr;
  const Clock* clock = nullptr;
  std::atomic<FlowId>* flow_ids = nullptr;  // Shared by all sessions of the proxy.
  std::string client_address;
  std::optional<TlsInfo> client_tls;  // Set once the client's TLS handshake is done.
  ConnId next_conn = 1;
  CommandId next_command = 1;

  FlowId new_flow_id() { return flow_ids->fetch_add(1) + 1; }
  // new_flow returns a flow of this session that starts now: a new id, the client's address
  // and TLS session, the wall-clock start.
  FlowSnapshot new_flow(FlowKind kind = FlowKind::kHttp) {
    FlowSnapshot flow;
    flow.id = new_flow_id();
    flow.kind = kind;
    flow.client_address = client_address;
    flow.client_tls = client_tls;
    flow.timings.started_us = clock->wall_us();
    return flow;
  }
  ConnId new_conn() { return next_conn++; }
  CommandId new_command() { return next_command++; }
};

}  // namespace sightglass::core
