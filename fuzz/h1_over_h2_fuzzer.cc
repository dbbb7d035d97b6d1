// H1OverH2 (core/layers/h1_over_h2.*): an HTTP/1.1 client's requests translated to an HTTP/2-only
// server, and its answers back as HTTP/1.1. In a session it sits on a server connection whose TLS
// chose h2 for an HttpLayer (ServerSide's h2-only path, core/proxy/h2_retry.cc); the target has no
// TLS, so it composes the same pieces the way ServerSide does: an HttpLayer in reverse mode (the
// client's bytes, toward https://origin.test, Host rewritten) whose server connection opens with
// ALPN h2 and carries an H1OverH2, fed as ServerSide::send, close, on_bytes and run_adapter do.
//
// Input: the bytes an HTTP/1.1 client sent (curl http://host/..., requests in origin form,
// keep-alive, maybe pipelined, with bodies), optionally followed by kSplit and the bytes the
// HTTP/2 server answered with (frames starting with its SETTINGS; streams 1, 3, 5... are the
// requests in order). Without a server part an nghttp2 origin answers every request (H2Origin).
// Seed: curl's request bytes, + kSplit + an HTTP/2 server's answer to them (e.g. nghttpd's to the
// same request made with curl --http2-prior-knowledge, without the preface).
// After the bytes: timers fire, the server and then the client close.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/layers/h1_over_h2.h"
#include "core/layers/http_layer.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/h2_fuzz_driver.h"

namespace {

using namespace sightglass;
using core::Commands;
using core::ConnId;
using core::Event;
using core::kClientConn;

const core::ProxyConfig& config() {
  static const core::ProxyConfig c = [] {
    core::ProxyConfig config;
    config.mode = core::ProxyConfig::Mode::kReverse;
    config.reverse_scheme = "https";
    config.reverse_host = "origin.test";
    config.reverse_port = 443;
    config.body_limit = 4096;
    return config;
  }();
  return c;
}

// Pipeline is the HttpLayer, its one server connection at a time with the adapter on it, and the
// driver's part (opens, wakeups, the origin).
class Pipeline {
 public:
  explicit Pipeline(bool auto_origin)
      : auto_origin_(auto_origin),
        layer_(&ctx_, core::HttpTarget{"https", "origin.test", 443, true}, true) {
    ctx_.config = &config();
    ctx_.clock = &clock_;
    ctx_.flow_ids = &flow_ids_;
    ctx_.client_address = "127.0.0.1:50000";
  }
  ~Pipeline() {
    Commands last;
    layer_.abandon("the client connection ended", last);
  }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  bool done() const { return client_closed_ || events_ >= 4000; }
  ConnId server_conn() const { return open_ ? conn_ : 0; }

  void client(std::string_view bytes) {
    if (!done() && !bytes.empty()) {
      to_layer(core::DataReceived{kClientConn, std::string(bytes)});
      settle();
    }
  }
  // server: bytes from the server connection go through the adapter (ServerSide::on_bytes).
  void server(std::string_view bytes) {
    if (!done() && adapter_ && !bytes.empty()) {
      core::H1OverH2::Output output;
      adapter_->on_server_bytes(bytes, output);
      run_adapter(std::move(output), nullptr);
      settle();
    }
  }
  void server_closed() {
    if (!done() && adapter_) {
      core::H1OverH2::Output output;
      adapter_->on_server_closed("", output);
      run_adapter(std::move(output), nullptr);
      settle();
    }
  }
  void client_closed() {
    if (!done()) {
      to_layer(core::ConnectionClosed{kClientConn, ""});
      settle();
    }
  }
  void tick(int64_t us) {
    clock_.tick(
        us, [this] { return done(); }, [this](core::CommandId id) { fire(id); });
  }
  void run_timers(int max) {
    clock_.run(
        max, [this] { return done(); }, [this](core::CommandId id) { fire(id); });
  }

  // settle opens what the layer asked for and lets the origin answer until nothing moves.
  void settle() {
    for (int round = 0; round < 64 && !done(); ++round) {
      bool moved = false;
      if (pending_open_) {
        complete_open(*std::exchange(pending_open_, std::nullopt));
        moved = true;
      }
      if (origin_ && adapter_) {
        std::string bytes = origin_->take();
        if (!bytes.empty()) {
          core::H1OverH2::Output output;
          adapter_->on_server_bytes(bytes, output);
          run_adapter(std::move(output), nullptr);
          moved = true;
        }
      }
      if (!moved) {
        return;
      }
    }
  }

 private:
  void fire(core::CommandId id) {
    to_layer(core::Wakeup{id});
    settle();
  }

