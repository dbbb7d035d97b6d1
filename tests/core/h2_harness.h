#pragma once

// Harness: Http2Layer without sockets between two nghttp2 peers, an HTTP/2 client session (the
// browser) and server sessions (the origins), with helpers shared by the HTTP/2 layer tests.

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/layers/http2_layer.h"
#include "tests/support/h2_peer.h"
#include "tests/support/playbook.h"

namespace sightglass::core::h2test {

using test::FakeClock;
using test::H2Peer;
using Message = test::H2Message;

// Harness runs the layer between the two peers.
class Harness {
 public:
  explicit Harness(Http2Layer::UpstreamProtocol protocol = Http2Layer::UpstreamProtocol::kHttp2,
                   bool server_connect_protocol = false)
      : h1_(protocol == Http2Layer::UpstreamProtocol::kHttp1),
        server_connect_protocol_(server_connect_protocol) {
    config_.mode = ProxyConfig::Mode::kRegular;
    config_.body_limit = 1024;
    ctx_.config = &config_;
    ctx_.clock = &clock_;
    ctx_.flow_ids = &flow_ids_;
    ctx_.client_address = "127.0.0.1:50000";
    HttpTarget target;
    target.scheme = "https";
    target.host = "origin.test";
    target.port = 443;
    target.tls = true;
    layer_ = std::make_unique<Http2Layer>(&ctx_, target, false, protocol);
    Commands out;
    layer_->start(out);
    route(out);
    complete_opens();
  }

  // complete_opens answers every OpenConnection: a fresh origin per connection, speaking what
  // the layer offers it (HTTP/2, or HTTP/1.1 whose bytes land in h1_received).
  void complete_opens() {
    while (!opens_.empty()) {
      OpenConnection open = opens_.front();
      opens_.erase(opens_.begin());
      const bool h1 = layer_->upstream_alpn(open.conn).front() == "http/1.1";
      if (!h1) {
        servers_[open.conn] = std::make_unique<H2Peer>(true, server_connect_protocol_);
      }
      opened.push_back(open);
      server_conns.push_back(open.conn);
      OpenCompleted done;
      done.id = open.id;
      done.conn = open.conn;
      done.peer_address = "192.0.2.1:443";
      done.dns_us = 10;
      done.connect_us = 20;
      done.ssl_us = 30;
      TlsInfo tls;
      tls.alpn = h1 ? "http/1.1" : "h2";
      tls.version = "TLSv1.3";
      done.tls = tls;
      feed(done);
    }
  }

  void feed(Event event) {
    Commands out;
    layer_->handle(event, out);
    route(out);
  }

  // run moves bytes between the peers and the layer until nothing moves.
  void run() {
    for (int i = 0; i < 10000; ++i) {
      bool moved = false;
      std::string c = client.drain();
      if (!c.empty() && !client_closed) {
        feed(DataReceived{kClientConn, c});
        moved = true;
      }
      for (auto& [conn, server] : servers_) {
        if (closed_servers.count(conn) != 0) {
          continue;
        }
        std::string s = server->drain();
        if (!s.empty()) {
          feed(DataReceived{conn, s});
          moved = true;
        }
      }
      if (!to_client_.empty()) {
        EXPECT_TRUE(client.receive(to_client_));
        to_client_.clear();
        moved = true;
      }
      for (auto& [conn, bytes] : to_server_) {
        if (!bytes.empty()) {
          if (servers_.count(conn) != 0) {
            EXPECT_TRUE(servers_[conn]->receive(bytes));
          } else {
            h1_received[conn] += bytes;
          }
          bytes.clear();
          moved = true;
        }
      }
      if (!opens_.empty()) {
        complete_opens();
        moved = true;
      }
      if (on_idle && !moved) {
        auto f = std::move(on_idle);
        on_idle = nullptr;
        f();
        moved = true;
      }
      if (!moved) {
        return;
      }
    }
    ADD_FAILURE() << "the exchange did not settle";
  }

  H2Peer& server(size_t index = 0) { return *servers_[server_conns.at(index)]; }
  // deliver_to_client hands the client what the layer sent it, and nothing else moves.
  void deliver_to_client() {
    EXPECT_TRUE(client.receive(to_client_));
    to_client_.clear();
  }
  ConnId server_conn(size_t index = 0) const { return server_conns.at(index); }

