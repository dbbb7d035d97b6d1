// WebSocket frames and permessage-deflate (core/layers/websocket.h), and WebSocket capture in
// a session (HttpLayer after a 101): bytes in, messages and commands out.
#include "core/layers/websocket.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "tests/support/playbook.h"
#include "tests/support/ws_frames.h"

namespace sightglass::core {
namespace {

using test::all_of;
using test::flows;
using test::sent_to;
using test::SessionPlaybook;
using Message = WebSocketReader::Message;

using test::Deflater;
using test::kFin;
using test::kRsv1;
using test::ws_close_payload;
using test::ws_frame;
constexpr std::array<uint8_t, 4> kKey = test::kMaskKey;

std::vector<Message> read_all(WebSocketReader& reader, std::string_view bytes) {
  std::vector<Message> out;
  EXPECT_TRUE(reader.feed(bytes, out)) << reader.error();
  return out;
}

std::vector<Message> read_once(bool from_client, std::string_view bytes, uint64_t limit = 1 << 20,
                               WebSocketExtensions extensions = {}) {
  WebSocketReader reader(from_client, extensions, limit);
  return read_all(reader, bytes);
}

TEST(WebSocketReader, UnmasksTheRfcExample) {
  // RFC 6455 5.7: a masked "Hello" from the client.
  const std::string bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  const auto messages = read_once(true, bytes);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].opcode, 1);
  EXPECT_EQ(messages[0].data, "Hello");
  EXPECT_FALSE(messages[0].truncated);
  // The same unmasked, from the server.
  const auto server = read_once(false, std::string("\x81\x05Hello", 7));
  ASSERT_EQ(server.size(), 1u);
  EXPECT_EQ(server[0].data, "Hello");
}

TEST(WebSocketReader, AllThreeLengthEncodings) {
  for (const size_t n : {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{65535},
                         size_t{65536}, size_t{200000}}) {
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) {
      payload[i] = static_cast<char>(i * 7 + 3);
    }
    for (const bool mask : {false, true}) {
      const auto messages = read_once(mask, ws_frame(kFin | 2, payload, mask));
      ASSERT_EQ(messages.size(), 1u) << n;
      EXPECT_EQ(messages[0].opcode, 2);
      EXPECT_EQ(messages[0].data, payload) << n;
    }
  }
  // A small payload in the 64-bit form is accepted too.
  const auto wide = read_once(true, ws_frame(kFin | 1, "wide", true, kKey, true));
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_EQ(wide[0].data, "wide");
}

TEST(WebSocketReader, FragmentsWithAnInterleavedPing) {
  const std::string bytes = ws_frame(1, "Hel", true) + ws_frame(kFin | 9, "are you there", true) +
                            ws_frame(0, "lo, ", true, {1, 2, 3, 4}) +
                            ws_frame(kFin | 0, "world", true, {9, 8, 7, 6}) +
                            ws_frame(kFin | 10, "pong", true);
  const auto messages = read_once(true, bytes);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].opcode, 9);
  EXPECT_EQ(messages[0].data, "are you there");
  EXPECT_EQ(messages[1].opcode, 1);
  EXPECT_EQ(messages[1].data, "Hello, world");
  EXPECT_EQ(messages[2].opcode, 10);
  EXPECT_EQ(messages[2].data, "pong");
}

TEST(WebSocketReader, CloseCodeAndReason) {
  const auto messages =
      read_once(false, ws_frame(kFin | 8, ws_close_payload(4001, "going away, bye")) +
                           ws_frame(kFin | 8, ""));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].opcode, 8);
  EXPECT_EQ(messages[0].close_code, 4001);
  EXPECT_EQ(messages[0].close_reason, "going away, bye");
  EXPECT_EQ(messages[0].data, ws_close_payload(4001, "going away, bye"));
  EXPECT_EQ(messages[1].close_code, 0);  // No status code.
  WebSocketReader reader(true, {}, 1024);
  std::vector<Message> out;
  reader.feed(ws_frame(kFin | 8, ws_close_payload(1000, "ok"), true), out);
  EXPECT_TRUE(reader.saw_close());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].close_code, 1000);
  EXPECT_EQ(out[0].close_reason, "ok");
}

