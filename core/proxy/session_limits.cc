// ProxySession's time limits: a client's first byte and handshake, idle connections between
// exchanges, and a server's TLS handshake (or an upstream proxy's answer to CONNECT).
#include "core/layers/http_layer.h"
#include "core/layers/live_flow.h"
#include "core/proxy/session.h"

namespace sightglass::core {

void ProxySession::arm_client_timer(ClientPhase phase, Commands& out) {
  cancel_client_timer(out);
  client_phase_ = phase;
  ctx_.request_wakeup(client_timer_, ctx_.config->client_handshake_timeout_ms, out);
}

void ProxySession::cancel_client_timer(Commands& out) {
  cancel_wakeup(client_timer_, out);
  client_phase_ = ClientPhase::kNone;
}

void ProxySession::on_client_timer(Commands& out) {
  const ClientPhase phase = std::exchange(client_phase_, ClientPhase::kNone);
  client_timer_ = 0;
  std::string what;
  if (phase == ClientPhase::kFirstByte && buffer_.empty() &&
      (stage_ == Stage::kSocks || stage_ == Stage::kSniffClient ||
       (stage_ == Stage::kSniffTunnel && ctx_.config->mode == ProxyConfig::Mode::kTransparent) ||
       (stage_ == Stage::kRegularHttp && http_ != nullptr && !http_->busy()))) {
    what = "nothing received within " + seconds_text(ctx_.config->client_handshake_timeout_ms) +
           " of connecting";
  } else if (phase == ClientPhase::kHandshake &&
             (stage_ == Stage::kClientHandshake || stage_ == Stage::kSocks)) {
    if (awaiting_upstream_) {
      // The server holds the handshake up: its own limit applies.
      arm_client_timer(ClientPhase::kHandshake, out);
      return;
    }
    what = std::string(stage_ == Stage::kSocks ? "the SOCKS5 handshake" : "the TLS handshake") +
           " was not complete within " + seconds_text(ctx_.config->client_handshake_timeout_ms);
  } else {
    return;  // The phase is over.
  }
  FlowSnapshot flow =
      failed_tcp_flow(client_sni_.empty() ? dest_host_ : client_sni_, "client timeout: " + what);
  flow.bytes_from_client = buffer_.size() + (client_tls_ ? client_tls_->raw_size() : 0);
  out.push_back(Log{Log::Level::kInfo, flow.error + " (" + ctx_.client_address + ")"});
  publish_final(std::move(flow), out);
  close_everything(out);
  app_.reset();
  http_ = nullptr;
  http2_ = nullptr;
}

bool ProxySession::may_idle() const {
  const bool idle_stage =
      stage_ == Stage::kRegularHttp || stage_ == Stage::kApp || stage_ == Stage::kSniffPlaintext;
  return idle_stage && !client_closed_ && !(app_ && app_->busy());
}

void ProxySession::update_idle(Commands& out) {
  if (!may_idle()) {
    last_active_us_ = ctx_.clock->monotonic_us();
    return;
  }
  if (idle_wakeup_ == 0) {
    ctx_.request_wakeup(idle_wakeup_, ctx_.config->client_idle_timeout_ms, out);
  }
}

void ProxySession::on_idle_wakeup(Commands& out) {
  idle_wakeup_ = 0;
  const int64_t now = ctx_.clock->monotonic_us();
  if (!may_idle()) {
    return;
  }
  const int64_t limit_us = ctx_.config->client_idle_timeout_ms * 1000;
  if (now - last_active_us_ < limit_us) {
    ctx_.request_wakeup(idle_wakeup_, (last_active_us_ + limit_us - now) / 1000 + 1, out);
    return;
  }
  // Idle between exchanges: closed without a flow (nothing was lost).
  out.push_back(Log{Log::Level::kDebug, "client " + ctx_.client_address + " idle for " +
                                            seconds_text(ctx_.config->client_idle_timeout_ms) +
                                            ": closed"});
  if (app_) {
    deliver(ConnectionClosed{kClientConn, ""}, out);
  }
  if (stage_ != Stage::kClosed) {
    close_everything(out);
  }
}

}  // namespace sightglass::core
