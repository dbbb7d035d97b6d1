// The filter language (core/filter): FlowFilter::parse on arbitrary expression text and, when
// it parses, evaluation against a fixed set of flows three ways: on each full FlowSnapshot, on
// each flow's summary (FlowFilter::matches(SummaryView, loader)) and through a SummaryTable scan
// (interned strings, FilterMemo). So every term runs, regexes (PCRE2, JIT) included, and ~b /
// ~bq / ~bs search bodies decoded from gzip, deflate, br and zstd and WebSocket messages. The
// three ways must agree (the target traps otherwise), and a summary-only filter must never
// load the flow.
//
// Input: the expression text, as given to --filter or `sightglass show IN FILTER` (e.g.
// "~m POST & ~d api\.test | !~s"); at most 4 KiB is used, so PCRE2 backtracking stays bounded.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/export/content_decoding.h"
#include "core/filter/filter.h"
#include "core/filter/flow_summary.h"
#include "core/proxy/flow.h"
#include "core/store/summary_table.h"
#include "fuzz/fuzz_input.h"

namespace {

using namespace sightglass::core;

constexpr size_t kMaxExpression = 4096;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

void set_body(CapturedBody* body, std::string_view data) { body->append(data, 1 << 20); }

HttpRequestData request(std::string method, std::string scheme, std::string host, uint16_t port,
                        std::string target, std::string version, Headers headers) {
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

HttpResponseData response(int status, std::string version, Headers headers, std::string_view body) {
  HttpResponseData r;
  r.status = status;
  r.reason = "Reason";
  r.http_version = std::move(version);
  r.headers = std::move(headers);
  set_body(&r.body, body);
  return r;
}

// encoded returns |text| under |coding| (the fixtures compress their bodies themselves).
std::string encoded(std::string_view coding, std::string_view text) {
  return encode_content(coding, text).value_or(std::string(text));
}

// The flows: HTTP/1 and HTTP/2 exchanges with text, JSON, compressed and binary bodies,
// trailers, a failed request, a TCP relay, a WebSocket, a passed-through TLS connection.
std::vector<FlowSnapshotConstSharedPtr> make_flows() {
  std::vector<FlowSnapshotConstSharedPtr> flows;
  auto add = [&](FlowSnapshot flow) {
    flow.id = flows.size() + 1;
    flow.state = FlowState::kFinished;
    flow.timings.started_us = 1'700'000'000'000'000 + static_cast<int64_t>(flows.size()) * 1000;
    flow.timings.send_us = 10;
    flow.timings.wait_us = 20;
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
    f.client_tls = TlsInfo{"api.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", std::nullopt};
    f.server_tls = TlsInfo{
        "api.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2",
        TlsCertificateInfo{"CN=api.test", "CN=ca", "2030-01-01T00:00:00Z", std::string(64, 'a')}};
    f.request = request("POST", "https", "api.test", 443, "/v1/items", "HTTP/2.0",
                        {{"content-type", "application/json"},
                         {"authorization", "Bearer token123"},
                         {"content-encoding", "zstd"}});
    set_body(&f.request->body,
             encoded("zstd", R"({"name": "Widget", "secret": "needle-in-request"})"));
    f.response = response(201, "HTTP/2.0",
                          {{"content-type", "application/json"}, {"content-encoding", "br"}},
                          encoded("br", R"({"id": 42, "items": ["a", "b", "c"]})"));
    f.response->trailers = {{"x-checksum", "abc123"}, {"grpc-status", "0"}};
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.10:40003";
    f.server_address = "93.184.216.34:80";
    f.request = request("GET", "http", "example.com", 80, "/missing", "HTTP/1.1",
                        {{"Host", "example.com"}});
    f.response = response(404, "HTTP/1.1",
                          {{"Content-Type", "text/plain"}, {"Content-Encoding", "deflate, gzip"}},
                          encoded("deflate, gzip", "not found - it's gone\nline two\n"));
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
    m.opcode = 2;
    m.data = std::string("needle-ws\0\xff frame", 17);
    f.websocket_messages.push_back(m);
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "192.168.1.60:40007";
    f.server_address = "10.4.4.4:443";
    f.client_tls = TlsInfo{"cdn.test", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "h2", {}};
    f.request = request("GET", "https", "cdn.test", 443, "/style.css", "HTTP/2.0",
                        {{"accept", "text/css"}});
    f.response =
        response(200, "HTTP/2.0", {{"content-type", "text/css"}, {"content-encoding", "gzip"}},
                 encoded("gzip", "body { color: red; } /* gzipped-needle */"));
    // Kept only in part: the body is a prefix of the whole.
    f.response->body.size += 5000;
    f.response->body.truncated = true;
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
  {
    FlowSnapshot f;
    f.kind = FlowKind::kTcp;
    f.client_address = "10.9.9.9:40009";
    f.server_address = "10.6.6.6:443";
    f.tcp_host = "pinned.test";
    f.tcp_port = 443;
    f.tcp_sni = "pinned.test";
    f.passthrough = "client rejected our certificate";
    f.passthrough_learned = true;
    add(std::move(f));
  }
  {
    FlowSnapshot f;
    f.client_address = "127.0.0.1:40010";
    f.server_address = "127.0.0.1:9000";
    f.replay = true;
    f.original_url = "http://orig.test/a";
    f.modified = "mapped by --map-remote";
    f.request = request("PUT", "http", "caf\xc3\xa9.test", 9000, "/\xff?x=\xe2\x82\xac", "HTTP/1.0",
                        {{"Host", "caf\xc3\xa9.test:9000"}, {"Content-Type", "text/plain"}});
    set_body(&f.request->body, "caf\xc3\xa9 CAF\xc3\x89 \xff\xfe");
    add(std::move(f));
  }
  return flows;
}

struct Fixture {
  std::vector<FlowSnapshotConstSharedPtr> flows = make_flows();
  std::vector<FlowSummary> summaries;
  SummaryTable table;

  Fixture() {
    for (const FlowSnapshotConstSharedPtr& flow : flows) {
      summaries.push_back(summarize(*flow));
      table.upsert(flow->id, summaries.back().view());
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture_storage;
  const Fixture* const fixture = &fixture_storage;
  const std::string_view expression =
      sightglass::fuzz::as_view(data, size).substr(0, kMaxExpression);
  FilterError error;
  const FlowFilterConstSharedPtr filter = FlowFilter::parse(expression, &error);
  if (!filter) {
    check(error.position <= expression.size() && !error.message.empty());
    (void)error.describe();
    return 0;
  }
  check(filter->text() == expression);
  std::vector<bool> expected;
  for (size_t i = 0; i < fixture->flows.size(); ++i) {
    const FlowSnapshotConstSharedPtr& flow = fixture->flows[i];
    const bool by_flow = filter->matches(*flow);
    int loads = 0;
    const bool by_summary = filter->matches(fixture->summaries[i].view(), [&] {
      ++loads;
      return flow;
    });
    check(by_flow == by_summary);
    check(filter->needs_detail() ? loads <= 1 : loads == 0);
    expected.push_back(by_flow);
  }
  // The table's scan: interned strings and the regex memo, on this thread only.
  SummaryTable::ScanControl control;
  control.max_threads = 1;
  const std::vector<uint32_t> rows = fixture->table.filter(
      *filter,
      [&](uint64_t key) {
        check(filter->needs_detail());
        return key >= 1 && key <= fixture->flows.size() ? fixture->flows[key - 1] : nullptr;
      },
      &control);
  size_t matched = 0;
  for (bool match : expected) {
    matched += match ? 1 : 0;
  }
  check(rows.size() == matched);
  for (uint32_t row : rows) {
    check(row < expected.size() && expected[row]);
  }
  return 0;
}
