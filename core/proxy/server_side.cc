#include "core/proxy/server_side.h"

#include "core/layers/live_flow.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session_internal.h"
#include "core/tls/session_cache.h"

namespace sightglass::core {
namespace {

using session_internal::kHeldClientBytes;
using session_internal::send_ciphertext;

// What is kept of the bytes sent to a server that may turn out to speak HTTP/2 only, to send
// them again offering h2 (ServerSide::retry_with_h2).
constexpr size_t kRetryReplayLimit = 1024 * 1024;

}  // namespace

ServerConn* ServerSide::find(ConnId conn) {
  auto it = conns_.find(conn);
  return it == conns_.end() ? nullptr : &it->second;
}

const ServerConn* ServerSide::find(ConnId conn) const {
  auto it = conns_.find(conn);
  return it == conns_.end() ? nullptr : &it->second;
}

void ServerSide::up(Event event, Commands& out, std::vector<Event>* later) {
  if (later != nullptr) {
    later->push_back(std::move(event));
  } else {
    upper_->to_app(std::move(event), out);
  }
}

void ServerSide::shutdown_tls(ConnId conn, SslEngine& tls, Commands& out) {
  tls.shutdown();
  send_ciphertext(tls, conn, out);
}

void ServerSide::on_open(OpenCompleted& opened, Commands& out) {
  ServerConn* server = find(opened.conn);
  if (server == nullptr) {
    return;
  }
  if (!opened.error.empty()) {
    if (!server->proxy_connect.empty()) {
      opened.error =
          "cannot reach the upstream proxy " +
          format_host_port(ctx_->config->upstream_proxy_host, ctx_->config->upstream_proxy_port) +
          ": " + opened.error;
    }
    fail_open(opened.conn, std::move(opened), false, out);
    return;
  }
  server->completion = std::move(opened);
  const ConnId conn = server->completion.conn;
  if (!server->proxy_connect.empty()) {
    // Upstream mode: ask the upstream proxy for a tunnel first.
    out.push_back(SendData{conn, "CONNECT " + server->proxy_connect +
                                     " HTTP/1.1\r\nHost: " + server->proxy_connect + "\r\n\r\n"});
    arm_handshake(conn, out);
    return;
  }
  if (!server->wants_tls) {
    complete_open(conn, std::move(server->completion), out);
    return;
  }
  start_tls(conn, out);
}

void ServerSide::start_tls(ConnId conn, Commands& out) {
  ServerConn* server = find(conn);
  if (server == nullptr) {
    return;
  }
  server->tls = SslEngine::create_client(ctx_->config->upstream_tls_ctx, server->tls_name,
                                         ctx_->config->verify_upstream);
  if (!server->tls || !server->tls->set_alpn_offer(server->alpn) ||
      !TlsSessionCache::offer(
          server->tls->ssl(),
          TlsSessionCache::session_key(server->tls_name, server->authority, server->alpn,
                                       ctx_->config->verify_upstream))) {
    OpenCompleted failed = std::move(server->completion);
    failed.error = "cannot start TLS toward " + server->host;
    fail_open(conn, std::move(failed), true, out);
    return;
  }
  server->handshake_start_us = ctx_->clock->monotonic_us();
  arm_handshake(conn, out);
  on_bytes(conn, std::string(), out);
}

void ServerSide::fail_open(ConnId conn, OpenCompleted failed, bool close, Commands& out) {
  cancel_handshake(conn, out);
  const ServerConn* server = find(conn);
  const bool preopened = server != nullptr && server->preopened;
  conns_.erase(conn);
  if (close) {
    out.push_back(CloseConnection{conn, false});
  }
  report_open(preopened, std::move(failed), out);
}

void ServerSide::complete_open(ConnId conn, OpenCompleted completion, Commands& out) {
  cancel_handshake(conn, out);
  ServerConn* server = find(conn);
  if (server == nullptr) {
    return;  // H1OverH2 failed to start: the connection is closed and reported.
  }
  server->open = true;
  report_open(server->preopened, std::move(completion), out);
}

void ServerSide::report_open(bool preopened, OpenCompleted completion, Commands& out) {
  if (preopened) {
    upper_->preopen_done(std::move(completion), out);
  } else {
    up(std::move(completion), out);
  }
}

void ServerSide::on_proxy_reply(ConnId conn, std::string data, Commands& out) {
  ServerConn& server = conns_.at(conn);
  server.proxy_reply.append(data);
  const size_t end = server.proxy_reply.find("\r\n\r\n");
  if (end == std::string::npos && server.proxy_reply.size() <= 65536) {
    return;
  }
  // "HTTP/1.1 200 Connection established"
  const std::string status_line = server.proxy_reply.substr(0, server.proxy_reply.find("\r\n"));
  const size_t space = status_line.find(' ');
  const std::string code = space == std::string::npos ? "" : status_line.substr(space + 1, 3);
  if (end == std::string::npos || !code.starts_with("2")) {
    OpenCompleted failed = std::move(server.completion);
    failed.error = "the upstream proxy refused CONNECT " + server.proxy_connect + ": " +
                   (status_line.empty() ? std::string("no answer") : status_line);
    fail_open(conn, std::move(failed), true, out);
    return;
  }
  std::string rest = server.proxy_reply.substr(end + 4);
  server.proxy_connect.clear();
  server.proxy_reply.clear();
  if (!server.wants_tls) {
    complete_open(conn, std::move(server.completion), out);
  } else {
    start_tls(conn, out);
  }
  if (!rest.empty() && conns_.count(conn) != 0) {
    on_bytes(conn, std::move(rest), out);
  }
}

void ServerSide::on_bytes(ConnId conn, std::string data, Commands& out) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) {
    return;
  }
  ServerConn* server = &it->second;
  if (!server->proxy_connect.empty()) {
    on_proxy_reply(conn, std::move(data), out);
    return;
  }
  if (!server->tls) {
    if (server->preopened) {
      // The tunnel's connection, not adopted yet: kept for whoever adopts it. (A server may
      // speak first for many protocols, HTTP/2's SETTINGS among them: the client's first
      // bytes, or its silence, still decide.)
      server->early.append(data);
      if (server->early.size() > kHeldClientBytes && !server->early_paused) {
        server->early_paused = true;
        out.push_back(PauseReading{conn, true});
      }
      return;
    }
    if (!data.empty()) {
      up(DataReceived{conn, std::move(data)}, out);
    }
    return;
  }
  server->tls->feed_ciphertext(data);
  if (!server->tls->handshake_done()) {
    if (!on_handshake_bytes(conn, out) || (server = find(conn)) == nullptr) {
      return;
    }
  }
  if (server->preopened) {
    return;  // Read once the application layer has adopted the connection.
  }
  std::string plain;
  SslEngine& engine = *server->tls;
  const SslEngine::ReadStatus status = engine.read_plaintext(&plain);
  const std::string error = status == SslEngine::ReadStatus::kFailed ? engine.error() : "";
  send_ciphertext(engine, conn, out);
  if (!plain.empty() && server->probation) {
    server->probation = false;
    // An HTTP/2 server without ALPN speaks first: its SETTINGS frame (type 4, stream 0). What
    // was sent on probation goes again on the new connection.
    const std::string_view p(plain);
    if (p.size() >= 9 && p[3] == '\x04' && p.substr(5, 4) == std::string_view("\0\0\0\0", 4) &&
        retry_with_h2(conn, ServerConn::Retry::kSettings,
                      "the server answered HTTP/1.1 with HTTP/2 (no ALPN)", out)) {
      return;
    }
    server->sent.clear();
  }
  if (!plain.empty()) {
    if (server->h2) {
      H1OverH2::Output output;
      server->h2->on_server_bytes(plain, output);
      run_adapter(conn, std::move(output), out);
    } else {
      up(DataReceived{conn, std::move(plain)}, out);
    }
  }
  if (status != SslEngine::ReadStatus::kOk && conns_.count(conn) != 0) {
    on_open_closed(conn, error, out);
  }
}

