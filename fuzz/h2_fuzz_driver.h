#pragma once

// The driver of the HTTP/2 and WebSocket fuzz targets: one ProxySession run without sockets the
// way ProxyServer's session handler (core/server/proxy_server.cc) runs it, deterministically.
//  - Every event is followed, as there, by the WriteDrained of the writes that asked for it and
//    by the HookResumed of the hooks done at once.
//  - OpenConnection succeeds (plain TCP; one asking for TLS is refused: the targets have no
//    server TLS), unless the session closed the connection meanwhile.
//  - Wakeups wait for a FakeClock-like clock that only the target moves.
//  - A connection's peer is a Peer (an nghttp2 origin that answers, an HTTP/1.1 origin, an
//    nghttp2 client) or nobody: the target then feeds that side's bytes from the input itself.
//  - Hooks (FuzzHooks) hold every flow; what they do is read from the flow, so the input picks
//    it: a target containing "kill", "answer", "elsewhere", "edit" or "later" (resumed only at
//    the end, like a flow a person looked at).
// Everything is bounded: the number of events per input is capped. With SIGHTGLASS_FUZZ_TRACE
// set in the environment, every event and command is printed (to see how deep an input goes).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/layers/http1.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/proxy/session.h"
#include "fuzz/fuzz_input.h"
#include "tests/support/h2_peer.h"

