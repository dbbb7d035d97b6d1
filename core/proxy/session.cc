#include "core/proxy/session.h"

#include <algorithm>
#include <chrono>

#include "ca/leaf_selector.h"
#include "core/layers/http2_layer.h"
#include "core/layers/http_layer.h"
#include "core/layers/live_flow.h"
#include "core/layers/sniff.h"
#include "core/layers/tcp_relay.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {
namespace {

using ca::ClientHelloSummary;
using ca::LeafSelector;
using session_internal::kHeldClientBytes;

// How long a tunnel may stay silent before it is taken for a server-speaks-first protocol.
constexpr int64_t kServerFirstDelayMs = 1000;
// A client that closes this soon after its handshake without sending a byte rejected our
// certificate after the fact (certificate pinning). Later closes are idle connections (a
// browser's preconnect), not a verdict.
constexpr int64_t kPinningCloseWindowUs = 2'000'000;
constexpr uint8_t kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::span<const uint8_t> bytes_of(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// parseable_alpn keeps the protocols of a client's ALPN offer that the proxy can speak to a
// server and parse, or relay: HTTP/1.x and HTTP/2, not HTTP/3 or SPDY.
std::vector<std::string> parseable_alpn(const std::vector<std::string>& offer) {
  std::vector<std::string> out;
  for (const std::string& protocol : offer) {
    if (protocol == "h2c" || protocol.starts_with("h3") || protocol.starts_with("spdy/")) {
      continue;
    }
    out.push_back(protocol);
  }
  return out;
}

bool is_http1_alpn(const std::string& protocol) {
  return protocol.empty() || protocol == "http/1.1" || protocol == "http/1.0";
}

}  // namespace

int64_t SystemClock::monotonic_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::wall_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ProxySession::ProxySession(const ProxyConfig* config, const Clock* clock,
                           std::atomic<FlowId>* flow_ids, ClientConnection client) {
  ctx_.config = config;
  ctx_.clock = clock;
  ctx_.flow_ids = flow_ids;
  ctx_.client_address = std::move(client.peer_address);
  refuse_reason_ = std::move(client.refuse_reason);
  switch (config->mode) {
    case ProxyConfig::Mode::kRegular:
    case ProxyConfig::Mode::kUpstream: {
      stage_ = Stage::kRegularHttp;
      auto http = std::make_unique<HttpLayer>(&ctx_, std::nullopt, false);
      http_ = http.get();
      app_ = std::move(http);
      break;
    }
    case ProxyConfig::Mode::kReverse:
      stage_ = Stage::kSniffClient;
      dest_host_ = config->reverse_host;
      dest_port_ = config->reverse_port;
      break;
    case ProxyConfig::Mode::kTransparent:
      stage_ = Stage::kSniffTunnel;
      upstream_first_ = true;
      if (std::optional<HostPort> original = parse_host_port(client.original_destination)) {
        dest_host_ = std::move(original->host);
        dest_port_ = original->port;
      } else if (refuse_reason_.empty()) {
        refuse_reason_ =
            "transparent mode: the original destination of the connection is "
            "unknown (was it redirected with iptables/nftables REDIRECT or TPROXY?)";
      }
      break;
    case ProxyConfig::Mode::kSocks5:
      stage_ = Stage::kSocks;
      socks_ = std::make_unique<Socks5Handshake>(config->proxy_credentials);
      break;
  }
}

ProxySession::~ProxySession() = default;

bool ProxySession::busy() const {
  switch (stage_) {
    case Stage::kRegularHttp:
    case Stage::kApp:
      return app_ != nullptr && app_->busy();
    case Stage::kClosed:
      return false;
    default:
      return true;
  }
}

void ProxySession::handle(Event event, Commands& out) {
  handle_event(std::move(event), out);
  update_idle(out);
}

void ProxySession::handle_event(Event event, Commands& out) {
  if (stage_ == Stage::kClosed) {
    return;
  }
  if (!retired_.empty()) {
    ConnId conn = kClientConn;
    if (const auto* data = std::get_if<DataReceived>(&event)) {
      conn = data->conn;
    } else if (const auto* closed = std::get_if<ConnectionClosed>(&event)) {
      conn = closed->conn;
    } else if (const auto* drained = std::get_if<WriteDrained>(&event)) {
      conn = drained->conn;
    }
    if (conn != kClientConn && retired_.count(conn) != 0) {
      return;  // A connection replaced by a retry.
    }
  }
  if (std::holds_alternative<Start>(event)) {
    on_start(out);
    if (app_ && stage_ != Stage::kClosed) {
      deliver(std::move(event), out);
    }
    return;
  }
  if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
      last_active_us_ = ctx_.clock->monotonic_us();
      if (client_phase_ == ClientPhase::kFirstByte && !data->data.empty()) {
        cancel_client_timer(out);
        if (stage_ == Stage::kSocks) {
          arm_client_timer(ClientPhase::kHandshake, out);
        }
      }
      on_client_bytes(std::move(data->data), out);
    } else {
      on_server_bytes(data->conn, std::move(data->data), out);
    }
    return;
  }
  if (auto* closed = std::get_if<ConnectionClosed>(&event)) {
    if (closed->conn == kClientConn) {
      client_closed_ = true;
      if (stage_ == Stage::kClientHandshake) {
        fail_client_tls(closed->error.empty() ? "connection closed" : closed->error, out);
      } else if (app_) {
        deliver(std::move(event), out);
      } else {
        if (stage_ == Stage::kSniffPlaintext && upstream_first_ && buffer_.empty() &&
            ctx_.clock->monotonic_us() - client_handshake_done_us_ <= kPinningCloseWindowUs) {
          // A client that completes the handshake and leaves without a byte has seen our
          // certificate and did not like it (certificate pinning does this).
          FlowSnapshot flow = failed_tcp_flow(dest_host_, std::string());
          flow.error = "the client closed the connection to " +
                       (client_sni_.empty() ? dest_host_ : client_sni_) +
                       " right after the TLS handshake without sending anything (it may pin its "
                       "certificates)";
          learn_passthrough(flow, flow.error, out);
          publish_final(std::move(flow), out);
        } else if (stage_ == Stage::kSniffTunnel || stage_ == Stage::kConnecting ||
                   (stage_ == Stage::kSniffPlaintext && !closed->error.empty())) {
          // A tunnel the client left before it carried anything: still a connection to log.
          FlowSnapshot flow = failed_tcp_flow(dest_host_, std::string());
          flow.bytes_from_client = buffer_.size();
          flow.error =
              (closed->error.empty() ? std::string("the client closed the tunnel")
                                     : "the client connection failed (" + closed->error + ")") +
              " to " + format_host_port(dest_host_, dest_port_) +
              (stage_ == Stage::kConnecting    ? " while it was being connected"
               : stage_ == Stage::kSniffTunnel ? " before it carried anything"
                                               : " after the TLS handshake, before a request");
          publish_final(std::move(flow), out);
        }
        stage_ = Stage::kClosed;
        close_everything(out);
      }
      return;
    }
    auto it = servers_.find(closed->conn);
    if (it == servers_.end()) {
      deliver(std::move(event), out);
      return;
    }
    ServerConn& server = it->second;
    if (!server.open) {
      // Closed while connecting through the upstream proxy or during the TLS handshake.
      OpenCompleted failed = std::move(server.completion);
      failed.error =
          server.proxy_connect.empty() || !server.proxy_reply.empty() || server.tls != nullptr
              ? "TLS handshake with " + server.host + " failed: connection closed"
              : "the upstream proxy closed the connection before answering CONNECT " +
                    server.proxy_connect;
      if (!closed->error.empty()) {
        failed.error += " (" + closed->error + ")";
      }
      fail_open(closed->conn, std::move(failed), true, out);
      return;
    }
    if (server.preopened) {
      server.eof_pending = true;
      server.eof_error = closed->error;
      return;
    }
    on_server_closed(closed->conn, closed->error, out);
    return;
  }
  if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    on_server_open(*opened, out);
    return;
  }
  if (auto* wakeup = std::get_if<Wakeup>(&event); wakeup != nullptr && wakeup->id != 0) {
    if (wakeup->id == client_timer_) {
      on_client_timer(out);
      return;
    }
    if (wakeup->id == idle_wakeup_) {
      on_idle_wakeup(out);
      return;
    }
    if (on_server_handshake_timeout(wakeup->id, out)) {
      return;
    }
  }
  if (auto* wakeup = std::get_if<Wakeup>(&event);
      wakeup != nullptr && wakeup->id == sniff_wakeup_ && sniff_wakeup_ != 0) {
    sniff_wakeup_ = 0;
    if (stage_ == Stage::kSniffTunnel && buffer_.empty()) {
      start_relay(false, out);
    }
    return;
  }
  if (app_) {
    deliver(std::move(event), out);
  }
}

