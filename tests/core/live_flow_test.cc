// Live flows: every flow is published at its milestones and as it progresses (throttled), each
// publish with the flow's id and a higher revision; WebSocket messages are shared between
// snapshots instead of copied.
#include "core/layers/live_flow.h"

#include <gtest/gtest.h>

#include <atomic>
#include <iterator>
#include <string>
#include <vector>

#include "core/layers/tcp_relay.h"
#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::flows;
using test::SessionPlaybook;
using test::single_open;

ProxyConfig reverse_http() {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kReverse;
  config.reverse_scheme = "http";
  config.reverse_host = "origin.test";
  config.reverse_port = 8000;
  config.body_limit = 1 << 20;
  return config;
}

std::vector<FlowSnapshotConstSharedPtr> live_of(const Commands& commands) {
  std::vector<FlowSnapshotConstSharedPtr> out;
  for (const auto& p : all_of<PublishFlow>(commands)) {
    if (p.flow->state == FlowState::kLive) {
      out.push_back(p.flow);
    }
  }
  return out;
}

std::vector<FlowSnapshotConstSharedPtr> published(const Commands& commands) {
  std::vector<FlowSnapshotConstSharedPtr> out;
  for (const auto& p : all_of<PublishFlow>(commands)) {
    out.push_back(p.flow);
  }
  return out;
}

// expect_one_flow_in_order checks that |snapshots| are one flow's, revisions 1, 2, 3, ..., and
// that only the last is finished.
void expect_one_flow_in_order(const std::vector<FlowSnapshotConstSharedPtr>& snapshots) {
  ASSERT_FALSE(snapshots.empty());
  for (size_t i = 0; i < snapshots.size(); ++i) {
    EXPECT_EQ(snapshots[i]->id, snapshots[0]->id) << i;
    EXPECT_EQ(snapshots[i]->revision, i + 1) << i;
    EXPECT_EQ(snapshots[i]->state,
              i + 1 == snapshots.size() ? FlowState::kFinished : FlowState::kLive)
        << i;
  }
}

TEST(LiveFlow, Http1ExchangeIsPublishedAtRequestAndResponseHead) {
  SessionPlaybook pb(reverse_http());
  // Head and end of a GET in one read: one live snapshot for both milestones.
  const Commands c1 = pb.client("GET /a HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  const auto request = live_of(c1);
  ASSERT_EQ(request.size(), 1u) << pb.log();
  EXPECT_EQ(request[0]->revision, 1u);
  ASSERT_TRUE(request[0]->request.has_value());
  EXPECT_EQ(request[0]->request->target, "/a");
  EXPECT_FALSE(request[0]->response.has_value());
  const OpenConnection open = single_open(c1);
  // Connecting is no milestone.
  EXPECT_TRUE(all_of<PublishFlow>(pb.open_ok(open)).empty());
  const Commands c2 = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  const auto head = live_of(c2);
  ASSERT_EQ(head.size(), 1u) << pb.log();
  EXPECT_EQ(head[0]->revision, 2u);
  ASSERT_TRUE(head[0]->response.has_value());
  EXPECT_EQ(head[0]->response->status, 200);
  EXPECT_EQ(head[0]->response->body.size, 0u);
  EXPECT_EQ(head[0]->server_address, "192.0.2.1:8000");
  const Commands c3 = pb.server(open.conn, "0123456789");
  EXPECT_TRUE(live_of(c3).empty()) << "the final snapshot supersedes the progress";
  const auto done = flows(c3);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->response->body.size, 10u);
  expect_one_flow_in_order(published(pb.all()));
}

