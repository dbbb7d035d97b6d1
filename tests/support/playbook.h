#pragma once

// A small port of mitmproxy's Playbook idea: feed events to sans-I/O logic, look at the
// commands that come out. No sockets, no threads, no timing.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/proxy/session.h"

namespace sightglass::test {

// FakeClock is a clock the test moves by hand.
class FakeClock : public core::Clock {
 public:
  int64_t monotonic_us() const override { return now_us; }
  int64_t wall_us() const override { return 1'700'000'000'000'000 + now_us; }
  int64_t now_us = 1'000'000;
};

// sent_to concatenates the bytes of every SendData to |conn|.
inline std::string sent_to(const core::Commands& commands, core::ConnId conn) {
  std::string out;
  for (const core::Command& c : commands) {
    if (const auto* send = std::get_if<core::SendData>(&c); send && send->conn == conn) {
      out += send->data;
    }
  }
  return out;
}

// all_of returns the commands of type T.
template <class T>
std::vector<T> all_of(const core::Commands& commands) {
  std::vector<T> out;
  for (const core::Command& c : commands) {
    if (const auto* t = std::get_if<T>(&c)) {
      out.push_back(*t);
    }
  }
  return out;
}

// single_open returns the one OpenConnection among |commands| (a test failure otherwise).
inline core::OpenConnection single_open(const core::Commands& commands) {
  const auto opens = all_of<core::OpenConnection>(commands);
  EXPECT_EQ(opens.size(), 1u);
  return opens.empty() ? core::OpenConnection{} : opens.front();
}

// flows returns the finished flows published.
inline std::vector<core::FlowSnapshotConstSharedPtr> flows(const core::Commands& commands) {
  std::vector<core::FlowSnapshotConstSharedPtr> out;
  for (const auto& p : all_of<core::PublishFlow>(commands)) {
    if (p.flow->state == core::FlowState::kFinished) {
      out.push_back(p.flow);
    }
  }
  return out;
}

// closes returns whether a full CloseConnection for |conn| was issued.
inline bool closes(const core::Commands& commands, core::ConnId conn) {
  for (const auto& c : all_of<core::CloseConnection>(commands)) {
    if (c.conn == conn && !c.half_close) {
      return true;
    }
  }
  return false;
}

// transcript renders commands for failure messages.
inline std::string transcript(const core::Commands& commands) {
  std::string out;
  for (const core::Command& c : commands) {
    out += "  << " + core::describe(c) + "\n";
  }
  return out;
}

// HoldAt makes the layers hold flows at the points asked for; the test plays the hooks itself
// (it reads the Hook commands and feeds HookResumed).
class HoldAt : public core::FlowHooks {
 public:
  HoldAt(bool requests, bool responses) : requests_(requests), responses_(responses) {}
  bool holds(core::HookPoint point) const override {
    return point == core::HookPoint::kRequest ? requests_ : responses_;
  }
  bool run(const core::HeldFlowPtr& /*held*/, Resume /*resume*/) override { return true; }
  void dropped(const core::HeldFlowPtr& /*held*/) override {}

 private:
  bool requests_;
  bool responses_;
};

// SessionPlaybook drives one ProxySession and keeps every command it returned.
class SessionPlaybook {
 public:
  explicit SessionPlaybook(core::ProxyConfig config, core::ClientConnection client = {})
      : config_(std::move(config)),
        session_(&config_, &clock_, &flow_ids_, with_peer(std::move(client))) {}

  // feed hands one event to the session and returns the commands of that event alone.
  core::Commands feed(core::Event event) {
    log_ += ">> " + core::describe(event) + "\n";
    core::Commands out;
    session_.handle(std::move(event), out);
    log_ += transcript(out);
    all_.insert(all_.end(), out.begin(), out.end());
    return out;
  }
  core::Commands client(std::string data) {
    return feed(core::DataReceived{core::kClientConn, std::move(data)});
  }
  core::Commands server(core::ConnId conn, std::string data) {
    return feed(core::DataReceived{conn, std::move(data)});
  }
  // open_ok completes the last OpenConnection.
  core::Commands open_ok(const core::OpenConnection& open) {
    core::OpenCompleted done;
    done.id = open.id;
    done.conn = open.conn;
    done.peer_address = "192.0.2.1:" + std::to_string(open.port);
    done.dns_us = 100;
    done.connect_us = 200;
    return feed(done);
  }
  // open_failed fails |open| as the driver would: |error| and its typed |failure|.
  core::Commands open_failed(const core::OpenConnection& open, std::string error,
                             core::OpenCompleted::Failure failure) {
    core::OpenCompleted failed;
    failed.id = open.id;
    failed.conn = open.conn;
    failed.error = std::move(error);
    failed.failure = failure;
    return feed(failed);
  }
  // connect_tunnel sends a CONNECT |request|: the session opens the TCP connection first and
  // answers 200 once the test completes it. Returns that connection's OpenConnection (every
  // later command of the tunnel adopts it).
  core::OpenConnection connect_tunnel(std::string request) {
    const core::Commands c = client(std::move(request));
    const core::OpenConnection open = single_open(c);
    EXPECT_FALSE(open.tls);
    EXPECT_EQ(sent_to(c, core::kClientConn), "") << "answered before the connection was open";
    EXPECT_EQ(sent_to(open_ok(open), core::kClientConn),
              "HTTP/1.1 200 Connection established\r\n\r\n")
        << log_;
    return open;
  }
  const core::Commands& all() const { return all_; }
  const std::string& log() const { return log_; }
  FakeClock& clock() { return clock_; }

 private:
  static core::ClientConnection with_peer(core::ClientConnection client) {
    if (client.peer_address.empty()) {
      client.peer_address = "127.0.0.1:50000";
    }
    return client;
  }

  core::ProxyConfig config_;
  FakeClock clock_;
  std::atomic<core::FlowId> flow_ids_{0};
  core::ProxySession session_;
  core::Commands all_;
  std::string log_;
};

}  // namespace sightglass::test