FlowSnapshot ProxySession::failed_tcp_flow(std::string host, std::string error) {
  FlowSnapshot flow = ctx_.new_flow(FlowKind::kTcp);
  flow.state = FlowState::kFinished;
  flow.tcp_host = std::move(host);
  flow.tcp_port = dest_port_;
  flow.error = std::move(error);
  return flow;
}

void ProxySession::close_everything(Commands& out) {
  out.push_back(CloseConnection{kClientConn, false});
  for (auto& [conn, server] : servers_) {
    out.push_back(CloseConnection{conn, false});
  }
  servers_.clear();
  stage_ = Stage::kClosed;
}

void ProxySession::abandon(const std::string& why, Commands& out) {
  if (stage_ != Stage::kClosed && app_) {
    app_->abandon(why, out);
  }
  stage_ = Stage::kClosed;
}

void ProxySession::on_start(Commands& out) {
  if (!refuse_reason_.empty()) {
    refuse(refuse_reason_, out);
    return;
  }
  arm_client_timer(ClientPhase::kFirstByte, out);
  if (stage_ == Stage::kSniffTunnel) {
    // Transparent mode: a protocol where the server speaks first sends nothing.
    sniff_wakeup_ = ctx_.new_command();
    out.push_back(RequestWakeup{sniff_wakeup_, kServerFirstDelayMs});
  }
}