TEST(WebSocketReader, ParsesTheNegotiatedExtensions) {
  const Headers headers = {
      {"Upgrade", "websocket"},
      {"sec-websocket-extensions", "x-custom; a=1"},
      {"Sec-WebSocket-Extensions",
       "permessage-deflate; client_max_window_bits=10;server_max_window_bits=\"12\" ; "
       "client_no_context_takeover, permessage-deflate; server_no_context_takeover"}};
  const WebSocketExtensions ext = parse_websocket_extensions(headers);
  EXPECT_TRUE(ext.permessage_deflate);
  EXPECT_TRUE(ext.client_no_context_takeover);
  EXPECT_FALSE(ext.server_no_context_takeover);  // Only the first offer counts.
  EXPECT_EQ(ext.client_max_window_bits, 10);
  EXPECT_EQ(ext.server_max_window_bits, 12);
  EXPECT_FALSE(parse_websocket_extensions({{"Upgrade", "websocket"}}).permessage_deflate);
  EXPECT_TRUE(is_websocket_upgrade(headers));
  EXPECT_TRUE(is_websocket_upgrade({{"upgrade", "foo, WebSocket"}}));
  EXPECT_FALSE(is_websocket_upgrade({{"Upgrade", "h2c"}}));
}

// A message compressed with a shared context refers back to the previous one.
TEST(WebSocketReader, PermessageDeflateWithContextTakeover) {
  WebSocketExtensions ext;
  ext.permessage_deflate = true;
  const std::string text =
      "The quick brown fox jumps over the lazy dog, and the lazy dog does not mind at all.";
  Deflater deflater;
  const std::string first = deflater.compress(text);
  const std::string second = deflater.compress(text);
  EXPECT_LT(second.size(), first.size() / 2) << "the second message should use the context";
  const std::string binary(3000, '\x5a');
  const std::string third = deflater.compress(binary);
  // The third message split in fragments: RSV1 on the first only.
  const std::string bytes =
      ws_frame(kFin | kRsv1 | 1, first, true) + ws_frame(kFin | kRsv1 | 1, second, true) +
      ws_frame(kFin | 9, "", true) + ws_frame(kRsv1 | 2, third.substr(0, 3), true) +
      ws_frame(0, third.substr(3, 2), true) + ws_frame(kFin | 0, third.substr(5), true) +
      ws_frame(kFin | 1, "plain", true);
  const auto messages = read_once(true, bytes, 1 << 20, ext);
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0].data, text);
  EXPECT_TRUE(messages[0].compressed);
  EXPECT_EQ(messages[1].data, text);
  EXPECT_EQ(messages[2].opcode, 9);
  EXPECT_EQ(messages[3].opcode, 2);
  EXPECT_EQ(messages[3].data, binary);
  EXPECT_EQ(messages[4].data, "plain");
  EXPECT_FALSE(messages[4].compressed);
}

