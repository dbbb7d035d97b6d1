// WebSocketCapture (core/layers/websocket_capture.h): bytes of both directions in, the flow's
// WebSocket messages and errors out.
#include "core/layers/websocket_capture.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/ws_frames.h"

namespace sightglass::core {
namespace {

using test::Deflater;
using test::kFin;
using test::kRsv1;
using test::ws_close_payload;
using test::ws_frame;

constexpr int64_t kT0 = 1'700'000'000'000'000;

TEST(WebSocketCapture, RecordsBothDirectionsWithTimeAndOpcode) {
  WebSocketCapture capture({}, 1 << 20);
  FlowSnapshot flow;
  auto read = capture.read(true, ws_frame(kFin | 1, "hello", true), kT0, flow);
  EXPECT_TRUE(read.progress);
  EXPECT_EQ(read.error, "");
  read = capture.read(false, ws_frame(kFin | 2, std::string("\x00\x01", 2)), kT0 + 5, flow);
  EXPECT_TRUE(read.progress);
  read = capture.read(true, ws_frame(kFin | 9, "p", true), kT0 + 7, flow);
  ASSERT_EQ(flow.websocket_messages.size(), 3u);
  EXPECT_TRUE(flow.websocket_messages[0].from_client);
  EXPECT_EQ(flow.websocket_messages[0].time_us, kT0);
  EXPECT_EQ(flow.websocket_messages[0].opcode, 1);
  EXPECT_EQ(flow.websocket_messages[0].data, "hello");
  EXPECT_FALSE(flow.websocket_messages[0].truncated);
  EXPECT_FALSE(flow.websocket_messages[1].from_client);
  EXPECT_EQ(flow.websocket_messages[1].time_us, kT0 + 5);
  EXPECT_EQ(flow.websocket_messages[1].opcode, 2);
  EXPECT_EQ(flow.websocket_messages[1].data, std::string("\x00\x01", 2));
  EXPECT_EQ(flow.websocket_messages[2].opcode, 9);
  EXPECT_EQ(flow.websocket_messages[2].time_us, kT0 + 7);
  EXPECT_EQ(flow.error, "");
}

TEST(WebSocketCapture, PartialBytesMakeNoProgressUntilTheMessageCompletes) {
  WebSocketCapture capture({}, 1 << 20);
  FlowSnapshot flow;
  const std::string frame = ws_frame(kFin | 1, "split", false);
  EXPECT_FALSE(capture.read(false, frame.substr(0, 3), kT0, flow).progress);
  EXPECT_FALSE(capture.read(false, "", kT0, flow).progress);
  EXPECT_TRUE(flow.websocket_messages.empty());
  EXPECT_TRUE(capture.read(false, frame.substr(3), kT0 + 1, flow).progress);
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "split");
  EXPECT_EQ(flow.websocket_messages[0].time_us, kT0 + 1);
}

TEST(WebSocketCapture, ReassemblesFragmentsWithControlFramesBetween) {
  WebSocketCapture capture({}, 1 << 20);
  FlowSnapshot flow;
  const std::string bytes = ws_frame(1, "frag", true) + ws_frame(kFin | 9, "ping", true) +
                            ws_frame(0, "men", true) + ws_frame(kFin | 0, "ted", true);
  EXPECT_TRUE(capture.read(true, bytes, kT0, flow).progress);
  ASSERT_EQ(flow.websocket_messages.size(), 2u);
  EXPECT_EQ(flow.websocket_messages[0].opcode, 9);
  EXPECT_EQ(flow.websocket_messages[0].data, "ping");
  EXPECT_EQ(flow.websocket_messages[1].opcode, 1);
  EXPECT_EQ(flow.websocket_messages[1].data, "fragmented");
  EXPECT_TRUE(flow.websocket_messages[1].from_client);
}

TEST(WebSocketCapture, InflatesPermessageDeflate) {
  WebSocketExtensions extensions;
  extensions.permessage_deflate = true;
  WebSocketCapture capture(extensions, 1 << 20);
  FlowSnapshot flow;
  Deflater client;
  Deflater server;
  capture.read(true, ws_frame(kFin | kRsv1 | 1, client.compress("compressed hello"), true), kT0,
               flow);
  capture.read(false, ws_frame(kFin | kRsv1 | 1, server.compress("compressed reply")), kT0, flow);
  // Context takeover: the second message depends on the first.
  capture.read(false, ws_frame(kFin | kRsv1 | 1, server.compress("compressed reply")), kT0, flow);
  ASSERT_EQ(flow.websocket_messages.size(), 3u);
  EXPECT_EQ(flow.websocket_messages[0].data, "compressed hello");
  EXPECT_EQ(flow.websocket_messages[1].data, "compressed reply");
  EXPECT_EQ(flow.websocket_messages[2].data, "compressed reply");
  EXPECT_FALSE(flow.websocket_messages[2].from_client);
}

TEST(WebSocketCapture, TruncatesAtTheLimit) {
  WebSocketCapture capture({}, 4);
  FlowSnapshot flow;
  capture.read(false, ws_frame(kFin | 1, "0123456789") + ws_frame(kFin | 1, "abcd"), kT0, flow);
  ASSERT_EQ(flow.websocket_messages.size(), 2u);
  EXPECT_EQ(flow.websocket_messages[0].data, "0123");
  EXPECT_TRUE(flow.websocket_messages[0].truncated);
  EXPECT_EQ(flow.websocket_messages[1].data, "abcd");
  EXPECT_FALSE(flow.websocket_messages[1].truncated);
}

TEST(WebSocketCapture, CloseFramesBothWaysEndIt) {
  WebSocketCapture capture({}, 1 << 20);
  FlowSnapshot flow;
  capture.read(true, ws_frame(kFin | 8, ws_close_payload(1000, "bye"), true), kT0, flow);
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].opcode, 8);
  EXPECT_EQ(flow.websocket_messages[0].data, ws_close_payload(1000, "bye"));
  // One close frame is not the end yet, not even with that side's connection closed.
  EXPECT_FALSE(capture.on_closed(true, "", flow));
  capture.read(false, ws_frame(kFin | 8, ws_close_payload(1000, "")), kT0, flow);
  EXPECT_EQ(flow.websocket_messages.size(), 2u);
  EXPECT_TRUE(capture.on_closed(false, "", flow));
  EXPECT_EQ(flow.error, "");
}

