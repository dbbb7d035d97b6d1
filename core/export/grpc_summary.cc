#include "core/export/grpc_summary.h"

#include <cstdlib>
#include <utility>

namespace sightglass::core {
namespace {

// sizes fills |out| with the message sizes of |body| and returns how many messages it had.
uint64_t sizes(const CapturedBody& body, std::vector<uint64_t>* out) {
  if (body.grpc) {
    *out = body.grpc->sizes;
    return body.grpc->messages;
  }
  GrpcFraming framing;  // Without the layer's count: the messages of the kept prefix.
  for (const BodyChunk& chunk : body.chunks) {
    framing.feed(*chunk);
  }
  *out = std::move(framing.sizes);
  return framing.messages;
}

}  // namespace

std::optional<GrpcSummary> grpc_summary(const FlowSnapshot& flow) {
  if (!flow.request || !(is_grpc_content_type(flow.request->headers) ||
                         (flow.response && is_grpc_content_type(flow.response->headers)))) {
    return std::nullopt;
  }
  GrpcSummary summary;
  summary.request_messages = sizes(flow.request->body, &summary.request_sizes);
  if (flow.response) {
    summary.response_messages = sizes(flow.response->body, &summary.response_sizes);
    for (const Headers* headers : {&flow.response->trailers, &flow.response->headers}) {
      const std::string* status = find_header(*headers, "grpc-status");
      if (status == nullptr) {
        continue;
      }
      char* end = nullptr;
      const long long value = std::strtoll(status->c_str(), &end, 10);
      if (end != status->c_str() && *end == '\0') {
        summary.status = value;
      }
      if (const std::string* message = find_header(*headers, "grpc-message")) {
        summary.message = *message;
      }
      break;
    }
  }
  return summary;
}

}  // namespace sightglass::core