void ProxySession::refuse(const std::string& error, Commands& out) {
  FlowSnapshot flow = failed_tcp_flow(dest_host_, error);
  out.push_back(Log{Log::Level::kWarn, error});
  publish_final(std::move(flow), out);
  close_everything(out);
  app_.reset();
  http_ = nullptr;
  stage_ = Stage::kClosed;
}

void ProxySession::on_socks_bytes(std::string data, Commands& out) {
  std::string reply;
  const Socks5Handshake::Status status = socks_->feed(data, &reply);
  if (!reply.empty()) {
    out.push_back(SendData{kClientConn, std::move(reply)});
  }
  if (status == Socks5Handshake::Status::kNeedMore) {
    return;
  }
  if (status == Socks5Handshake::Status::kFailed) {
    refuse(socks_->error(), out);
    return;
  }
  // The reply waits for the TCP connection to the server (as mitmproxy does): a server that
  // cannot be reached gets the matching reply code.
  std::string remainder = socks_->take_remainder();
  std::string host = socks_->host();
  const uint16_t port = socks_->port();
  socks_.reset();
  cancel_client_timer(out);
  connect_tunnel(std::move(host), port, std::move(remainder), true, out);
}

void ProxySession::enter_tunnel(std::string host, uint16_t port, std::string remainder,
                                Commands& out) {
  dest_host_ = std::move(host);
  dest_port_ = port;
  buffer_ = std::move(remainder);
  upstream_first_ = true;
  stage_ = Stage::kSniffTunnel;
  if (!buffer_.empty()) {
    sniff(out);
    return;
  }
  // A protocol where the server speaks first sends nothing: relay it after a while.
  sniff_wakeup_ = ctx_.new_command();
  out.push_back(RequestWakeup{sniff_wakeup_, kServerFirstDelayMs});
}

std::vector<std::string> ProxySession::host_ports() const {
  std::vector<std::string> names;
  if (!client_sni_.empty()) {
    names.push_back(format_host_port(client_sni_, dest_port_));
  }
  if (!dest_host_.empty()) {
    names.push_back(format_host_port(dest_host_, dest_port_));
  }
  return names;
}

void ProxySession::learn_passthrough(FlowSnapshot& flow, const std::string& why, Commands& out) {
  PassthroughPolicy* policy = ctx_.config->passthrough;
  if (policy == nullptr || !upstream_first_ || dest_port_ == 0) {
    return;
  }
  const std::string key =
      format_host_port(client_sni_.empty() ? dest_host_ : client_sni_, dest_port_);
  const std::string names[] = {key};
  if (!policy->auto_learn() || !policy->reason(names).empty()) {
    return;  // Not learning, or known already (another session learned it meanwhile).
  }
  flow.passthrough_learned = true;
  out.push_back(Learn{Learn::What::kPassthrough, key, why});  // The driver applies it.
}

