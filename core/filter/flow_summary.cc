#include "core/filter/flow_summary.h"

#include "core/proxy/host_port.h"

namespace sightglass::core {

std::string_view protocol_name(FlowProtocol protocol) {
  switch (protocol) {
    case FlowProtocol::kHttp1:
      return "h1";
    case FlowProtocol::kHttp2:
      return "h2";
    case FlowProtocol::kWebSocket:
      return "ws";
    case FlowProtocol::kTcp:
      return "tcp";
  }
  return "h1";
}

SummaryView FlowSummary::view() const {
  SummaryView v;
  v.id = id;
  v.started_us = started_us;
  v.duration_us = duration_us;
  v.client = client;
  v.server = server;
  v.method = method;
  v.scheme = scheme;
  v.host = host;
  v.port = port;
  v.path = path;
  v.url = url;
  v.status = status;
  v.request_content_type = request_content_type;
  v.response_content_type = response_content_type;
  v.request_size = request_size;
  v.response_size = response_size;
  v.protocol = protocol;
  v.flags = flags;
  return v;
}

FlowSummary summarize(const FlowSnapshot& flow) {
  FlowSummary s;
  s.id = flow.id;
  s.started_us = flow.timings.started_us;
  s.duration_us = flow.timings.total_us();
  s.client = flow.client_address;
  s.server = flow.server_address;
  if (!flow.error.empty()) {
    s.flags |= kSummaryError;
  }
  if (flow.client_tls) {
    s.flags |= kSummaryTls;
  }
  if (!flow.passthrough.empty()) {
    s.flags |= kSummaryPassthrough;
  }
  if (flow.state == FlowState::kLive) {
    s.flags |= kSummaryLive;
  }
  if (flow.replay) {
    s.flags |= kSummaryReplay;
  }
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
