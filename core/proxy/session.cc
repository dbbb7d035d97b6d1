#include "core/proxy/session.h"

#include <algorithm>
#include <chrono>

#include "core/layers/http2_layer.h"
#include "core/layers/http_layer.h"
#include "core/layers/live_flow.h"
#include "core/layers/sniff.h"
#include "core/layers/tcp_relay.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {
namespace {

using session_internal::is_http1_alpn;
using session_internal::kHeldClientBytes;
using session_internal::kServerFirstDelayMs;

// A client that closes this soon after its handshake without sending a byte rejected our
// certificate after the fact (certificate pinning). Later closes are idle connections (a
// browser's preconnect), not a verdict.
constexpr int64_t kPinningCloseWindowUs = 2'000'000;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

template <typename C>
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(C::now().time_since_epoch()).count();
}

}  // namespace

int64_t SystemClock::monotonic_us() const { return now_us<std::chrono::steady_clock>(); }

int64_t SystemClock::wall_us() const { return now_us<std::chrono::system_clock>(); }

ProxySession::ProxySession(const ProxyConfig* config, const Clock* clock,
                           std::atomic<FlowId>* flow_ids, ClientConnection client) {
  ctx_.config = config;
  ctx_.clock = clock;
  ctx_.flow_ids = flow_ids;
  ctx_.client_address = std::move(client.peer_address);
  refuse_reason_ = std::move(client.refuse_reason);
  over_capacity_ = client.over_capacity;
  if (over_capacity_) {
    refuse_reason_ = "client " + ctx_.client_address +
                     " refused: " + std::to_string(config->max_client_connections) +
                     " client connections are open (--max-connections)";
  } else if (config->block_public_clients && is_public_ip(address_host(ctx_.client_address))) {
    refuse_reason_ = "client " + ctx_.client_address +
                     " refused: a public address, and the proxy asks for no credentials "
                     "(--proxyauth; --allow-remote serves such clients)";
  }
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
  const ConnId conn = std::visit(
      [](const auto& e) {
        if constexpr (requires { e.conn; }) {
          return e.conn;
        }
        return kClientConn;
      },
      event);
  if (conn != kClientConn && !std::holds_alternative<OpenCompleted>(event) &&
      server_.retired(conn)) {
    return;  // Bytes, a close or a drain of a connection replaced by a retry.
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
      server_.on_bytes(data->conn, std::move(data->data), out);
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
        close_everything(out);
      }
      return;
    }
    server_.on_closed(closed->conn, std::move(closed->error), out);
    return;
  }
  if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    server_.on_open(*opened, out);
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
    if (wakeup->id == sniff_wakeup_) {
      sniff_wakeup_ = 0;
      if (stage_ == Stage::kSniffTunnel && buffer_.empty()) {
        start_relay(false, out);
      }
      return;
    }
    if (server_.on_wakeup(wakeup->id, out)) {
      return;
    }
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
  server_.close_all(out);
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
    ctx_.request_wakeup(sniff_wakeup_, kServerFirstDelayMs, out);
  }
}

void ProxySession::refuse(const std::string& error, Commands& out) {
  if (over_capacity_ && stage_ == Stage::kRegularHttp) {
    out.push_back(SendData{kClientConn, error_response(503, "Service Unavailable", error)});
  }
  FlowSnapshot flow = failed_tcp_flow(dest_host_, error);
  out.push_back(Log{Log::Level::kWarn, error});
  publish_final(std::move(flow), out);
  close_everything(out);
  app_.reset();
  http_ = nullptr;
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
        if (client_tls_->decrypt(data, &buffer_, out) == SslEngine::ReadStatus::kFailed) {
          fail_client_tls(client_tls_->error(), out);
          return;
        }
      } else {
        buffer_.append(data);
      }
      sniff(out);
      return;
    case Stage::kClientHandshake:
      client_tls_->feed(data);
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
      std::string plain;
      const SslEngine::ReadStatus status = client_tls_->decrypt(data, &plain, out);
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
  cancel_wakeup(sniff_wakeup_, out);
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
  }
  // Before any TLS, only reverse mode speaks TLS to the server (as its target's scheme says).
  // After the client's TLS handshake, reverse mode follows the target's scheme, and a tunnel
  // speaks TLS to the server as the client did to us.
  const bool upstream_tls = stage_ == Stage::kSniffPlaintext
                                ? ctx_.config->mode != ProxyConfig::Mode::kReverse || reverse_tls()
                                : stage_ == Stage::kSniffClient && reverse_tls();
  if (kind == FirstBytes::kHttp && starts_h2_preface(out, upstream_tls)) {
    return;
  }
  if (kind == FirstBytes::kHttp) {
    start_http(upstream_tls, out);
  } else {
    start_relay(upstream_tls, out);
  }
}