void ProxySession::on_client_bytes(std::string data, Commands& out) {
  switch (stage_) {
    case Stage::kSocks:
      on_socks_bytes(std::move(data), out);
      return;
    case Stage::kConnecting:
      // Sent before the answer (optimistic clients): kept for the tunnel, within bounds.
      buffer_.append(data);
      if (buffer_.size() > kHeldClientBytes && !client_paused_) {
        client_paused_ = true;
        out.push_back(PauseReading{kClientConn, true});
      }
      return;
    case Stage::kSniffClient:
    case Stage::kSniffTunnel:
    case Stage::kSniffPlaintext:
      if (client_tls_) {
        client_tls_->feed_ciphertext(data);
        if (client_tls_->read_plaintext(&buffer_) == SslEngine::ReadStatus::kFailed) {
          fail_client_tls(client_tls_->error(), out);
          return;
        }
      } else {
        buffer_.append(data);
      }
      sniff(out);
      return;
    case Stage::kClientHandshake:
      if (keep_raw_) {
        client_raw_.append(data);
      }
      last_client_bytes_ = data.substr(0, 256);
      client_tls_->feed_ciphertext(data);
      if (!awaiting_upstream_) {
        continue_client_handshake(out);
        return;
      }
      // The handshake waits for the server: what the client sends meanwhile is held, up to a
      // cap; past it the client is not read until the server has answered.
      held_while_waiting_ += data.size();
      if (held_while_waiting_ > kHeldClientBytes && !client_paused_) {
        client_paused_ = true;
        out.push_back(PauseReading{kClientConn, true});
      }
      return;
    case Stage::kRegularHttp:
    case Stage::kApp: {
      if (!client_tls_) {
        deliver(DataReceived{kClientConn, std::move(data)}, out);
        return;
      }
      client_tls_->feed_ciphertext(data);
      std::string plain;
      const SslEngine::ReadStatus status = client_tls_->read_plaintext(&plain);
      std::string cipher;
      client_tls_->drain_ciphertext(&cipher);
      if (!cipher.empty()) {
        out.push_back(SendData{kClientConn, std::move(cipher)});
      }
      if (!plain.empty()) {
        deliver(DataReceived{kClientConn, std::move(plain)}, out);
      }
      if (status != SslEngine::ReadStatus::kOk && stage_ != Stage::kClosed && !client_closed_) {
        client_closed_ = true;
        deliver(ConnectionClosed{kClientConn, status == SslEngine::ReadStatus::kFailed
                                                  ? client_tls_->error()
                                                  : std::string()},
                out);
      }
      return;
    }
    case Stage::kClosed:
      return;
  }
}

bool ProxySession::starts_h2_preface(Commands& out, bool upstream_tls) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string_view data(buffer_);
  if (!data.starts_with("PRI ")) {
    return false;
  }
  if (data.size() < kPreface.size() && kPreface.starts_with(data)) {
    return true;  // Wait for the rest of the preface.
  }
  if (!data.starts_with(kPreface)) {
    return false;  // Not HTTP/2: the HTTP/1 parser will answer 400.
  }
  // HTTP/2 with prior knowledge (h2c, or h2 over TLS without ALPN). Through a tunnel
  // (CONNECT, SOCKS5, transparent) the client's prior knowledge is about the server itself:
  // HTTP/2 both sides. In reverse mode it is about the proxy, and the target's HTTP/2 support
  // is unknown: translated to HTTP/1.1.
  upstream_h1_ = ctx_.config->mode == ProxyConfig::Mode::kReverse ||
                 (ctx_.client_tls && !ctx_.client_tls->alpn.empty());
  start_http2(upstream_tls, out);
  return true;
}

void ProxySession::sniff(Commands& out) {
  const FirstBytes kind = sniff_first_bytes(bytes_of(buffer_));
  if (kind == FirstBytes::kNeedMore) {
    return;
  }
  if (sniff_wakeup_ != 0) {
    out.push_back(CancelWakeup{sniff_wakeup_});
    sniff_wakeup_ = 0;
  }
  const bool reverse_tls = ctx_.config->reverse_scheme == "https";
  if (stage_ == Stage::kSniffClient || stage_ == Stage::kSniffTunnel) {
    if (kind == FirstBytes::kTls) {
      start_client_tls(out);
      return;
    }
    if (stage_ == Stage::kSniffTunnel && ctx_.config->passthrough != nullptr) {
      std::string reason = ctx_.config->passthrough->reason(host_ports());
      if (!reason.empty()) {
        start_passthrough(std::move(reason), out);
        return;
      }
    }
    const bool upstream_tls = stage_ == Stage::kSniffClient && reverse_tls;
    if (kind == FirstBytes::kHttp && starts_h2_preface(out, upstream_tls)) {
      return;
    }
    if (kind == FirstBytes::kHttp) {
      start_http(upstream_tls, out);
    } else {
      start_relay(upstream_tls, out);
    }
    return;
  }
  // After the client's TLS handshake: reverse mode follows the target's scheme, a tunnel
  // speaks TLS to the server as the client did to us.
  const bool upstream_tls = ctx_.config->mode == ProxyConfig::Mode::kReverse ? reverse_tls : true;
  if (kind == FirstBytes::kHttp && starts_h2_preface(out, upstream_tls)) {
    return;
  }
  if (kind == FirstBytes::kHttp) {
    start_http(upstream_tls, out);
  } else {
    start_relay(upstream_tls, out);
  }
}

