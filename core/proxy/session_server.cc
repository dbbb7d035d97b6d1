// ProxySession's server connections: opening them (through the upstream proxy's CONNECT in
// upstream mode), their TLS, adopting the one opened before the application layer, HTTP/1.1
// toward a server that speaks HTTP/2 only (the retry offering h2, then H1OverH2), and the
// application layer's commands on their way to the driver (connection ids, TLS, merged writes).
#include "core/layers/http2_layer.h"
#include "core/layers/http_layer.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {
namespace {

using session_internal::kHeldClientBytes;

// What is kept of the bytes sent to a server that may turn out to speak HTTP/2 only, to send
// them again offering h2 (ProxySession::retry_with_h2).
constexpr size_t kRetryReplayLimit = 1024 * 1024;

}  // namespace

void ProxySession::on_server_open(OpenCompleted& opened, Commands& out) {
  auto it = servers_.find(opened.conn);
  if (it == servers_.end()) {
    return;
  }
  ServerConn& server = it->second;
  if (!opened.error.empty()) {
    if (!server.proxy_connect.empty()) {
      opened.error =
          "cannot reach the upstream proxy " +
          format_host_port(ctx_.config->upstream_proxy_host, ctx_.config->upstream_proxy_port) +
          ": " + opened.error;
    }
    fail_open(opened.conn, std::move(opened), false, out);
    return;
  }
  server.completion = std::move(opened);
  if (!server.proxy_connect.empty()) {
    // Upstream mode: ask the upstream proxy for a tunnel first.
    out.push_back(SendData{server.completion.conn,
                           "CONNECT " + server.proxy_connect +
                               " HTTP/1.1\r\nHost: " + server.proxy_connect + "\r\n\r\n"});
    arm_server_handshake(server.completion.conn, out);
    return;
  }
  if (!server.wants_tls) {
    complete_open(server, std::move(server.completion), out);
    return;
  }
  start_server_tls(server.completion.conn, out);
}

void ProxySession::start_server_tls(ConnId conn, Commands& out) {
  auto it = servers_.find(conn);
  if (it == servers_.end()) {
    return;
  }
  ServerConn& server = it->second;
  server.tls = SslEngine::create_client(ctx_.config->upstream_tls_ctx, server.tls_name,
                                        ctx_.config->verify_upstream);
  if (!server.tls || !server.tls->set_alpn_offer(server.alpn)) {
    OpenCompleted failed = std::move(server.completion);
    failed.error = "cannot start TLS toward " + server.host;
    fail_open(conn, std::move(failed), true, out);
    return;
  }
  server.handshake_start_us = ctx_.clock->monotonic_us();
  arm_server_handshake(conn, out);
  on_server_bytes(conn, std::string(), out);
}

void ProxySession::fail_open(ConnId conn, OpenCompleted failed, bool close, Commands& out) {
  cancel_server_handshake(conn, out);
  auto it = servers_.find(conn);
  const bool preopened = it != servers_.end() && it->second.preopened;
  if (it != servers_.end()) {
    servers_.erase(it);
  }
  if (close) {
    out.push_back(CloseConnection{conn, false});
  }
  if (preopened) {
    on_preopen_done(std::move(failed), out);
  } else {
    deliver(std::move(failed), out);
  }
}

void ProxySession::complete_open(ServerConn& server, OpenCompleted completion, Commands& out) {
  server.open = true;
  if (server.handshake_wakeup != 0) {
    out.push_back(CancelWakeup{server.handshake_wakeup});
    server.handshake_wakeup = 0;
  }
  if (server.preopened) {
    on_preopen_done(std::move(completion), out);
  } else {
    deliver(std::move(completion), out);
  }
}

void ProxySession::on_proxy_reply(ConnId conn, std::string data, Commands& out) {
  auto it = servers_.find(conn);
  ServerConn& server = it->second;
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
    const ConnId id = server.completion.conn;
    complete_open(server, std::move(server.completion), out);
    if (!rest.empty()) {
      on_server_bytes(id, std::move(rest), out);
    }
    return;
  }
  start_server_tls(conn, out);
  if (!rest.empty() && servers_.count(conn) != 0) {
    on_server_bytes(conn, std::move(rest), out);
  }
}