  H2Peer client{false};
  std::vector<OpenConnection> opened;             // Every OpenConnection, in order.
  std::map<ConnId, std::string> h1_received;      // HTTP/1.1 mode: what each server connection got.
  std::vector<FlowSnapshotConstSharedPtr> flows;  // Finished.
  std::vector<FlowSnapshotConstSharedPtr> live;   // Live.
  std::vector<FlowSnapshotConstSharedPtr> published;  // Both, in order.
  std::vector<RequestWakeup> wakeups;
  std::vector<Hook> hooks;  // Flows stopped at a hold point, in order.
  std::vector<PauseReading> pauses;
  std::map<ConnId, bool> paused;  // The last PauseReading per connection.
  std::vector<ConnId> server_conns;
  std::set<ConnId> closed_servers;
  bool client_closed = false;
  std::function<void()> on_idle;
  ProxyConfig config_;
  FakeClock clock_;

 private:
  void route(Commands& out) {
    std::vector<ConnId> written;  // SendData that asked for WriteDrained.
    for (Command& command : out) {
      if (auto* send = std::get_if<SendData>(&command)) {
        if (send->conn == kClientConn) {
          to_client_ += send->data;
        } else {
          to_server_[send->conn] += send->data;
          if (send->report_written) {
            written.push_back(send->conn);
          }
        }
      } else if (auto* open = std::get_if<OpenConnection>(&command)) {
        opens_.push_back(*open);
      } else if (auto* wakeup = std::get_if<RequestWakeup>(&command)) {
        wakeups.push_back(*wakeup);
      } else if (auto* publish = std::get_if<PublishFlow>(&command)) {
        published.push_back(publish->flow);
        (publish->flow->state == FlowState::kFinished ? flows : live).push_back(publish->flow);
      } else if (auto* hook = std::get_if<Hook>(&command)) {
        hooks.push_back(*hook);
      } else if (auto* pause = std::get_if<PauseReading>(&command)) {
        pauses.push_back(*pause);
        paused[pause->conn] = pause->paused;
      } else if (auto* close = std::get_if<CloseConnection>(&command)) {
        if (close->conn == kClientConn) {
          client_closed = true;
        } else {
          closed_servers.insert(close->conn);
        }
      }
    }
    // Like a socket that takes every write at once, unless the test holds a connection's
    // writes back (a server that does not read).
    for (ConnId conn : written) {
      if (unwritten_conns.count(conn) != 0) {
        unwritten_conns[conn] = true;
      } else {
        feed(WriteDrained{conn});
      }
    }
  }

 public:
  // Connections whose writes stay queued (true once something waits) until release_writes.
  std::map<ConnId, bool> unwritten_conns;
  void release_writes(ConnId conn) {
    const bool due = unwritten_conns[conn];
    unwritten_conns.erase(conn);
    if (due) {
      feed(WriteDrained{conn});
    }
  }
  size_t bytes_to_server(ConnId conn) { return to_server_[conn].size(); }

 private:
  bool h1_;
  bool server_connect_protocol_;
  std::atomic<FlowId> flow_ids_{0};
  SessionContext ctx_;
  std::unique_ptr<Http2Layer> layer_;
  std::vector<OpenConnection> opens_;
  std::map<ConnId, std::unique_ptr<H2Peer>> servers_;
  std::string to_client_;
  std::map<ConnId, std::string> to_server_;
};

inline Headers get(const std::string& path) {
  return {{":method", "GET"}, {":scheme", "https"}, {":authority", "origin.test"},
          {":path", path},    {"x-b", "2"},         {"x-a", "1"}};
}

inline std::string value_of(const Headers& headers, const std::string& name) {
  for (const Header& h : headers) {
    if (h.name == name) {
      return h.value;
    }
  }
  return "<none>";
}

inline std::string pattern(size_t n, char seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  }
  return out;
}

inline const FlowSnapshot* flow_for(const Harness& h, const std::string& target) {
  for (const auto& f : h.flows) {
    if (f->state == FlowState::kFinished && f->request && f->request->target == target) {
      return f.get();
    }
  }
  return nullptr;
}

// answer_all makes the origin answer every complete request with its path and body size.
inline void answer_all(Harness& h, size_t server_index = 0) {
  H2Peer& origin = h.server(server_index);
  for (int32_t id : origin.completed) {
    const Message& m = origin.messages[id];
    const std::string path = value_of(m.headers, ":path");
    origin.respond(id, {{":status", "200"}, {"content-type", "text/plain"}, {"x-path", path}},
                   path + " " + std::to_string(m.body.size()) + " " + pattern(5000, path[1]));
  }
  origin.completed.clear();
}

}  // namespace sightglass::core::h2test