void ProxySession::start_http(bool upstream_tls, Commands& out) {
  reserve_tcp_first();
  HttpTarget target;
  target.tls = upstream_tls;
  target.scheme = upstream_tls ? "https" : "http";
  target.host = dest_host_;
  target.port = dest_port_;
  auto http =
      std::make_unique<HttpLayer>(&ctx_, target, ctx_.config->mode == ProxyConfig::Mode::kReverse);
  http_ = http.get();
  app_ = std::move(http);
  stage_ = Stage::kApp;
  std::string data = std::move(buffer_);
  buffer_.clear();
  deliver(DataReceived{kClientConn, std::move(data)}, out);
}

void ProxySession::start_relay(bool upstream_tls, Commands& out, std::string passthrough) {
  reserve_tcp_first();
  auto relay =
      std::make_unique<TcpRelay>(&ctx_, dest_host_, dest_port_, upstream_tls, std::move(buffer_));
  buffer_.clear();
  if (!passthrough.empty()) {
    relay->annotate(client_sni_, std::move(passthrough));
  }
  http_ = nullptr;
  Commands app_out;
  relay->start(app_out);
  app_ = std::move(relay);
  stage_ = Stage::kApp;
  process_app_commands(app_out, out);
}

bool ProxySession::reverse_probe() const {
  return ctx_.config->mode == ProxyConfig::Mode::kReverse && ctx_.config->reverse_scheme == "https";
}

void ProxySession::start_http2(bool upstream_tls, Commands& out) {
  reserve_tcp_first();
  HttpTarget target;
  target.tls = upstream_tls;
  target.scheme = target.tls ? "https" : "http";
  target.host = dest_host_;
  target.port = dest_port_;
  auto http2 = std::make_unique<Http2Layer>(
      &ctx_, target, ctx_.config->mode == ProxyConfig::Mode::kReverse,
      upstream_h1_ ? Http2Layer::UpstreamProtocol::kHttp1 : Http2Layer::UpstreamProtocol::kHttp2);
  http_ = nullptr;
  http2_ = http2.get();
  Commands app_out;
  http2->start(app_out);
  app_ = std::move(http2);
  stage_ = Stage::kApp;
  process_app_commands(app_out, out);
  if (!buffer_.empty() && stage_ == Stage::kApp) {
    std::string data = std::move(buffer_);
    buffer_.clear();
    deliver(DataReceived{kClientConn, std::move(data)}, out);
  }
}

void ProxySession::start_client_tls(Commands& out) {
  client_tls_ = SslEngine::create_server(ctx_.config->client_tls_ctx, dest_host_);
  if (!client_tls_) {
    fail_client_tls("cannot start TLS", out);
    return;
  }
  stage_ = Stage::kClientHandshake;
  client_handshake_start_us_ = ctx_.clock->monotonic_us();
  arm_client_timer(ClientPhase::kHandshake, out);
  if (upstream_first_ || reverse_probe()) {
    // Stop at the ClientHello: its SNI and ALPN decide between passthrough and interception,
    // and the server is asked first.
    if (!LeafSelector::hold_at_client_hello(client_tls_->ssl())) {
      fail_client_tls("cannot start TLS", out);
      return;
    }
    keep_raw_ = upstream_first_;
    client_raw_ = upstream_first_ ? buffer_ : std::string();
  }
  client_tls_->feed_ciphertext(buffer_);
  buffer_.clear();
  continue_client_handshake(out);
}

void ProxySession::on_client_hello(Commands& out) {
  const ClientHelloSummary* hello = LeafSelector::client_hello(client_tls_->ssl());
  std::vector<std::string> alpn;
  if (hello != nullptr) {
    client_sni_ = hello->server_name;
    alpn = hello->alpn;
  }
  client_offers_h2_ = std::find(alpn.begin(), alpn.end(), "h2") != alpn.end();
  client_needs_h2_ = client_offers_h2_ && std::none_of(alpn.begin(), alpn.end(), [](const auto& p) {
                       return p == "http/1.1" || p == "http/1.0";
                     });
  if (!upstream_first_) {
    // Reverse mode: only a client that offers h2 needs the server's choice first (HTTP/2 is
    // spoken on both sides only when the server speaks it too).
    if (client_offers_h2_) {
      preopen_upstream(alpn, out);
    } else {
      continue_client_handshake(out);
    }
    return;
  }
  if (ctx_.config->passthrough != nullptr) {
    std::string reason = ctx_.config->passthrough->reason(host_ports());
    if (!reason.empty()) {
      start_passthrough(std::move(reason), out);
      return;
    }
  }
  keep_raw_ = false;
  client_raw_.clear();
  preopen_upstream(alpn, out);
}

