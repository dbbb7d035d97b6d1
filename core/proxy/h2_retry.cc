// The h2-only retry of the server side: HTTP/1.1 for the application layer toward a server that
// speaks HTTP/2 only. A server that turns HTTP/1.1 down (an ALPN alert, a close before any
// answer when no ALPN was chosen, or HTTP/2 SETTINGS in answer to a request) is opened again
// offering h2, the bytes sent to the first connection go again, and H1OverH2 translates.
#include <algorithm>

#include "core/proxy/server_side.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {

bool ServerSide::on_handshake_done(ConnId conn, OpenCompleted completion, Commands& out) {
  ServerConn& server = conns_.at(conn);
  const std::string& alpn = completion.tls->alpn;
  const bool speaks_h2 =
      alpn == "h2" || (alpn.empty() && server.retry == ServerConn::Retry::kSettings);
  if (server.retry != ServerConn::Retry::kNone && !speaks_h2) {
    // Offered h2 after turning HTTP/1.1 down, the server chose neither: the first failure
    // stands.
    const std::string error = server.first_error + " (and offered h2, it chose " +
                              (alpn.empty() ? std::string("nothing") : alpn) + ")";
    if (server.retry == ServerConn::Retry::kAlert) {
      completion.error = error;
      fail_open(conn, std::move(completion), true, out);
    } else {
      server.tls->shutdown();
      conns_.erase(conn);
      out.push_back(CloseConnection{conn, false});
      up(ConnectionClosed{conn, error}, out);
    }
    return false;
  }
  const ServerConn::Retry retried = server.retry;
  if (server.h1_client && speaks_h2) {
    // HTTP/1.1 for the client, HTTP/2 toward the server: H1OverH2 translates.
    learn_h2_only(server.authority, out);
    server.h2 = std::make_unique<H1OverH2>(server.authority);
    H1OverH2::Output started;
    server.h2->start(started);
    run_adapter(conn, std::move(started), out);
  } else if (server.h1_client && alpn.empty()) {
    server.probation = true;
  }
  complete_open(conn, std::move(completion), out);
  ServerConn* now = find(conn);
  if (now != nullptr &&
      (retried == ServerConn::Retry::kClosed || retried == ServerConn::Retry::kSettings) &&
      now->h2 && !now->held.empty()) {
    // What the application layer sent to the first connection, and since.
    H1OverH2::Output output;
    now->h2->on_app_bytes(std::exchange(now->held, std::string()), output);
    run_adapter(conn, std::move(output), out);
    now = find(conn);
  }
  return now != nullptr;
}

void ServerSide::on_open_closed(ConnId conn, std::string error, Commands& out) {
  if (ServerConn* server = find(conn)) {
    if (server->probation && upper_->app_speaks_http1() &&
        retry_with_h2(conn, ServerConn::Retry::kClosed,
                      "the server chose no ALPN and closed the connection without answering" +
                          (error.empty() ? std::string() : " (" + error + ")"),
                      out)) {
      return;
    }
    if (server->h2) {
      H1OverH2::Output output;
      server->h2->on_server_closed(error, output);
      run_adapter(conn, std::move(output), out);
      return;
    }
  }
  up(ConnectionClosed{conn, std::move(error)}, out);
}

bool ServerSide::retry_with_h2(ConnId conn, ServerConn::Retry why, std::string error,
                               Commands& out) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) {
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
  fresh.h1_client = true;
  fresh.retry = why;
  fresh.open_command = old.open_command;
  fresh.authority = old.authority;
  fresh.first_alpn = old.alpn;
  fresh.first_error = std::move(error);
  fresh.held = std::move(old.sent);
  if (ctx_->config->mode == ProxyConfig::Mode::kUpstream) {
    fresh.proxy_connect = old.authority;
  }
  const bool known_to_app = !(old.preopened && !old.open);
  if (old.tls) {
    shutdown_tls(conn, *old.tls, out);
  }
  out.push_back(CloseConnection{conn, false});
  out.push_back(Log{Log::Level::kInfo, fresh.authority + ": " + fresh.first_error +
                                           "; trying again offering h2 (HTTP/1.1 for the "
                                           "client, translated)"});
  const ConnId wire = ctx_->new_conn();
  retired_.insert(conn);
  if (known_to_app) {
    const ConnId app = app_conn(conn);
    app_of_wire_.erase(conn);
    app_of_wire_[wire] = app;
    wire_of_app_[app] = wire;
  }
  upper_->replaced(conn, wire);
  conns_.erase(it);
  OpenConnection open = fresh.open_command;
  open.conn = wire;
  conns_[wire] = std::move(fresh);
  out.push_back(std::move(open));
  return true;
}

void ServerSide::run_adapter(ConnId conn, H1OverH2::Output output, Commands& out,
                             std::vector<Event>* later) {
  ServerConn* server = find(conn);
  if (!output.to_server.empty() && server != nullptr && server->tls) {
    server->tls->write_plaintext(output.to_server);
    session_internal::send_ciphertext(*server->tls, conn, out);
  }
  if (output.pause) {
    out.push_back(PauseReading{kClientConn, *output.pause});
  }
  std::vector<Event> events;
  if (!output.to_app.empty()) {
    events.push_back(DataReceived{conn, std::move(output.to_app)});
  }
  if (output.app_closed) {
    // The HTTP/1.1 side ends: so does the server connection.
    if (server != nullptr) {
      if (server->tls) {
        shutdown_tls(conn, *server->tls, out);
      }
      conns_.erase(conn);
      out.push_back(CloseConnection{conn, false});
    }
    events.push_back(ConnectionClosed{conn, std::move(output.error)});
  }
  for (Event& event : events) {
    up(std::move(event), out, later);
  }
}

bool ServerSide::known_h2_only(const std::string& authority) const {
  return h2_only_.count(authority) != 0 || (ctx_->config->h2_only_servers != nullptr &&
                                            ctx_->config->h2_only_servers->contains(authority));
}

void ServerSide::learn_h2_only(const std::string& authority, Commands& out) {
  if (!known_h2_only(authority)) {
    h2_only_.insert(authority);                                 // This session's own, at once.
    out.push_back(Learn{Learn::What::kH2Only, authority, ""});  // The proxy's, by the driver.
  }
}

}  // namespace sightglass::core
