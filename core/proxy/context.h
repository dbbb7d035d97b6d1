#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "core/layers/proxy_auth.h"
#include "core/proxy/events.h"
#include "core/proxy/flow.h"
#include "core/proxy/passthrough.h"

namespace sightglass::core {

// Http2OnlyServers remembers, for every session of the proxy, the servers ("host:port") that
// turned an HTTP/1.1 offer down and speak HTTP/2: later connections to them offer h2 at once
// (an HTTP/1.1 client's requests are translated). Thread-safe.
class Http2OnlyServers {
 public:
  bool contains(const std::string& authority) const {
    std::lock_guard lock(mutex_);
    return servers_.count(authority) != 0;
  }
  void add(const std::string& authority) {
    std::lock_guard lock(mutex_);
    servers_.insert(authority);
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> servers_;
};

// FlowHooks runs at the hold points (core/rules: the traffic rules and the intercept).
class FlowHooks {
 public:
  virtual ~FlowHooks() = default;
  // holds says whether flows stop at |point| at all; when it says no, the layers never hold.
  virtual bool holds(HookPoint point) const = 0;
  // run is called on the loop thread with a flow stopped at a hold point. It edits |held| and
  // returns true when the flow goes on at once; or it keeps |held|, returns false, and calls
  // |resume| once later (from any thread) after its last edit.
  using Resume = std::function<void()>;
  virtual bool run(const HeldFlowPtr& held, Resume resume) = 0;
  // dropped says that the session of a flow run() kept has ended: its |resume| does nothing.
  virtual void dropped(const HeldFlowPtr& held) = 0;
};

// ProxyConfig is what every session of one proxy shares. Immutable while sessions run; the
// SSL_CTXs are owned elsewhere and outlive every session.
struct ProxyConfig {
  // kRegular: an explicit HTTP proxy (absolute-form and CONNECT). kReverse: every client goes
  // to one server. kTransparent: redirected clients, each to its original destination.
  // kSocks5: a SOCKS5 proxy. kUpstream: like kRegular, but every server connection goes
  // through another HTTP proxy.
  enum class Mode : uint8_t { kRegular, kReverse, kTransparent, kSocks5, kUpstream };
  Mode mode = Mode::kRegular;
  // kReverse: where every client connection goes.
  std::string reverse_scheme = "https";
  std::string reverse_host;
  uint16_t reverse_port = 0;
  // kUpstream: the HTTP proxy to chain through.
  std::string upstream_proxy_host;
  uint16_t upstream_proxy_port = 0;
  // Credentials clients must give (Proxy-Authorization in regular and upstream modes, RFC 1929
  // in socks5 mode); none when unset.
  std::optional<ProxyCredentials> proxy_credentials;
  // Refuse clients whose address is public (is_public_ip): mitmproxy's block_global, on unless
  // the proxy asks for credentials or --allow-remote is given.
  bool block_public_clients = false;
  // Client connections open at once, over every loop (--max-connections); one more is answered
  // 503 (an HTTP proxy) and closed. 0: no limit.
  size_t max_client_connections = 0;
  // Which connections are passed through untouched; null: all are intercepted. Not owned.
  PassthroughPolicy* passthrough = nullptr;
  // What the proxy learned about HTTP/2-only servers; null: each session learns for itself.
  // Not owned.
  Http2OnlyServers* h2_only_servers = nullptr;
  // Bytes of each body kept in the flow; bodies are always forwarded whole.
  uint64_t body_limit = 1024 * 1024;
  // Toward clients: a server context whose select-certificate callback mints leaves.
  SSL_CTX* client_tls_ctx = nullptr;
  // Toward servers: a client context with the trust store.
  SSL_CTX* upstream_tls_ctx = nullptr;
  bool verify_upstream = true;
  // How long to wait for the upstream's response head once the request is sent.
  int64_t response_timeout_ms = 120'000;
  // A client's first byte, its TLS handshake (and SOCKS5 greeting) and each request head must
  // come within this; a client connection between exchanges is closed after the idle limit.
  int64_t client_handshake_timeout_ms = 30'000;
  int64_t client_idle_timeout_ms = 60'000;
  // A server connection between exchanges is closed after this.
  int64_t server_idle_timeout_ms = 60'000;
  // A server's TLS handshake (and an upstream proxy's answer to CONNECT) must end within this.
  int64_t server_handshake_timeout_ms = 15'000;
  // The CA certificate, served by the magic host http://sightglass/ (PEM and DER).
  std::string ca_cert_pem;
  std::string ca_cert_der;
  // Whether anyone takes live snapshots now (a subscriber such as the GUI); when it says no,
  // flows in progress are not copied for publishing, only finished ones are. Null: always.
  // Called on the loop threads.
  std::function<bool()> wants_live;
  // What runs at the hold points; null: flows never stop. Not owned.
  FlowHooks* hooks = nullptr;
  // holds says whether flows stop at |point| (there are hooks, and they want it).
  bool holds(HookPoint point) const { return hooks != nullptr && hooks->holds(point); }
  // A held message body is held up to this many bytes; past it, the hook sees the first bytes
  // and the rest streams on unchanged.
  uint64_t hold_body_limit = 16 * 1024 * 1024;
  // A secret of this run: a request whose X-Sightglass-Replay header carries it is the proxy's
  // own replay (the header is removed and the flow marked). Empty: no request is a replay.
  std::string replay_token;
};

// seconds_text writes a duration in ms as seconds for messages: "120 s", "0.5 s".
inline std::string seconds_text(int64_t ms) {
  std::string out = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    out += "." + fraction;
  }
  return out + " s";
}

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

// ClientConnection is what the I/O driver knows of an accepted client connection.
struct ClientConnection {
  std::string peer_address;  // "ip:port" of the client.
  // kTransparent: where the client meant to go ("ip:port", SO_ORIGINAL_DST, or the local
  // address with TPROXY); "" when unknown.
  std::string original_destination;
  // Set when the connection must be refused: a redirect loop (the destination is this proxy's
  // own listener, or the client is one of this proxy's own upstream connections).
  std::string refuse_reason;
  // Set when max_client_connections clients are open already: refused, with a 503 where the
  // client speaks HTTP to the proxy.
  bool over_capacity = false;
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

