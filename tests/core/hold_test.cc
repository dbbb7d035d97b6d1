// The hold points of HttpLayer, without sockets: a request or response stops at a Hook command,
// and what the HookResumed's flow says is what goes on the wire.
#include <gtest/gtest.h>

#include "core/layers/http1.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::closes;
using test::flows;
using test::Playbook;
using test::sent_to;
using test::SessionPlaybook;
using test::single_open;

using HoldAll = test::HoldAt;

ProxyConfig holding(FlowHooks* hooks, uint64_t hold_limit = 1 << 20) {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kRegular;
  config.body_limit = 1024;
  config.hooks = hooks;
  config.hold_body_limit = hold_limit;
  return config;
}

// single_hook returns the one Hook among |commands| (a test failure otherwise).
Hook single_hook(const Commands& commands, const std::string& log) {
  const auto hooks = all_of<Hook>(commands);
  EXPECT_EQ(hooks.size(), 1u) << log;
  return hooks.empty() ? Hook{} : hooks.front();
}

const std::string kPost =
    "POST http://example.test/p HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\nabc";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(Hold, RequestWaitsForTheHookAndGoesOnWithItsEdits) {
  HoldAll hooks(true, false);
  SessionPlaybook session(holding(&hooks));
  Hook hook;
  OpenConnection open;
  Playbook pb(session.handler());
  pb.ignore<PublishFlow>();  // Live snapshots; the finished flow is checked below.
  pb >> DataReceived{kClientConn, kPost}
            // Nothing goes to a server before the hook: only the Hook comes out.
            << test::expect<Hook>(
                   [&](const Hook& h) {
                     hook = h;
                     return h.held->point == HookPoint::kRequest && h.held->body == "abc" &&
                            h.held->body_complete && h.held->flow.request->method == "POST";
                   },
                   "Hook(request POST http://example.test/p, body 3)")
      // The hook edits the method, adds a header and changes the body.
      >>
      [&] {
        auto edited = std::make_shared<HeldFlow>(*hook.held);
        edited->flow.request->method = "PUT";
        edited->flow.request->headers.push_back({"X-Edit", "1"});
        edited->body = "abcdef";
        edited->note = "edited by a test";
        return Event(HookResumed{hook.id, edited});
      } << test::open_to(1, "example.test", 80, false, &open)
        << RequestWakeup{0, 120'000}  // The response timeout starts now, not at the hold.
      >>
      [&] {
        OpenCompleted done;
        done.id = open.id;
        done.conn = open.conn;
        done.peer_address = "192.0.2.1:80";
        return Event(done);
      }
          // What the flow says goes on the wire, framed for the new body.
          << SendData{1,
                      "PUT /p HTTP/1.1\r\nHost: example.test\r\nX-Edit: 1\r\nContent-Length: "
                      "6\r\n\r\n"
                      "abcdef"} >>
      DataReceived{1, kOk} << SendData{kClientConn, kOk}
                           << CancelWakeup{0}
                           // The idle limits of the server connection and of the client's.
                           << RequestWakeup{0, 60'000} << RequestWakeup{0, 60'000};
  ASSERT_TRUE(pb.check());
  const auto done = flows(pb.commands());
  ASSERT_EQ(done.size(), 1u) << pb.transcript();
  EXPECT_EQ(done[0]->request->method, "PUT");
  EXPECT_EQ(done[0]->request->body.contiguous(), "abcdef");
  EXPECT_EQ(done[0]->modified, "edited by a test");
  EXPECT_TRUE(done[0]->original_url.empty());
  EXPECT_TRUE(done[0]->error.empty()) << done[0]->error;
}

TEST(Hold, APlaybookFailsOnAMissingOrDifferentCommand) {
  // The Playbook itself: what it reports when the layer does not do what the test says.
  HoldAll hooks(true, false);
  SessionPlaybook session(holding(&hooks));
  Playbook missing(session.handler());
  missing.ignore<PublishFlow>();
  missing >> DataReceived{kClientConn, kPost} << test::expect<Hook>() << OpenConnection{};
  const ::testing::AssertionResult result = missing.check();
  ASSERT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("missing command: OpenConnection"),
            std::string::npos)
      << result.message();
  EXPECT_NE(std::string(result.message()).find(">> DataReceived(0, \"POST"), std::string::npos)
      << result.message();

  SessionPlaybook other(holding(&hooks));
  Playbook different(other.handler());
  different >> DataReceived{kClientConn, kPost} << SendData{kClientConn, "no"};
  const ::testing::AssertionResult wrong = different.check();
  ASSERT_FALSE(wrong);
  EXPECT_NE(std::string(wrong.message()).find("expected SendData(0, \"no\")\n     got Hook("),
            std::string::npos)
      << wrong.message();
}

