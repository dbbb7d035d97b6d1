#include "core/layers/tcp_relay.h"

namespace sightglass::core {

TcpRelay::TcpRelay(SessionContext* ctx, std::string host, uint16_t port, bool tls,
                   std::string initial)
    : ctx_(ctx), tls_(tls), pending_(std::move(initial)), flow_(ctx->new_flow(FlowKind::kTcp)) {
  flow_.tcp_host = std::move(host);
  flow_.tcp_port = port;
  started_mono_us_ = ctx_->clock->monotonic_us();
  flow_.bytes_from_client = pending_.size();
  server_ = ctx_->new_conn();
  open_id_ = ctx_->new_command();
}

void TcpRelay::start(Commands& out) {
  out.push_back(OpenConnection{open_id_, server_, flow_.tcp_host, flow_.tcp_port, tls_});
  // Live views see the connection at once, then its byte counts as they grow.
  live_.milestone();
  live_.flush(flow_, ctx_, out);
}

void TcpRelay::handle(Event& event, Commands& out) {
  handle_event(event, out);
  if (!finished_) {
    live_.flush(flow_, ctx_, out);
  }
}

void TcpRelay::handle_event(Event& event, Commands& out) {
  if (auto* wakeup = std::get_if<Wakeup>(&event)) {
    live_.take_wakeup(wakeup->id);  // handle() publishes the progress that waited.
  } else if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
      flow_.bytes_from_client += data->data.size();
      live_.progress();
      if (open_) {
        out.push_back(SendData{server_, std::move(data->data)});
      } else {
        pending_.append(data->data);
      }
    } else if (data->conn == server_) {
      flow_.bytes_from_server += data->data.size();
      live_.progress();
      out.push_back(SendData{kClientConn, std::move(data->data)});
    }
  } else if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    if (opened->id != open_id_) {
      return;
    }
    if (!opened->error.empty()) {
      flow_.error = opened->error;
      finish(out, kClientConn);
      return;
    }
    open_ = true;
    flow_.server_address = opened->peer_address;
    flow_.server_tls = opened->tls;
    flow_.timings.dns_us = opened->dns_us;
    flow_.timings.connect_us = opened->connect_us;
    flow_.timings.ssl_us = opened->ssl_us;
    live_.milestone();  // Connected: the server's address is known.
    if (!pending_.empty()) {
      out.push_back(SendData{server_, std::exchange(pending_, {})});
    }
    if (client_closed_) {
      out.push_back(CloseConnection{server_, true});
    }
  } else if (auto* closed = std::get_if<ConnectionClosed>(&event)) {
    if (finished_) {
      return;
    }
    const bool from_client = closed->conn == kClientConn;
    if (!from_client && closed->conn != server_) {
      return;
    }
    if (!closed->error.empty()) {
      // A reset (or any failure) ends the relay both ways at once.
      if (flow_.error.empty()) {
        flow_.error = std::string(from_client ? "the client connection failed ("
                                              : "the server connection failed (") +
                      closed->error + ") after " + std::to_string(flow_.bytes_from_client) +
                      " bytes from the client and " + std::to_string(flow_.bytes_from_server) +
                      " from the server";
      }
      finish(out, from_client ? server_ : kClientConn);
      return;
    }
    if (from_client && !client_closed_) {
      client_closed_ = true;
      if (open_) {
        out.push_back(CloseConnection{server_, true});
      }
    } else if (!from_client && !server_closed_) {
      server_closed_ = true;
      out.push_back(CloseConnection{kClientConn, true});
    }
    if (client_closed_ && server_closed_) {
      finish(out);
    }
  }
}

void TcpRelay::abandon(const std::string& why, Commands& out) {
  if (!finished_ && flow_.error.empty()) {
    flow_.error = why;
  }
  finish(out);
}

void TcpRelay::finish(Commands& out, std::optional<ConnId> close) {
  if (close) {
    out.push_back(CloseConnection{*close, false});
  }
  if (std::exchange(finished_, true)) {
    return;
  }
  flow_.timings.receive_us = ctx_->clock->monotonic_us() - started_mono_us_;
  live_.finish(out);
  publish_final_copy(flow_, out);
}

}  // namespace sightglass::core
