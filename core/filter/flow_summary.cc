#include "core/filter/flow_summary.h"

#include "core/proxy/host_port.h"

namespace sightglass::core {

std::string_view protocol_name(FlowProtocol protocol) {
  static constexpr std::string_view kNames[] = {"h1", "h2", "ws", "tcp"};  // By FlowProtocol.
  const auto index = static_cast<size_t>(protocol);
  return index < std::size(kNames) ? kNames[index] : "h1";
}

SummaryView FlowSummary::view() const {
  // Aggregate initialization of the fields, in order (|interned| keeps its default).
  return SummaryView{{id, started_us, duration_us, client, server, method, scheme, host, port, path,
                      url, status, request_content_type, response_content_type, request_size,
                      response_size, protocol, flags}};
}

FlowSummary summarize(const FlowSnapshot& flow) {
  FlowSummary s;
  s.id = flow.id;
  s.started_us = flow.timings.started_us;
  s.duration_us = flow.timings.total_us();
  s.client = flow.client_address;
  s.server = flow.server_address;
  s.flags = static_cast<uint8_t>(
      (flow.error.empty() ? 0 : kSummaryError) | (flow.client_tls ? kSummaryTls : 0) |
      (flow.passthrough.empty() ? 0 : kSummaryPassthrough) |
      (flow.state == FlowState::kLive ? kSummaryLive : 0) | (flow.replay ? kSummaryReplay : 0));
  if (flow.kind == FlowKind::kTcp) {
    s.protocol = FlowProtocol::kTcp;
    s.scheme = "tcp";
    s.host = flow.tcp_host;
    s.port = flow.tcp_port;
    s.url = "tcp://" + format_host_port(flow.tcp_host, flow.tcp_port);
    s.request_size = flow.bytes_from_client;
    s.response_size = flow.bytes_from_server;
    return s;
  }
  if (flow.request) {
    const HttpRequestData& request = *flow.request;
    s.method = request.method;
    s.scheme = request.scheme;
    s.host = request.host;
    s.port = request.port;
    s.path = request.target;
    s.url = request.url();
    s.request_size = request.body.size;
    if (const std::string* type = find_header(request.headers, "content-type")) {
      s.request_content_type = *type;
    }
    s.protocol = request.http_version == "HTTP/2.0" || request.http_version == "HTTP/2"
                     ? FlowProtocol::kHttp2
                     : FlowProtocol::kHttp1;
  }
  if (flow.response) {
    const HttpResponseData& response = *flow.response;
    s.flags |= kSummaryHasResponse;
    s.status = response.status;
    s.response_size = response.body.size;
    if (const std::string* type = find_header(response.headers, "content-type")) {
      s.response_content_type = *type;
    }
  }
  if (!flow.websocket_messages.empty() || (flow.response && flow.response->status == 101) ||
      (flow.response && flow.response->status == 200 && flow.request &&
       flow.request->method == "CONNECT" && find_header(flow.request->headers, ":protocol"))) {
    s.protocol = FlowProtocol::kWebSocket;
  }
  return s;
}

}  // namespace sightglass::core