TEST(Hold, UnchangedChunkedBodyKeepsItsFramingAndTrailers) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Commands c1 = pb.client(
      "POST http://example.test/p HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n");
  const Hook hook = single_hook(c1, pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_EQ(hook.held->body, "abcde");
  const OpenConnection open = single_open(pb.feed(HookResumed{hook.id, hook.held}));
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "POST /p HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nabcde\r\n0\r\nX-T: 1\r\n\r\n")
      << pb.log();
}

TEST(Hold, KillClosesTheClientWithoutAskingTheServer) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Hook hook = single_hook(pb.client(kPost), pb.log());
  ASSERT_NE(hook.held, nullptr);
  hook.held->kill = true;
  const Commands c = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_TRUE(all_of<OpenConnection>(c).empty()) << pb.log();
  EXPECT_EQ(sent_to(c, kClientConn), "");
  EXPECT_TRUE(closes(c, kClientConn)) << pb.log();
  const auto done = flows(c);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->error, "killed at the request hold point");
}

TEST(Hold, AnswerFromTheHookAndTheConnectionServesTheNextRequest) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Hook hook = single_hook(pb.client(kPost), pb.log());
  ASSERT_NE(hook.held, nullptr);
  HttpResponseData& answer = hook.held->answer.emplace();
  answer.status = 403;
  answer.reason = "Forbidden";
  const Commands c = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_TRUE(all_of<OpenConnection>(c).empty()) << pb.log();
  EXPECT_EQ(sent_to(c, kClientConn), "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(closes(c, kClientConn)) << pb.log();
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_EQ(flows(c)[0]->response->status, 403);
  EXPECT_EQ(flows(c)[0]->server_address, "");
  // The same connection: the next request stops at the hold point too.
  const Commands next = pb.client(kPost);
  EXPECT_EQ(all_of<Hook>(next).size(), 1u) << pb.log();
}

TEST(Hold, ANewUrlGoesToTheNewServerAndTheFlowKeepsBoth) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Hook hook = single_hook(pb.client(kPost), pb.log());
  ASSERT_NE(hook.held, nullptr);
  hook.held->flow.request->host = "other.test";
  hook.held->flow.request->port = 8080;
  hook.held->flow.request->target = "/q";
  const OpenConnection open = single_open(pb.feed(HookResumed{hook.id, hook.held}));
  EXPECT_EQ(open.host, "other.test");
  EXPECT_EQ(open.port, 8080);
  EXPECT_FALSE(open.tls);
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "POST /q HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\nabc");
  const auto done = flows(pb.server(open.conn, kOk));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->original_url, "http://example.test/p");
  EXPECT_EQ(done[0]->request->url(), "http://other.test:8080/q");
}