TEST(LiveFlow, RequestHeadAndRequestCompleteInTwoReadsAreTwoMilestones) {
  SessionPlaybook pb(reverse_http());
  const Commands c1 =
      pb.client("POST /up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(live_of(c1).size(), 1u);
  EXPECT_EQ(live_of(c1)[0]->request->body.size, 0u);
  // At the same instant: a milestone is not throttled.
  const Commands c2 = pb.client("hello");
  const auto complete = live_of(c2);
  ASSERT_EQ(complete.size(), 1u) << pb.log();
  EXPECT_EQ(complete[0]->revision, 2u);
  EXPECT_EQ(complete[0]->request->body.contiguous(), "hello");
}

TEST(LiveFlow, BodyProgressIsThrottledAndTheWakeupPublishesTheLatest) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = single_open(pb.client("GET /big HTTP/1.1\r\nHost: o\r\n\r\n"));
  pb.open_ok(open);
  ASSERT_EQ(
      live_of(pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n")).size(), 1u);
  pb.clock().now_us += 1'000'000;
  // Ten chunks in the same instant: the first is published, the rest wait for one wakeup.
  Commands burst;
  for (int i = 0; i < 10; ++i) {
    const Commands c = pb.server(open.conn, std::string(1000, 'x'));
    burst.insert(burst.end(), c.begin(), c.end());
  }
  const auto progress = live_of(burst);
  ASSERT_EQ(progress.size(), 1u) << pb.log();
  EXPECT_EQ(progress[0]->response->body.size, 1000u);
  EXPECT_EQ(progress[0]->revision, 3u);
  const auto wakeups = all_of<RequestWakeup>(burst);
  ASSERT_EQ(wakeups.size(), 1u);
  EXPECT_GE(wakeups[0].delay_ms, 250);
  EXPECT_LE(wakeups[0].delay_ms, 251);
  // When the interval is up the wakeup publishes the latest state, and asks for no other.
  pb.clock().now_us += wakeups[0].delay_ms * 1000;
  const Commands woken = pb.feed(Wakeup{wakeups[0].id});
  const auto latest = live_of(woken);
  ASSERT_EQ(latest.size(), 1u) << pb.log();
  EXPECT_EQ(latest[0]->response->body.size, 10'000u);
  EXPECT_EQ(latest[0]->revision, 4u);
  EXPECT_TRUE(all_of<RequestWakeup>(woken).empty());
  // Nothing changed since: nothing to publish, no wakeup.
  pb.clock().now_us += 1'000'000;
  EXPECT_TRUE(all_of<PublishFlow>(pb.feed(Wakeup{wakeups[0].id})).empty());
  // More progress right after a publish waits again; the end of the body cancels that wakeup
  // and publishes the final snapshot only.
  pb.clock().now_us += 1'000'000;
  EXPECT_EQ(live_of(pb.server(open.conn, std::string(1000, 'y'))).size(), 1u);
  const Commands more = pb.server(open.conn, std::string(1000, 'y'));
  EXPECT_TRUE(live_of(more).empty());
  const auto pending = all_of<RequestWakeup>(more);
  ASSERT_EQ(pending.size(), 1u);
  const Commands end = pb.server(open.conn, std::string(8000, 'z'));
  EXPECT_TRUE(live_of(end).empty());
  bool cancelled = false;
  for (const CancelWakeup& c : all_of<CancelWakeup>(end)) {
    cancelled |= c.id == pending[0].id;
  }
  EXPECT_TRUE(cancelled) << pb.log();
  ASSERT_EQ(flows(end).size(), 1u);
  EXPECT_EQ(flows(end)[0]->response->body.size, 20'000u);
  expect_one_flow_in_order(published(pb.all()));
}

TEST(LiveFlow, KeepAliveExchangesCostOneLiveSnapshotEach) {
  SessionPlaybook pb(reverse_http());
  const Commands c1 = pb.client("GET /1 HTTP/1.1\r\nHost: o\r\n\r\n");
  const OpenConnection open = single_open(c1);
  pb.open_ok(open);
  pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  pb.client("GET /2 HTTP/1.1\r\nHost: o\r\n\r\n");
  pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const auto all = published(pb.all());
  // Per exchange: the request (head and end in one read), then the final snapshot (the
  // response head came with the whole response).
  ASSERT_EQ(all.size(), 4u) << pb.log();
  EXPECT_EQ(all[0]->state, FlowState::kLive);
  EXPECT_EQ(all[1]->state, FlowState::kFinished);
  EXPECT_EQ(all[1]->id, all[0]->id);
  EXPECT_EQ(all[1]->revision, 2u);
  EXPECT_EQ(all[2]->state, FlowState::kLive);
  EXPECT_EQ(all[2]->revision, 1u);
  EXPECT_NE(all[2]->id, all[0]->id);
  EXPECT_EQ(all[3]->id, all[2]->id);
  EXPECT_EQ(all[3]->revision, 2u);
}

TEST(LiveFlow, NobodyWatchingMeansNoLiveCopiesAndTheSameFinalRevision) {
  // The CLI without the GUI: nobody takes live snapshots, so none is made; the finished flow
  // is the same (revision included) as when somebody watches. A watcher who arrives while a
  // flow is in progress sees its next milestone.
  std::atomic<bool> watching{false};
  ProxyConfig config = reverse_http();
  config.wants_live = [&watching] { return watching.load(); };
  SessionPlaybook pb(config);
  const Commands c1 = pb.client("POST /up HTTP/1.1\r\nHost: o\r\nContent-Length: 4\r\n\r\n");
  EXPECT_TRUE(all_of<PublishFlow>(c1).empty()) << pb.log();
  const OpenConnection open = single_open(c1);
  pb.open_ok(open);
  watching = true;
  const auto complete = live_of(pb.client("data"));
  ASSERT_EQ(complete.size(), 1u) << pb.log();
  EXPECT_EQ(complete[0]->revision, 2u) << "the unpublished head still counted";
  watching = false;
  const Commands c2 = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  EXPECT_TRUE(all_of<PublishFlow>(c2).empty()) << pb.log();
  const auto done = flows(pb.server(open.conn, "ok"));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->state, FlowState::kFinished);
  EXPECT_EQ(done[0]->revision, 4u);
  EXPECT_EQ(done[0]->response->body.size, 2u);
}

TEST(LiveFlow, OneShotFlowsHaveRevisionOne) {
  SessionPlaybook pb(reverse_http());
  // Refused before any server is asked: published once, finished.
  const auto all = published(pb.client("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  ASSERT_EQ(all.size(), 1u) << pb.log();
  EXPECT_EQ(all[0]->state, FlowState::kFinished);
  EXPECT_EQ(all[0]->revision, 1u);
}

// A TCP relay without a session around it.
class RelayHarness {
 public:
  RelayHarness() {
    config_.body_limit = 1024;
    ctx_.config = &config_;
    ctx_.clock = &clock;
    ctx_.flow_ids = &flow_ids_;
    ctx_.client_address = "127.0.0.1:50000";
  }
  Commands feed(Event event) {
    Commands out;
    relay->handle(event, out);
    all.insert(all.end(), out.begin(), out.end());
    return out;
  }
  Commands start() {
    relay = std::make_unique<TcpRelay>(&ctx_, "db.test", 5432, false, "hi");
    Commands out;
    relay->start(out);
    all.insert(all.end(), out.begin(), out.end());
    return out;
  }

  test::FakeClock clock;
  std::unique_ptr<TcpRelay> relay;
  Commands all;

 private:
  ProxyConfig config_;
  std::atomic<FlowId> flow_ids_{0};
  SessionContext ctx_;
};

TEST(LiveFlow, TcpRelayIsLiveFromItsStartWithThrottledByteCounts) {
  RelayHarness h;
  const Commands started = h.start();
  const auto first = live_of(started);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]->kind, FlowKind::kTcp);
  EXPECT_EQ(first[0]->tcp_host, "db.test");
  EXPECT_EQ(first[0]->bytes_from_client, 2u);
  const OpenConnection open = single_open(started);
  OpenCompleted done;
  done.id = open.id;
  done.conn = open.conn;
  done.peer_address = "192.0.2.9:5432";
  const auto connected = live_of(h.feed(done));
  ASSERT_EQ(connected.size(), 1u);
  EXPECT_EQ(connected[0]->server_address, "192.0.2.9:5432");
  // Bytes both ways in the same instant: one wakeup, which publishes both counts.
  Commands burst = h.feed(DataReceived{kClientConn, "12345"});
  const Commands more = h.feed(DataReceived{open.conn, "1234567"});
  burst.insert(burst.end(), more.begin(), more.end());
  EXPECT_TRUE(live_of(burst).empty());
  const auto wakeups = all_of<RequestWakeup>(burst);
  ASSERT_EQ(wakeups.size(), 1u);
  h.clock.now_us += wakeups[0].delay_ms * 1000;
  const auto counts = live_of(h.feed(Wakeup{wakeups[0].id}));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0]->bytes_from_client, 7u);
  EXPECT_EQ(counts[0]->bytes_from_server, 7u);
  // More bytes (a wakeup pending), then both sides close: the final snapshot withdraws it.
  const auto pending = all_of<RequestWakeup>(h.feed(DataReceived{open.conn, "x"}));
  ASSERT_EQ(pending.size(), 1u);
  h.feed(ConnectionClosed{kClientConn, ""});
  const Commands end = h.feed(ConnectionClosed{open.conn, ""});
  ASSERT_EQ(flows(end).size(), 1u);
  EXPECT_EQ(flows(end)[0]->bytes_from_server, 8u);
  bool cancelled = false;
  for (const auto& c : all_of<CancelWakeup>(h.all)) {
    cancelled |= c.id == pending[0].id;
  }
  EXPECT_TRUE(cancelled);
  expect_one_flow_in_order(published(h.all));
}

WebSocketMessage message(int i) {
  return WebSocketMessage{i % 2 == 0, i, 1, "m" + std::to_string(i), false};
}

TEST(WebSocketMessageLog, CopiesShareFullBlocksAndOwnTheTail) {
  WebSocketMessageLog log;
  EXPECT_TRUE(log.empty());
  const int n = static_cast<int>(2 * WebSocketMessageLog::kBlockSize + 5);
  for (int i = 0; i < n; ++i) {
    log.push_back(message(i));
  }
  ASSERT_EQ(log.size(), static_cast<size_t>(n));
  ASSERT_EQ(log.blocks().size(), 2u);
  int i = 0;
  for (const WebSocketMessage& m : log) {
    EXPECT_EQ(m.data, "m" + std::to_string(i));
    EXPECT_EQ(log[static_cast<size_t>(i)].time_us, i);
    ++i;
  }
  EXPECT_EQ(i, n);
  EXPECT_EQ(log.back().data, "m" + std::to_string(n - 1));

  FlowSnapshot flow;
  flow.websocket_messages = log;
  const FlowSnapshot copy = flow;  // What a live publish does.
  ASSERT_EQ(copy.websocket_messages.blocks().size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(copy.websocket_messages.blocks()[b].get(), log.blocks()[b].get()) << b;
    EXPECT_EQ(log.blocks()[b].use_count(), 3) << b;  // log, flow, copy.
  }
  // Appending to the flow after the copy leaves the copy alone, also when a block fills.
  for (int j = n; j < n + static_cast<int>(WebSocketMessageLog::kBlockSize); ++j) {
    flow.websocket_messages.push_back(message(j));
  }
  EXPECT_EQ(copy.websocket_messages.size(), static_cast<size_t>(n));
  EXPECT_EQ(copy.websocket_messages.back().data, "m" + std::to_string(n - 1));
  EXPECT_EQ(flow.websocket_messages.size(), static_cast<size_t>(n) + 64);
  EXPECT_EQ(flow.websocket_messages.blocks().size(), 3u);
  EXPECT_EQ(flow.websocket_messages.blocks()[1].get(), copy.websocket_messages.blocks()[1].get());
  EXPECT_EQ(flow.websocket_messages[static_cast<size_t>(n)].data, "m" + std::to_string(n));
  flow.websocket_messages.clear();
  EXPECT_TRUE(flow.websocket_messages.empty());
  EXPECT_EQ(copy.websocket_messages.size(), static_cast<size_t>(n));
}

TEST(WebSocketMessageLog, BuildsFromAListAndAVector) {
  const WebSocketMessageLog a = {message(0), message(1)};
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].data, "m1");
  std::vector<WebSocketMessage> v;
  for (int i = 0; i < 100; ++i) {
    v.push_back(message(i));
  }
  const WebSocketMessageLog b(std::move(v));
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(b.blocks().size(), 1u);
  EXPECT_EQ(b[99].data, "m99");
  EXPECT_EQ(std::ranges::distance(b), 100);
}

}  // namespace
}  // namespace sightglass::core
