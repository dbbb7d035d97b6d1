#pragma once

// The flows the filter language is tested on (tests/core/filter_test.cc, whose table lists the
// ids each expression matches) and fuzzed against (fuzz/filter_fuzzer.cc adds variants), and
// the helpers that build them. Header-only, no GoogleTest.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core::filter_flows {

inline void set_body(CapturedBody* body, std::string_view data) { body->append(data, 1 << 20); }

inline HttpRequestData request(std::string method, std::string scheme, std::string host,
                               uint16_t port, std::string target, std::string version,
                               Headers headers) {
  HttpRequestData r;
  r.method = std::move(method);
  r.scheme = std::move(scheme);
  r.host = std::move(host);
  r.port = port;
  r.target = std::move(target);
  r.http_version = std::move(version);
  r.headers = std::move(headers);
  return r;
}

inline HttpResponseData response(int status, std::string version, Headers headers,
                                 std::string_view body) {
  HttpResponseData r;
  r.status = status;
  r.http_version = std::move(version);
  r.headers = std::move(headers);
  set_body(&r.body, body);
  return r;
}

inline constexpr char kGzippedCss[] =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x4b\xca\x4f\xa9\x54\xa8\x56\x48\xce\xcf\xc9\x2f"
    "\xb2\x52\x28\x4a\x4d\x51\xa8\x55\xd0\xd7\x52\x48\xaf\xca\x2c\x28\x48\x4d\xd1\xcd\x4b\x4d"
    "\x4d\xc9\x49\x55\xd0\xd2\x07\x00\x7e\x64\x31\x3e\x28\x00\x00\x00";  // gzip of the CSS below.

// The flows every row of the table is evaluated against, ids 1 to 8:
//  1 h1 GET http://example.com/index.html?q=1, 200 text/html, body with "needle" over lines
//  2 h2 POST https://api.test/v1/items with a JSON body, 201 application/json, a trailer
//  3 h1 GET http://example.com/missing, 404 text/plain
//  4 h1 GET https://down.test/ping, no response, error, no server reached
//  5 TCP to db.internal:5432
//  6 h1 WebSocket to http://chat.test/socket, 101, three messages
//  7 h2 GET https://cdn.test/style.css, 200 text/css, gzip-encoded body
//  8 h1 GET http://img.test:8080/logo.png from [::1], 200 image/png, binary body
inline std::vector<FlowSnapshotConstSharedPtr> make_flows() {
  std::vector<FlowSnapshotConstSharedPtr> flows;
  auto add = [&](FlowSnapshot flow) {
    flow.id = flows.size() + 1;
    flow.state = FlowState::kFinished;
    flows.push_back(std::make_shared<const FlowSnapshot>(std::move(flow)));
  };
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.10:40001";
    f.server_address = "93.184.216.34:80";
    f.request = request("GET", "http", "example.com", 80, "/index.html?q=1", "HTTP/1.1",
                        {{"Host", "example.com"}, {"User-Agent", "curl/8.4.0"}, {"Accept", "*/*"}});
    f.response = response(200, "HTTP/1.1",
                          {{"Content-Type", "text/html; charset=utf-8"},
                           {"X-Custom-Header", "MiXeD Value"},
                           {"Content-Length", "27"}},
                          "<html>\nhello needle\n</html>");
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.20:40002";
    f.server_address = "10.1.1.1:443";
    f.request = request("POST", "https", "api.test", 443, "/v1/items", "HTTP/2.0",
                        {{"content-type", "application/json"},
                         {"authorization", "Bearer token123"},
                         {"user-agent", "python-requests/2.31"}});
    set_body(&f.request->body, R"({"name": "Widget", "secret": "needle-in-request"})");
    f.response = response(201, "HTTP/2.0", {{"content-type", "application/json"}}, R"({"id": 42})");
    f.response->trailers = {{"x-checksum", "abc123"}};
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.10:40003";
    f.server_address = "93.184.216.34:80";
    f.request = request("GET", "http", "example.com", 80, "/missing", "HTTP/1.1",
                        {{"Host", "example.com"}});
    f.response =
        response(404, "HTTP/1.1", {{"Content-Type", "text/plain"}}, "not found - it's gone");
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.30:40004";
    f.request =
        request("GET", "https", "down.test", 443, "/ping", "HTTP/1.1", {{"Host", "down.test"}});
    f.error = "connection refused";
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.kind = FlowKind::kTcp;
    f.client_address = "192.168.1.40:40005";
    f.server_address = "10.2.2.2:5432";
    f.tcp_host = "db.internal";
    f.tcp_port = 5432;
    f.bytes_from_client = 100;
    f.bytes_from_server = 200;
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.50:40006";
    f.server_address = "10.3.3.3:80";
    f.request = request("GET", "http", "chat.test", 80, "/socket", "HTTP/1.1",
                        {{"Host", "chat.test"},
                         {"Upgrade", "websocket"},
                         {"Connection", "Upgrade"},
                         {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    f.response =
        response(101, "HTTP/1.1", {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}, "");
    WebSocketMessage m;
    m.from_client = true;
    m.data = "subscribe:prices";
    f.websocket_messages.push_back(m);
    m.from_client = false;
    m.data = "tick 101.5";
    f.websocket_messages.push_back(m);
    m.data = "needle-ws frame";
    f.websocket_messages.push_back(m);
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.60:40007";
    f.server_address = "10.4.4.4:443";
    f.request = request("GET", "https", "cdn.test", 443, "/style.css", "HTTP/2.0",
                        {{"accept", "text/css"}});
    f.response =
        response(200, "HTTP/2.0", {{"content-type", "text/css"}, {"content-encoding", "gzip"}},
                 std::string_view(kGzippedCss, sizeof(kGzippedCss) - 1));
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "[::1]:40008";
    f.server_address = "10.5.5.5:8080";
    f.request = request("GET", "http", "img.test", 8080, "/logo.png", "HTTP/1.1",
                        {{"Host", "img.test:8080"}, {"X-Request-ID", "AbC-123"}});
    f.response = response(200, "HTTP/1.1", {{"Content-Type", "image/png"}},
                          std::string_view("\x89PNG\r\n\x1a\n\xff\xfe\x00needle", 17));
    add(std::move(f));
  }
  return flows;
}

}  // namespace sightglass::core::filter_flows