namespace sightglass::fuzz::h2drv {

using core::Command;
using core::CommandId;
using core::Commands;
using core::ConnId;
using core::Event;
using core::kClientConn;

// trace prints an event or a command when SIGHTGLASS_FUZZ_TRACE is set.
inline bool tracing() {
  static const bool on = std::getenv("SIGHTGLASS_FUZZ_TRACE") != nullptr;
  return on;
}
inline void trace(const Event& event) {
  if (tracing()) {
    std::fprintf(stderr, ">> %s\n", core::describe(event).c_str());
  }
}
inline void trace(const Command& command) {
  if (tracing()) {
    std::fprintf(stderr, "  << %s\n", core::describe(command).c_str());
  }
}

class FuzzClock : public core::Clock {
 public:
  int64_t monotonic_us() const override { return now_us; }
  int64_t wall_us() const override { return 1'700'000'000'000'000 + now_us; }

  // apply keeps a RequestWakeup or drops the wakeup a CancelWakeup names; false for any other
  // command.
  bool apply(const core::Command& command) {
    if (const auto* wakeup = std::get_if<core::RequestWakeup>(&command)) {
      wakeups_.emplace(now_us + std::max<int64_t>(wakeup->delay_ms, 0) * 1000, wakeup->id);
      return true;
    }
    if (const auto* cancel = std::get_if<core::CancelWakeup>(&command)) {
      std::erase_if(wakeups_, [&](const auto& entry) { return entry.second == cancel->id; });
      return true;
    }
    return false;
  }
  // tick moves the clock on by |us| and hands |fire| the wakeups that are due, in deadline
  // order, until |stop| says so.
  template <typename Stop, typename Fire>
  void tick(int64_t us, Stop stop, Fire fire) {
    now_us += us;
    while (!stop() && !wakeups_.empty() && wakeups_.begin()->first <= now_us) {
      fire(pop());
    }
  }
  // run hands |fire| up to |max| wakeups in deadline order, moving the clock to each.
  template <typename Stop, typename Fire>
  void run(int max, Stop stop, Fire fire) {
    for (int i = 0; i < max && !stop() && !wakeups_.empty(); ++i) {
      now_us = std::max(now_us, wakeups_.begin()->first);
      fire(pop());
    }
  }

  int64_t now_us = 1'000'000;

 private:
  core::CommandId pop() {
    const core::CommandId id = wakeups_.begin()->second;
    wakeups_.erase(wakeups_.begin());
    return id;
  }

  std::multimap<int64_t, core::CommandId> wakeups_;
};

// FuzzHooks holds every HTTP flow at both points; run() edits the held flow as its request
// target says and returns false (kept, resumed at the end) for "later".
class FuzzHooks : public core::FlowHooks {
 public:
  bool holds(core::HookPoint /*point*/) const override { return true; }
  bool run(const core::HeldFlowPtr& held, Resume /*resume*/) override {
    const std::string target = held->flow.request ? held->flow.request->target : std::string();
    const bool request = held->point == core::HookPoint::kRequest;
    if (target.find("kill") != std::string::npos) {
      held->kill = true;
      held->note = "killed";
    } else if (request && target.find("answer") != std::string::npos) {
      core::HttpResponseData answer;
      answer.status = 203;
      answer.reason = "Answered";
      answer.headers = {{"Content-Type", "text/plain"}, {"X-Answered", "1"}};
      held->answer = std::move(answer);
      held->answer_body = "answered by the hook\n";
    } else if (request && target.find("elsewhere") != std::string::npos && held->flow.request) {
      held->flow.request->scheme = "http";
      held->flow.request->host = "elsewhere.test";
      held->flow.request->port = 8080;
      held->note = "sent elsewhere";
    } else if (target.find("edit") != std::string::npos) {
      if (held->flow.request && request) {
        held->flow.request->headers.push_back({"x-edited", "yes"});
      } else if (held->flow.response) {
        held->flow.response->headers.push_back({"x-edited", "yes"});
        held->flow.response->status = 299;
      }
      if (held->body_complete) {
        held->body = "edited body " + std::to_string(held->body.size());
      }
      held->note = "edited";
    }
    return target.find("later") == std::string::npos;
  }
  void dropped(const core::HeldFlowPtr& /*held*/) override {}
};

// Peer is the other end of one connection of the session.
class Peer {
 public:
  virtual ~Peer() = default;
  // receive takes what the session sent to the peer.
  virtual void receive(std::string_view bytes) = 0;
  // take returns what the peer sends now ("" for nothing).
  virtual std::string take() = 0;
};

// H2Origin is an HTTP/2 server (nghttp2, taking extended CONNECT) that answers each request
// once it is complete: the request's content type and body echoed, with trailers when the
// request said "te: trailers", a 100 first when it expected one. An extended CONNECT gets a 200
// at once and the tunnel echoes what the client sends.
class H2Origin : public Peer {
 public:
  void receive(std::string_view bytes) override {
    if (ok_ && !peer_.receive(std::string(bytes))) {
      ok_ = false;
    }
  }
  std::string take() override {
    if (!ok_) {
      return {};
    }
    for (auto& [id, m] : peer_.messages) {
      if ((id & 1) == 0 || !m.head_done) {
        continue;
      }
      const std::string method = value_of(m.headers, ":method");
      if (method == "CONNECT") {
        auto [it, fresh] = tunnels_.try_emplace(id, Tunnel{});
        Tunnel& tunnel = it->second;
        if (fresh) {
          peer_.respond(id, {{":status", "200"}}, std::string());
          peer_.open_ended(id);
        }
        if (!m.closed && !tunnel.ended && (m.body.size() > tunnel.echoed || m.ended)) {
          peer_.more_body(id, m.body.substr(tunnel.echoed), m.ended);
          tunnel.echoed = m.body.size();
          tunnel.ended = m.ended;
        }
        continue;
      }
      if (!m.ended || !answered_.insert(id).second) {
        continue;
      }
      if (value_of(m.headers, "expect") == "100-continue") {
        peer_.interim(id, {{":status", "100"}});
      }
      core::Headers head{{":status", "200"}};
      const std::string type = value_of(m.headers, "content-type");
      head.push_back({"content-type", type.empty() ? "text/plain" : type});
      core::Headers trailers;
      if (value_of(m.headers, "te") == "trailers") {
        trailers = {{"grpc-status", "0"}, {"x-trailer", "1"}};
      }
      const std::string body = method == "HEAD" ? std::string() : m.body.substr(0, 64 * 1024);
      peer_.respond(
          id, head,
          body.empty() && trailers.empty() ? std::nullopt : std::optional<std::string>(body),
          trailers);
    }
    return peer_.drain();
  }