TEST(WebSocketCapture, EndsWhenBothSidesCloseOrOneFails) {
  {
    WebSocketCapture capture({}, 1 << 20);
    FlowSnapshot flow;
    EXPECT_FALSE(capture.on_closed(false, "", flow));
    EXPECT_TRUE(capture.on_closed(true, "", flow));
    EXPECT_EQ(flow.error, "");
  }
  {
    WebSocketCapture capture({}, 1 << 20);
    FlowSnapshot flow;
    EXPECT_TRUE(capture.on_closed(false, "connection reset", flow));
    EXPECT_EQ(flow.error, "upstream connection failed: connection reset");
  }
  {
    WebSocketCapture capture({}, 1 << 20);
    FlowSnapshot flow;
    EXPECT_TRUE(capture.on_closed(true, "timed out", flow));
    EXPECT_EQ(flow.error, "client connection failed: timed out");
  }
}

TEST(WebSocketCapture, AProtocolErrorStopsThatDirectionOnly) {
  WebSocketCapture capture({}, 1 << 20);
  FlowSnapshot flow;
  auto read = capture.read(true, ws_frame(kFin | 0, "continues nothing", true), kT0, flow);
  EXPECT_TRUE(read.progress);
  EXPECT_TRUE(read.error.starts_with("WebSocket protocol error from the client: ")) << read.error;
  EXPECT_EQ(flow.error, read.error);
  EXPECT_FALSE(capture.read(true, ws_frame(kFin | 1, "x", true), kT0, flow).progress);
  EXPECT_TRUE(capture.read(false, ws_frame(kFin | 1, "fine"), kT0, flow).progress);
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "fine");
}

}  // namespace
}  // namespace sightglass::core