void ProxySession::adopt(const OpenConnection& open, std::vector<OpenCompleted>& adopted) {
  const ConnId conn = preopened_;
  preopened_ = 0;
  OpenCompleted done = preopen_result_ ? std::move(*preopen_result_) : OpenCompleted{};
  preopen_result_.reset();
  done.id = open.id;
  done.conn = conn;
  auto it = servers_.find(conn);
  if (done.error.empty() && it == servers_.end()) {
    done.error = "the connection to " + format_host_port(dest_host_, dest_port_) + " was lost";
  }
  if (it != servers_.end()) {
    it->second.preopened = false;
    it->second.open_command.id = open.id;  // A retry completes the layer's command.
  }
  adopted.push_back(std::move(done));
}

void ProxySession::process_app_commands(Commands& app_out, Commands& out) {
  std::vector<OpenCompleted> adopted;
  std::vector<Event> from_adapters;  // Delivered once this batch is done.
  if (!wire_of_app_.empty()) {
    for (Command& command : app_out) {
      if (auto* send = std::get_if<SendData>(&command); send != nullptr && send->conn != 0) {
        send->conn = wire_conn(send->conn);
      } else if (auto* close = std::get_if<CloseConnection>(&command);
                 close != nullptr && close->conn != 0) {
        close->conn = wire_conn(close->conn);
      } else if (auto* pause = std::get_if<PauseReading>(&command);
                 pause != nullptr && pause->conn != 0) {
        pause->conn = wire_conn(pause->conn);
      } else if (auto* open = std::get_if<OpenConnection>(&command)) {
        open->conn = wire_conn(open->conn);
      }
    }
  }
  // Adjacent writes to one connection become one: one TLS record and one syscall for a
  // response head and its body.
  for (size_t i = 1; i < app_out.size(); ++i) {
    auto* prev = std::get_if<SendData>(&app_out[i - 1]);
    auto* next = std::get_if<SendData>(&app_out[i]);
    if (prev != nullptr && next != nullptr && prev->conn == next->conn) {
      prev->data.append(next->data);
      next->data = std::move(prev->data);
      prev->data.clear();
      next->report_written |= prev->report_written;
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
      } else if (auto it = servers_.find(send->conn); it != servers_.end() && it->second.h2) {
        H1OverH2::Output output;
        it->second.h2->on_app_bytes(send->data, output);
        run_adapter(send->conn, std::move(output), out, &from_adapters);
        continue;
      } else if (it != servers_.end() && it->second.retry != ServerConn::Retry::kNone &&
                 it->second.retry != ServerConn::Retry::kAlert) {
        it->second.held.append(send->data);  // The retry is still connecting.
        continue;
      } else if (it != servers_.end() && it->second.tls) {
        if (it->second.probation) {
          // Kept for a retry until the server answers (bounded: past that, no retry).
          if (it->second.sent.size() + send->data.size() > kRetryReplayLimit) {
            it->second.probation = false;
            it->second.sent.clear();
          } else {
            it->second.sent.append(send->data);
          }
        }
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
      if (preopened_ != 0 && open->conn == preopened_) {
        adopt(*open, adopted);
        continue;
      }
      ServerConn& server = servers_[open->conn];
      server.host = open->host;
      const bool to_destination = open->host == dest_host_ && open->port == dest_port_;
      server.tls_name = to_destination && !client_sni_.empty() ? client_sni_ : open->host;
      server.wants_tls = open->tls;
      server.authority = format_host_port(open->host, open->port);
      if (http_ != nullptr) {
        server.alpn = {"http/1.1"};
        server.h1_client = open->tls;
        if (known_h2_only(server.authority)) {
          server.alpn = {"h2"};  // It turned HTTP/1.1 down before.
        }
      } else if (http2_ != nullptr) {
        server.alpn = http2_->upstream_alpn();
      }
      if (ctx_.config->mode == ProxyConfig::Mode::kUpstream) {
        // Through the upstream proxy: a CONNECT tunnel, except for plain HTTP requests of
        // the proxy itself, which go in absolute form.
        if (open->tls || stage_ != Stage::kRegularHttp) {
          server.proxy_connect = format_host_port(open->host, open->port);
        }
        open->host = ctx_.config->upstream_proxy_host;
        open->port = ctx_.config->upstream_proxy_port;
      }
      server.open_command = *open;
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
      if (auto it = servers_.find(close->conn); close->conn != kClientConn && !close->half_close &&
                                                it != servers_.end() && it->second.h2) {
        H1OverH2::Output output;
        it->second.h2->on_app_close(output);  // A GOAWAY before the close_notify.
        run_adapter(close->conn, std::move(output), out, &from_adapters);
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
  // Connections opened before the application layer: complete its OpenConnection now, then
  // hand over what the server sent meanwhile.
  for (OpenCompleted& done : adopted) {
    const ConnId conn = done.conn;
    const bool ok = done.error.empty();
    deliver(std::move(done), out);
    auto it = servers_.find(conn);
    if (!ok || it == servers_.end()) {
      continue;
    }
    const bool eof = it->second.eof_pending;
    const std::string eof_error = it->second.eof_error;
    if (std::exchange(it->second.early_paused, false)) {
      out.push_back(PauseReading{conn, false});
    }
    on_server_bytes(conn, std::exchange(it->second.early, std::string()), out);
    if (eof && servers_.count(conn) != 0) {
      on_server_closed(conn, eof_error, out);
    }
  }
  for (Event& event : from_adapters) {
    deliver(std::move(event), out);
  }
}

void ProxySession::on_server_bytes(ConnId conn, std::string data, Commands& out) {
  auto it = servers_.find(conn);
  if (it == servers_.end()) {
    return;
  }
  if (!it->second.proxy_connect.empty()) {
    on_proxy_reply(conn, std::move(data), out);
    return;
  }
  if (!it->second.tls) {
    if (it->second.preopened) {
      // The tunnel's connection, not adopted yet: kept for whoever adopts it. (A server may
      // speak first for many protocols, HTTP/2's SETTINGS among them: the client's first
      // bytes, or its silence, still decide.)
      it->second.early.append(data);
      if (it->second.early.size() > kHeldClientBytes && !it->second.early_paused) {
        it->second.early_paused = true;
        out.push_back(PauseReading{conn, true});
      }
      return;
    }
    if (!data.empty()) {
      deliver(DataReceived{conn, std::move(data)}, out);
    }
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
    if (progress != SslEngine::Progress::kDone) {
      completion.error = tls.error();
      const bool verify = tls.failure() == SslEngine::Failure::kVerify;
      completion.failure =
          verify ? OpenCompleted::Failure::kTlsVerify : OpenCompleted::Failure::kTlsHandshake;
      if (!verify) {  // A verify failure names the server itself.
        completion.error = "TLS handshake with " + it->second.host + " failed: " + completion.error;
      }
      // SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: the server wants another protocol than the
      // HTTP/1.1 offered (an HTTP/2-only server).
      if (tls.failure() == SslEngine::Failure::kPeerAlert &&
          tls.peer_alert() == SSL_AD_NO_APPLICATION_PROTOCOL &&
          retry_with_h2(conn, ServerConn::Retry::kAlert, completion.error, out)) {
        return;
      }
      if (it->second.retry != ServerConn::Retry::kNone) {
        completion.error = it->second.first_error + "; again offering h2: " + completion.error;
      }
      fail_open(conn, std::move(completion), true, out);
      return;
    }
    completion.ssl_us = ctx_.clock->monotonic_us() - it->second.handshake_start_us;
    completion.tls = tls.info();
    ServerConn& server = it->second;
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
        tls.shutdown();
        servers_.erase(it);
        out.push_back(CloseConnection{conn, false});
        deliver(ConnectionClosed{conn, error}, out);
      }
      return;
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
    complete_open(server, std::move(completion), out);
    it = servers_.find(conn);
    if (it == servers_.end()) {
      return;
    }
    if ((retried == ServerConn::Retry::kClosed || retried == ServerConn::Retry::kSettings) &&
        it->second.h2 && !it->second.held.empty()) {
      // What the application layer sent to the first connection, and since.
      H1OverH2::Output output;
      it->second.h2->on_app_bytes(std::exchange(it->second.held, std::string()), output);
      run_adapter(conn, std::move(output), out);
      it = servers_.find(conn);
      if (it == servers_.end()) {
        return;
      }
    }
  }
  if (it->second.preopened) {
    return;  // Read once the application layer has adopted the connection.
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
  if (!plain.empty() && it->second.probation) {
    it->second.probation = false;
    it->second.sent.clear();
    // An HTTP/2 server without ALPN speaks first: its SETTINGS frame (type 4, stream 0).
    const std::string_view p(plain);
    if (p.size() >= 9 && p[3] == '\x04' && p.substr(5, 4) == std::string_view("\0\0\0\0", 4) &&
        retry_with_h2(conn, ServerConn::Retry::kSettings,
                      "the server answered HTTP/1.1 with HTTP/2 (no ALPN)", out)) {
      return;
    }
  }
  if (!plain.empty()) {
    if (it->second.h2) {
      H1OverH2::Output output;
      it->second.h2->on_server_bytes(plain, output);
      run_adapter(conn, std::move(output), out);
    } else {
      deliver(DataReceived{conn, std::move(plain)}, out);
    }
  }
  if (status != SslEngine::ReadStatus::kOk && servers_.count(conn) != 0) {
    on_server_closed(conn, error, out);
  }
}

void ProxySession::on_server_closed(ConnId conn, std::string error, Commands& out) {
  auto it = servers_.find(conn);
  if (it != servers_.end()) {
    ServerConn& server = it->second;
    if (server.probation && http_ != nullptr &&
        retry_with_h2(conn, ServerConn::Retry::kClosed,
                      "the server chose no ALPN and closed the connection without answering" +
                          (error.empty() ? std::string() : " (" + error + ")"),
                      out)) {
      return;
    }
    if (server.h2) {
      H1OverH2::Output output;
      server.h2->on_server_closed(error, output);
      run_adapter(conn, std::move(output), out);
      return;
    }
  }
  deliver(ConnectionClosed{conn, std::move(error)}, out);
}

void ProxySession::run_adapter(ConnId conn, H1OverH2::Output output, Commands& out,
                               std::vector<Event>* later) {
  auto it = servers_.find(conn);
  if (!output.to_server.empty() && it != servers_.end() && it->second.tls) {
    it->second.tls->write_plaintext(output.to_server);
    std::string cipher;
    it->second.tls->drain_ciphertext(&cipher);
    if (!cipher.empty()) {
      out.push_back(SendData{conn, std::move(cipher)});
    }
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
    if (it != servers_.end()) {
      if (it->second.tls) {
        it->second.tls->shutdown();
        std::string cipher;
        it->second.tls->drain_ciphertext(&cipher);
        if (!cipher.empty()) {
          out.push_back(SendData{conn, std::move(cipher)});
        }
      }
      servers_.erase(it);
      out.push_back(CloseConnection{conn, false});
    }
    events.push_back(ConnectionClosed{conn, std::move(output.error)});
  }
  for (Event& event : events) {
    if (later != nullptr) {
      later->push_back(std::move(event));
    } else {
      deliver(std::move(event), out);
    }
  }
}

bool ProxySession::known_h2_only(const std::string& authority) const {
  return h2_only_.count(authority) != 0 || (ctx_.config->h2_only_servers != nullptr &&
                                            ctx_.config->h2_only_servers->contains(authority));
}

void ProxySession::learn_h2_only(const std::string& authority, Commands& out) {
  if (!known_h2_only(authority)) {
    h2_only_.insert(authority);                                 // This session's own, at once.
    out.push_back(Learn{Learn::What::kH2Only, authority, ""});  // The proxy's, by the driver.
  }
}

ConnId ProxySession::app_conn(ConnId wire) const {
  auto it = app_of_wire_.find(wire);
  return it == app_of_wire_.end() ? wire : it->second;
}

ConnId ProxySession::wire_conn(ConnId app) const {
  auto it = wire_of_app_.find(app);
  return it == wire_of_app_.end() ? app : it->second;
}

}  // namespace sightglass::core
