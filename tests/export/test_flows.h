#pragma once

// Flows for the export tests (and the benchmarks): a full HTTPS exchange, a typical one, a
// failed one, a TCP relay.

#include <zlib.h>

#include <memory>
#include <string>

#include "core/proxy/flow.h"

namespace sightglass::core::test_flows {

// kStartedUs is 2023-11-14T22:13:20.123Z (a whole number of milliseconds, so that it survives
// HAR's millisecond startedDateTime).
inline constexpr int64_t kStartedUs = 1'700'000'000'123'000;

// gzip compresses |data| in gzip format.
inline std::string gzip(const std::string& data) {
  z_stream stream{};
  deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

inline CapturedBody body_of(const std::string& data, uint64_t limit = 1 << 20) {
  CapturedBody body;
  body.append(data, limit);
  return body;
}

// full_flow is an HTTPS POST over HTTP/2 with a form body, cookies both ways, a gzip-encoded
// HTML response, TLS on both sides, all timings and two WebSocket messages.
inline FlowSnapshot full_flow(FlowId id = 42) {
  FlowSnapshot flow;
  flow.id = id;
  flow.kind = FlowKind::kHttp;
  flow.state = FlowState::kFinished;
  flow.client_address = "127.0.0.1:54321";
  flow.server_address = "93.184.216.34:443";
  flow.client_tls = TlsInfo{"example.com", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", {}};
  flow.server_tls = TlsInfo{"example.com", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "h2",
                            TlsCertificateInfo{"CN=example.com,O=Example", "CN=Test CA,O=Test",
                                               "2030-01-01T00:00:00Z", "ab12cd34"}};
  HttpRequestData request;
  request.method = "POST";
  request.scheme = "https";
  request.host = "example.com";
  request.port = 443;
  request.target = "/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag";
  request.http_version = "HTTP/2.0";
  request.headers = {{"Host", "example.com"},
                     {"user-agent", "curl/7.88"},
                     {"Cookie", "session=abc123; theme=dark"},
                     {"cookie", "lang=en"},
                     {"Content-Type", "application/x-www-form-urlencoded"},
                     {"X-Mixed-Case", "Value"},
                     {"x-mixed-case", "second"}};
  request.body = body_of("name=J%C3%BCrgen&city=New+York");
  request.header_bytes = 180;
  flow.request = std::move(request);

  HttpResponseData response;
  response.http_version = "HTTP/2.0";
  response.status = 302;
  response.reason = "Found";
  response.headers = {
      {"Content-Type", "text/html; charset=utf-8"},
      {"Content-Encoding", "gzip"},
      {"Set-Cookie",
       "sid=xyz; Path=/; Domain=.example.com; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly; "
       "Secure; SameSite=Lax"},
      {"Set-Cookie", "plain=1"},
      {"Location", "https://example.com/next"}};
  response.body = body_of(gzip("<html>caf\xC3\xA9 \xE2\x82\xAC</html>"));
  response.header_bytes = 240;
  flow.response = std::move(response);

  flow.websocket_messages = {
      {true, 1'700'000'000'500'001, 1, "hello \xE2\x82\xAC", false},
      {false, 1'700'000'000'600'002, 2, std::string("\x00\x01\xFF\xFE", 4), false},
  };
  flow.timings.started_us = kStartedUs;
  flow.timings.blocked_us = 1'000;
  flow.timings.dns_us = 2'500;
  flow.timings.connect_us = 30'000;
  flow.timings.ssl_us = 20'000;
  flow.timings.send_us = 500;
  flow.timings.wait_us = 40'250;
  flow.timings.receive_us = 1'750;
  return flow;
}

// typical_flow is what the log sees most: a keep-alive GET over HTTPS with eight request
// headers and a 100-byte text response, TLS on both sides.
inline FlowSnapshot typical_flow(FlowId id = 123'456) {
  FlowSnapshot flow = full_flow(id);
  flow.client_tls->alpn = "http/1.1";
  flow.server_tls->alpn = "http/1.1";
  HttpRequestData& request = *flow.request;
  request.method = "GET";
  request.target = "/api/items?page=2";
  request.http_version = "HTTP/1.1";
  request.headers = {{"Host", "example.com"},
                     {"User-Agent", "curl/7.88.1"},
                     {"Accept", "*/*"},
                     {"Accept-Language", "en-US,en;q=0.9"},
                     {"Connection", "keep-alive"},
                     {"Cache-Control", "no-cache"},
                     {"X-Request-Id", "0f8e6a2c-1b7d-4c55-9a0e-3d2f6b8c9e01"},
                     {"Authorization", "Bearer abcdef0123456789"}};
  request.body = CapturedBody{};
  HttpResponseData& response = *flow.response;
  response.http_version = "HTTP/1.1";
  response.status = 200;
  response.reason = "OK";
  response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                      {"Content-Length", "100"},
                      {"Date", "Tue, 14 Nov 2023 22:13:20 GMT"},
                      {"Server", "origin"}};
  response.body = body_of(
      "The quick brown fox jumps over the lazy dog; the five boxing wizards jump quickly...\n"
      "0123456789abcde");
  flow.websocket_messages.clear();
  flow.timings = FlowTimings{kStartedUs, 12, -1, -1, -1, 65, 1'000, 41};
  return flow;
}

// failed_flow is a GET that never got a response: the upstream certificate was rejected.
inline FlowSnapshot failed_flow(FlowId id = 7) {
  FlowSnapshot flow;
  flow.id = id;
  flow.state = FlowState::kFinished;
  flow.client_address = "127.0.0.1:40000";
  flow.client_tls = TlsInfo{"expired.example", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", {}};
  HttpRequestData request;
  request.method = "GET";
  request.scheme = "https";
  request.host = "expired.example";
  request.port = 8443;
  request.target = "/";
  request.headers = {{"Host", "expired.example:8443"}};
  request.header_bytes = 40;
  flow.request = std::move(request);
  flow.error = "upstream certificate verify failed: certificate has expired";
  flow.timings.started_us = kStartedUs + 5'000;
  flow.timings.dns_us = 1'000;
  flow.timings.connect_us = 3'000;
  return flow;
}

// tcp_flow is a raw TCP relay.
inline FlowSnapshot tcp_flow(FlowId id = 9) {
  FlowSnapshot flow;
  flow.id = id;
  flow.kind = FlowKind::kTcp;
  flow.state = FlowState::kFinished;
  flow.client_address = "[::1]:50000";
  flow.server_address = "[2001:db8::1]:5222";
  flow.tcp_host = "xmpp.example";
  flow.tcp_port = 5222;
  flow.bytes_from_client = 10;
  flow.bytes_from_server = 2048;
  flow.timings.started_us = kStartedUs + 9'000;
  flow.timings.connect_us = 2'000;
  flow.timings.receive_us = 3'000'000;
  return flow;
}

// request_flow is a finished HTTP flow that has only a request line: no headers, no body, no
// response, no TLS, no timings.
inline FlowSnapshot request_flow(std::string method, std::string scheme, std::string host,
                                 uint16_t port, std::string target) {
  FlowSnapshot flow;
  flow.state = FlowState::kFinished;
  HttpRequestData& request = flow.request.emplace();
  request.method = std::move(method);
  request.scheme = std::move(scheme);
  request.host = std::move(host);
  request.port = port;
  request.target = std::move(target);
  return flow;
}

inline FlowSnapshotConstSharedPtr shared(FlowSnapshot flow) {
  return std::make_shared<const FlowSnapshot>(std::move(flow));
}

}  // namespace sightglass::core::test_flows