  static std::string value_of(const core::Headers& headers, std::string_view name) {
    for (const core::Header& h : headers) {
      if (h.name == name) {
        return h.value;
      }
    }
    return {};
  }

 private:
  test::H2Peer peer_{true, /*connect_protocol=*/true};
  bool ok_ = true;
  std::set<int32_t> answered_;
  struct Tunnel {
    size_t echoed = 0;  // The client's bytes echoed so far.
    bool ended = false;
  };
  std::map<int32_t, Tunnel> tunnels_;  // Extended CONNECT streams.
};

// H1Origin is an HTTP/1.1 server that answers each complete request: its content type and body
// echoed, chunked with trailers when the request came chunked, else with a Content-Length.
class H1Origin : public Peer {
 public:
  void receive(std::string_view bytes) override {
    core::HttpParseEvents events;
    parser_.feed(bytes, events);
    for (size_t i = 0; i < events.size() && !failed_; ++i) {
      if (auto* head = std::get_if<core::HttpHead>(&events[i])) {
        method_ = head->method;
        chunked_ = head->chunked;
        type_ = "text/plain";
        for (const core::Header& h : head->headers) {
          if (core::iequals(h.name, "content-type")) {
            type_ = h.value;
          }
        }
        body_.clear();
      } else if (auto* body = std::get_if<core::HttpBodyData>(&events[i])) {
        body_.append(body->data.substr(0, 64 * 1024 - std::min<size_t>(body_.size(), 64 * 1024)));
      } else if (std::holds_alternative<core::HttpMessageEnd>(events[i])) {
        answer();
        parser_.next_message(events);
      } else {
        failed_ = true;  // An upgrade or an error: nothing more is answered.
      }
    }
  }
  std::string take() override { return std::exchange(out_, {}); }

 private:
  void answer() {
    const bool head = method_ == "HEAD";
    if (chunked_) {
      out_ +=
          "HTTP/1.1 200 OK\r\nContent-Type: " + type_ + "\r\nTransfer-Encoding: chunked\r\n\r\n";
      if (!head) {
        out_ += core::encode_chunk(body_) + core::encode_last_chunk({{"X-Trailer", "1"}});
      }
      return;
    }
    out_ += "HTTP/1.1 200 OK\r\nContent-Type: " + type_ +
            "\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
    if (!head) {
      out_ += body_;
    }
  }

  core::Http1Parser parser_{core::Http1Parser::Kind::kRequest};
  std::string method_;
  std::string type_;
  std::string body_;
  bool chunked_ = false;
  bool failed_ = false;
  std::string out_;
};

// Driver runs one ProxySession.
class Driver {
 public:
  // PeerFor gives the peer of a server connection the session opened (the |index|th), or null
  // when the target feeds that connection's bytes itself.
  using PeerFor =
      std::function<std::unique_ptr<Peer>(const core::OpenConnection& open, size_t index)>;

  Driver(const core::ProxyConfig* config, core::ClientConnection client, PeerFor peer_for,
         std::unique_ptr<Peer> client_peer = nullptr)
      : config_(config),
        session_(config, &clock_, &flow_ids_, std::move(client)),
        peer_for_(std::move(peer_for)),
        client_peer_(std::move(client_peer)) {}
  ~Driver() { finish(); }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  void start() {
    dispatch(core::Start{});
    settle();
  }
  // client hands the session bytes from the client (unless it closed the client).
  void client(std::string_view bytes) {
    if (!client_closed_ && !bytes.empty()) {
      dispatch(core::DataReceived{kClientConn, std::string(bytes)});
      settle();
    }
  }
  // server hands the session bytes from server connection |conn| (if it is open).
  void server(ConnId conn, std::string_view bytes) {
    if (auto it = conns_.find(conn); it != conns_.end() && !it->second.closed && !bytes.empty()) {
      dispatch(core::DataReceived{conn, std::string(bytes)});
      settle();
    }
  }
  // opened is every server connection that opened, in order.
  const std::vector<ConnId>& opened() const { return opened_; }
  bool client_closed() const { return client_closed_; }
  bool done() const { return finished_ || events_ >= kMaxEvents; }
  // Bytes the session sent to the client (when it has no peer).
  size_t to_client_bytes() const { return to_client_bytes_; }

