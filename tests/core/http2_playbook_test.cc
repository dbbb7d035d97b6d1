// Http2Layer by its Playbook transcripts: the events fed and the commands expected, in order,
// with HTTP/2 frames named (tests/support/h2_frames.h). Real nghttp2 peers on both sides read
// what the layer sent and answer.
#include <gtest/gtest.h>

#include "tests/core/h2_harness.h"
#include "tests/support/h2_frames.h"

namespace sightglass::core {
namespace {

using h2test::get;
using h2test::value_of;

class Http2Playbook : public ::testing::Test {
 protected:
  void start(bool hold_requests, bool hold_responses) {
    hooks_ = std::make_unique<test::HoldAt>(hold_requests, hold_responses);
    config_.mode = ProxyConfig::Mode::kRegular;
    config_.body_limit = 1024;
    config_.hooks = hooks_.get();
    ctx_.config = &config_;
    ctx_.clock = &clock_;
    ctx_.flow_ids = &ids_;
    layer_ = std::make_unique<Http2Layer>(&ctx_, HttpTarget{"https", "origin.test", 443, true},
                                          false, Http2Layer::UpstreamProtocol::kHttp2);
    Commands started;
    layer_->start(started);
    // The server connection is opened at once; the client gets our SETTINGS.
    open_ = test::single_open(started);
    EXPECT_EQ(open_.host, "origin.test");
    EXPECT_TRUE(open_.tls);
    EXPECT_EQ(test::describe_frames(test::sent_to(started, kClientConn)), "SETTINGS WINDOW_UPDATE");
    client_.receive(test::sent_to(started, kClientConn));
  }

  test::Playbook playbook() {
    test::Playbook pb([this](Event event, Commands& out) { layer_->handle(event, out); });
    pb.ignore<PublishFlow>();  // Live snapshots; the finished flows are checked by finished().
    pb.describe_with([](const Command& c) {
      const auto* send = std::get_if<SendData>(&c);
      return send ? "SendData(" + std::to_string(send->conn) + ", " +
                        test::describe_frames(send->data) + ")"
                  : std::string();
    });
    pb.describe_events_with([](const Event& e) {
      const auto* data = std::get_if<DataReceived>(&e);
      return data ? "DataReceived(" + std::to_string(data->conn) + ", " +
                        test::describe_frames(data->data) + ")"
                  : std::string();
    });
    return pb;
  }

  // frames matches a SendData to |conn| carrying the frames |what| and hands its bytes to the
  // peer on that side.
  test::Playbook::Expected frames(ConnId conn, std::string what) {
    std::string text = "SendData(" + std::to_string(conn) + ", " + what + ")";
    return test::expect<SendData>(
        [this, conn, what = std::move(what)](const SendData& d) {
          if (d.conn != conn || test::describe_frames(d.data) != what) {
            return false;
          }
          EXPECT_TRUE((conn == kClientConn ? client_ : origin_).receive(d.data));
          return true;
        },
        std::move(text));
  }
  // hook matches the Hook of |path| at |point| and keeps it.
  static test::Playbook::Expected hook(Hook* keep, HookPoint point, std::string path) {
    std::string text = std::string("Hook(") +
                       (point == HookPoint::kRequest ? "request " : "response ") + path + ")";
    return test::expect<Hook>(
        [keep, point, path = std::move(path)](const Hook& h) {
          *keep = h;
          return h.held->point == point && h.held->flow.request->target == path;
        },
        std::move(text));
  }
  // The events: what a peer has to send, the server connection's TLS done with ALPN h2.
  std::function<Event()> from_client() {
    return [this] { return Event(DataReceived{kClientConn, client_.drain()}); };
  }
  std::function<Event()> from_origin() {
    return [this] { return Event(DataReceived{open_.conn, origin_.drain()}); };
  }
  std::function<Event()> server_open() {
    return [this] {
      OpenCompleted done = test::completed(open_);
      TlsInfo tls;
      tls.alpn = "h2";
      done.tls = tls;
      return Event(done);
    };
  }
  // answer: the origin answers the first request it has not answered yet.
  std::function<Event()> answer(Headers head, std::string body) {
    return [this, head = std::move(head), body = std::move(body)] {
      EXPECT_FALSE(origin_.completed.empty()) << "the origin has no request to answer";
      const int32_t stream = origin_.completed.empty() ? 1 : origin_.completed.front();
      if (!origin_.completed.empty()) {
        origin_.completed.erase(origin_.completed.begin());
      }
      origin_.respond(stream, head, body);
      return Event(DataReceived{open_.conn, origin_.drain()});
    };
  }
  static std::function<Event()> resume(const Hook* hook, std::function<void(HeldFlow&)> edit = {}) {
    return [hook, edit = std::move(edit)] {
      auto held = std::make_shared<HeldFlow>(*hook->held);
      if (edit) {
        edit(*held);
      }
      return Event(HookResumed{hook->id, held});
    };
  }
  // finished returns the flows the layer published as finished.
  static std::vector<FlowSnapshotConstSharedPtr> finished(const test::Playbook& pb) {
    return test::flows(pb.commands());
  }