TEST(Hold, ABodyPastTheHoldLimitPausesTheClientThenStreams) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks, 4));
  const Commands c1 = pb.client(
      "POST http://example.test/p HTTP/1.1\r\nHost: example.test\r\nContent-Length: "
      "10\r\n\r\n012345");
  const Hook hook = single_hook(c1, pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_FALSE(hook.held->body_complete);
  EXPECT_EQ(hook.held->body, "012345");
  bool paused = false;
  for (const PauseReading& p : all_of<PauseReading>(c1)) {
    paused = p.conn == kClientConn && p.paused;
  }
  EXPECT_TRUE(paused) << pb.log();
  // The rest arrives (what was in flight); the whole body is here, so reading goes on.
  const Commands rest = pb.client("6789");
  bool resumed = false;
  for (const PauseReading& p : all_of<PauseReading>(rest)) {
    resumed = p.conn == kClientConn && !p.paused;
  }
  EXPECT_TRUE(resumed) << pb.log();
  hook.held->body = "ignored: the body is not complete";
  const Commands c2 = pb.feed(HookResumed{hook.id, hook.held});
  const OpenConnection open = single_open(c2);
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "POST /p HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\n0123456789");
}

TEST(Hold, ResponseWaitsForTheHookAndAChangedBodyIsFramedAgain) {
  HoldAll hooks(false, true);
  SessionPlaybook pb(holding(&hooks));
  const OpenConnection open = single_open(pb.client(kPost));
  pb.open_ok(open);
  const Commands c1 = pb.server(open.conn,
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-S: 1\r\n\r\n"
                                "5\r\nhello\r\n");
  EXPECT_EQ(sent_to(c1, kClientConn), "") << "the head went on before the hook\n" << pb.log();
  EXPECT_TRUE(all_of<Hook>(c1).empty()) << "hooked before the body was complete";
  const Commands c2 = pb.server(open.conn, "5\r\nworld\r\n0\r\n\r\n");
  const Hook hook = single_hook(c2, pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_EQ(hook.held->point, HookPoint::kResponse);
  EXPECT_EQ(hook.held->body, "helloworld");
  hook.held->flow.response->status = 201;
  hook.held->flow.response->reason = "Created";
  hook.held->body = "changed";
  const Commands c3 = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_EQ(sent_to(c3, kClientConn),
            "HTTP/1.1 201 Created\r\nX-S: 1\r\nContent-Length: 7\r\n\r\nchanged")
      << pb.log();
  const auto done = flows(c3);
  ASSERT_EQ(done.size(), 1u) << pb.log();
  EXPECT_EQ(done[0]->response->status, 201);
  EXPECT_EQ(done[0]->response->body.contiguous(), "changed");
  EXPECT_FALSE(closes(c3, kClientConn));
}

TEST(Hold, UnchangedResponseGoesOnAsItCame) {
  HoldAll hooks(false, true);
  SessionPlaybook pb(holding(&hooks));
  const OpenConnection open = single_open(pb.client(kPost));
  pb.open_ok(open);
  const Hook hook = single_hook(
      pb.server(open.conn,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
      pb.log());
  ASSERT_NE(hook.held, nullptr);
  const Commands c = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_EQ(sent_to(c, kClientConn),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
      << pb.log();
  EXPECT_EQ(flows(c).size(), 1u);
}

TEST(Hold, KillAtTheResponseClosesTheClient) {
  HoldAll hooks(false, true);
  SessionPlaybook pb(holding(&hooks));
  const OpenConnection open = single_open(pb.client(kPost));
  pb.open_ok(open);
  const Hook hook = single_hook(pb.server(open.conn, kOk), pb.log());
  ASSERT_NE(hook.held, nullptr);
  hook.held->kill = true;
  const Commands c = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_EQ(sent_to(c, kClientConn), "");
  EXPECT_TRUE(closes(c, kClientConn));
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_EQ(flows(c)[0]->error, "killed at the response hold point");
}

TEST(Hold, AResumeForAnExchangeThatEndedIsIgnored) {
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Hook hook = single_hook(pb.client(kPost), pb.log());
  const Commands gone = pb.feed(ConnectionClosed{kClientConn, ""});
  ASSERT_EQ(flows(gone).size(), 1u) << pb.log();
  const Commands late = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_TRUE(late.empty()) << pb.log();
}

TEST(Hold, AClientExpecting100ContinueGetsItFromTheProxy) {
  // The client sends its body only after a 100; the hook waits for the body: the proxy answers
  // the expectation itself, and the server never sees it.
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const Commands head = pb.client(
      "POST http://example.test/p HTTP/1.1\r\nHost: example.test\r\nExpect: "
      "100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(sent_to(head, kClientConn), "HTTP/1.1 100 Continue\r\n\r\n") << pb.log();
  EXPECT_TRUE(all_of<Hook>(head).empty());
  const Hook hook = single_hook(pb.client("abc"), pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_EQ(core::find_header(hook.held->flow.request->headers, "Expect"), nullptr);
  const OpenConnection open = single_open(pb.feed(HookResumed{hook.id, hook.held}));
  EXPECT_EQ(sent_to(pb.open_ok(open), open.conn),
            "POST /p HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(Hold, AnEventStreamGoesOnAfterItsHeadIsHooked) {
  // Server-Sent Events never end while the client listens: the hook sees the head, and the
  // events stream on as they come.
  HoldAll hooks(false, true);
  SessionPlaybook pb(holding(&hooks));
  const OpenConnection open = single_open(pb.client(kPost));
  pb.open_ok(open);
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  const Commands c1 = pb.server(open.conn, head + "7\r\ndata: 1\r\n");
  const Hook hook = single_hook(c1, pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_FALSE(hook.held->body_complete);
  hook.held->flow.response->headers.push_back({"X-Seen", "1"});
  const Commands c2 = pb.feed(HookResumed{hook.id, hook.held});
  EXPECT_EQ(sent_to(c2, kClientConn),
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            "Transfer-Encoding: chunked\r\nX-Seen: 1\r\n\r\n7\r\ndata: 1\r\n")
      << pb.log();
  // The next event goes straight through.
  EXPECT_EQ(sent_to(pb.server(open.conn, "7\r\ndata: 2\r\n"), kClientConn), "7\r\ndata: 2\r\n");
}

TEST(Hold, AWebSocketUpgradeIsHeldEditedAndThenSwitches) {
  // The handshake request stops like any other; the frames the client sends before the answer
  // wait with it, and reach the server only after the 101.
  HoldAll hooks(true, false);
  SessionPlaybook pb(holding(&hooks));
  const std::string upgrade =
      "GET http://example.test/chat HTTP/1.1\r\nHost: example.test\r\nConnection: "
      "Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
      "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  const std::string frame("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);  // "Hello"
  const Commands c1 = pb.client(upgrade + frame);
  const Hook hook = single_hook(c1, pb.log());
  ASSERT_NE(hook.held, nullptr);
  EXPECT_TRUE(all_of<OpenConnection>(c1).empty()) << pb.log();
  EXPECT_EQ(hook.held->flow.request->target, "/chat");
  hook.held->flow.request->headers.push_back({"Authorization", "Bearer edited"});
  const OpenConnection open = single_open(pb.feed(HookResumed{hook.id, hook.held}));
  const Commands c2 = pb.open_ok(open);
  EXPECT_EQ(sent_to(c2, open.conn),
            "GET /chat HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: "
            "websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
            "dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer edited\r\n\r\n")
      << pb.log();
  const std::string k101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const Commands c3 = pb.server(open.conn, k101);
  EXPECT_EQ(sent_to(c3, kClientConn), k101) << pb.log();
  EXPECT_EQ(sent_to(c3, open.conn), frame) << pb.log();  // The early frame, after the 101.
  const auto live = all_of<PublishFlow>(c3);
  ASSERT_FALSE(live.empty());
  EXPECT_EQ(live.back().flow->response->status, 101);
  EXPECT_EQ(core::find_header(live.back().flow->request->headers, "Authorization") != nullptr,
            true);
}

}  // namespace
}  // namespace sightglass::core