bool ServerSide::on_handshake_bytes(ConnId conn, Commands& out) {
  ServerConn& server = conns_.at(conn);
  SslEngine& tls = *server.tls;
  const SslEngine::Progress progress = tls.handshake();
  send_ciphertext(tls, conn, out);
  if (progress == SslEngine::Progress::kInProgress) {
    return false;
  }
  OpenCompleted completion = std::move(server.completion);
  if (progress == SslEngine::Progress::kDone) {
    completion.ssl_us = ctx_->clock->monotonic_us() - server.handshake_start_us;
    completion.tls = tls.info();
    return on_handshake_done(conn, std::move(completion), out);
  }
  completion.error = tls.error();
  const bool verify = tls.failure() == SslEngine::Failure::kVerify;
  completion.failure =
      verify ? OpenCompleted::Failure::kTlsVerify : OpenCompleted::Failure::kTlsHandshake;
  if (!verify) {  // A verify failure names the server itself.
    completion.error = "TLS handshake with " + server.host + " failed: " + completion.error;
  }
  // SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: the server wants another protocol than the
  // HTTP/1.1 offered (an HTTP/2-only server).
  if (tls.failure() == SslEngine::Failure::kPeerAlert &&
      tls.peer_alert() == SSL_AD_NO_APPLICATION_PROTOCOL &&
      retry_with_h2(conn, ServerConn::Retry::kAlert, completion.error, out)) {
    return false;
  }
  if (server.retry != ServerConn::Retry::kNone) {
    completion.error = server.first_error + "; again offering h2: " + completion.error;
  }
  fail_open(conn, std::move(completion), true, out);
  return false;
}