  std::unique_ptr<test::HoldAt> hooks_;
  ProxyConfig config_;
  test::FakeClock clock_;
  std::atomic<FlowId> ids_{0};
  SessionContext ctx_;
  std::unique_ptr<Http2Layer> layer_;
  OpenConnection open_;
  test::H2Peer client_{false};
  test::H2Peer origin_{true};
};

TEST_F(Http2Playbook, AStreamRelayed) {
  // One GET: it waits for the server connection the layer opened at its start, goes there,
  // and the answer goes back on the client's stream.
  start(false, false);
  const int32_t id = client_.request(get("/plain"));
  CommandId timeout = 0;
  test::Playbook pb = playbook();
  pb >> from_client() << test::wakeup(120'000, &timeout, "the response timeout")
                      << frames(kClientConn, "SETTINGS+ACK") >>
      server_open() << frames(open_.conn, "PREFACE") << frames(open_.conn, "SETTINGS")
                    << frames(open_.conn, "WINDOW_UPDATE")
                    << frames(open_.conn, "HEADERS[1]+ES+EH") >>
      answer({{":status", "200"}, {"content-type", "text/plain"}}, "hello")
          << frames(kClientConn, "HEADERS[1]+EH") << frames(kClientConn, "DATA[1]+ES")
          << frames(open_.conn, "SETTINGS+ACK") << test::cancel(&timeout, "the response timeout");
  EXPECT_TRUE(pb.check());
  EXPECT_EQ(value_of(origin_.messages[1].headers, ":path"), "/plain");
  EXPECT_EQ(client_.messages[id].body, "hello");
  ASSERT_EQ(finished(pb).size(), 1u);
  EXPECT_EQ(finished(pb)[0]->response->status, 200);
}

TEST_F(Http2Playbook, AHeldRequestGoesOnWithItsEdits) {
  // A POST held at the request hook: a header added and the body changed by the hook are what
  // the server gets, with content-length recomputed; nothing goes before the HookResumed.
  start(true, false);
  Headers post = get("/up");
  post[0].value = "POST";
  post.push_back({"content-length", "3"});
  const int32_t id = client_.request(post, std::string("abc"));
  Hook held;
  CommandId timeout = 0;
  test::Playbook pb = playbook();
  pb >> server_open() << frames(open_.conn, "PREFACE") << frames(open_.conn, "SETTINGS")
                      << frames(open_.conn, "WINDOW_UPDATE") >>
      from_client() << frames(kClientConn, "SETTINGS+ACK")
                    << hook(&held, HookPoint::kRequest, "/up") >>
      resume(&held,
             [](HeldFlow& f) {
               f.flow.request->headers.push_back({"x-edited", "yes"});
               f.body = "abcdefgh";
             })
          << test::wakeup(120'000, &timeout, "the response timeout")
          << frames(open_.conn, "HEADERS[1]+EH") << frames(open_.conn, "DATA[1]+ES") >>
      answer({{":status", "201"}}, "made")
          << frames(kClientConn, "HEADERS[1]+EH") << frames(kClientConn, "DATA[1]+ES")
          << frames(open_.conn, "SETTINGS+ACK") << test::cancel(&timeout, "the response timeout");
  EXPECT_TRUE(pb.check());
  const test::H2Message& got = origin_.messages[1];
  EXPECT_EQ(value_of(got.headers, ":method"), "POST");
  EXPECT_EQ(value_of(got.headers, "x-edited"), "yes");
  EXPECT_EQ(value_of(got.headers, "content-length"), "8");
  EXPECT_EQ(got.body, "abcdefgh");
  EXPECT_EQ(value_of(client_.messages[id].headers, ":status"), "201");
  EXPECT_EQ(client_.messages[id].body, "made");
  ASSERT_EQ(finished(pb).size(), 1u);
  EXPECT_EQ(finished(pb)[0]->request->body.contiguous(), "abcdefgh");
}

TEST_F(Http2Playbook, AHeldResponseGoesOnWithItsEdits) {
  // The response stops at its hook: the client sees nothing until the HookResumed, then the
  // edited status and body, with content-length recomputed and the other headers kept.
  start(false, true);
  const int32_t id = client_.request(get("/r"));
  Hook held;
  CommandId timeout = 0;
  test::Playbook pb = playbook();
  pb >> server_open() << frames(open_.conn, "PREFACE") << frames(open_.conn, "SETTINGS")
                      << frames(open_.conn, "WINDOW_UPDATE") >>
      from_client() << test::wakeup(120'000, &timeout, "the response timeout")
                    << frames(kClientConn, "SETTINGS+ACK")
                    << frames(open_.conn, "HEADERS[1]+ES+EH") >>
      answer({{":status", "200"}, {"x-s", "1"}}, "original")
          << frames(open_.conn, "SETTINGS+ACK") << hook(&held, HookPoint::kResponse, "/r") >>
      resume(&held,
             [](HeldFlow& f) {
               f.flow.response->status = 203;
               f.body = "changed!!";
             })
          << frames(kClientConn, "HEADERS[1]+EH") << frames(kClientConn, "DATA[1]+ES")
          << test::cancel(&timeout, "the response timeout");
  EXPECT_TRUE(pb.check());
  const test::H2Message& got = client_.messages[id];
  EXPECT_EQ(value_of(got.headers, ":status"), "203");
  EXPECT_EQ(value_of(got.headers, "x-s"), "1");
  EXPECT_EQ(value_of(got.headers, "content-length"), "9");
  EXPECT_EQ(got.body, "changed!!");
}

TEST_F(Http2Playbook, AHeldStreamDoesNotHoldBackItsSibling) {
  // Two streams held at once; the second is resumed and sent while the first still waits (only
  // its HEADERS reach the server), then the first is killed (RST_STREAM CANCEL to the client,
  // no server ever saw it), and the answer to the second is relayed.
  start(true, false);
  client_.request(get("/first"));
  const int32_t second_id = client_.request(get("/second"));
  Hook first, second;
  CommandId timeout = 0;
  test::Playbook pb = playbook();
  pb >> from_client() << frames(kClientConn, "SETTINGS+ACK")
                      << hook(&first, HookPoint::kRequest, "/first")
                      << hook(&second, HookPoint::kRequest, "/second") >>
      resume(&second) << test::wakeup(120'000, &timeout, "the response timeout") >>
      server_open() << frames(open_.conn, "PREFACE") << frames(open_.conn, "SETTINGS")
                    << frames(open_.conn, "WINDOW_UPDATE")
                    << frames(open_.conn, "HEADERS[1]+ES+EH") >>
      resume(&first, [](HeldFlow& f) { f.kill = true; })
          << frames(kClientConn, "RST_STREAM[1](8)") >>
      answer({{":status", "200"}}, "second")
          << frames(kClientConn, "HEADERS[3]+EH") << frames(kClientConn, "DATA[3]+ES")
          << frames(open_.conn, "SETTINGS+ACK") << test::cancel(&timeout, "the response timeout");
  EXPECT_TRUE(pb.check());
  ASSERT_EQ(origin_.messages.size(), 1u);
  EXPECT_EQ(value_of(origin_.messages.begin()->second.headers, ":path"), "/second");
  EXPECT_EQ(client_.messages[second_id].body, "second");
  EXPECT_EQ(client_.messages[1].reset_code, NGHTTP2_CANCEL);  // The killed first stream.
}

}  // namespace
}  // namespace sightglass::core