void ProxySession::preopen_upstream(const std::vector<std::string>& client_alpn, Commands& out) {
  awaiting_upstream_ = true;
  const bool reuse = tcp_first_unused();
  if (!reuse) {
    preopened_ = ctx_.new_conn();
  }
  ServerConn& server = servers_[preopened_];
  server.host = dest_host_;
  // In reverse mode the client's SNI names the proxy, not the server.
  server.tls_name = client_sni_.empty() || !upstream_first_ ? dest_host_ : client_sni_;
  server.alpn = parseable_alpn(client_alpn);
  server.authority = format_host_port(dest_host_, dest_port_);
  // HTTP/1.x for the client: an HTTP/2-only server is spoken to in HTTP/2 (H1OverH2).
  server.h1_client =
      !client_offers_h2_ &&
      (server.alpn.empty() || std::any_of(server.alpn.begin(), server.alpn.end(), is_http1_alpn));
  if (client_needs_h2_) {
    // An h2-only client can be served by an HTTP/1.1 server too (translated per stream).
    server.alpn.push_back("http/1.1");
  }
  if (server.h1_client && known_h2_only(server.authority)) {
    server.first_alpn = std::exchange(server.alpn, {"h2"});
    server.known_h2_only = true;
  }
  server.wants_tls = true;
  server.preopened = true;
  if (reuse) {
    // The tunnel's TCP connection is open already: TLS starts on it.
    const ConnId conn = preopened_;
    server.tcp_first = false;
    server.open = false;
    server.completion = preopen_result_ ? std::move(*preopen_result_) : OpenCompleted{};
    preopen_result_.reset();
    std::string early = std::exchange(server.early, std::string());
    if (std::exchange(server.early_paused, false)) {
      out.push_back(PauseReading{conn, false});
    }
    const bool eof = server.eof_pending;
    const std::string eof_error = server.eof_error;
    server.eof_pending = false;
    start_server_tls(conn, out);
    if (!early.empty() && servers_.count(conn) != 0) {
      on_server_bytes(conn, std::move(early), out);
    }
    if (eof && servers_.count(conn) != 0 && !servers_[conn].open) {
      OpenCompleted failed = std::move(servers_[conn].completion);
      failed.error = "TLS handshake with " + dest_host_ + " failed: connection closed" +
                     (eof_error.empty() ? std::string() : " (" + eof_error + ")");
      fail_open(conn, std::move(failed), true, out);
    }
    return;
  }
  const CommandId id = ctx_.new_command();
  OpenConnection open{id, preopened_, dest_host_, dest_port_, true};
  if (ctx_.config->mode == ProxyConfig::Mode::kUpstream) {
    server.proxy_connect = format_host_port(dest_host_, dest_port_);
    open.host = ctx_.config->upstream_proxy_host;
    open.port = ctx_.config->upstream_proxy_port;
  }
  server.open_command = open;
  out.push_back(std::move(open));
}

void ProxySession::on_preopen_done(OpenCompleted completion, Commands& out) {
  SSL* ssl = client_tls_ ? client_tls_->ssl() : nullptr;
  if (ssl != nullptr && completion.error.empty()) {
    auto it = servers_.find(preopened_);
    if (it != servers_.end() && it->second.tls) {
      if (client_sni_.empty() && upstream_first_) {
        // No SNI (an IP literal): the leaf carries the real server's names.
        LeafSelector::set_upstream_names(ssl, it->second.tls->peer_certificate_names());
      }
      const ServerConn& server = it->second;
      const std::vector<std::string>& offered =
          server.retry != ServerConn::Retry::kNone || server.known_h2_only ? server.first_alpn
                                                                           : server.alpn;
      if (server.h2 && !offered.empty()) {
        // HTTP/2 toward the server only: the client keeps the HTTP/1.x it offered.
        auto h1 = std::find_if(offered.begin(), offered.end(), [](const std::string& p) {
          return p == "http/1.1" || p == "http/1.0";
        });
        LeafSelector::set_alpn_choice(ssl, h1 != offered.end() ? *h1 : std::string());
      } else if (!offered.empty()) {
        // Answer the client with what the server chose (nothing, if it chose nothing). A
        // client that offered h2 but no HTTP/1.x cannot follow an HTTP/1.1 server: it gets h2,
        // translated per stream. (One that offered both gets HTTP/1.1, byte for byte.)
        std::string chosen = completion.tls ? completion.tls->alpn : std::string();
        if (client_needs_h2_ && is_http1_alpn(chosen)) {
          chosen = "h2";
          upstream_h1_ = true;
        }
        LeafSelector::set_alpn_choice(ssl, chosen);
      }
    }
  }
  // On failure the client's handshake still completes (named by SNI or the destination), so
  // that the failure can be answered inside the tunnel: a 502 for HTTP.
  preopen_result_ = std::move(completion);
  awaiting_upstream_ = false;
  held_while_waiting_ = 0;
  if (client_paused_ && stage_ != Stage::kConnecting) {
    client_paused_ = false;
    out.push_back(PauseReading{kClientConn, false});
  }
  if (stage_ == Stage::kConnecting) {
    tunnel_connected(out);
    return;
  }
  if (stage_ == Stage::kClientHandshake) {
    // The client's limit counts from now: the time the server took is not the client's.
    if (client_phase_ == ClientPhase::kHandshake) {
      arm_client_timer(ClientPhase::kHandshake, out);
    }
    continue_client_handshake(out);
  }
}