void ServerSide::on_closed(ConnId conn, std::string error, Commands& out) {
  ServerConn* server = find(conn);
  if (server == nullptr) {
    up(ConnectionClosed{conn, std::move(error)}, out);
    return;
  }
  if (!server->open) {
    // Closed while connecting through the upstream proxy or during the TLS handshake.
    OpenCompleted failed = std::move(server->completion);
    failed.error =
        server->proxy_connect.empty() || !server->proxy_reply.empty() || server->tls != nullptr
            ? "TLS handshake with " + server->host + " failed: connection closed"
            : "the upstream proxy closed the connection before answering CONNECT " +
                  server->proxy_connect;
    if (!error.empty()) {
      failed.error += " (" + error + ")";
    }
    fail_open(conn, std::move(failed), true, out);
    return;
  }
  if (server->preopened) {
    server->eof_pending = true;
    server->eof_error = std::move(error);
    return;
  }
  on_open_closed(conn, std::move(error), out);
}

void ServerSide::release(ConnId conn, Commands& out) {
  ServerConn* server = find(conn);
  if (server == nullptr) {
    return;
  }
  const bool eof = server->eof_pending;
  std::string eof_error = server->eof_error;
  if (std::exchange(server->early_paused, false)) {
    out.push_back(PauseReading{conn, false});
  }
  on_bytes(conn, std::exchange(server->early, std::string()), out);
  if (eof && conns_.count(conn) != 0) {
    on_open_closed(conn, std::move(eof_error), out);
  }
}

void ServerSide::arm_handshake(ConnId conn, Commands& out) {
  cancel_handshake(conn, out);
  ServerConn* server = find(conn);
  if (server == nullptr) {
    return;
  }
  ctx_->request_wakeup(server->handshake_wakeup, ctx_->config->server_handshake_timeout_ms, out);
}

void ServerSide::cancel_handshake(ConnId conn, Commands& out) {
  if (ServerConn* server = find(conn)) {
    cancel_wakeup(server->handshake_wakeup, out);
  }
}