TEST(WebSocketReader, PermessageDeflateWithoutContextTakeoverAndSmallWindows) {
  WebSocketExtensions ext = parse_websocket_extensions(
      {{"Sec-WebSocket-Extensions",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"}});
  ASSERT_TRUE(ext.server_no_context_takeover);
  ASSERT_EQ(ext.server_max_window_bits, 10);
  std::string bytes;
  std::vector<std::string> sent;
  for (int i = 0; i < 5; ++i) {
    std::string text = "message number " + std::to_string(i) + ": " +
                       std::string(2000, static_cast<char>('a' + i));
    Deflater fresh(10);  // A new compressor per message, as negotiated.
    bytes += ws_frame(kFin | kRsv1 | 1, fresh.compress(text));
    sent.push_back(std::move(text));
  }
  // The server side resets its window, so split feeding must give the same.
  WebSocketReader reader(false, ext, 1 << 20);
  std::vector<Message> messages;
  for (size_t at = 0; at < bytes.size(); at += 7) {
    ASSERT_TRUE(reader.feed(std::string_view(bytes).substr(at, 7), messages)) << reader.error();
  }
  ASSERT_EQ(messages.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(messages[i].data, sent[i]);
  }
}

TEST(WebSocketReader, EverySplitGivesTheSameMessages) {
  WebSocketExtensions ext;
  ext.permessage_deflate = true;
  Deflater deflater;
  const std::string compressed = deflater.compress("compressed, compressed, compressed");
  const std::string bytes = ws_frame(kFin | 1, "first", true) +
                            ws_frame(2, std::string(300, 'b'), true, {5, 6, 7, 8}) +
                            ws_frame(kFin | 9, "ping", true) + ws_frame(kFin | 0, "tail", true) +
                            ws_frame(kFin | kRsv1 | 1, compressed, true) +
                            ws_frame(kFin | 8, ws_close_payload(1000, "x"), true);
  const auto whole = read_once(true, bytes, 1 << 20, ext);
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[2].data, std::string(300, 'b') + "tail");
  EXPECT_EQ(whole[3].data, "compressed, compressed, compressed");
  for (size_t split = 0; split <= bytes.size(); ++split) {
    WebSocketReader reader(true, ext, 1 << 20);
    std::vector<Message> out;
    ASSERT_TRUE(reader.feed(std::string_view(bytes).substr(0, split), out));
    ASSERT_TRUE(reader.feed(std::string_view(bytes).substr(split), out));
    ASSERT_EQ(out.size(), whole.size()) << split;
    for (size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(out[i].opcode, whole[i].opcode) << split;
      EXPECT_EQ(out[i].data, whole[i].data) << split;
    }
  }
  // One byte at a time.
  WebSocketReader reader(true, ext, 1 << 20);
  std::vector<Message> out;
  for (const char c : bytes) {
    ASSERT_TRUE(reader.feed(std::string_view(&c, 1), out));
  }
  ASSERT_EQ(out.size(), whole.size());
  EXPECT_EQ(out[3].data, whole[3].data);
}

TEST(WebSocketReader, TruncatesAtTheLimitAndParsesOn) {
  WebSocketExtensions ext;
  ext.permessage_deflate = true;
  Deflater deflater;
  const std::string big(5000, 'z');
  const std::string compressed_big = deflater.compress(big);
  const std::string after = deflater.compress("zzzz after");  // Refers to the big one.
  // "é" is two bytes: a cut inside it leaves it out.
  const std::string accents = "abcdefghié" + std::string(10, 'x');
  const std::string bytes =
      ws_frame(kFin | 2, std::string(100, 'q'), true) + ws_frame(kFin | 1, "short", true) +
      ws_frame(kFin | kRsv1 | 1, compressed_big, true) + ws_frame(kFin | kRsv1 | 1, after, true) +
      ws_frame(kFin | 1, accents, true) + ws_frame(kFin | 9, std::string(20, 'p'), true);
  const auto messages = read_once(true, bytes, 10, ext);
  ASSERT_EQ(messages.size(), 6u);
  EXPECT_EQ(messages[0].data, std::string(10, 'q'));
  EXPECT_TRUE(messages[0].truncated);
  EXPECT_EQ(messages[0].size, 100u);
  EXPECT_EQ(messages[1].data, "short");
  EXPECT_FALSE(messages[1].truncated);
  EXPECT_EQ(messages[2].data, std::string(10, 'z'));
  EXPECT_TRUE(messages[2].truncated);
  EXPECT_EQ(messages[2].size, 5000u);
  EXPECT_EQ(messages[3].data, "zzzz after");  // The context survived the cut.
  EXPECT_FALSE(messages[3].truncated);
  EXPECT_EQ(messages[4].data, "abcdefghi");
  EXPECT_TRUE(messages[4].truncated);
  EXPECT_EQ(messages[5].data, std::string(10, 'p'));
  EXPECT_TRUE(messages[5].truncated);
}

TEST(WebSocketReader, ProtocolErrorsStopTheReader) {
  struct Case {
    std::string bytes;
    std::string error;
    WebSocketExtensions ext;
  };
  WebSocketExtensions deflate;
  deflate.permessage_deflate = true;
  const std::vector<Case> cases = {
      {ws_frame(kFin | 3, "x"), "reserved opcode 3", {}},
      {ws_frame(kFin | 11, "x"), "reserved control opcode 11", {}},
      {ws_frame(kFin | 9, std::string(126, 'p')), "control frame of 126 bytes", {}},
      {ws_frame(9, "p"), "fragmented control frame", {}},
      {ws_frame(kFin | kRsv1 | 1, "x"), "permessage-deflate was not negotiated", {}},
      {ws_frame(kFin | 0x20 | 1, "x"), "RSV2/RSV3", {}},
      {ws_frame(kFin | 0, "x"), "continuation frame without a message", {}},
      {ws_frame(1, "a") + ws_frame(kFin | 2, "b"), "before the fragmented one ended", {}},
      {ws_frame(kFin | kRsv1 | 1, "\xff\xff\xff garbage"), "invalid compressed data", deflate},
      {std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10), "most significant bit", {}},
  };
  for (const Case& c : cases) {
    WebSocketReader reader(false, c.ext, 1024);
    std::vector<Message> out;
    EXPECT_FALSE(reader.feed(c.bytes, out)) << c.error;
    EXPECT_TRUE(reader.failed());
    EXPECT_NE(reader.error().find(c.error), std::string::npos) << reader.error();
    // Whatever follows is ignored.
    EXPECT_FALSE(reader.feed(ws_frame(kFin | 1, "later"), out));
    EXPECT_TRUE(out.empty()) << c.error;
  }
}

TEST(WebSocketReader, GarbageNeverCrashes) {
  WebSocketExtensions ext;
  ext.permessage_deflate = true;
  uint32_t seed = 12345;
  const auto next = [&seed] {
    seed = seed * 1103515245 + 12345;
    return static_cast<char>(seed >> 16);
  };
  for (int round = 0; round < 200; ++round) {
    std::string bytes;
    // Mostly plausible headers (FIN, RSV1, small lengths), then random payloads.
    for (int i = 0; i < 20; ++i) {
      bytes.push_back(static_cast<char>((next() & 0xC3) | 0x80));
      bytes.push_back(static_cast<char>(next() & 0x9F));
      for (int j = next() & 0x3F; j > 0; --j) {
        bytes.push_back(next());
      }
    }
    for (const bool from_client : {true, false}) {
      WebSocketReader reader(from_client, ext, 64);
      std::vector<Message> out;
      for (size_t at = 0; at < bytes.size(); at += 5) {
        reader.feed(std::string_view(bytes).substr(at, 5), out);
      }
      for (const Message& m : out) {
        EXPECT_LE(m.data.size(), 64u);
      }
    }
  }
}

// --- In a session ----------------------------------------------------------------------

ProxyConfig reverse_http(uint64_t body_limit = 1 << 20) {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kReverse;
  config.reverse_scheme = "http";
  config.reverse_host = "origin.test";
  config.reverse_port = 8000;
  config.body_limit = body_limit;
  return config;
}

const std::string kUpgradeRequest =
    "GET /chat HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; "
    "client_max_window_bits=12\r\n\r\n";

std::vector<FlowSnapshotConstSharedPtr> live_flows(const Commands& commands) {
  std::vector<FlowSnapshotConstSharedPtr> out;
  for (const auto& p : all_of<PublishFlow>(commands)) {
    if (p.flow->state == FlowState::kLive) {
      out.push_back(p.flow);
    }
  }
  return out;
}

// upgrade runs the handshake and returns the server connection.
OpenConnection upgrade(SessionPlaybook& pb, std::string server_extra = "") {
  const auto opens = all_of<OpenConnection>(pb.client(kUpgradeRequest));
  EXPECT_EQ(opens.size(), 1u);
  pb.open_ok(opens.at(0));
  const Commands c = pb.server(opens[0].conn, k101 + server_extra);
  EXPECT_EQ(sent_to(c, kClientConn), k101 + server_extra);
  EXPECT_TRUE(flows(c).empty()) << "the flow is finished only when the WebSocket ends";
  const auto live = live_flows(c);
  EXPECT_EQ(live.size(), 1u) << pb.log();
  if (!live.empty()) {
    EXPECT_EQ(live[0]->response->status, 101);
    // Published before the frames that came with the 101 are read.
    EXPECT_TRUE(live[0]->websocket_messages.empty());
  }
  return opens[0];
}

TEST(WebSocketSession, RelaysBytesUnchangedAndLogsEveryMessageInOrder) {
  SessionPlaybook pb(reverse_http());
  const OpenConnection open = upgrade(pb, ws_frame(kFin | 1, "welcome"));
  const ConnId server = open.conn;
  Deflater client_deflate(12);
  Deflater server_deflate(12);
  const std::string c1 =
      ws_frame(kFin | kRsv1 | 1, client_deflate.compress("hello hello hello"), true);
  const std::string c2 = ws_frame(2, "\x01\x02", true) + ws_frame(kFin | 9, "hb", true) +
                         ws_frame(kFin | 0, std::string("\x03\x00", 2), true);
  const std::string s1 = ws_frame(kFin | kRsv1 | 1, server_deflate.compress("hello hello hello"));
  const std::string s2 = ws_frame(kFin | 10, "hb");
  const std::string s3 = ws_frame(kFin | 2, std::string("\x01\x02\x03\x00", 4));
  // Split anywhere: half a frame, then the rest with the next one.
  EXPECT_EQ(sent_to(pb.client(c1.substr(0, 3)), server), c1.substr(0, 3));
  EXPECT_EQ(sent_to(pb.client(c1.substr(3)), server), c1.substr(3));
  EXPECT_EQ(sent_to(pb.server(server, s1), kClientConn), s1);
  EXPECT_EQ(sent_to(pb.client(c2), server), c2);
  EXPECT_EQ(sent_to(pb.server(server, s2 + s3), kClientConn), s2 + s3);
  const std::string close_c = ws_frame(kFin | 8, ws_close_payload(4001, "bye"), true);
  const std::string close_s = ws_frame(kFin | 8, ws_close_payload(4001, "bye"));
  EXPECT_EQ(sent_to(pb.client(close_c), server), close_c);
  EXPECT_EQ(sent_to(pb.server(server, close_s), kClientConn), close_s);
  EXPECT_TRUE(flows(pb.all()).empty());
  // The server closes TCP after the close handshake: the WebSocket has ended.
  const Commands end = pb.feed(ConnectionClosed{server, ""});
  const auto done = flows(end);
  ASSERT_EQ(done.size(), 1u) << pb.log();
  const FlowSnapshot& flow = *done[0];
  EXPECT_EQ(flow.response->status, 101);
  EXPECT_TRUE(flow.error.empty()) << flow.error;
  struct Expected {
    bool from_client;
    uint8_t opcode;
    std::string data;
  };
  const std::vector<Expected> expected = {
      {false, 1, "welcome"},
      {true, 1, "hello hello hello"},
      {false, 1, "hello hello hello"},
      {true, 9, "hb"},
      {true, 2, std::string("\x01\x02\x03\x00", 4)},
      {false, 10, "hb"},
      {false, 2, std::string("\x01\x02\x03\x00", 4)},
      {true, 8, ws_close_payload(4001, "bye")},
      {false, 8, ws_close_payload(4001, "bye")},
  };
  ASSERT_EQ(flow.websocket_messages.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(flow.websocket_messages[i].from_client, expected[i].from_client) << i;
    EXPECT_EQ(flow.websocket_messages[i].opcode, expected[i].opcode) << i;
    EXPECT_EQ(flow.websocket_messages[i].data, expected[i].data) << i;
    EXPECT_GT(flow.websocket_messages[i].time_us, 1'700'000'000'000'000) << i;
  }
  // Exactly one finished flow in all, and the other side still closes normally.
  const Commands after = pb.feed(ConnectionClosed{kClientConn, ""});
  EXPECT_TRUE(flows(after).empty());
  EXPECT_EQ(flows(pb.all()).size(), 1u);
}

TEST(WebSocketSession, LiveSnapshotsAreSpacedOut) {
  SessionPlaybook pb(reverse_http());
  const ConnId server = upgrade(pb).conn;
  // Within the first second: no snapshot, one wakeup for all of them.
  Commands burst;
  for (int i = 0; i < 20; ++i) {
    pb.clock().now_us += 1000;
    const Commands c = pb.client(ws_frame(kFin | 1, "m" + std::to_string(i), true));
    burst.insert(burst.end(), c.begin(), c.end());
  }
  EXPECT_TRUE(live_flows(burst).empty());
  const auto wakeups = all_of<RequestWakeup>(burst);
  ASSERT_EQ(wakeups.size(), 1u) << pb.log();
  EXPECT_LE(wakeups[0].delay_ms, 1000);
  // The wakeup publishes the messages so far.
  pb.clock().now_us += wakeups[0].delay_ms * 1000;
  const auto woken = live_flows(pb.feed(Wakeup{wakeups[0].id}));
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0]->websocket_messages.size(), 20u);
  // A message a second later is published at once, and cancels nothing left over.
  pb.clock().now_us += 1'500'000;
  const Commands later = pb.server(server, ws_frame(kFin | 1, "late"));
  const auto live = live_flows(later);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]->websocket_messages.size(), 21u);
  EXPECT_EQ(live[0]->id, woken[0]->id);
  EXPECT_TRUE(all_of<RequestWakeup>(later).empty());
  // Both sides close: the finished flow, and its pending wakeup is withdrawn.
  pb.clock().now_us += 1000;
  const Commands pending = pb.client(ws_frame(kFin | 1, "last", true));
  ASSERT_EQ(all_of<RequestWakeup>(pending).size(), 1u);
  pb.feed(ConnectionClosed{kClientConn, ""});
  const Commands end = pb.feed(ConnectionClosed{server, ""});
  ASSERT_EQ(flows(end).size(), 1u) << pb.log();
  EXPECT_EQ(flows(end)[0]->websocket_messages.size(), 22u);
  EXPECT_EQ(flows(end)[0]->id, woken[0]->id);
  EXPECT_EQ(all_of<CancelWakeup>(end).size(), 1u);
  EXPECT_EQ(flows(pb.all()).size(), 1u);
}