  // tick moves the clock on by |us| and fires the wakeups that are due.
  void tick(int64_t us) {
    clock_.tick(
        us, [this] { return done(); }, [this](CommandId id) { fire(id); });
  }
  // run_timers fires up to |max| wakeups in deadline order, moving the clock to each.
  void run_timers(int max) {
    clock_.run(
        max, [this] { return done(); }, [this](CommandId id) { fire(id); });
  }
  // client_reads hands the session |bytes| from the client in the pieces fuzz::Reads cuts, the
  // clock moving 50 ms after each; server_reads does the same for server connection |conn|.
  void client_reads(std::string_view bytes) {
    for (Reads reads(bytes); !reads.done() && !done();) {
      client(reads.next());
      tick(50'000);
    }
  }
  void server_reads(ConnId conn, std::string_view bytes) {
    for (Reads reads(bytes); !reads.done() && !done();) {
      server(conn, reads.next());
      tick(50'000);
    }
  }
  // wind_down ends a run: the kept hooks resume, due timers fire, the servers and then the
  // client close, and the session finishes.
  void wind_down() {
    resume_kept();
    run_timers(8);
    close_servers();
    close_client();
    run_timers(4);
    finish();
  }
  // resume_kept resumes the hooks FuzzHooks kept.
  void resume_kept() {
    for (auto& resumed : std::exchange(kept_, {})) {
      dispatch(std::move(resumed));
      settle();
    }
  }
  // close_servers: every open server connection ends (EOF).
  void close_servers() {
    std::vector<ConnId> open;
    for (auto& [conn, c] : conns_) {
      if (c.open && !c.closed) {
        open.push_back(conn);
      }
    }
    for (ConnId conn : open) {
      conns_[conn].closed = true;
      dispatch(core::ConnectionClosed{conn, ""});
      settle();
    }
  }
  void close_client(std::string error = {}) {
    if (!client_closed_) {
      client_closed_ = true;
      dispatch(core::ConnectionClosed{kClientConn, std::move(error)});
      settle();
    }
  }
  // finish ends the session as ProxyServer does when its client is gone.
  void finish() {
    if (std::exchange(finished_, true)) {
      return;
    }
    Commands last;
    session_.abandon("the client connection ended", last);
    kept_.clear();
  }

  // settle answers what the session asked for (opens) and lets the peers talk until nothing
  // moves.
  void settle() {
    for (int round = 0; round < 64 && !done(); ++round) {
      bool moved = false;
      while (!pending_opens_.empty() && !done()) {
        core::OpenConnection open = pending_opens_.front();
        pending_opens_.erase(pending_opens_.begin());
        complete(open);
        moved = true;
      }
      for (auto& [conn, c] : conns_) {
        if (!c.open || c.closed || !c.peer || done()) {
          continue;
        }
        std::string bytes = c.peer->take();
        if (!bytes.empty()) {
          dispatch(core::DataReceived{conn, std::move(bytes)});
          moved = true;
          break;  // conns_ may have changed.
        }
      }
      if (client_peer_ && !client_closed_ && !done()) {
        std::string bytes = client_peer_->take();
        if (!bytes.empty()) {
          dispatch(core::DataReceived{kClientConn, std::move(bytes)});
          moved = true;
        }
      }
      if (!moved) {
        return;
      }
    }
  }

 private:
  static constexpr int kMaxEvents = 4000;

  struct Conn {
    bool open = false;
    bool closed = false;  // Closed by either side: nothing more goes either way.
    bool write_shut = false;
    std::unique_ptr<Peer> peer;
  };

  void complete(const core::OpenConnection& open) {
    core::OpenCompleted done;
    done.id = open.id;
    done.conn = open.conn;
    if (open.tls) {
      done.error = "connection refused";
      done.failure = core::OpenCompleted::Failure::kRefused;
      dispatch(std::move(done));
      return;
    }
    Conn& c = conns_[open.conn];
    c.open = true;
    c.peer = peer_for_ ? peer_for_(open, opened_.size()) : nullptr;
    opened_.push_back(open.conn);
    done.peer_address = "192.0.2.1:" + std::to_string(open.port);
    done.dns_us = 10;
    done.connect_us = 20;
    dispatch(std::move(done));
  }

  void fire(CommandId id) {
    dispatch(core::Wakeup{id});
    settle();
  }

  void handle(Event event, Commands& out) {
    trace(event);
    session_.handle(std::move(event), out);
  }

  void dispatch(Event event) {
    if (done()) {
      return;
    }
    ++events_;
    Commands commands;
    handle(std::move(event), commands);
    execute(commands);
    while (!done() && (!drained_due_.empty() || !resumed_due_.empty())) {
      ++events_;
      Commands more;
      if (!drained_due_.empty()) {
        handle(core::WriteDrained{drained_due_.front()}, more);
        drained_due_.erase(drained_due_.begin());
      } else {
        handle(std::move(resumed_due_.front()), more);
        resumed_due_.erase(resumed_due_.begin());
      }
      execute(more);
    }
  }

  void execute(Commands& commands) {
    for (Command& command : commands) {
      trace(command);
      if (auto* send = std::get_if<core::SendData>(&command)) {
        if (send->conn == kClientConn) {
          if (!client_write_shut_) {
            to_client_bytes_ += send->data.size();
            if (client_peer_) {
              client_peer_->receive(send->data);
            }
            if (send->report_written) {
              drained_due_.push_back(kClientConn);
            }
          }
          continue;
        }
        auto it = conns_.find(send->conn);
        if (it == conns_.end() || !it->second.open || it->second.closed || it->second.write_shut) {
          continue;  // Not connected (yet): the real driver drops it too.
        }
        if (it->second.peer) {
          it->second.peer->receive(send->data);
        }
        if (send->report_written) {
          drained_due_.push_back(send->conn);
        }
      } else if (auto* open = std::get_if<core::OpenConnection>(&command)) {
        pending_opens_.push_back(*open);
      } else if (auto* close = std::get_if<core::CloseConnection>(&command)) {
        if (close->conn == kClientConn) {
          client_write_shut_ = true;
          if (!close->half_close) {
            client_closed_ = true;
          }
          continue;
        }
        std::erase_if(pending_opens_,
                      [&](const core::OpenConnection& o) { return o.conn == close->conn; });
        if (auto it = conns_.find(close->conn); it != conns_.end()) {
          it->second.write_shut = true;
          if (!close->half_close) {
            it->second.closed = true;
          }
        }
      } else if (clock_.apply(command)) {
        // A wakeup asked for or cancelled.
      } else if (auto* hook = std::get_if<core::Hook>(&command)) {
        core::HookResumed resumed{hook->id, hook->held};
        if (config_->hooks == nullptr || config_->hooks->run(hook->held, {})) {
          resumed_due_.push_back(std::move(resumed));
        } else {
          kept_.push_back(std::move(resumed));
        }
      } else if (auto* publish = std::get_if<core::PublishFlow>(&command)) {
        // What a sink does first: look at the snapshot.
        (void)publish->flow->request.has_value();
      }
    }
  }

  const core::ProxyConfig* config_;
  FuzzClock clock_;
  std::atomic<core::FlowId> flow_ids_{0};
  core::ProxySession session_;
  PeerFor peer_for_;
  std::unique_ptr<Peer> client_peer_;
  std::map<ConnId, Conn> conns_;
  std::vector<ConnId> opened_;
  std::vector<core::OpenConnection> pending_opens_;
  std::vector<ConnId> drained_due_;
  std::vector<core::HookResumed> resumed_due_;
  std::vector<core::HookResumed> kept_;
  bool client_closed_ = false;
  bool client_write_shut_ = false;
  bool finished_ = false;
  int events_ = 0;
  size_t to_client_bytes_ = 0;
};

}  // namespace sightglass::fuzz::h2drv
