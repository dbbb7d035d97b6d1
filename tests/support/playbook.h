#pragma once

// mitmproxy's Playbook for our sans-I/O logic: feed events, look at the commands that come out.
// No sockets, no threads, no timing. Playbook states the whole exchange up front (events in,
// commands expected, in order) and fails with the transcript on the first difference;
// SessionPlaybook feeds one event at a time for tests that look at commands themselves.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <variant>
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

// Playbook is mitmproxy's tutils.Playbook: a test states the events it feeds and the commands
// it expects after each, in order:
//
//   Playbook pb(handler);
//   pb >> DataReceived{kClientConn, "GET ..."}
//      << OpenConnection{0, 1, "example.test", 80} << expect<PublishFlow>();
//   EXPECT_TRUE(pb.check());
//
// After each event, the commands it produced must be exactly those listed after it (before the
// next event): a missing, extra or different command fails, and check() prints the transcript
// of everything fed and produced, with the expectation that did not hold. Commands compare by
// their description (core::describe) with command ids left out ("#3" matches any id); SendData
// compares its whole data. expect<T>(predicate) matches any T the predicate accepts (and may keep
// it: a Hook whose flow the test resumes later); an event given as a function is made when it is
// fed (from what earlier commands carried). Kinds the test does not care about can be ignored.
class Playbook {
 public:
  using Handler = std::function<void(core::Event, core::Commands&)>;
  using Matcher = std::function<bool(const core::Command&)>;

  explicit Playbook(Handler handler) : handler_(std::move(handler)) {}

  Playbook& operator>>(core::Event event) {
    steps_.push_back(Step{std::move(event), {}, {}});
    return *this;
  }
  Playbook& operator>>(std::function<core::Event()> make) {
    steps_.push_back(Step{std::nullopt, std::move(make), {}});
    return *this;
  }
  Playbook& operator<<(const core::Command& command) {
    return *this << Expected{describe_for_match(command), matcher_for(command)};
  }
  struct Expected {
    std::string text;
    Matcher match;
  };
  Playbook& operator<<(Expected expected) {
    EXPECT_FALSE(steps_.empty()) << "a command expected before any event";
    if (!steps_.empty()) {
      steps_.back().expected.push_back(std::move(expected));
    }
    return *this;
  }
  // ignore leaves commands of type T out of the comparison (they still show in the transcript).
  template <class T>
  Playbook& ignore() {
    ignored_.push_back([](const core::Command& c) { return std::holds_alternative<T>(c); });
    return *this;
  }

  // describe_with names commands in the transcript (and in failure messages) with |describer|
  // where it returns a text (HTTP/2 frames for a SendData, say), else as core::describe does.
  Playbook& describe_with(std::function<std::string(const core::Command&)> describer) {
    describer_ = std::move(describer);
    return *this;
  }
  Playbook& describe_events_with(std::function<std::string(const core::Event&)> describer) {
    event_describer_ = std::move(describer);
    return *this;
  }

  // check feeds the events not fed yet and compares; the transcript is in the failure message.
  ::testing::AssertionResult check() {
    for (; next_ < steps_.size(); ++next_) {
      Step& step = steps_[next_];
      core::Event event = step.event ? std::move(*step.event) : step.make();
      const std::string named = event_describer_ ? event_describer_(event) : std::string();
      transcript_ += ">> " + (named.empty() ? core::describe(event) : named) + "\n";
      core::Commands out;
      handler_(std::move(event), out);
      std::vector<const core::Command*> compared;
      for (const core::Command& command : out) {
        const bool skip = std::any_of(ignored_.begin(), ignored_.end(),
                                      [&](const Matcher& ignored) { return ignored(command); });
        transcript_ += std::string(skip ? "   (ignored) " : "<< ") + describe(command) + "\n";
        if (!skip) {
          compared.push_back(&command);
        }
      }
      commands_.insert(commands_.end(), out.begin(), out.end());
      for (size_t i = 0; i < std::max(compared.size(), step.expected.size()); ++i) {
        if (i >= step.expected.size()) {
          return failure("unexpected command: " + describe(*compared[i]));
        }
        if (i >= compared.size()) {
          return failure("missing command: " + step.expected[i].text);
        }
        if (!step.expected[i].match(*compared[i])) {
          return failure("expected " + step.expected[i].text + "\n     got " +
                         describe(*compared[i]));
        }
      }
    }
    return ::testing::AssertionSuccess();
  }

