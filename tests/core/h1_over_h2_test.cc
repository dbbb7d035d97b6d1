// H1OverH2 without sockets: HTTP/1.1 request bytes go in on one side, a real nghttp2 server
// session answers on the other, and the HTTP/1.1 response bytes that come out are checked.
#include "core/layers/h1_over_h2.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/support/h2_peer.h"

namespace sightglass::core {
namespace {

using Message = test::H2Message;

// ServerPeer is the origin: an nghttp2 server session with the default windows.
class ServerPeer : public test::H2Peer {
 public:
  ServerPeer() : H2Peer(true, false, Window::kDefault) {}
};

// Pipe runs the adapter against the server peer.
struct Pipe {
  H1OverH2 adapter{"origin.test"};
  ServerPeer server;
  std::string app;  // HTTP/1.1 bytes handed to the application so far.
  bool closed = false;
  std::string error;
  std::vector<bool> pauses;
  bool server_ok = true;

  Pipe() {
    H1OverH2::Output out;
    adapter.start(out);
    take(out);
    pump();
  }
  void take(H1OverH2::Output& out) {
    app += out.to_app;
    if (!out.to_server.empty() && !server.receive(out.to_server)) {
      server_ok = false;
    }
    if (out.app_closed) {
      EXPECT_FALSE(closed) << "closed twice";
      closed = true;
      error = out.error;
    }
    if (out.pause) {
      pauses.push_back(*out.pause);
    }
  }
  void write(std::string_view h1) {
    H1OverH2::Output out;
    adapter.on_app_bytes(h1, out);
    take(out);
  }
  void from_server(std::string_view h2) {
    H1OverH2::Output out;
    adapter.on_server_bytes(h2, out);
    take(out);
  }
  // pump moves frames both ways until neither side has anything to say.
  void pump() {
    for (int i = 0; i < 10000; ++i) {
      const std::string bytes = server.drain();
      if (bytes.empty()) {
        return;
      }
      from_server(bytes);
    }
    ADD_FAILURE() << "pump did not settle";
  }
  // take_app returns the application bytes so far and forgets them.
  std::string take_app() { return std::exchange(app, std::string()); }
};

// framing_free re-reads HTTP/1.1 responses as heads, body bytes and trailers: the same
// messages compare equal however the body was cut into chunks.
std::string framing_free(const std::string& h1) {
  Http1Parser parser(Http1Parser::Kind::kResponse);
  std::string out;
  HttpParseEvents events;
  parser.feed(h1, events);
  for (size_t i = 0; i < events.size(); ++i) {
    if (auto* head = std::get_if<HttpHead>(&events[i])) {
      out += serialize_response_head(head->version, head->status, head->reason, head->headers);
    } else if (auto* body = std::get_if<HttpBodyData>(&events[i])) {
      out += body->data;
    } else if (auto* end = std::get_if<HttpMessageEnd>(&events[i])) {
      out += "[end]" + serialize_response_head("", 0, "", end->trailers);
      parser.next_message(events);
    } else {
      out += "[other]";
    }
  }
  return out;
}

Headers pseudo_and(Headers extra, std::string method = "GET", std::string path = "/",
                   std::string authority = "example.com") {
  Headers h{{":method", std::move(method)},
            {":scheme", "https"},
            {":authority", std::move(authority)},
            {":path", std::move(path)}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

TEST(H1OverH2Test, GetBecomesAStreamAndTheResponseHttp11) {
  Pipe p;
  p.write(
      "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nConnection: keep-alive, "
      "X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nTE: gzip\r\nProxy-Connection: x\r\n"
      "Accept: */*\r\n\r\n");
  p.pump();
  ASSERT_TRUE(p.server_ok);
  ASSERT_EQ(p.server.messages.count(1), 1u);
  const Message& m = p.server.messages[1];
  EXPECT_EQ(m.headers, pseudo_and({{"user-agent", "t/1"}, {"accept", "*/*"}}, "GET", "/a?b=1"));
  EXPECT_TRUE(m.ended);
  p.server.respond(1, {{":status", "200"}, {"content-length", "5"}, {"x-a", "b"}}, "hello");
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello");
  EXPECT_FALSE(p.closed);
}

TEST(H1OverH2Test, AHeaderBlockPastTheLimitEndsTheConnection) {
  // A response head that decodes to more than kMaxHeaderListBytes (HPACK makes that cheap to
  // send: the "HPACK bomb" fuzz/http2_client_fuzzer.cc found) is not kept: the HTTP/1.1 side
  // ends with the reason.
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  Headers head{{":status", "200"}};
  for (int i = 0; i < 64; ++i) {
    head.push_back({"x-big", std::string(1000, 'b')});
  }
  p.server.respond(1, head, "hello");
  p.pump();
  EXPECT_EQ(p.take_app(), "");
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.error, "the server's header fields are larger than 64 KiB");
}

TEST(H1OverH2Test, RequestWithoutHostUsesTheDefaultAuthority) {
  Pipe p;
  p.write("GET http://other.test:8443/x HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n");
  p.pump();
  EXPECT_EQ(p.server.messages[1].headers, pseudo_and({}, "GET", "/x", "other.test:8443"));
  p.server.respond(1, {{":status", "204"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 204 No Content\r\n\r\n");
  p.pump();
  EXPECT_EQ(p.server.messages[3].headers, pseudo_and({}, "GET", "/", "origin.test"));
}

TEST(H1OverH2Test, PostWithContentLength) {
  Pipe p;
  p.write("POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello");
  p.pump();
  p.write(" world");
  p.pump();
  const Message& m = p.server.messages[1];
  EXPECT_EQ(m.headers, pseudo_and({{"content-length", "11"}}, "POST", "/up"));
  EXPECT_EQ(m.body, "hello world");
  EXPECT_TRUE(m.ended);
  p.server.respond(1, {{":status", "201"}, {"content-length", "0"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
}

TEST(H1OverH2Test, ChunkedRequestWithTrailers) {
  Pipe p;
  p.write(
      "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
      "\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Sum: 7\r\n\r\n");
  p.pump();
  const Message& m = p.server.messages[1];
  EXPECT_EQ(m.headers, pseudo_and({{"te", "trailers"}}, "POST", "/c"));
  EXPECT_EQ(m.body, "abcdefg");
  EXPECT_EQ(m.trailers, (Headers{{"x-sum", "7"}}));
  EXPECT_TRUE(m.ended);
}

TEST(H1OverH2Test, KeepAliveSecondRequestOnANewStream) {
  Pipe p;
  p.write("GET /1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(1, {{":status", "200"}, {"content-length", "1"}}, "1");
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1");
  p.write("GET /2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  EXPECT_EQ(p.server.messages[3].headers, pseudo_and({}, "GET", "/2"));
  p.server.respond(3, {{":status", "404"}, {"content-length", "2"}}, "no");
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno");
  EXPECT_FALSE(p.closed);
}

TEST(H1OverH2Test, ResponseWithoutLengthIsChunkedWithTrailers) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(1, {{":status", "200"}, {"content-type", "text/plain"}}, "hello",
                   {{"grpc-status", "0"}});
  p.pump();
  EXPECT_EQ(p.take_app(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n");
}

TEST(H1OverH2Test, ResponseWithoutBodyOrLength) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(1, {{":status", "200"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n");
}

TEST(H1OverH2Test, HeadGetsNoBody) {
  Pipe p;
  p.write("HEAD /big HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(1, {{":status", "200"}, {"content-length", "1000"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
  p.write("HEAD /nolength HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(3, {{":status", "200"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_FALSE(p.closed);
}

TEST(H1OverH2Test, ExpectContinue) {
  Pipe p;
  p.write(
      "PUT /f HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  p.pump();
  const Message& m = p.server.messages[1];
  EXPECT_EQ(m.headers,
            pseudo_and({{"expect", "100-continue"}, {"content-length", "4"}}, "PUT", "/f"));
  EXPECT_FALSE(m.ended);
  p.server.interim(1, {{":status", "100"}});
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 100 Continue\r\n\r\n");
  p.write("data");
  p.pump();
  EXPECT_EQ(m.body, "data");
  EXPECT_TRUE(m.ended);
  p.server.respond(1, {{":status", "200"}, {"content-length", "0"}}, std::nullopt);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
}

TEST(H1OverH2Test, EarlyHints) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.interim(1, {{":status", "103"}, {"link", "</s.css>; rel=preload"}});
  p.server.respond(1, {{":status", "200"}, {"content-length", "2"}}, "ok");
  p.pump();
  EXPECT_EQ(p.take_app(),
            "HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n"
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
}

TEST(H1OverH2Test, ResetStreamIsAnError) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.reset(1, NGHTTP2_INTERNAL_ERROR);
  p.pump();
  EXPECT_TRUE(p.closed);
  EXPECT_NE(p.error.find("reset"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("INTERNAL_ERROR"), std::string::npos) << p.error;
  EXPECT_EQ(p.app, "");
}

TEST(H1OverH2Test, ResetAfterAnEarlyResponseIsNotAnError) {
  // The server answers before the upload is done and cancels the rest (RFC 9113 8.1).
  Pipe p;
  p.write("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nab");
  p.pump();
  p.server.respond(1, {{":status", "413"}, {"content-length", "0"}}, std::nullopt);
  p.pump();
  p.server.reset(1, NGHTTP2_NO_ERROR);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\n\r\n");
  p.write("cdefghij");
  p.pump();
  EXPECT_FALSE(p.closed);
  p.write("GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  EXPECT_EQ(p.server.messages[3].headers, pseudo_and({}, "GET", "/next"));
}

TEST(H1OverH2Test, GoawayAfterACompleteResponseClosesQuietly) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.respond(1, {{":status", "200"}, {"content-length", "2"}}, "ok");
  p.server.goaway(1);
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.error, "");
}

TEST(H1OverH2Test, GoawayRefusingTheRequestIsAnError) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.server.goaway(0);
  p.pump();
  EXPECT_TRUE(p.closed);
  EXPECT_NE(p.error.find("refused"), std::string::npos) << p.error;
}

TEST(H1OverH2Test, GoawayWhileIdleClosesQuietly) {
  Pipe p;
  p.server.goaway(0);
  p.pump();
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.error, "");
}

TEST(H1OverH2Test, ServerCloseMidResponseIsAnError) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  p.server.interim(1, {{":status", "200"}, {"content-length", "10"}});
  p.pump();
  EXPECT_EQ(p.take_app(), "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
  H1OverH2::Output out;
  p.adapter.on_server_closed("connection reset", out);
  p.take(out);
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.error, "connection reset");
}

TEST(H1OverH2Test, ProtocolErrorIsAnError) {
  Pipe p;
  p.write("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.from_server(std::string("\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00", 13));
  EXPECT_TRUE(p.closed);
  EXPECT_NE(p.error.find("invalid HTTP/2"), std::string::npos) << p.error;
}

TEST(H1OverH2Test, UpgradeFailsClearly) {
  Pipe p;
  p.write(
      "GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_TRUE(p.closed);
  EXPECT_NE(p.error.find("RFC 8441"), std::string::npos) << p.error;
  p.pump();
  EXPECT_TRUE(p.server.messages.empty());
}

TEST(H1OverH2Test, LargeDownload) {
  Pipe p;
  p.write("GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n");
  p.pump();
  std::string body(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 7 + i / 4096);
  }
  p.server.respond(1, {{":status", "200"}, {"content-length", std::to_string(body.size())}}, body);
  p.pump();
  const std::string head =
      "HTTP/1.1 200 OK\r\ncontent-length: " + std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_EQ(p.app.size(), head.size() + body.size());
  EXPECT_TRUE(p.app == head + body);
  EXPECT_FALSE(p.closed);
}

TEST(H1OverH2Test, LargeUploadWaitsForWindowsAndPauses) {
  Pipe p;
  std::string body(2 * 1024 * 1024 + 5, '\0');
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>(i * 13 + i / 1000);
  }
  p.write("POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n");
  // The server does not read for now: the default 64 KiB window fills, then the adapter
  // holds bytes and asks for a pause.
  p.server.stall_all(true);
  size_t offset = 0;
  while (offset < body.size() && (p.pauses.empty() || !p.pauses.back())) {
    const size_t n = std::min<size_t>(64 * 1024, body.size() - offset);
    p.write(std::string_view(body).substr(offset, n));
    p.pump();
    offset += n;
  }
  ASSERT_EQ(p.pauses, std::vector<bool>{true});
  EXPECT_LT(offset, body.size());
  EXPECT_LE(p.server.messages[1].body.size(), 65535u);
  p.server.stall_all(false);
  p.pump();
  ASSERT_EQ(p.pauses, (std::vector<bool>{true, false}));
  while (offset < body.size()) {
    const size_t n = std::min<size_t>(64 * 1024, body.size() - offset);
    p.write(std::string_view(body).substr(offset, n));
    p.pump();
    offset += n;
  }
  p.pump();
  const Message& m = p.server.messages[1];
  ASSERT_EQ(m.body.size(), body.size());
  EXPECT_TRUE(m.body == body);
  EXPECT_TRUE(m.ended);
}

TEST(H1OverH2Test, EverySplitOfTheRequest) {
  const std::string request =
      "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: example.com\r\n\r\n";
  for (size_t split = 0; split <= request.size(); ++split) {
    SCOPED_TRACE(split);
    Pipe p;
    p.write(request.substr(0, split));
    p.pump();
    p.write(request.substr(split));
    p.pump();
    ASSERT_TRUE(p.server_ok);
    const Message& m = p.server.messages[1];
    EXPECT_EQ(m.headers, pseudo_and({}, "POST", "/c"));
    EXPECT_EQ(m.body, "abc");
    EXPECT_EQ(m.trailers, (Headers{{"x-t", "1"}}));
    EXPECT_TRUE(m.ended);
    EXPECT_EQ(p.server.messages[3].headers, pseudo_and({}, "GET", "/2"));
  }
}

TEST(H1OverH2Test, EverySplitOfTheServerBytes) {
  // One capture of what the server sends for an interim and a chunked response with
  // trailers, fed to fresh adapters in two pieces at every point.
  const std::string request = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  std::string server_bytes;
  std::string expected;
  {
    H1OverH2 first("origin.test");
    ServerPeer server;
    H1OverH2::Output out;
    first.start(out);
    first.on_app_bytes(request, out);
    ASSERT_TRUE(server.receive(out.to_server));
    server.interim(1, {{":status", "103"}, {"link", "</a>"}});
    server.respond(1, {{":status", "200"}}, "hello world", {{"x-t", "1"}});
    server_bytes = server.drain();  // From the server's SETTINGS on.
    H1OverH2::Output back;
    first.on_server_bytes(server_bytes, back);
    expected = back.to_app;
  }
  ASSERT_EQ(expected,
            "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n"
            "transfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\nx-t: 1\r\n\r\n");
  // A fresh adapter that sent the same request (stream 1) accepts the capture as it is.
  for (size_t split = 0; split <= server_bytes.size(); ++split) {
    SCOPED_TRACE(split);
    H1OverH2 adapter("origin.test");
    H1OverH2::Output out;
    adapter.start(out);
    adapter.on_app_bytes(request, out);
    H1OverH2::Output a;
    adapter.on_server_bytes(std::string_view(server_bytes).substr(0, split), a);
    H1OverH2::Output b;
    adapter.on_server_bytes(std::string_view(server_bytes).substr(split), b);
    EXPECT_EQ(framing_free(a.to_app + b.to_app), framing_free(expected));
    EXPECT_FALSE(a.app_closed || b.app_closed) << a.error << b.error;
  }
}

}  // namespace
}  // namespace sightglass::core
