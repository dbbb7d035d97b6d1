// ProxySession's tunnels: a CONNECT (or SOCKS5 connect) opens the TCP connection to the server
// before it is answered, and whatever runs in the tunnel adopts that connection.
#include "core/layers/live_flow.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {

namespace {

// socks_reply is the SOCKS5 reply code (RFC 1928) for a connection that could not be opened.
uint8_t socks_reply(OpenCompleted::Failure failure) {
  switch (failure) {
    case OpenCompleted::Failure::kDns:
      return Socks5Handshake::kHostUnreachable;
    case OpenCompleted::Failure::kRefused:
      return Socks5Handshake::kConnectionRefused;
    case OpenCompleted::Failure::kTimeout:
      return Socks5Handshake::kTtlExpired;
    case OpenCompleted::Failure::kUnreachable:
      return Socks5Handshake::kNetworkUnreachable;
    default:
      return Socks5Handshake::kGeneralFailure;
  }
}

}  // namespace

void ProxySession::connect_tunnel(std::string host, uint16_t port, std::string remainder,
                                  bool socks, Commands& out) {
  socks_tunnel_ = socks;
  dest_host_ = std::move(host);
  dest_port_ = port;
  buffer_ = std::move(remainder);
  if (iequals(dest_host_, "sightglass")) {
    tunnel_established(out);  // The magic host is served by the proxy itself.
    return;
  }
  stage_ = Stage::kConnecting;
  tunnel_start_us_ = ctx_.clock->monotonic_us();
  tunnel_start_wall_us_ = ctx_.clock->wall_us();
  preopened_ = ctx_.new_conn();
  ServerConn& server = server_.add(preopened_);
  server.host = dest_host_;
  server.tls_name = dest_host_;
  server.authority = format_host_port(dest_host_, dest_port_);
  server.preopened = true;
  server.tcp_first = true;
  server_.dial(server,
               OpenConnection{ctx_.new_command(), preopened_, dest_host_, dest_port_, false}, true,
               out);
}

void ProxySession::tunnel_connected(Commands& out) {
  if (std::exchange(client_paused_, false)) {
    out.push_back(PauseReading{kClientConn, false});
  }
  if (preopen_result_ && preopen_result_->error.empty()) {
    tunnel_established(out);
    return;
  }
  OpenCompleted failed = preopen_result_ ? std::move(*preopen_result_) : OpenCompleted{};
  preopen_result_.reset();
  preopened_ = 0;
  const std::string authority = format_host_port(dest_host_, dest_port_);
  const std::string error = "cannot open the tunnel to " + authority + ": " + failed.error;
  FlowSnapshot flow = ctx_.new_flow(socks_tunnel_ ? FlowKind::kTcp : FlowKind::kHttp);
  flow.state = FlowState::kFinished;
  flow.error = error;
  flow.timings.started_us = tunnel_start_wall_us_;
  flow.timings.dns_us = failed.dns_us;
  const int64_t now = ctx_.clock->monotonic_us();
  flow.timings.settle_exchange(tunnel_start_us_, tunnel_start_us_, 0, now);
  if (socks_tunnel_) {
    flow.tcp_host = dest_host_;
    flow.tcp_port = dest_port_;
    out.push_back(
        SendData{kClientConn, Socks5Handshake::failure_reply(socks_reply(failed.failure))});
  } else {
    const int status = failed.timed_out ? 504 : 502;
    const char* reason = failed.timed_out ? "Gateway Timeout" : "Bad Gateway";
    HttpRequestData& request = flow.request.emplace();
    request.method = "CONNECT";
    request.scheme = "http";
    request.host = dest_host_;
    request.port = dest_port_;
    request.target = authority;
    request.http_version = tunnel_version_;
    HttpResponseData& response = flow.response.emplace();
    response.http_version = tunnel_version_;
    response.status = status;
    response.reason = reason;
    response.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
    response.body.append(error, ctx_.config->body_limit);
    out.push_back(SendData{kClientConn, error_response(status, reason, error)});
  }
  out.push_back(Log{Log::Level::kInfo, error});
  publish_final(std::move(flow), out);
  close_everything(out);
}

void ProxySession::tunnel_established(Commands& out) {
  out.push_back(SendData{kClientConn,
                         socks_tunnel_ ? Socks5Handshake::success_reply()
                                       : tunnel_version_ + " 200 Connection established\r\n\r\n"});
  upstream_first_ = true;
  stage_ = Stage::kSniffTunnel;
  if (!buffer_.empty()) {
    sniff(out);
    return;
  }
  // A protocol where the server speaks first sends nothing: relay it after a while.
  ctx_.request_wakeup(sniff_wakeup_, session_internal::kServerFirstDelayMs, out);
}

bool ProxySession::tcp_first_unused() const {
  if (preopened_ == 0) {
    return false;
  }
  const ServerConn* server = server_.find(preopened_);
  return server != nullptr && server->tcp_first && server->preopened;
}

void ProxySession::reserve_tcp_first() {
  if (tcp_first_unused()) {
    ctx_.reserve(preopened_, dest_host_, dest_port_);
  }
}

}  // namespace sightglass::core
