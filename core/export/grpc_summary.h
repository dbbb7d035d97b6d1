#pragma once

// grpc_summary: what a flow's gRPC exchange amounts to (grpc-status, grpc-message and each
// length-prefixed message's size), for the flow log's `_grpc` and the inspector.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

struct GrpcSummary {
  std::optional<int64_t> status;       // grpc-status, from the trailers (or a trailers-only head).
  std::optional<std::string> message;  // grpc-message as sent (percent-encoded).
  std::vector<uint64_t> request_sizes;
  std::vector<uint64_t> response_sizes;
  uint64_t request_messages = 0;  // Also counts messages past GrpcFraming::kMaxMessages.
  uint64_t response_messages = 0;
};

// grpc_summary summarizes a flow whose request or response is application/grpc (nullopt for
// any other flow). Without the layer's framing count, the sizes are those of the kept bytes.
std::optional<GrpcSummary> grpc_summary(const FlowSnapshot& flow);

}  // namespace sightglass::core
