#pragma once

// The summary of a flow: the few fields the flow table shows and the summary terms of the filter
// language read (~m ~c ~d ~u ~t ~e ~q ~s ~src ~dst ~a ~tcp ~websocket). The session store keeps
// summaries of every flow in memory, column by column; a flow's headers and bodies stay on disk.
// SummaryView is the borrowed form both the owning FlowSummary and the store's columns hand to
// the filter, so one evaluator serves both.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/proxy/flow.h"

namespace sightglass::core {

// FlowProtocol is the protocol column of the flow table.
enum class FlowProtocol : uint8_t {
  kHttp1,      // HTTP/1.x on the client side.
  kHttp2,      // An HTTP/2 stream.
  kWebSocket,  // An HTTP exchange upgraded to WebSocket (either HTTP version).
  kTcp,        // A raw TCP relay or a passed-through TLS connection.
};

// protocol_name returns "h1", "h2", "ws" or "tcp".
std::string_view protocol_name(FlowProtocol protocol);

// Summary flags.
enum FlowSummaryFlags : uint8_t {
  kSummaryHasResponse = 1 << 0,  // A response head arrived.
  kSummaryError = 1 << 1,        // The flow failed (error is not empty).
  kSummaryTls = 1 << 2,          // TLS on the client side was intercepted.
  kSummaryPassthrough = 1 << 3,  // Passed through untouched.
  kSummaryLive = 1 << 4,         // Still in progress.
  kSummaryReplay = 1 << 5,       // Sent again by the proxy (a replay from the inspector).
};

// The strings of a summary that the store interns, and kNotInterned for a string that is not.
enum SummaryString : uint8_t {
  kStringMethod,
  kStringHost,
  kStringServer,
  kStringRequestType,
  kStringResponseType,
  kSummaryStrings,
};
inline constexpr uint32_t kNotInterned = 0xffffffff;

// SummaryFields are the fields of a flow's summary, with its strings as |Str|.
template <class Str>
struct SummaryFields {
  FlowId id = 0;
  int64_t started_us = 0;    // Wall clock, µs since the Unix epoch.
  int64_t duration_us = -1;  // Sum of the timings that apply, or -1.
  Str client;                // "ip:port" of the client.
  Str server;                // "ip:port" of the server reached, or "".
  Str method;                // "" for TCP flows.
  Str scheme;                // "http", "https"; "tcp" for TCP flows.
  Str host;                  // Request host (TCP: the destination host).
  uint16_t port = 0;
  Str path;                    // The request target ("/p?q"); "" for TCP flows.
  Str url;                     // scheme://host[:port]target (TCP: "tcp://host:port").
  int status = 0;              // Response status, 0 without a response.
  Str request_content_type;    // Content-Type header of the request, or "".
  Str response_content_type;   // Content-Type header of the response, or "".
  uint64_t request_size = 0;   // Body bytes (TCP: bytes from the client).
  uint64_t response_size = 0;  // Body bytes (TCP: bytes from the server).
  FlowProtocol protocol = FlowProtocol::kHttp1;
  uint8_t flags = 0;  // FlowSummaryFlags.
};

// SummaryView is a flow's summary; its strings are borrowed from a FlowSummary or from the
// store's columns and live as long as they do.
struct SummaryView : SummaryFields<std::string_view> {
  // Ids of the interned strings (by SummaryString), when the view comes from a store that
  // interns them: within one store, equal ids mean equal strings, so a scan can remember a
  // regex's answer per id (FilterMemo).
  uint32_t interned[kSummaryStrings] = {kNotInterned, kNotInterned, kNotInterned, kNotInterned,
                                        kNotInterned};

  bool has(FlowSummaryFlags flag) const { return (flags & flag) != 0; }
};

// FlowSummary owns the strings of a summary.
struct FlowSummary : SummaryFields<std::string> {
  SummaryView view() const;
};

// summarize computes the summary of |flow|.
FlowSummary summarize(const FlowSnapshot& flow);

}  // namespace sightglass::core