bool ServerSide::on_wakeup(CommandId id, Commands& out) {
  for (auto& [conn, server] : conns_) {
    if (server.handshake_wakeup != id) {
      continue;
    }
    server.handshake_wakeup = 0;
    if (server.open) {
      return true;
    }
    const ConnId which = conn;
    OpenCompleted failed = std::move(server.completion);
    failed.id = server.open_command.id;
    failed.conn = which;
    failed.timed_out = true;
    failed.failure = OpenCompleted::Failure::kTimeout;
    const std::string limit = seconds_text(ctx_->config->server_handshake_timeout_ms);
    failed.error = !server.proxy_connect.empty()
                       ? "server timeout: the upstream proxy did not answer CONNECT " +
                             server.proxy_connect + " within " + limit
                       : "server timeout: the TLS handshake with " + server.host +
                             " was not complete within " + limit;
    fail_open(which, std::move(failed), true, out);
    return true;
  }
  return false;
}

void ServerSide::send(SendData send, Commands& out, std::vector<Event>& later) {
  auto it = conns_.find(send.conn);
  if (it != conns_.end()) {
    ServerConn& server = it->second;
    if (server.h2) {
      H1OverH2::Output output;
      server.h2->on_app_bytes(send.data, output);
      run_adapter(send.conn, std::move(output), out, &later);
      return;
    }
    if (server.retry != ServerConn::Retry::kNone && server.retry != ServerConn::Retry::kAlert) {
      server.held.append(send.data);  // The retry is still connecting.
      return;
    }
    if (server.tls) {
      if (server.probation) {
        // Kept for a retry until the server answers (bounded: past that, no retry).
        if (server.sent.size() + send.data.size() > kRetryReplayLimit) {
          server.probation = false;
          server.sent.clear();
        } else {
          server.sent.append(send.data);
        }
      }
      server.tls->write_plaintext(send.data);
      std::string cipher;
      server.tls->drain_ciphertext(&cipher);
      send.data = std::move(cipher);
    }
  }
  if (!send.data.empty()) {
    out.push_back(std::move(send));
  }
}

void ServerSide::open(OpenConnection open, std::string tls_name, std::vector<std::string> alpn,
                      bool h1_client, bool via_connect, Commands& out) {
  ServerConn& server = conns_[open.conn];
  server.host = open.host;
  server.tls_name = std::move(tls_name);
  server.wants_tls = open.tls;
  server.authority = format_host_port(open.host, open.port);
  server.alpn = std::move(alpn);
  server.h1_client = h1_client;
  if (h1_client && known_h2_only(server.authority)) {
    server.alpn = {"h2"};  // It turned HTTP/1.1 down before.
  }
  dial(server, std::move(open), via_connect, out);
}

void ServerSide::dial(ServerConn& server, OpenConnection open, bool via_connect, Commands& out) {
  if (ctx_->config->mode == ProxyConfig::Mode::kUpstream) {
    if (via_connect) {
      server.proxy_connect = server.authority;
    }
    open.host = ctx_->config->upstream_proxy_host;
    open.port = ctx_->config->upstream_proxy_port;
  }
  server.open_command = open;
  out.push_back(std::move(open));
}

void ServerSide::close(CloseConnection close, Commands& out, std::vector<Event>& later) {
  if (ServerConn* server = find(close.conn); server != nullptr && server->h2 && !close.half_close) {
    H1OverH2::Output output;
    server->h2->on_app_close(output);  // A GOAWAY before the close_notify.
    run_adapter(close.conn, std::move(output), out, &later);
  }
  if (ServerConn* server = find(close.conn); server != nullptr && server->tls) {
    shutdown_tls(close.conn, *server->tls, out);
  }
  if (!close.half_close) {
    conns_.erase(close.conn);
  }
  out.push_back(close);
}

void ServerSide::close_all(Commands& out) {
  for (auto& [conn, server] : conns_) {
    out.push_back(CloseConnection{conn, false});
  }
  conns_.clear();
}

ConnId ServerSide::app_conn(ConnId wire) const {
  auto it = app_of_wire_.find(wire);
  return it == app_of_wire_.end() ? wire : it->second;
}

ConnId ServerSide::wire_conn(ConnId app) const {
  auto it = wire_of_app_.find(app);
  return it == wire_of_app_.end() ? app : it->second;
}

}  // namespace sightglass::core
