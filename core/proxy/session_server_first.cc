// The server-first handshake: with a known destination (a tunnel, transparent mode, SOCKS5) or
// a reverse client offering h2, the client's ClientHello is held, the server is connected first,
// and its certificate's names and its ALPN choice go into our answer. The connection opened so
// is adopted by the application layer's first OpenConnection.
#include <algorithm>

#include "ca/leaf_selector.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session.h"
#include "core/proxy/session_internal.h"

namespace sightglass::core {

namespace {

using ca::ClientHelloSummary;
using ca::LeafSelector;
using session_internal::is_http1_alpn;

// parseable_alpn keeps the protocols of a client's ALPN offer that the proxy can speak to a
// server and parse, or relay: HTTP/1.x and HTTP/2, not HTTP/3 or SPDY.
std::vector<std::string> parseable_alpn(const std::vector<std::string>& offer) {
  std::vector<std::string> out = offer;
  std::erase_if(out, [](const std::string& protocol) {
    return protocol == "h2c" || protocol.starts_with("h3") || protocol.starts_with("spdy/");
  });
  return out;
}

}  // namespace

void ProxySession::on_client_hello(Commands& out) {
  const ClientHelloSummary* hello = LeafSelector::client_hello(client_tls_->ssl());
  std::vector<std::string> alpn;
  if (hello != nullptr) {
    client_sni_ = hello->server_name;
    alpn = hello->alpn;
  }
  client_offers_h2_ = std::find(alpn.begin(), alpn.end(), "h2") != alpn.end();
  // (ALPN names are never empty: is_http1_alpn matches HTTP/1.x only here.)
  client_needs_h2_ = client_offers_h2_ && std::ranges::none_of(alpn, is_http1_alpn);
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
  client_tls_->keep_raw(false);
  preopen_upstream(alpn, out);
}

void ProxySession::preopen_upstream(const std::vector<std::string>& client_alpn, Commands& out) {
  awaiting_upstream_ = true;
  const bool reuse = tcp_first_unused();
  if (!reuse) {
    preopened_ = ctx_.new_conn();
  }
  ServerConn& server = server_.add(preopened_);
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
  if (server.h1_client && server_.known_h2_only(server.authority)) {
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
    server_.start_tls(conn, out);
    if (!early.empty() && server_.find(conn) != nullptr) {
      server_.on_bytes(conn, std::move(early), out);
    }
    if (ServerConn* now = server_.find(conn); eof && now != nullptr && !now->open) {
      OpenCompleted failed = std::move(now->completion);
      failed.error = "TLS handshake with " + dest_host_ + " failed: connection closed" +
                     (eof_error.empty() ? std::string() : " (" + eof_error + ")");
      server_.fail_open(conn, std::move(failed), true, out);
    }
    return;
  }
  server_.dial(server, OpenConnection{ctx_.new_command(), preopened_, dest_host_, dest_port_, true},
               true, out);
}

void ProxySession::preopen_done(OpenCompleted completion, Commands& out) {
  SSL* ssl = client_tls_ ? client_tls_->ssl() : nullptr;
  if (ssl != nullptr && completion.error.empty()) {
    const ServerConn* found = server_.find(preopened_);
    if (found != nullptr && found->tls) {
      const ServerConn& server = *found;
      if (client_sni_.empty() && upstream_first_) {
        // No SNI (an IP literal): the leaf carries the real server's names.
        LeafSelector::set_upstream_names(ssl, server.tls->peer_certificate_names());
      }
      const std::vector<std::string>& offered =
          server.retry != ServerConn::Retry::kNone || server.known_h2_only ? server.first_alpn
                                                                           : server.alpn;
      if (server.h2 && !offered.empty()) {
        // HTTP/2 toward the server only: the client keeps the HTTP/1.x it offered.
        auto h1 = std::ranges::find_if(offered, is_http1_alpn);
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
  if (stage_ != Stage::kConnecting && std::exchange(client_paused_, false)) {
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

void ProxySession::adopt(const OpenConnection& open, std::vector<OpenCompleted>& adopted) {
  const ConnId conn = preopened_;
  preopened_ = 0;
  OpenCompleted done = preopen_result_ ? std::move(*preopen_result_) : OpenCompleted{};
  preopen_result_.reset();
  done.id = open.id;
  done.conn = conn;
  ServerConn* server = server_.find(conn);
  if (done.error.empty() && server == nullptr) {
    done.error = "the connection to " + format_host_port(dest_host_, dest_port_) + " was lost";
  }
  if (server != nullptr) {
    server->preopened = false;
    server->open_command.id = open.id;  // A retry completes the layer's command.
  }
  adopted.push_back(std::move(done));
}

}  // namespace sightglass::core