  // complete_open: TCP and TLS (ALPN h2) are up; as ServerSide::on_handshake_done, the adapter
  // starts before the layer hears of the open.
  void complete_open(const core::OpenConnection& open) {
    conn_ = open.conn;
    open_ = true;
    adapter_ = std::make_unique<core::H1OverH2>("origin.test:443");
    origin_ = auto_origin_ ? std::make_unique<fuzz::h2drv::H2Origin>() : nullptr;
    core::H1OverH2::Output started;
    adapter_->start(started);
    run_adapter(std::move(started), nullptr);
    if (!open_) {
      return;
    }
    core::OpenCompleted done;
    done.id = open.id;
    done.conn = open.conn;
    done.peer_address = "192.0.2.1:443";
    done.dns_us = 10;
    done.connect_us = 20;
    done.ssl_us = 30;
    core::TlsInfo tls;
    tls.version = "TLSv1.3";
    tls.alpn = "h2";
    done.tls = tls;
    to_layer(std::move(done));
  }

  // run_adapter is ServerSide::run_adapter: HTTP/2 bytes to the server, HTTP/1.1 bytes and the
  // close to the layer (into |later| when given).
  void run_adapter(core::H1OverH2::Output output, std::vector<Event>* later) {
    if (!output.to_server.empty() && origin_) {
      origin_->receive(output.to_server);
    }
    std::vector<Event> events;
    if (!output.to_app.empty()) {
      events.push_back(core::DataReceived{conn_, std::move(output.to_app)});
    }
    if (output.app_closed) {
      drop_conn();
      events.push_back(core::ConnectionClosed{conn_, std::move(output.error)});
    }
    for (Event& event : events) {
      if (later != nullptr) {
        later->push_back(std::move(event));
      } else {
        to_layer(std::move(event));
      }
    }
  }

  void drop_conn() {
    open_ = false;
    adapter_.reset();
    origin_.reset();
  }

  void to_layer(Event event) {
    if (done()) {
      return;
    }
    ++events_;
    fuzz::h2drv::trace(event);
    Commands out;
    layer_.handle(event, out);
    process(out);
  }

  // process is ProxySession::process_app_commands for this one connection, and the driver.
  void process(Commands& out) {
    for (size_t i = 1; i < out.size(); ++i) {
      auto* prev = std::get_if<core::SendData>(&out[i - 1]);
      auto* next = std::get_if<core::SendData>(&out[i]);
      if (prev != nullptr && next != nullptr && prev->conn == next->conn) {
        prev->data.append(next->data);
        next->data = std::move(prev->data);
        prev->data.clear();
        next->report_written |= prev->report_written;
      }
    }
    std::vector<Event> later;
    bool drained = false;
    for (core::Command& command : out) {
      fuzz::h2drv::trace(command);
      if (auto* send = std::get_if<core::SendData>(&command)) {
        if (send->conn == kClientConn) {
          drained |= send->report_written && !send->data.empty();
        } else if (adapter_ && send->conn == conn_) {
          core::H1OverH2::Output output;
          adapter_->on_app_bytes(send->data, output);
          run_adapter(std::move(output), &later);
        }
      } else if (auto* open = std::get_if<core::OpenConnection>(&command)) {
        if (open_) {
          drop_conn();  // (The layer closed it first.)
        }
        pending_open_ = *open;
      } else if (auto* close = std::get_if<core::CloseConnection>(&command)) {
        if (close->conn == kClientConn) {
          if (!close->half_close) {
            client_closed_ = true;
          }
        } else if (close->conn == conn_ && adapter_ && !close->half_close) {
          core::H1OverH2::Output output;
          adapter_->on_app_close(output);
          run_adapter(std::move(output), &later);
          drop_conn();
        } else if (pending_open_ && pending_open_->conn == close->conn) {
          pending_open_.reset();
        }
      } else {
        clock_.apply(command);
      }
    }
    for (Event& event : later) {
      to_layer(std::move(event));
    }
    if (drained) {
      to_layer(core::WriteDrained{kClientConn});
    }
  }

  bool auto_origin_;
  fuzz::h2drv::FuzzClock clock_;
  std::atomic<core::FlowId> flow_ids_{0};
  core::SessionContext ctx_;
  core::HttpLayer layer_;
  ConnId conn_ = 0;
  bool open_ = false;
  std::optional<core::OpenConnection> pending_open_;
  std::unique_ptr<core::H1OverH2> adapter_;
  std::unique_ptr<fuzz::h2drv::H2Origin> origin_;
  bool client_closed_ = false;
  int events_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [client, server] = fuzz::split_at(fuzz::as_view(data, size), fuzz::kSplit);
  Pipeline p(server.empty());
  for (fuzz::Reads reads(client); !reads.done() && !p.done();) {
    p.client(reads.next());
    p.tick(50'000);
  }
  for (fuzz::Reads reads(server); !reads.done() && !p.done();) {
    p.server(reads.next());
    p.tick(50'000);
  }
  p.run_timers(8);
  p.server_closed();
  p.client_closed();
  p.run_timers(4);
  return 0;
}
