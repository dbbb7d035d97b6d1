// Http2Layer without sockets: an nghttp2 client session (the browser) and an nghttp2 server
// session (the origin) talk through the layer's events and commands.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <functional>
#include <map>
#include <set>

#include "tests/core/h2_harness.h"
#include "tests/support/ws_frames.h"

namespace sightglass::core {
namespace {

using h2test::answer_all;
using h2test::flow_for;
using h2test::get;
using h2test::Harness;
using h2test::Message;
using h2test::pattern;
using h2test::value_of;
using test::FakeClock;
using test::H2Peer;

TEST(Http2Layer, ConcurrentStreamsBecomeServerStreamsAndFlows) {
  Harness h;
  std::vector<int32_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(h.client.request(get("/s" + std::to_string(i))));
  }
  const std::string upload = pattern(100'000, 'u');
  Headers post = get("/upload");
  post[0].value = "POST";
  const int32_t post_id = h.client.request(post, upload);
  h.run();
  ASSERT_EQ(h.server().completed.size(), 6u);
  // Headers reach the origin in order, pseudo-headers first.
  const Message& first = h.server().messages[h.server().completed[0]];
  ASSERT_GE(first.headers.size(), 6u);
  EXPECT_EQ(first.headers[4], (Header{"x-b", "2"}));
  EXPECT_EQ(first.headers[5], (Header{"x-a", "1"}));
  answer_all(h);
  h.run();
  for (int i = 0; i < 5; ++i) {
    const std::string path = "/s" + std::to_string(i);
    const Message& m = h.client.messages[ids[static_cast<size_t>(i)]];
    EXPECT_TRUE(m.ended);
    EXPECT_EQ(value_of(m.headers, ":status"), "200");
    EXPECT_TRUE(m.body == path + " 0 " + pattern(5000, path[1])) << m.body.size();
  }
  EXPECT_TRUE(h.client.messages[post_id].body == "/upload 100000 " + pattern(5000, 'u'));
  ASSERT_EQ(h.flows.size(), 6u);
  const FlowSnapshot* flow = flow_for(h, "/s3");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->request->http_version, "HTTP/2.0");
  EXPECT_EQ(flow->response->http_version, "HTTP/2.0");
  EXPECT_EQ(flow->request->method, "GET");
  EXPECT_EQ(flow->request->scheme, "https");
  EXPECT_EQ(flow->request->host, "origin.test");
  EXPECT_EQ(flow->request->port, 443);
  EXPECT_EQ(flow->request->url(), "https://origin.test/s3");
  EXPECT_EQ(flow->request->headers, (Headers{{"x-b", "2"}, {"x-a", "1"}}));
  EXPECT_EQ(flow->response->status, 200);
  EXPECT_EQ(value_of(flow->response->headers, "x-path"), "/s3");
  EXPECT_EQ(flow->response->body.size, 5006u);
  EXPECT_EQ(flow->response->body.kept, 1024u);  // body_limit.
  EXPECT_TRUE(flow->response->body.truncated);
  EXPECT_EQ(flow->server_address, "192.0.2.1:443");
  ASSERT_TRUE(flow->server_tls.has_value());
  EXPECT_EQ(flow->server_tls->alpn, "h2");
  EXPECT_TRUE(flow->error.empty()) << flow->error;
  const FlowSnapshot* upload_flow = flow_for(h, "/upload");
  ASSERT_NE(upload_flow, nullptr);
  EXPECT_EQ(upload_flow->request->body.size, 100'000u);
  EXPECT_TRUE(upload_flow->request->body.contiguous() == upload.substr(0, 1024));
  // One server connection for all of them.
  EXPECT_EQ(h.server_conns.size(), 1u);
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, PingsPassThroughBothWays) {
  using Ping = test::H2Peer::Ping;
  Harness h;
  h.run();  // The server connection is open and its SETTINGS are in.
  h.client.ping(0x1122334455667788);
  h.run();
  // The server got the client's PING as sent, and its ACK went back to the client.
  EXPECT_EQ(h.server().pings, (std::vector<Ping>{{false, 0x1122334455667788}}));
  EXPECT_EQ(h.client.pings, (std::vector<Ping>{{true, 0x1122334455667788}}));
  h.server().ping(0x0a0b0c0d);
  h.run();
  EXPECT_EQ(h.client.pings.back(), (Ping{false, 0x0a0b0c0d}));
  EXPECT_EQ(h.server().pings.back(), (Ping{true, 0x0a0b0c0d}));
}

TEST(Http2Layer, PingsAreAnsweredByTheProxyWithoutAnHttp2Server) {
  using Ping = test::H2Peer::Ping;
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  h.client.ping(42);
  h.run();
  EXPECT_EQ(h.client.pings, (std::vector<Ping>{{true, 42}}));
}

TEST(Http2Layer, TrailersBothWays) {
  Harness h;
  Headers post = get("/grpc");
  post[0].value = "POST";
  const int32_t id = h.client.request(post, std::string("ping"), {{"x-req-trailer", "a"}});
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t sid = h.server().completed[0];
  EXPECT_EQ(h.server().messages[sid].body, "ping");
  EXPECT_EQ(h.server().messages[sid].trailers, (Headers{{"x-req-trailer", "a"}}));
  h.server().respond(sid, {{":status", "200"}}, std::string("pong"), {{"grpc-status", "0"}});
  h.run();
  const Message& m = h.client.messages[id];
  EXPECT_TRUE(m.ended);
  EXPECT_EQ(m.body, "pong");
  EXPECT_EQ(m.trailers, (Headers{{"grpc-status", "0"}}));
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->request->trailers, (Headers{{"x-req-trailer", "a"}}));
  EXPECT_EQ(h.flows[0]->response->trailers, (Headers{{"grpc-status", "0"}}));
  EXPECT_EQ(h.flows[0]->response->body.contiguous(), "pong");
}

TEST(Http2Layer, GrpcExchangeCountsMessagesAndKeepsTheStatus) {
  Harness h;
  Headers post = get("/pkg.Service/Call");
  post[0].value = "POST";
  post.push_back({"content-type", "application/grpc"});
  post.push_back({"te", "trailers"});
  // Two length-prefixed messages up, one down; grpc-status in the trailers.
  const std::string up = std::string("\0\0\0\0\3abc\0\0\0\0\2hi", 15);
  const int32_t id = h.client.request(post, up);
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t sid = h.server().completed[0];
  EXPECT_EQ(h.server().messages[sid].body, up);
  h.server().respond(sid, {{":status", "200"}, {"content-type", "application/grpc"}},
                     std::string("\0\0\0\0\4pong", 9),
                     {{"grpc-status", "7"}, {"grpc-message", "denied"}});
  h.run();
  EXPECT_EQ(h.client.messages[id].trailers,
            (Headers{{"grpc-status", "7"}, {"grpc-message", "denied"}}));
  ASSERT_EQ(h.flows.size(), 1u);
  const FlowSnapshot& flow = *h.flows[0];
  ASSERT_TRUE(flow.request->body.grpc.has_value());
  EXPECT_EQ(flow.request->body.grpc->sizes, (std::vector<uint64_t>{3, 2}));
  ASSERT_TRUE(flow.response->body.grpc.has_value());
  EXPECT_EQ(flow.response->body.grpc->sizes, (std::vector<uint64_t>{4}));
  EXPECT_EQ(*find_header(flow.response->trailers, "grpc-status"), "7");
}

TEST(Http2Layer, ClientResetResetsTheServerStream) {
  Harness h;
  const int32_t id = h.client.request(get("/slow"));
  const int32_t other = h.client.request(get("/fine"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 2u);
  const int32_t sid = h.server().completed[0];
  h.server().open_ended(sid);
  h.server().respond(sid, {{":status", "200"}}, std::string("partial"));
  h.run();
  EXPECT_EQ(h.client.messages[id].body, "partial");
  h.client.reset(id, NGHTTP2_CANCEL);
  h.run();
  ASSERT_TRUE(h.server().messages[sid].reset_code.has_value());
  EXPECT_EQ(*h.server().messages[sid].reset_code, static_cast<uint32_t>(NGHTTP2_CANCEL));
  const FlowSnapshot* flow = flow_for(h, "/slow");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "stream reset by the client (CANCEL)");
  EXPECT_EQ(flow->response->body.contiguous(), "partial");
  // The other stream is untouched.
  h.server().respond(h.server().completed[1], {{":status", "204"}}, std::nullopt);
  h.run();
  EXPECT_TRUE(h.client.messages[other].ended);
  EXPECT_EQ(value_of(h.client.messages[other].headers, ":status"), "204");
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, ServerResetResetsTheClientStream) {
  Harness h;
  const int32_t id = h.client.request(get("/refused"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  h.server().reset(h.server().completed[0], NGHTTP2_INTERNAL_ERROR);
  h.run();
  ASSERT_TRUE(h.client.messages[id].reset_code.has_value());
  EXPECT_EQ(*h.client.messages[id].reset_code, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  const FlowSnapshot* flow = flow_for(h, "/refused");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "stream reset by the server (INTERNAL_ERROR)");
  EXPECT_FALSE(flow->response.has_value());
}

// big_fields is 64 header fields of 1000 bytes: under what nghttp2 sends in one header block
// (64 KiB by its estimate), over kMaxHeaderListBytes as RFC 9113 counts (32 bytes more each).
Headers big_fields(Headers head) {
  for (int i = 0; i < 64; ++i) {
    head.push_back({"x-big", std::string(1000, 'b')});
  }
  return head;
}

TEST(Http2Layer, AClientHeaderBlockPastTheLimitResetsOnlyItsStream) {
  // HPACK lets one byte stand for a whole header field: a header block that decodes to more
  // than kMaxHeaderListBytes is not kept but refused, its stream reset (found by
  // fuzz/http2_client_fuzzer.cc: 147 KB from a client made the proxy hold 3 GB of headers).
  Harness h;
  const int32_t refused = h.client.request(big_fields(get("/big")));
  const int32_t fine = h.client.request(get("/fine"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  EXPECT_EQ(value_of(h.server().messages[h.server().completed[0]].headers, ":path"), "/fine");
  answer_all(h);
  h.run();
  ASSERT_TRUE(h.client.messages[refused].reset_code.has_value());
  EXPECT_EQ(*h.client.messages[refused].reset_code, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  EXPECT_TRUE(h.client.messages[fine].ended);
  const FlowSnapshot* flow = flow_for(h, "/big");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "the client's header fields are larger than 64 KiB");
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, AServerHeaderBlockPastTheLimitResetsTheStream) {
  Harness h;
  const int32_t id = h.client.request(get("/r"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  h.server().respond(h.server().completed[0], big_fields({{":status", "200"}}), "body");
  h.run();
  ASSERT_TRUE(h.client.messages[id].reset_code.has_value());
  EXPECT_FALSE(h.client.messages[id].head_done);
  const FlowSnapshot* flow = flow_for(h, "/r");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "the server's header fields are larger than 64 KiB");
}

TEST(Http2Layer, ServerGoawayFinishesActiveStreamsThenCloses) {
  Harness h;
  const int32_t id = h.client.request(get("/before"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t sid = h.server().completed[0];
  h.server().goaway(sid);
  h.server().open_ended(sid);
  h.server().respond(sid, {{":status", "200"}}, std::string("first half "));
  h.run();
  EXPECT_TRUE(h.closed_servers.empty());  // A stream is still active.
  EXPECT_EQ(h.client.messages[id].body, "first half ");
  h.server().more_body(sid, "second half", true);
  h.run();
  EXPECT_TRUE(h.client.messages[id].ended);
  EXPECT_EQ(h.client.messages[id].body, "first half second half");
  EXPECT_EQ(h.closed_servers.count(h.server_conn(0)), 1u);
  EXPECT_FALSE(h.client.got_goaway);
  EXPECT_FALSE(h.client_closed);
  // The next request goes to a new server connection.
  const int32_t next = h.client.request(get("/after"));
  h.run();
  ASSERT_EQ(h.server_conns.size(), 2u);
  ASSERT_EQ(h.server(1).completed.size(), 1u);
  answer_all(h, 1);
  h.run();
  EXPECT_TRUE(h.client.messages[next].ended);
  EXPECT_EQ(h.flows.size(), 2u);
}

TEST(Http2Layer, AStalledStreamDoesNotBlockTheOthers) {
  Harness h;
  const int32_t slow = h.client.request(get("/stalled"));
  const int32_t fast = h.client.request(get("/fast"));
  h.client.stall(slow);
  h.run();
  ASSERT_EQ(h.server().completed.size(), 2u);
  const int32_t slow_sid = h.server().completed[0];
  const int32_t fast_sid = h.server().completed[1];
  const std::string big = pattern(4 * 1024 * 1024, 'b');
  const std::string medium = pattern(1024 * 1024, 'm');
  h.server().respond(slow_sid, {{":status", "200"}}, big);
  h.server().respond(fast_sid, {{":status", "200"}}, medium);
  h.run();
  // The fast stream completes while the stalled one waits...
  EXPECT_TRUE(h.client.messages[fast].ended);
  EXPECT_TRUE(h.client.messages[fast].body == medium) << h.client.messages[fast].body.size();
  EXPECT_FALSE(h.client.messages[slow].ended);
  // ... and the stalled one is held back at the origin: the proxy buffers at most its own
  // stream window for it, not the body.
  // The origin sent at most the proxy's stream window (256 KiB) plus what the client took
  // (its 64 KiB window).
  EXPECT_GE(h.server().unsent(slow_sid), big.size() - (256 + 64) * 1024);
  h.client.unstall(slow);
  h.run();
  EXPECT_TRUE(h.client.messages[slow].ended);
  EXPECT_TRUE(h.client.messages[slow].body == big) << h.client.messages[slow].body.size();
  EXPECT_EQ(h.flows.size(), 2u);
}

TEST(Http2Layer, OneStalledStreamOfAHundredDoesNotBlockTheOtherNinetyNine) {
  Harness h;
  const int32_t slow = h.client.request(get("/stalled"));
  std::vector<int32_t> fast;
  for (int i = 0; i < 99; ++i) {
    fast.push_back(h.client.request(get("/fast/" + std::to_string(i))));
  }
  h.client.stall(slow);
  h.run();
  ASSERT_EQ(h.server().completed.size(), 100u);
  const std::string big = pattern(2 * 1024 * 1024, 'b');
  for (const int32_t sid : h.server().completed) {
    const std::string path = value_of(h.server().messages[sid].headers, ":path");
    h.server().respond(
        sid, {{":status", "200"}},
        path == "/stalled" ? big : pattern(100'000 + std::stoul(path.substr(6)), 'f'));
  }
  h.run();
  for (size_t i = 0; i < fast.size(); ++i) {
    const Message& m = h.client.messages[fast[i]];
    EXPECT_TRUE(m.ended) << i;
    EXPECT_TRUE(m.body == pattern(100'000 + i, 'f')) << i << ": " << m.body.size();
  }
  EXPECT_FALSE(h.client.messages[slow].ended);
  EXPECT_EQ(h.flows.size(), 99u);
  h.client.unstall(slow);
  h.run();
  EXPECT_TRUE(h.client.messages[slow].body == big) << h.client.messages[slow].body.size();
  EXPECT_EQ(h.flows.size(), 100u);
}

TEST(Http2Layer, ServerConnectionLostAnswers502) {
  Harness h;
  const int32_t id = h.client.request(get("/lost"));
  h.run();
  h.feed(ConnectionClosed{h.server_conn(0), ""});
  h.run();
  const Message& m = h.client.messages[id];
  EXPECT_TRUE(m.ended);
  EXPECT_EQ(value_of(m.headers, ":status"), "502");
  const FlowSnapshot* flow = flow_for(h, "/lost");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "upstream closed the connection without sending a response");
}

TEST(Http2Layer, NoResponseInTimeAnswers504) {
  Harness h;
  const int32_t id = h.client.request(get("/slow"));
  h.run();
  ASSERT_EQ(h.wakeups.size(), 1u);
  EXPECT_EQ(h.wakeups[0].delay_ms, h.config_.response_timeout_ms);
  h.feed(Wakeup{h.wakeups[0].id});
  h.run();
  EXPECT_EQ(value_of(h.client.messages[id].headers, ":status"), "504");
  ASSERT_EQ(h.server().completed.size(), 1u);
  EXPECT_TRUE(h.server().messages[h.server().completed[0]].reset_code.has_value());
  const FlowSnapshot* flow = flow_for(h, "/slow");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->error, "server timeout: no response head within 120 s of the request");
}

TEST(Http2Layer, ServerProtocolErrorAnswers502AndClosesIt) {
  Harness h;
  const int32_t id = h.client.request(get("/broken"));
  h.run();
  // DATA on stream 0: a connection error.
  h.feed(DataReceived{h.server_conn(0), std::string("\0\0\0\0\0\0\0\0\0", 9)});
  h.run();
  EXPECT_EQ(value_of(h.client.messages[id].headers, ":status"), "502");
  EXPECT_EQ(h.closed_servers.count(h.server_conn(0)), 1u);
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_FALSE(h.flows[0]->error.empty());
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, ClientGoneCancelsServerStreams) {
  Harness h;
  h.client.request(get("/a"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t sid = h.server().completed[0];
  h.feed(ConnectionClosed{kClientConn, ""});
  h.client_closed = true;
  h.run();
  EXPECT_EQ(h.closed_servers.count(h.server_conn(0)), 1u);
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->error, "client closed the connection before the stream was complete");
  (void)sid;
}

TEST(Http2Layer, StreamsTranslateToHttp11Connections) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  EXPECT_TRUE(h.server_conns.empty());  // HTTP/1.1: connections open per request.
  const int32_t a = h.client.request(get("/a"));
  const int32_t b = h.client.request(get("/b"));
  h.run();
  ASSERT_EQ(h.server_conns.size(), 2u);  // One exchange per connection at a time.
  const ConnId ca = h.server_conn(0);
  const ConnId cb = h.server_conn(1);
  EXPECT_EQ(h.h1_received[ca], "GET /a HTTP/1.1\r\nhost: origin.test\r\nx-b: 2\r\nx-a: 1\r\n\r\n");
  EXPECT_EQ(h.h1_received[cb], "GET /b HTTP/1.1\r\nhost: origin.test\r\nx-b: 2\r\nx-a: 1\r\n\r\n");
  h.feed(DataReceived{ca,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: "
                      "keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                      "0\r\nX-Check: done\r\n\r\n"});
  h.feed(DataReceived{cb, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"});
  h.run();
  const Message& ma = h.client.messages[a];
  EXPECT_TRUE(ma.ended);
  EXPECT_EQ(ma.headers, (Headers{{":status", "200"}, {"content-type", "text/plain"}}));
  EXPECT_EQ(ma.body, "hello");
  EXPECT_EQ(ma.trailers, (Headers{{"x-check", "done"}}));
  const Message& mb = h.client.messages[b];
  EXPECT_EQ(mb.headers, (Headers{{":status", "404"}, {"content-length", "4"}}));
  EXPECT_EQ(mb.body, "nope");
  const FlowSnapshot* flow = flow_for(h, "/a");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->request->http_version, "HTTP/2.0");
  EXPECT_EQ(flow->response->http_version, "HTTP/2.0");  // As the client saw it.
  EXPECT_EQ(flow->response->reason, "OK");
  EXPECT_EQ(flow->response->headers[0], (Header{"Content-Type", "text/plain"}));  // As sent.
  EXPECT_EQ(flow->response->trailers, (Headers{{"X-Check", "done"}}));
  EXPECT_EQ(flow->response->body.contiguous(), "hello");
  ASSERT_TRUE(flow->server_tls.has_value());
  EXPECT_EQ(flow->server_tls->alpn, "http/1.1");
  // The next stream reuses an idle keep-alive connection.
  h.h1_received.clear();
  Headers post = get("/up");
  post[0].value = "POST";
  const int32_t c = h.client.request(post, std::string("body!"), {{"x-sum", "1"}});
  h.run();
  EXPECT_EQ(h.server_conns.size(), 2u);
  ASSERT_EQ(h.h1_received.size(), 1u);
  const auto& [conn, sent] = *h.h1_received.begin();
  EXPECT_EQ(sent,
            "POST /up HTTP/1.1\r\nhost: origin.test\r\nx-b: 2\r\nx-a: 1\r\n"
            "transfer-encoding: chunked\r\n\r\n5\r\nbody!\r\n0\r\nx-sum: 1\r\n\r\n");
  h.feed(DataReceived{conn, "HTTP/1.1 204 No Content\r\n\r\n"});
  h.run();
  EXPECT_TRUE(h.client.messages[c].ended);
  EXPECT_EQ(value_of(h.client.messages[c].headers, ":status"), "204");
  EXPECT_EQ(h.flows.size(), 3u);
  EXPECT_TRUE(h.closed_servers.empty());
}

TEST(Http2Layer, Http11ServerClosingMidResponseResetsTheStream) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  const int32_t a = h.client.request(get("/cut"));
  const int32_t b = h.client.request(get("/never"));
  h.run();
  ASSERT_EQ(h.server_conns.size(), 2u);
  h.feed(DataReceived{h.server_conn(0), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"});
  h.feed(ConnectionClosed{h.server_conn(0), ""});
  h.feed(ConnectionClosed{h.server_conn(1), ""});
  h.run();
  EXPECT_TRUE(h.client.messages[a].reset_code.has_value());
  EXPECT_EQ(h.client.messages[a].body, "abc");
  EXPECT_EQ(value_of(h.client.messages[b].headers, ":status"), "502");
  const FlowSnapshot* cut = flow_for(h, "/cut");
  ASSERT_NE(cut, nullptr);
  EXPECT_EQ(cut->error, "upstream closed the connection in the middle of the response");
  const FlowSnapshot* never = flow_for(h, "/never");
  ASSERT_NE(never, nullptr);
  EXPECT_EQ(never->error, "upstream closed the connection without sending a response");
}

TEST(Http2Layer, InterimResponsesFromAnHttp2ServerReachTheClient) {
  Harness h;
  Headers post = get("/continue");
  post[0].value = "POST";
  post.push_back({"expect", "100-continue"});
  const int32_t id = h.client.request(post, std::string());
  h.client.open_ended(id);  // The body waits for the 100.
  h.run();
  ASSERT_EQ(h.server().messages.size(), 1u);
  const int32_t sid = h.server().messages.begin()->first;
  EXPECT_EQ(value_of(h.server().messages[sid].headers, "expect"), "100-continue");
  h.server().interim(sid, {{":status", "100"}});
  h.run();
  ASSERT_EQ(h.client.messages[id].interim.size(), 1u);
  EXPECT_EQ(h.client.messages[id].interim[0], (Headers{{":status", "100"}}));
  EXPECT_FALSE(h.client.messages[id].head_done);
  h.client.more_body(id, "hello", true);
  h.run();
  EXPECT_TRUE(h.server().messages[sid].ended);
  EXPECT_EQ(h.server().messages[sid].body, "hello");
  h.server().interim(sid, {{":status", "103"}, {"link", "</style.css>; rel=preload"}});
  h.server().respond(sid, {{":status", "200"}, {"x-final", "1"}}, std::string("done"));
  h.run();
  const Message& m = h.client.messages[id];
  ASSERT_EQ(m.interim.size(), 2u);
  EXPECT_EQ(m.interim[1], (Headers{{":status", "103"}, {"link", "</style.css>; rel=preload"}}));
  EXPECT_EQ(m.headers, (Headers{{":status", "200"}, {"x-final", "1"}}));
  EXPECT_TRUE(m.trailers.empty());
  EXPECT_TRUE(m.ended);
  EXPECT_EQ(m.body, "done");
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->response->status, 200);
  EXPECT_EQ(h.flows[0]->response->headers, (Headers{{"x-final", "1"}}));
  EXPECT_TRUE(h.flows[0]->response->trailers.empty());
  EXPECT_EQ(h.flows[0]->request->body.contiguous(), "hello");
  EXPECT_EQ(h.flows[0]->response->body.contiguous(), "done");
  EXPECT_TRUE(h.flows[0]->error.empty()) << h.flows[0]->error;
}

TEST(Http2Layer, InterimResponsesFromAnHttp11ServerReachTheClient) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  Headers post = get("/continue");
  post[0].value = "POST";
  post.push_back({"content-length", "5"});
  post.push_back({"expect", "100-continue"});
  const int32_t id = h.client.request(post, std::string());
  h.client.open_ended(id);
  h.run();
  ASSERT_EQ(h.server_conns.size(), 1u);
  const ConnId conn = h.server_conn(0);
  EXPECT_EQ(h.h1_received[conn],
            "POST /continue HTTP/1.1\r\nhost: origin.test\r\nx-b: 2\r\nx-a: 1\r\n"
            "content-length: 5\r\nexpect: 100-continue\r\n\r\n");
  h.h1_received.clear();
  h.feed(DataReceived{conn, "HTTP/1.1 100 Continue\r\n\r\n"});
  h.run();
  ASSERT_EQ(h.client.messages[id].interim.size(), 1u);
  EXPECT_EQ(h.client.messages[id].interim[0], (Headers{{":status", "100"}}));
  h.client.more_body(id, "hello", true);
  h.run();
  EXPECT_EQ(h.h1_received[conn], "hello");
  h.feed(DataReceived{conn,
                      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"});
  h.run();
  const Message& m = h.client.messages[id];
  ASSERT_EQ(m.interim.size(), 2u);
  EXPECT_EQ(m.interim[1], (Headers{{":status", "103"}, {"link", "</a.css>; rel=preload"}}));
  EXPECT_EQ(m.headers, (Headers{{":status", "200"}, {"content-length", "2"}}));
  EXPECT_TRUE(m.ended);
  EXPECT_EQ(m.body, "ok");
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->response->status, 200);
  EXPECT_EQ(h.flows[0]->response->reason, "OK");
  EXPECT_EQ(h.flows[0]->request->body.contiguous(), "hello");
  EXPECT_EQ(h.flows[0]->response->body.contiguous(), "ok");
  EXPECT_TRUE(h.flows[0]->error.empty()) << h.flows[0]->error;
  EXPECT_TRUE(h.closed_servers.empty());  // Kept alive for the next stream.
  // A HEAD after an interim response still expects no body.
  Headers head = get("/head");
  head[0].value = "HEAD";
  const int32_t hid = h.client.request(head);
  h.run();
  h.feed(DataReceived{
      conn, "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"});
  h.run();
  EXPECT_TRUE(h.client.messages[hid].ended);
  EXPECT_EQ(value_of(h.client.messages[hid].headers, ":status"), "200");
  EXPECT_EQ(h.flows.size(), 2u);
  EXPECT_TRUE(h.closed_servers.empty());
}

TEST(Http2Layer, AnHttp11ServerSlowToTakeAnUploadHoldsBackOnlyItsOwnStream) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  // The first HTTP/1.1 connection (conn 1, the slow stream's) takes no bytes until released.
  h.unwritten_conns[1] = false;
  Headers slow_post = get("/slow");
  slow_post[0].value = "POST";
  Headers fast_post = get("/fast");
  fast_post[0].value = "POST";
  const std::string big = pattern(2 * 1024 * 1024, 'u');
  const int32_t slow = h.client.request(slow_post, big);
  const int32_t fast = h.client.request(fast_post, pattern(100'000, 'f'));
  h.run();
  ASSERT_EQ(h.server_conns.size(), 2u);
  ASSERT_EQ(h.server_conn(0), 1u);
  const ConnId fast_conn = h.server_conn(1);
  // The slow stream's server got at most the client's stream window: the client is credited
  // only with what the connection wrote.
  EXPECT_LT(h.h1_received[1].size(), 300u * 1024) << h.h1_received[1].size();
  // The other stream's upload went through whole, and its answer arrives.
  EXPECT_GT(h.h1_received[fast_conn].size(), 100'000u);
  h.feed(DataReceived{fast_conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"});
  h.run();
  EXPECT_TRUE(h.client.messages[fast].ended);
  EXPECT_EQ(h.client.messages[fast].body, "ok");
  EXPECT_FALSE(h.client.messages[slow].ended);
  // Once the server reads, the rest of the upload follows.
  h.release_writes(1);
  h.run();
  EXPECT_GT(h.h1_received[1].size(), big.size());  // Chunked: the body and its framing.
  h.feed(DataReceived{1, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"});
  h.run();
  EXPECT_TRUE(h.client.messages[slow].ended);
  const FlowSnapshot* flow = flow_for(h, "/slow");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->request->body.size, big.size());
}

TEST(Http2Layer, Http11ResponseToASlowClientPausesItsConnection) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  const int32_t slow = h.client.request(get("/big"));
  const int32_t other = h.client.request(get("/other"));
  h.client.stall(slow);
  h.run();
  ASSERT_EQ(h.server_conns.size(), 2u);
  const ConnId conn = h.server_conn(0);
  const std::string big = pattern(8 * 1024 * 1024, 'B');
  // The server sends as fast as the proxy reads: the driver stops feeding a paused connection.
  std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big;
  size_t fed = 0;
  size_t max_buffered = 0;
  auto feed_while_reading = [&] {
    while (fed < response.size() && !h.paused[conn]) {
      const size_t n = std::min<size_t>(64 * 1024, response.size() - fed);
      h.feed(DataReceived{conn, response.substr(fed, n)});
      fed += n;
      h.run();
      const size_t delivered = h.client.messages[slow].body.size();
      const size_t body_fed =
          fed > response.size() - big.size() ? fed - (response.size() - big.size()) : 0;
      max_buffered = std::max(max_buffered, body_fed - delivered);
    }
  };
  feed_while_reading();
  EXPECT_TRUE(h.paused[conn]);
  EXPECT_LT(fed, 1024u * 1024u);  // Paused long before the 8 MiB.
  ASSERT_FALSE(h.pauses.empty());
  EXPECT_EQ(h.pauses[0].conn, conn);
  EXPECT_TRUE(h.pauses[0].paused);
  // At most a stream window (plus one read) waits in the proxy.
  EXPECT_LE(max_buffered, 256u * 1024u + 64u * 1024u);
  // The other stream, on another HTTP/1.1 connection, completes meanwhile.
  h.feed(DataReceived{h.server_conn(1), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother"});
  h.run();
  EXPECT_TRUE(h.client.messages[other].ended);
  EXPECT_EQ(h.client.messages[other].body, "other");
  EXPECT_FALSE(h.client.messages[slow].ended);
  // The client reads: the connection is resumed, paused again, ... until the body is through.
  h.client.unstall(slow);
  for (int i = 0; i < 1000 && fed < response.size(); ++i) {
    h.run();
    if (!h.paused[conn]) {
      feed_while_reading();
    }
  }
  h.run();
  EXPECT_EQ(fed, response.size());
  EXPECT_LE(max_buffered, 256u * 1024u + 64u * 1024u);
  bool resumed = false;
  for (const PauseReading& p : h.pauses) {
    resumed |= p.conn == conn && !p.paused;
  }
  EXPECT_TRUE(resumed);
  EXPECT_FALSE(h.paused[conn]);
  EXPECT_TRUE(h.client.messages[slow].ended);
  EXPECT_TRUE(h.client.messages[slow].body == big) << h.client.messages[slow].body.size();
  EXPECT_EQ(h.flows.size(), 2u);
}

// --- WebSocket over HTTP/2 (RFC 8441) -------------------------------------------------------

using test::Deflater;
using test::kFin;
using test::kRsv1;
using test::ws_close_payload;
using test::ws_frame;

Headers ws_connect(const std::string& path, bool deflate = false) {
  Headers headers = {{":method", "CONNECT"},
                     {":protocol", "websocket"},
                     {":scheme", "https"},
                     {":authority", "origin.test"},
                     {":path", path},
                     {"sec-websocket-version", "13"},
                     {"origin", "https://origin.test"}};
  if (deflate) {
    headers.push_back({"sec-websocket-extensions", "permessage-deflate; client_max_window_bits"});
  }
  return headers;
}

uint32_t enable_connect(H2Peer& peer) {
  return peer.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL);
}

TEST(Http2Layer, ExtendedConnectIsAdvertisedOnlyOnceTheServerDoes) {
  {
    Harness h(Http2Layer::UpstreamProtocol::kHttp2, true);
    h.deliver_to_client();  // The layer's preface, before the server's SETTINGS.
    EXPECT_EQ(enable_connect(h.client), 0u);
    h.run();
    EXPECT_EQ(enable_connect(h.client), 1u);
  }
  {
    // A server without it: the client is never told, and nghttp2 refuses :protocol.
    Harness h(Http2Layer::UpstreamProtocol::kHttp2, false);
    h.run();
    EXPECT_EQ(enable_connect(h.client), 0u);
    const int32_t id = h.client.request(ws_connect("/chat"), std::string());
    h.client.open_ended(id);
    h.run();
    EXPECT_TRUE(h.client.messages[id].reset_code.has_value());
    EXPECT_TRUE(h.server().messages.empty());
  }
  {
    Harness h(Http2Layer::UpstreamProtocol::kHttp1);
    h.run();
    EXPECT_EQ(enable_connect(h.client), 0u);
  }
}

TEST(Http2Layer, StreamsArePublishedLiveAtTheirMilestonesWithThrottledProgress) {
  Harness h;
  Headers post = get("/live");
  post[0].value = "POST";
  h.client.request(post, std::string("abc"));
  h.run();
  // Head, body and end of the request came in one read: one live snapshot.
  EXPECT_TRUE(h.flows.empty());
  ASSERT_EQ(h.live.size(), 1u);
  EXPECT_EQ(h.live[0]->revision, 1u);
  EXPECT_EQ(h.live[0]->request->method, "POST");
  EXPECT_EQ(h.live[0]->request->body.contiguous(), "abc");
  EXPECT_FALSE(h.live[0]->response.has_value());
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t sid = h.server().completed[0];
  h.server().completed.clear();
  // The response head alone: a milestone.
  h.server().open_ended(sid);
  h.server().respond(sid, {{":status", "200"}, {"content-type", "text/plain"}}, std::string());
  h.run();
  ASSERT_EQ(h.live.size(), 2u);
  EXPECT_EQ(h.live[1]->revision, 2u);
  ASSERT_TRUE(h.live[1]->response.has_value());
  EXPECT_EQ(h.live[1]->response->status, 200);
  // Body chunks in the same instant: no snapshot each, one wakeup for them.
  const size_t wakeups_before = h.wakeups.size();
  for (int i = 0; i < 5; ++i) {
    h.server().more_body(sid, std::string(1000, 'b'), false);
    h.run();
  }
  EXPECT_EQ(h.live.size(), 2u);
  ASSERT_EQ(h.wakeups.size(), wakeups_before + 1);
  const RequestWakeup progress = h.wakeups.back();
  EXPECT_LE(progress.delay_ms, 251);
  h.clock_.now_us += progress.delay_ms * 1000;
  h.feed(Wakeup{progress.id});
  h.run();
  ASSERT_EQ(h.live.size(), 3u);
  EXPECT_EQ(h.live[2]->revision, 3u);
  EXPECT_EQ(h.live[2]->response->body.size, 5000u);
  // The end: the final snapshot, the same id, the highest revision.
  h.server().more_body(sid, "", true);
  h.run();
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.live.size(), 3u);
  EXPECT_EQ(h.flows[0]->revision, 4u);
  EXPECT_EQ(h.flows[0]->id, h.live[0]->id);
  EXPECT_EQ(h.flows[0]->response->body.size, 5000u);
}

TEST(Http2Layer, WebSocketOverExtendedConnectIsRelayedAndLogged) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp2, true);
  h.run();
  ASSERT_EQ(enable_connect(h.client), 1u);
  const int32_t id = h.client.request(ws_connect("/chat?room=1", true), std::string());
  h.client.open_ended(id);
  h.run();
  ASSERT_EQ(h.server().messages.size(), 1u);
  const int32_t sid = h.server().messages.begin()->first;
  const Headers& sent = h.server().messages[sid].headers;
  EXPECT_EQ(value_of(sent, ":method"), "CONNECT");
  EXPECT_EQ(value_of(sent, ":protocol"), "websocket");
  EXPECT_EQ(value_of(sent, ":path"), "/chat?room=1");
  EXPECT_EQ(value_of(sent, ":authority"), "origin.test");
  EXPECT_EQ(value_of(sent, "sec-websocket-version"), "13");
  h.server().open_ended(sid);
  h.server().respond(sid,
                     {{":status", "200"},
                      {"sec-websocket-extensions",
                       "permessage-deflate; client_no_context_takeover; "
                       "server_no_context_takeover"}},
                     std::string());
  h.run();
  EXPECT_EQ(value_of(h.client.messages[id].headers, ":status"), "200");
  EXPECT_FALSE(h.client.messages[id].ended);
  // A live snapshot at once: the request head went out before, the open tunnel now.
  EXPECT_TRUE(h.flows.empty());
  ASSERT_EQ(h.live.size(), 2u) << "request head, tunnel open";
  EXPECT_FALSE(h.live[0]->response.has_value());
  ASSERT_TRUE(h.live[1]->response.has_value());
  EXPECT_EQ(h.live[1]->response->status, 200);
  EXPECT_EQ(h.live[1]->revision, h.live[0]->revision + 1);

  // Client: text, binary, a fragmented text with a ping between the fragments, a deflated text.
  const std::string big_binary = pattern(70'000, 'w');
  const std::string upstream =
      ws_frame(kFin | 1, "hello", true) + ws_frame(kFin | 2, big_binary, true) +
      ws_frame(1, "Hel", true) + ws_frame(kFin | 9, "p", true) + ws_frame(kFin | 0, "lo", true) +
      ws_frame(kFin | kRsv1 | 1, Deflater().compress("squeezed squeezed"), true);
  h.client.more_body(id, upstream, false);
  h.run();
  EXPECT_TRUE(h.server().messages[sid].body == upstream);  // Unchanged.
  // Server: text, deflated binary, close 4001.
  const std::string downstream =
      ws_frame(kFin | 1, "hi", false) +
      ws_frame(kFin | kRsv1 | 2, Deflater().compress("\x01\x02\x03"), false) +
      ws_frame(kFin | 8, ws_close_payload(4001, "bye now"), false);
  h.server().more_body(sid, downstream, false);
  h.run();
  EXPECT_EQ(h.client.messages[id].body, downstream);
  // No new live snapshot yet: the next waits for the interval to be up.
  EXPECT_EQ(h.live.size(), 2u);
  ASSERT_FALSE(h.wakeups.empty());
  const RequestWakeup live = h.wakeups.back();
  EXPECT_LE(live.delay_ms, 251);
  h.clock_.now_us += 1'000'000;
  h.feed(Wakeup{live.id});
  h.run();
  ASSERT_EQ(h.live.size(), 3u);
  EXPECT_EQ(h.live[2]->websocket_messages.size(), 8u);
  EXPECT_TRUE(h.flows.empty());
  // The client answers the close, both ends end their streams.
  h.client.more_body(id, ws_frame(kFin | 8, ws_close_payload(4001, "bye now"), true), true);
  h.run();
  h.server().more_body(sid, "", true);
  h.run();
  EXPECT_TRUE(h.client.messages[id].ended);
  EXPECT_TRUE(h.server().messages[sid].ended);
  ASSERT_EQ(h.flows.size(), 1u);
  const FlowSnapshot& flow = *h.flows[0];
  // The client's END_STREAM completed the request: a milestone, then the final snapshot.
  ASSERT_EQ(h.live.size(), 4u);
  EXPECT_EQ(flow.revision, h.live[3]->revision + 1);
  EXPECT_EQ(flow.id, h.live[0]->id);
  EXPECT_EQ(flow.state, FlowState::kFinished);
  EXPECT_TRUE(flow.error.empty()) << flow.error;
  EXPECT_EQ(flow.request->method, "CONNECT");
  EXPECT_EQ(flow.request->target, "/chat?room=1");
  EXPECT_EQ(flow.request->scheme, "https");
  EXPECT_EQ(flow.request->host, "origin.test");
  EXPECT_EQ(flow.request->body.size, 0u);  // The tunnel's bytes are messages, not a body.
  EXPECT_EQ(flow.response->status, 200);
  EXPECT_EQ(flow.response->body.size, 0u);
  const auto& m = flow.websocket_messages;
  ASSERT_EQ(m.size(), 9u);
  const std::vector<std::tuple<bool, uint8_t, std::string>> expected = {
      {true, 1, "hello"},
      {true, 2, big_binary.substr(0, 1024)},  // body_limit.
      {true, 9, "p"},
      {true, 1, "Hello"},
      {true, 1, "squeezed squeezed"},
      {false, 1, "hi"},
      {false, 2, "\x01\x02\x03"},
      {false, 8, ws_close_payload(4001, "bye now")},
      {true, 8, ws_close_payload(4001, "bye now")},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(m[i].from_client, std::get<0>(expected[i])) << i;
    EXPECT_EQ(m[i].opcode, std::get<1>(expected[i])) << i;
    EXPECT_TRUE(m[i].data == std::get<2>(expected[i])) << i << ": " << m[i].data.size();
  }
  EXPECT_TRUE(m[1].truncated);
  EXPECT_FALSE(m[0].truncated);
  // The live wakeup is not left behind.
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, WebSocketRejectedByTheServerIsAnOrdinaryExchange) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp2, true);
  h.run();
  const int32_t id = h.client.request(ws_connect("/denied"), std::string());
  h.client.open_ended(id);
  h.run();
  ASSERT_EQ(h.server().messages.size(), 1u);
  const int32_t sid = h.server().messages.begin()->first;
  h.server().respond(sid, {{":status", "403"}, {"content-type", "text/plain"}},
                     std::string("not you"));
  h.run();
  const Message& m = h.client.messages[id];
  EXPECT_EQ(value_of(m.headers, ":status"), "403");
  EXPECT_EQ(m.body, "not you");
  EXPECT_TRUE(m.ended);
  // The client gives up on the stream.
  h.client.reset(id, NGHTTP2_CANCEL);
  h.run();
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->state, FlowState::kFinished);
  EXPECT_EQ(h.flows[0]->response->status, 403);
  EXPECT_EQ(h.flows[0]->response->body.contiguous(), "not you");
  EXPECT_TRUE(h.flows[0]->websocket_messages.empty());
  EXPECT_FALSE(h.client_closed);
}

TEST(Http2Layer, WebSocketResetMidwayPublishesTheMessagesSoFar) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp2, true);
  h.run();
  const int32_t id = h.client.request(ws_connect("/reset"), std::string());
  h.client.open_ended(id);
  h.run();
  const int32_t sid = h.server().messages.begin()->first;
  h.server().open_ended(sid);
  h.server().respond(sid, {{":status", "200"}}, std::string());
  h.run();
  h.client.more_body(id, ws_frame(kFin | 1, "one", true), false);
  h.run();
  h.server().reset(sid, NGHTTP2_CANCEL);
  h.run();
  EXPECT_TRUE(h.client.messages[id].reset_code.has_value());
  ASSERT_FALSE(h.flows.empty());
  const FlowSnapshot& flow = *h.flows.back();
  EXPECT_EQ(flow.state, FlowState::kFinished);
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "one");
  EXPECT_EQ(flow.error, "stream reset by the server (CANCEL)");
}

}  // namespace
}  // namespace sightglass::core