  // wants_live says whether live snapshots of flows in progress are wanted now.
  bool wants_live() const {
    return config == nullptr || !config->wants_live || config->wants_live();
  }
  // new_flow returns a flow of this session that starts now: a new id, the client's address
  // and TLS session, the wall-clock start.
  FlowSnapshot new_flow(FlowKind kind = FlowKind::kHttp) {
    FlowSnapshot flow;
    flow.id = flow_ids->fetch_add(1) + 1;
    flow.kind = kind;
    flow.client_address = client_address;
    flow.client_tls = client_tls;
    flow.timings.started_us = clock->wall_us();
    return flow;
  }
  // A server connection the session opened before the application layer started (it connects
  // upstream first to learn the server's certificate and ALPN), to |reserved_host|:
  // |reserved_port|: the layer's first new_conn() for that destination (or for no destination
  // named) returns it, and its OpenConnection adopts it. A connection elsewhere (a request a
  // hook sent to another server) gets a new id and leaves the reservation.
  ConnId reserved_conn = 0;
  std::string reserved_host;
  uint16_t reserved_port = 0;
  void reserve(ConnId conn, std::string host, uint16_t port) {
    reserved_conn = conn;
    reserved_host = std::move(host);
    reserved_port = port;
  }
  ConnId new_conn(std::string_view host = {}, uint16_t port = 0) {
    if (reserved_conn != 0 && (host.empty() || (host == reserved_host && port == reserved_port))) {
      return std::exchange(reserved_conn, 0);
    }
    return next_conn++;
  }
  CommandId new_command() { return next_command++; }
  // request_wakeup asks for a wakeup in |delay_ms| under a new id, kept in |id| (the twin of
  // cancel_wakeup).
  void request_wakeup(CommandId& id, int64_t delay_ms, Commands& out) {
    id = new_command();
    out.push_back(RequestWakeup{id, delay_ms});
  }
};

}  // namespace sightglass::core