HttpTarget ProxySession::target(bool tls) const {
  return HttpTarget{tls ? "https" : "http", dest_host_, dest_port_, tls};
}

void ProxySession::start_http(bool upstream_tls, Commands& out) {
  reserve_tcp_first();
  auto http = std::make_unique<HttpLayer>(&ctx_, target(upstream_tls),
                                          ctx_.config->mode == ProxyConfig::Mode::kReverse);
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

bool ProxySession::reverse_tls() const { return ctx_.config->reverse_scheme == "https"; }

bool ProxySession::reverse_probe() const {
  return ctx_.config->mode == ProxyConfig::Mode::kReverse && reverse_tls();
}

void ProxySession::start_http2(bool upstream_tls, Commands& out) {
  reserve_tcp_first();
  auto http2 = std::make_unique<Http2Layer>(
      &ctx_, target(upstream_tls), ctx_.config->mode == ProxyConfig::Mode::kReverse,
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
  // With the destination known (or a reverse probe), stop at the ClientHello: its SNI and ALPN
  // decide between passthrough and interception, and the server is asked first.
  const bool hold = upstream_first_ || reverse_probe();
  client_tls_.emplace();
  if (!client_tls_->start(ctx_.config->client_tls_ctx, dest_host_, hold, upstream_first_,
                          buffer_)) {
    fail_client_tls("cannot start TLS", out);
    client_tls_.reset();
    return;
  }
  buffer_.clear();
  stage_ = Stage::kClientHandshake;
  arm_client_timer(ClientPhase::kHandshake, out);
  continue_client_handshake(out);
}

void ProxySession::start_passthrough(std::string reason, Commands& out) {
  // The client's bytes so far (its ClientHello) go to the server as they came.
  if (client_tls_ && client_tls_->keeping_raw()) {
    buffer_ = client_tls_->take_raw();
  }
  client_tls_.reset();
  start_relay(false, out, std::move(reason));
}

void ProxySession::continue_client_handshake(Commands& out) {
  const SslEngine::Progress progress = client_tls_->handshake(out);
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
  const std::string& alpn = ctx_.client_tls->alpn;
  const SslEngine::ReadStatus read = client_tls_->read(&buffer_);
  if (alpn != "h2" && !is_http1_alpn(alpn)) {
    // The server chose a protocol we do not parse: relay the decrypted bytes, whatever came.
    start_relay(true, out);
  } else if (read == SslEngine::ReadStatus::kFailed) {
    fail_client_tls(client_tls_->error(), out);
  } else if (alpn == "h2") {
    start_http2(ctx_.config->mode != ProxyConfig::Mode::kReverse || reverse_tls(), out);
  } else if (!buffer_.empty()) {
    sniff(out);
  }
}

void ProxySession::fail_client_tls(const std::string& error, Commands& out) {
  const ClientTls none;
  const ClientTls::Failure failure =
      (client_tls_ ? *client_tls_ : none).describe_failure(error, dest_host_);
  cancel_client_timer(out);
  FlowSnapshot flow = failed_tcp_flow(failure.host, failure.text);
  if (failure.rejected_certificate) {
    learn_passthrough(flow, failure.text, out);
  }
  publish_final(std::move(flow), out);
  close_everything(out);
}

void ProxySession::deliver(Event event, Commands& out) {
  if (!app_ || stage_ == Stage::kClosed) {
    return;
  }
  if (server_.remapped()) {
    std::visit(
        [this](auto& e) {
          if constexpr (requires { e.conn; }) {
            e.conn = server_.app_conn(e.conn);
          }
        },
        event);
  }
  Commands app_out = spare_app_out_.take();
  app_->handle(event, app_out);
  process_app_commands(app_out, out);
  spare_app_out_.give_back(std::move(app_out));
  check_tunnel(out);
}

void ProxySession::replaced(ConnId old, ConnId wire) {
  if (preopened_ == old) {
    preopened_ = wire;
  }
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
