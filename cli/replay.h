#pragma once

// Replay through the core, as mitmproxy's client replay: a recorded request is sent again as
// a client of this proxy's own listener, over loopback, the way a client of its mode would
// send it (absolute-form or CONNECT and TLS for an explicit proxy, a SOCKS5 CONNECT, or
// straight to a reverse proxy), carrying the run's replay token (core/layers/replay_mark.h) so
// that the new flow is marked as a replay. The response is read to its end and discarded: the
// proxy logs the flow like any other.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/layers/proxy_auth.h"
#include "core/proxy/context.h"
#include "core/proxy/flow.h"

namespace sightglass::cli {

// ReplayEndpoint is how to reach this proxy as one of its clients.
struct ReplayEndpoint {
  core::ProxyConfig::Mode mode = core::ProxyConfig::Mode::kRegular;
  // "ip:port" ("[v6]:port") of the listener; an unspecified address (0.0.0.0, ::) means the
  // loopback address of its family.
  std::string address;
  // The proxy's CA certificate (PEM): the only root trusted for the TLS it presents.
  std::string ca_cert_pem;
  // What the proxy asks of its clients (--proxyauth), if anything.
  std::optional<core::ProxyCredentials> credentials;
  std::string token;
  // Each step (connect, handshake, every read and write) must end within this.
  int64_t timeout_ms = 130'000;
};

// replay_refusal says why |flow| cannot be replayed through a proxy in |mode|, or "".
std::string replay_refusal(const core::FlowSnapshot& flow, core::ProxyConfig::Mode mode);

// replay_request is the HTTP/1.1 request that replays |request|: origin-form, or absolute-form
// (with a Proxy-Authorization for |credentials|) for an explicit proxy's plain HTTP. Pseudo and
// hop-by-hop headers are left out, Host is added when missing, the body is framed anew
// (Content-Length, or chunked with the trailers when there were any), and the token header
// comes last.
std::string replay_request(const core::HttpRequestData& request, bool absolute_form,
                           const std::optional<core::ProxyCredentials>& credentials,
                           std::string_view token);

// run_replay sends |flow|'s request through the proxy at |endpoint|, reads the response to its
// end and closes. Blocking; returns "" or what failed. A TLS write to a connection the proxy
// closed raises SIGPIPE: call it with SIGPIPE ignored or blocked (ProxyRuntime::replay blocks
// it on the replay's thread).
std::string run_replay(const ReplayEndpoint& endpoint, const core::FlowSnapshot& flow);

}  // namespace sightglass::cli