void ProxySession::start_passthrough(std::string reason, Commands& out) {
  // The client's bytes so far (its ClientHello) go to the server as they came.
  if (keep_raw_) {
    buffer_ = std::move(client_raw_);
    client_raw_.clear();
    keep_raw_ = false;
  }
  client_tls_.reset();
  start_relay(false, out, std::move(reason));
}

void ProxySession::continue_client_handshake(Commands& out) {
  const SslEngine::Progress progress = client_tls_->handshake();
  std::string cipher;
  client_tls_->drain_ciphertext(&cipher);
  if (!cipher.empty()) {
    out.push_back(SendData{kClientConn, std::move(cipher)});
  }
  if (progress == SslEngine::Progress::kFailed) {
    fail_client_tls(client_tls_->error(), out);
    return;
  }
  if (progress == SslEngine::Progress::kPending) {
    on_client_hello(out);
    return;
  }
  if (progress == SslEngine::Progress::kInProgress) {
    return;
  }
  ctx_.client_tls = client_tls_->info();
  client_handshake_done_us_ = ctx_.clock->monotonic_us();
  cancel_client_timer(out);
  stage_ = Stage::kSniffPlaintext;
  if (preopened_ != 0) {
    ctx_.reserve(preopened_, dest_host_, dest_port_);
  }
  if (ctx_.client_tls->alpn == "h2") {
    if (client_tls_->read_plaintext(&buffer_) == SslEngine::ReadStatus::kFailed) {
      fail_client_tls(client_tls_->error(), out);
      return;
    }
    start_http2(ctx_.config->mode == ProxyConfig::Mode::kReverse
                    ? ctx_.config->reverse_scheme == "https"
                    : true,
                out);
    return;
  }
  if (!is_http1_alpn(ctx_.client_tls->alpn)) {
    // The server chose a protocol we do not parse: relay the decrypted bytes.
    std::string plain;
    client_tls_->read_plaintext(&plain);
    buffer_.append(plain);
    start_relay(true, out);
    return;
  }
  if (client_tls_->read_plaintext(&buffer_) == SslEngine::ReadStatus::kFailed) {
    fail_client_tls(client_tls_->error(), out);
    return;
  }
  if (!buffer_.empty()) {
    sniff(out);
  }
}

namespace {

// rejects_certificate says whether a TLS alert tells that the peer did not accept our
// certificate.
bool rejects_certificate(int alert) {
  return alert == SSL_AD_BAD_CERTIFICATE || alert == SSL_AD_UNSUPPORTED_CERTIFICATE ||
         alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_UNKNOWN_CA;
}

// plaintext_alert finds an unencrypted alert record in |bytes| (OpenSSL's TLS 1.3 clients send
// their alert in the clear when they reject the server's certificate; BoringSSL, expecting an
// encrypted record, fails with a record error): its description, or -1.
int plaintext_alert(std::string_view bytes) {
  size_t i = 0;
  while (i + 5 <= bytes.size()) {
    const auto type = static_cast<uint8_t>(bytes[i]);
    const size_t length = (static_cast<size_t>(static_cast<uint8_t>(bytes[i + 3])) << 8) |
                          static_cast<uint8_t>(bytes[i + 4]);
    if (type == 21 && length == 2 && i + 7 <= bytes.size()) {
      return static_cast<uint8_t>(bytes[i + 6]);
    }
    i += 5 + length;
  }
  return -1;
}

}  // namespace

