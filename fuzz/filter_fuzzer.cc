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
#include "tests/support/filter_flows.h"

namespace {

using namespace sightglass::core;

constexpr size_t kMaxExpression = 4096;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// encoded returns |text| under |coding| (the variants compress their bodies themselves).
std::string encoded(std::string_view coding, std::string_view text) {
  return encode_content(coding, text).value_or(std::string(text));
}

// The flows: filter_test's eight (HTTP/1 and HTTP/2 exchanges with text, JSON, compressed and
// binary bodies, a trailer, a failed request, a TCP relay, a WebSocket), variants of four of
// them with TLS details and bodies in every content coding, a passed-through TLS connection
// and a replayed request with non-UTF-8 bytes.
std::vector<FlowSnapshotConstSharedPtr> make_flows() {
  using filter_flows::set_body;
  const std::vector<FlowSnapshotConstSharedPtr> base = filter_flows::make_flows();
  std::vector<FlowSnapshotConstSharedPtr> flows;
  auto add = [&](FlowSnapshot flow) {
    flow.id = flows.size() + 1;
    flow.state = FlowState::kFinished;
    flow.timings.started_us = 1'700'000'000'000'000 + static_cast<int64_t>(flows.size()) * 1000;
    flow.timings.send_us = 10;
    flow.timings.wait_us = 20;
    flows.push_back(std::make_shared<const FlowSnapshot>(std::move(flow)));
  };
  for (const FlowSnapshotConstSharedPtr& flow : base) {
    add(*flow);
  }
  {
    FlowSnapshot f = *base[1];  // The HTTP/2 POST: zstd up, br down, both TLS sides.
    f.client_tls = TlsInfo{"api.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", std::nullopt};
    f.server_tls = TlsInfo{
        "api.test", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2",
        TlsCertificateInfo{"CN=api.test", "CN=ca", "2030-01-01T00:00:00Z", std::string(64, 'a')}};
    f.request->headers.push_back({"content-encoding", "zstd"});
    f.request->body = {};
    set_body(&f.request->body,
             encoded("zstd", R"({"name": "Widget", "secret": "needle-in-request"})"));
    f.response->headers.push_back({"content-encoding", "br"});
    f.response->body = {};
    set_body(&f.response->body, encoded("br", R"({"id": 42, "items": ["a", "b", "c"]})"));
    f.response->trailers.push_back({"grpc-status", "0"});
    add(std::move(f));
  }
  {
    FlowSnapshot f = *base[2];  // The 404, in two codings at once.
    f.response->headers.push_back({"Content-Encoding", "deflate, gzip"});
    f.response->body = {};
    set_body(&f.response->body, encoded("deflate, gzip", "not found - it's gone\nline two\n"));
    add(std::move(f));
  }
  {
    FlowSnapshot f = *base[5];  // The WebSocket, with a binary message.
    WebSocketMessage m;
    m.opcode = 2;
    m.data = std::string("needle-ws\0\xff frame", 17);
    f.websocket_messages.push_back(m);
    add(std::move(f));
  }
  {
    FlowSnapshot f = *base[6];  // The gzipped CSS, kept only in part, over TLS 1.2.
    f.client_tls = TlsInfo{"cdn.test", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "h2", {}};
    f.response->body.size += 5000;
    f.response->body.truncated = true;
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
    f.request = filter_flows::request(
        "PUT", "http", "caf\xc3\xa9.test", 9000, "/\xff?x=\xe2\x82\xac", "HTTP/1.0",
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
