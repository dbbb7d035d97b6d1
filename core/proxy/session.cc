#include "core/proxy/session.h"

#include <chrono>

#include "core/layers/http_layer.h"
#include "core/layers/sniff.h"
#include "core/layers/tcp_relay.h"

namespace sightglass::core {
namespace {

// How long a tunnel may stay silent before it is taken for a server-speaks-first protocol.
constexpr int64_t kServerFirstDelayMs = 1000;
constexpr uint8_t kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::span<const uint8_t> bytes_of(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
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
                           std::atomic<FlowId>* flow_ids, std::string client_address) {
  ctx_.config = config;
  ctx_.clock = clock;
  ctx_.flow_ids = flow_ids;
  ctx_.client_address = std::move(client_address);
  if (config->mode == ProxyConfig::Mode::kRegular) {
    stage_ = Stage::kRegularHttp;
    auto http = std::make_unique<HttpLayer>(&ctx_, std::nullopt, false);
    http_ = http.get();
    app_ = std::move(http);
  } else {
    stage_ = Stage::kSniffClient;
    dest_host_ = config->reverse_host;
    dest_port_ = config->reverse_port;
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
  if (stage_ == Stage::kClosed) {
    return;
  }
  if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
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
        stage_ = Stage::kClosed;
        out.push_back(CloseConnection{kClientConn, false});
      }
      return;
    }
    auto it = servers_.find(closed->conn);
    if (it != servers_.end() && it->second.tls && !it->second.tls->handshake_done()) {
      OpenCompleted failed = std::move(it->second.completion);
      failed.error = "TLS handshake with " + it->second.host + " failed: connection closed";
      servers_.erase(it);
      out.push_back(CloseConnection{closed->conn, false});
      deliver(std::move(failed), out);
      return;
    }
    deliver(std::move(event), out);
    return;
  }
  if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    auto it = servers_.find(opened->conn);
    if (it == servers_.end()) {
      return;
    }
    ServerConn& server = it->second;
    if (!opened->error.empty() || !server.wants_tls) {
      server.open = opened->error.empty();
      if (!server.open) {
        servers_.erase(it);
      }
      deliver(std::move(event), out);
      return;
    }
    server.tls = SslEngine::create_client(ctx_.config->upstream_tls_ctx, server.host,
                                          ctx_.config->verify_upstream);
    if (!server.tls) {
      opened->error = "cannot start TLS toward " + server.host;
      servers_.erase(it);
      out.push_back(CloseConnection{opened->conn, false});
      deliver(std::move(event), out);
      return;
    }
    if (server.offer_http11) {
      SSL_set_alpn_protos(server.tls->ssl(), kAlpnHttp11, sizeof(kAlpnHttp11));
    }
    server.completion = std::move(*opened);
    server.handshake_start_us = ctx_.clock->monotonic_us();
    on_server_bytes(server.completion.conn, std::string(), out);
    return;
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

void ProxySession::on_client_bytes(std::string data, Commands& out) {
  switch (stage_) {
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
      client_tls_->feed_ciphertext(data);
      continue_client_handshake(out);
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
    const bool upstream_tls = stage_ == Stage::kSniffClient && reverse_tls;
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
  if (kind == FirstBytes::kHttp) {
    start_http(upstream_tls, out);
  } else {
    start_relay(upstream_tls, out);
  }
}

void ProxySession::start_http(bool upstream_tls, Commands& out) {
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

void ProxySession::start_relay(bool upstream_tls, Commands& out) {
  auto relay =
      std::make_unique<TcpRelay>(&ctx_, dest_host_, dest_port_, upstream_tls, std::move(buffer_));
  buffer_.clear();
  http_ = nullptr;
  Commands app_out;
  relay->start(app_out);
  app_ = std::move(relay);
  stage_ = Stage::kApp;
  process_app_commands(app_out, out);
}

void ProxySession::start_client_tls(Commands& out) {
  client_tls_ = SslEngine::create_server(ctx_.config->client_tls_ctx, dest_host_);
  if (!client_tls_) {
    fail_client_tls("cannot start TLS", out);
    return;
  }
  stage_ = Stage::kClientHandshake;
  client_handshake_start_us_ = ctx_.clock->monotonic_us();
  client_tls_->feed_ciphertext(buffer_);
  buffer_.clear();
  continue_client_handshake(out);
}

void ProxySession::continue_client_handshake(Commands& out) {
  const SslEngine::Progress progress = client_tls_->handshake();
  std::string cipher;
  client_tls_->drain_ciphertext(&cipher);
  if (!cipher.empty()) {
    sent_certificate_ = true;  // Our flight carries the certificate.
    out.push_back(SendData{kClientConn, std::move(cipher)});
  }
  if (progress == SslEngine::Progress::kFailed) {
    fail_client_tls(client_tls_->error(), out);
    return;
  }
  if (progress == SslEngine::Progress::kInProgress) {
    return;
  }
  ctx_.client_tls = client_tls_->info();
  stage_ = Stage::kSniffPlaintext;
  if (client_tls_->read_plaintext(&buffer_) == SslEngine::ReadStatus::kFailed) {
    fail_client_tls(client_tls_->error(), out);
    return;
  }
  if (!buffer_.empty()) {
    sniff(out);
  }
}

void ProxySession::fail_client_tls(const std::string& error, Commands& out) {
  std::string host = dest_host_;
  if (client_tls_) {
    if (const char* sni = SSL_get_servername(client_tls_->ssl(), TLSEXT_NAMETYPE_host_name)) {
      host = sni;
    }
  }
  std::string text;
  // A client that fails the handshake once it has our certificate rejected it. (OpenSSL's
  // TLS 1.3 clients send that alert unencrypted, which BoringSSL reports as a bad record.)
  if (sent_certificate_ || contains(error, "unknown ca") ||
      contains(error, "certificate unknown") || contains(error, "bad certificate") ||
      contains(error, "unsupported certificate")) {
    text = "the client rejected the Sightglass certificate for " + host +
           " (it does not trust the Sightglass CA, or it pins its certificates): " + error;
  } else {
    text = "TLS handshake with the client failed for " + host + ": " + error;
  }
  FlowSnapshot flow = ctx_.new_flow(FlowKind::kTcp);
  flow.state = FlowState::kFinished;
  flow.tcp_host = host;
  flow.tcp_port = dest_port_;
  flow.error = text;
  out.push_back(PublishFlow{std::make_shared<const FlowSnapshot>(std::move(flow))});
  out.push_back(CloseConnection{kClientConn, false});
  for (auto& [conn, server] : servers_) {
    out.push_back(CloseConnection{conn, false});
  }
  servers_.clear();
  stage_ = Stage::kClosed;
}

void ProxySession::deliver(Event event, Commands& out) {
  if (!app_ || stage_ == Stage::kClosed) {
    return;
  }
  Commands app_out;
  app_->handle(event, app_out);
  process_app_commands(app_out, out);
  check_tunnel(out);
}

void ProxySession::process_app_commands(Commands& app_out, Commands& out) {
  // Adjacent writes to one connection become one: one TLS record and one syscall for a
  // response head and its body.
  for (size_t i = 1; i < app_out.size(); ++i) {
    auto* prev = std::get_if<SendData>(&app_out[i - 1]);
    auto* next = std::get_if<SendData>(&app_out[i]);
    if (prev != nullptr && next != nullptr && prev->conn == next->conn) {
      prev->data.append(next->data);
      next->data = std::move(prev->data);
      prev->data.clear();
    }
  }
  for (Command& command : app_out) {
    if (auto* send = std::get_if<SendData>(&command)) {
      if (send->conn == kClientConn) {
        if (client_tls_) {
          client_tls_->write_plaintext(send->data);
          std::string cipher;
          client_tls_->drain_ciphertext(&cipher);
          send->data = std::move(cipher);
        }
      } else if (auto it = servers_.find(send->conn); it != servers_.end() && it->second.tls) {
        it->second.tls->write_plaintext(send->data);
        std::string cipher;
        it->second.tls->drain_ciphertext(&cipher);
        send->data = std::move(cipher);
      }
      if (!send->data.empty()) {
        out.push_back(std::move(command));
      }
      continue;
    }
    if (auto* open = std::get_if<OpenConnection>(&command)) {
      ServerConn& server = servers_[open->conn];
      server.host = open->host;
      server.wants_tls = open->tls;
      server.offer_http11 = http_ != nullptr;
      out.push_back(std::move(command));
      continue;
    }
    if (auto* close = std::get_if<CloseConnection>(&command)) {
      SslEngine* tls = nullptr;
      if (close->conn == kClientConn) {
        tls = client_tls_.get();
      } else if (auto it = servers_.find(close->conn); it != servers_.end()) {
        tls = it->second.tls.get();
      }
      if (tls != nullptr) {
        tls->shutdown();
        std::string cipher;
        tls->drain_ciphertext(&cipher);
        if (!cipher.empty()) {
          out.push_back(SendData{close->conn, std::move(cipher)});
        }
      }
      if (close->conn != kClientConn && !close->half_close) {
        servers_.erase(close->conn);
      }
      if (close->conn == kClientConn && !close->half_close) {
        out.push_back(std::move(command));
        for (auto& [conn, server] : servers_) {
          out.push_back(CloseConnection{conn, false});
        }
        servers_.clear();
        stage_ = Stage::kClosed;
        continue;
      }
    }
    out.push_back(std::move(command));
  }
}

void ProxySession::on_server_bytes(ConnId conn, std::string data, Commands& out) {
  auto it = servers_.find(conn);
  if (it == servers_.end()) {
    return;
  }
  if (!it->second.tls) {
    deliver(DataReceived{conn, std::move(data)}, out);
    return;
  }
  SslEngine& tls = *it->second.tls;
  tls.feed_ciphertext(data);
  if (!tls.handshake_done()) {
    const SslEngine::Progress progress = tls.handshake();
    std::string cipher;
    tls.drain_ciphertext(&cipher);
    if (!cipher.empty()) {
      out.push_back(SendData{conn, std::move(cipher)});
    }
    if (progress == SslEngine::Progress::kInProgress) {
      return;
    }
    OpenCompleted completion = std::move(it->second.completion);
    if (progress == SslEngine::Progress::kFailed) {
      completion.error = tls.error();
      if (completion.error.rfind("upstream certificate verify failed", 0) != 0) {
        completion.error = "TLS handshake with " + it->second.host + " failed: " + completion.error;
      }
      servers_.erase(it);
      out.push_back(CloseConnection{conn, false});
      deliver(std::move(completion), out);
      return;
    }
    completion.ssl_us = ctx_.clock->monotonic_us() - it->second.handshake_start_us;
    completion.tls = tls.info();
    it->second.open = true;
    deliver(std::move(completion), out);
    it = servers_.find(conn);
    if (it == servers_.end()) {
      return;
    }
  }
  std::string plain;
  SslEngine& engine = *it->second.tls;
  const SslEngine::ReadStatus status = engine.read_plaintext(&plain);
  std::string cipher;
  engine.drain_ciphertext(&cipher);
  const std::string error = status == SslEngine::ReadStatus::kFailed ? engine.error() : "";
  if (!cipher.empty()) {
    out.push_back(SendData{conn, std::move(cipher)});
  }
  if (!plain.empty()) {
    deliver(DataReceived{conn, std::move(plain)}, out);
  }
  if (status != SslEngine::ReadStatus::kOk && servers_.count(conn) != 0) {
    deliver(ConnectionClosed{conn, error}, out);
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
  dest_host_ = std::move(tunnel->host);
  dest_port_ = tunnel->port;
  buffer_ = std::move(tunnel->remainder);
  http_ = nullptr;
  app_.reset();
  stage_ = Stage::kSniffTunnel;
  if (!buffer_.empty()) {
    sniff(out);
    return;
  }
  // A protocol where the server speaks first sends nothing: relay it after a while.
  sniff_wakeup_ = ctx_.new_command();
  out.push_back(RequestWakeup{sniff_wakeup_, kServerFirstDelayMs});
}

}  // namespace sightglass::core
