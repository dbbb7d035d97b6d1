#pragma once

// Private to proxy_filter: the parsed form of a filter expression, shared by the parser
// (filter_parser.cc) and the evaluator (filter.cc).

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/filter/filter.h"
#include "core/filter/regex.h"

namespace sightglass::core::filter_internal {

enum class Op : uint8_t {
  kAnd,
  kOr,
  kNot,
  // Summary terms.
  kAll,          // ~all
  kAsset,        // ~a
  kError,        // ~e
  kNoResponse,   // ~q
  kResponse,     // ~s
  kTcp,          // ~tcp
  kWebSocket,    // ~websocket
  kCode,         // ~c CODE
  kDomain,       // ~d REGEX
  kDestination,  // ~dst REGEX
  kSource,       // ~src REGEX
  kMethod,       // ~m REGEX
  kContentType,  // ~t REGEX
  kUrl,          // ~u REGEX, or a bare REGEX
  // Detail terms.
  kHeader,          // ~h REGEX
  kRequestHeader,   // ~hq REGEX
  kResponseHeader,  // ~hs REGEX
  kBody,            // ~b REGEX
  kRequestBody,     // ~bq REGEX
  kResponseBody,    // ~bs REGEX
};

// Node is one operator or term of the tree. Immutable once parsed, so evaluation is
// thread-safe.
struct Node {
  Op op = Op::kAll;
  std::vector<std::unique_ptr<Node>> children{};  // kAnd, kOr: two or more; kNot: one.
  std::unique_ptr<Regex> regex{};                 // Regex terms.
  int code = 0;                                   // kCode.
  bool detail = false;                            // This node or one below reads the full flow.
  size_t memo_slot = 0;                           // Regex terms: first of its FilterMemo slots.
};

// parse_expression builds the tree of |text|, or returns nullptr with *error set. The children
// of kAnd/kOr nodes are ordered summary-first (stable otherwise), so evaluating a summary
// decides without loading the flow whenever the summary terms suffice.
std::unique_ptr<Node> parse_expression(std::string_view text, FilterError* error);

}  // namespace sightglass::core::filter_internal