void ProxySession::fail_client_tls(const std::string& error, Commands& out) {
  std::string host = dest_host_;
  SslEngine::Failure failure = SslEngine::Failure::kClosed;
  int alert = -1;
  if (client_tls_) {
    if (const char* sni = SSL_get_servername(client_tls_->ssl(), TLSEXT_NAMETYPE_host_name)) {
      host = sni;
    }
    failure = client_tls_->failure();
    alert = client_tls_->peer_alert();
    if (failure == SslEngine::Failure::kProtocol) {
      alert = plaintext_alert(last_client_bytes_);
    }
  }
  cancel_client_timer(out);
  std::string text;
  // Decided on typed reasons only: an alert that rejects our certificate. (A client that
  // completes the handshake and leaves at once is judged in handle().)
  const bool rejected = rejects_certificate(alert);
  if (rejected) {
    text = "the client rejected the Sightglass certificate for " + host +
           " (it does not trust the Sightglass CA, or it pins its certificates): " + error;
  } else if (failure == SslEngine::Failure::kLocal) {
    text = "the proxy refused the TLS handshake for " + host + ": " + error;
  } else {
    text = "TLS handshake with the client failed for " + host + ": " + error;
  }
  FlowSnapshot flow = failed_tcp_flow(host, text);
  if (rejected) {
    learn_passthrough(flow, text, out);
  }
  publish_final(std::move(flow), out);
  close_everything(out);
}

void ProxySession::deliver(Event event, Commands& out) {
  if (!app_ || stage_ == Stage::kClosed) {
    return;
  }
  if (!app_of_wire_.empty()) {
    if (auto* data = std::get_if<DataReceived>(&event)) {
      data->conn = app_conn(data->conn);
    } else if (auto* closed = std::get_if<ConnectionClosed>(&event)) {
      closed->conn = app_conn(closed->conn);
    } else if (auto* opened = std::get_if<OpenCompleted>(&event)) {
      opened->conn = app_conn(opened->conn);
    } else if (auto* drained = std::get_if<WriteDrained>(&event)) {
      drained->conn = app_conn(drained->conn);
    }
  }
  Commands app_out;
  app_->handle(event, app_out);
  process_app_commands(app_out, out);
  check_tunnel(out);
}

bool ProxySession::retry_with_h2(ConnId conn, ServerConn::Retry why, std::string error,
                                 Commands& out) {
  auto it = servers_.find(conn);
  if (it == servers_.end()) {
    return false;
  }
  ServerConn& old = it->second;
  // Only a connection for HTTP/1.x that did not offer h2 already, once. Offering h2 is safe
  // even after the first connection carried a request: the retry goes on only if the server
  // then chooses h2, and a server whose ALPN list has h2 but not http/1.1 speaks HTTP/2 only:
  // it did not act on the HTTP/1.1 bytes.
  if (!old.h1_client || old.retry != ServerConn::Retry::kNone || !old.wants_tls ||
      std::find(old.alpn.begin(), old.alpn.end(), "h2") != old.alpn.end()) {
    return false;
  }
  ServerConn fresh;
  fresh.host = old.host;
  fresh.tls_name = old.tls_name;
  fresh.alpn = {"h2"};
  fresh.wants_tls = true;
  fresh.preopened = old.preopened;
  fresh.eof_pending = false;
  fresh.h1_client = true;
  fresh.retry = why;
  fresh.open_command = old.open_command;
  fresh.authority = old.authority;
  fresh.first_alpn = old.alpn;
  fresh.first_error = std::move(error);
  fresh.held = std::move(old.sent);
  if (ctx_.config->mode == ProxyConfig::Mode::kUpstream) {
    fresh.proxy_connect = old.authority;
  }
  const bool known_to_app = !(old.preopened && !old.open);
  if (old.tls) {
    old.tls->shutdown();
    std::string cipher;
    old.tls->drain_ciphertext(&cipher);
    if (!cipher.empty()) {
      out.push_back(SendData{conn, std::move(cipher)});
    }
  }
  out.push_back(CloseConnection{conn, false});
  out.push_back(Log{Log::Level::kInfo, fresh.authority + ": " + fresh.first_error +
                                           "; trying again offering h2 (HTTP/1.1 for the "
                                           "client, translated)"});
  const ConnId wire = ctx_.new_conn();
  retired_.insert(conn);
  if (known_to_app) {
    const ConnId app = app_conn(conn);
    app_of_wire_.erase(conn);
    app_of_wire_[wire] = app;
    wire_of_app_[app] = wire;
  }
  if (preopened_ == conn) {
    preopened_ = wire;
  }
  servers_.erase(it);
  OpenConnection open = fresh.open_command;
  open.conn = wire;
  servers_[wire] = std::move(fresh);
  out.push_back(std::move(open));
  return true;
}

void ProxySession::check_tunnel(Commands& out) {
  if (stage_ != Stage::kRegularHttp || http_ == nullptr) {
    return;
  }
  std::optional<TunnelRequest> tunnel = http_->take_tunnel();
  if (!tunnel) {
    return;
  }
  http_ = nullptr;
  app_.reset();
  tunnel_version_ = tunnel->version;
  connect_tunnel(std::move(tunnel->host), tunnel->port, std::move(tunnel->remainder), false, out);
}

}  // namespace sightglass::core
