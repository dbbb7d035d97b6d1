// ProxySession and its server side: the application layer's commands on their way to the
// driver (connection ids after a retry, merged writes, TLS).
#include "core/layers/http2_layer.h"
#include "core/layers/http_layer.h"
#include "core/proxy/host_port.h"
#include "core/proxy/session.h"

namespace sightglass::core {

void ProxySession::process_app_commands(Commands& app_out, Commands& out) {
  std::vector<OpenCompleted> adopted;
  std::vector<Event> from_server;  // Delivered once this batch is done.
  if (server_.remapped()) {
    for (Command& command : app_out) {
      std::visit(
          [&](auto& c) {
            if constexpr (requires { c.conn; }) {
              c.conn = server_.wire_conn(c.conn);  // The client's id is never remapped.
            }
          },
          command);
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
      if (send->conn != kClientConn) {
        server_.send(std::move(*send), out, from_server);
        continue;
      }
      if (client_tls_) {
        send->data = client_tls_->encrypt(send->data);
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
      const bool to_destination = open->host == dest_host_ && open->port == dest_port_;
      std::string tls_name = to_destination && !client_sni_.empty() ? client_sni_ : open->host;
      std::vector<std::string> alpn;
      if (http_ != nullptr) {
        alpn = {"http/1.1"};
      } else if (http2_ != nullptr) {
        alpn = http2_->upstream_alpn(open->conn);
      }
      // In upstream mode, plain HTTP requests of the proxy itself go in absolute form; the
      // rest through the upstream proxy's CONNECT.
      const bool via_connect = open->tls || stage_ != Stage::kRegularHttp;
      const bool h1_client = http_ != nullptr && open->tls;
      server_.open(std::move(*open), std::move(tls_name), std::move(alpn), h1_client, via_connect,
                   out);
      continue;
    }
    if (auto* close = std::get_if<CloseConnection>(&command)) {
      if (close->conn != kClientConn) {
        server_.close(*close, out, from_server);
        continue;
      }
      if (client_tls_) {
        client_tls_->shutdown(out);
      }
      out.push_back(std::move(command));
      if (!close->half_close) {
        server_.close_all(out);
        stage_ = Stage::kClosed;
      }
      continue;
    }
    out.push_back(std::move(command));
  }
  // Connections opened before the application layer: complete its OpenConnection now, then
  // hand over what the server sent meanwhile.
  for (OpenCompleted& done : adopted) {
    const ConnId conn = done.conn;
    const bool ok = done.error.empty();
    deliver(std::move(done), out);
    if (ok) {
      server_.release(conn, out);
    }
  }
  for (Event& event : from_server) {
    deliver(std::move(event), out);
  }
}

}  // namespace sightglass::core