  const core::Commands& commands() const { return commands_; }
  const std::string& transcript() const { return transcript_; }

 private:
  struct Step {
    std::optional<core::Event> event;
    std::function<core::Event()> make;
    std::vector<Expected> expected;
  };

  std::string describe(const core::Command& command) const {
    std::string text = describer_ ? describer_(command) : std::string();
    return text.empty() ? core::describe(command) : text;
  }
  ::testing::AssertionResult failure(const std::string& what) {
    ++next_;  // A failed step is not fed again.
    return ::testing::AssertionFailure() << what << "\ntranscript:\n" << transcript_;
  }
  static std::string describe_for_match(const core::Command& command) {
    static const std::regex kIds("#[0-9]+");
    return std::regex_replace(core::describe(command), kIds, "#_");
  }
  static Matcher matcher_for(const core::Command& expected) {
    if (const auto* send = std::get_if<core::SendData>(&expected)) {
      return [conn = send->conn, data = send->data](const core::Command& actual) {
        const auto* got = std::get_if<core::SendData>(&actual);
        return got != nullptr && got->conn == conn && got->data == data;
      };
    }
    return [text = describe_for_match(expected)](const core::Command& actual) {
      return describe_for_match(actual) == text;
    };
  }

  Handler handler_;
  std::vector<Step> steps_;
  size_t next_ = 0;
  std::vector<Matcher> ignored_;
  std::function<std::string(const core::Command&)> describer_;
  std::function<std::string(const core::Event&)> event_describer_;
  core::Commands commands_;
  std::string transcript_;
};

// expect matches any command of type T that |accept| takes (every T without one); |accept| may
// keep what it sees.
template <class T>
Playbook::Expected expect(std::function<bool(const T&)> accept = {}, std::string text = {}) {
  if (text.empty()) {
    const std::string shape = core::describe(core::Command(T{}));
    text = "any " + shape.substr(0, shape.find('('));  // "any RequestWakeup"
  }
  return Playbook::Expected{std::move(text), [accept = std::move(accept)](const core::Command& c) {
                              const auto* t = std::get_if<T>(&c);
                              return t != nullptr && (!accept || accept(*t));
                            }};
}

// open_to matches the OpenConnection of |conn| to host:port (TLS or not) and keeps it.
inline Playbook::Expected open_to(core::ConnId conn, const std::string& host, uint16_t port,
                                  bool tls, core::OpenConnection* kept) {
  return expect<core::OpenConnection>(
      [=](const core::OpenConnection& o) {
        *kept = o;
        return o.conn == conn && o.host == host && o.port == port && o.tls == tls;
      },
      "OpenConnection(conn " + std::to_string(conn) + ", " + host + ":" + std::to_string(port) +
          (tls ? ", tls)" : ", plain)"));
}

// wakeup matches a RequestWakeup of |ms| and keeps its id.
inline Playbook::Expected wakeup(int64_t ms, core::CommandId* id, const std::string& what) {
  return expect<core::RequestWakeup>(
      [ms, id](const core::RequestWakeup& w) {
        *id = w.id;
        return w.delay_ms == ms;
      },
      "RequestWakeup(" + std::to_string(ms) + " ms: " + what + ")");
}

// cancel matches the CancelWakeup of the wakeup kept in |id|.
inline Playbook::Expected cancel(const core::CommandId* id, const std::string& what) {
  return expect<core::CancelWakeup>(
      [id](const core::CancelWakeup& c) { return *id != 0 && c.id == *id; },
      "CancelWakeup(" + what + ")");
}

// completed is the OpenCompleted a driver sends once |open| succeeded (for a Playbook event).
inline core::OpenCompleted completed(const core::OpenConnection& open) {
  core::OpenCompleted done;
  done.id = open.id;
  done.conn = open.conn;
  done.peer_address = "192.0.2.1:" + std::to_string(open.port);
  done.dns_us = 100;
  done.connect_us = 200;
  return done;
}

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
  core::Commands open_ok(const core::OpenConnection& open) { return feed(completed(open)); }
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
  // handler feeds a Playbook's events to this session (its log records them too).
  Playbook::Handler handler() {
    return [this](core::Event event, core::Commands& out) { out = feed(std::move(event)); };
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