TEST(WebSocketSession, ProtocolErrorIsRecordedAndBytesStillFlow) {
  SessionPlaybook pb(reverse_http());
  const ConnId server = upgrade(pb).conn;
  const std::string bad = ws_frame(kFin | 5, "what");
  const Commands c = pb.server(server, bad);
  EXPECT_EQ(sent_to(c, kClientConn), bad);
  EXPECT_FALSE(all_of<Log>(c).empty());
  const std::string more = ws_frame(kFin | 1, "not parsed any more");
  EXPECT_EQ(sent_to(pb.server(server, more), kClientConn), more);
  // The client's direction is still read.
  const std::string hi = ws_frame(kFin | 1, "hi", true);
  EXPECT_EQ(sent_to(pb.client(hi), server), hi);
  pb.feed(ConnectionClosed{server, ""});
  const Commands end = pb.feed(ConnectionClosed{kClientConn, ""});
  ASSERT_EQ(flows(end).size(), 1u) << pb.log();
  const FlowSnapshot& flow = *flows(end)[0];
  EXPECT_NE(flow.error.find("reserved opcode 5"), std::string::npos) << flow.error;
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "hi");
}

TEST(WebSocketSession, AConnectionFailureEndsTheFlowWithTheError) {
  SessionPlaybook pb(reverse_http(4));
  const ConnId server = upgrade(pb).conn;
  pb.client(ws_frame(kFin | 1, "truncated", true));
  const Commands end = pb.feed(ConnectionClosed{kClientConn, "connection reset by peer"});
  ASSERT_EQ(flows(end).size(), 1u) << pb.log();
  const FlowSnapshot& flow = *flows(end)[0];
  EXPECT_NE(flow.error.find("connection reset by peer"), std::string::npos);
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "trun");
  EXPECT_TRUE(flow.websocket_messages[0].truncated);
  (void)server;
}

TEST(WebSocketSession, OtherUpgradesStayARawRelay) {
  SessionPlaybook pb(reverse_http());
  const auto opens = all_of<OpenConnection>(
      pb.client("GET / HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: tls/1.0\r\n\r\n"));
  ASSERT_EQ(opens.size(), 1u);
  pb.open_ok(opens[0]);
  const Commands c = pb.server(
      opens[0].conn, "HTTP/1.1 101 Switching\r\nUpgrade: tls/1.0\r\nConnection: Upgrade\r\n\r\n");
  ASSERT_EQ(flows(c).size(), 1u);
  EXPECT_TRUE(flows(c)[0]->websocket_messages.empty());
  const std::string raw = ws_frame(kFin | 1, "not a websocket");
  EXPECT_EQ(sent_to(pb.client(raw), opens[0].conn), raw);
  EXPECT_TRUE(all_of<PublishFlow>(pb.client(raw)).empty());
}

}  // namespace
}  // namespace sightglass::core
