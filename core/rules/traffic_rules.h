#pragma once

// Traffic rules: mitmproxy's map_remote, map_local, modify_headers, modify_body and blocklist,
// with its option syntax. A spec is "|FLOW-FILTER|A|B": its first character is the separator,
// and the filter part may be left out ("|A|B" matches every flow). The rules run at the hold
// points (core/rules/interceptor.h) and change the held flow; the HTTP layers send what it says.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/filter/filter.h"
#include "core/filter/regex.h"
#include "core/proxy/events.h"

namespace sightglass::core {

enum class RuleKind : uint8_t { kMapRemote, kMapLocal, kModifyHeaders, kModifyBody, kBlockList };

// rule_option_name is the option that gives a rule of |kind| ("map-remote", ...).
const char* rule_option_name(RuleKind kind);

// Rule is one parsed spec.
struct Rule {
  RuleKind kind = RuleKind::kMapRemote;
  std::string spec;                    // As given, for messages.
  FlowFilterConstSharedPtr filter;     // Null: every flow.
  std::shared_ptr<const Regex> regex;  // map-remote, map-local: the URL; modify-body: the body.
  std::string name;                    // modify-headers: the header.
  std::string value;                   // The replacement, header value or local path.
  int status = 0;                      // block-list.
};

// parse_rule parses one spec of an option; std::nullopt and *error when it is malformed.
std::optional<Rule> parse_rule(RuleKind kind, std::string_view spec, std::string* error);

// TrafficRules is the set of rules of one proxy; immutable, so any loop thread may apply it.
class TrafficRules {
 public:
  explicit TrafficRules(std::vector<Rule> rules) : rules_(std::move(rules)) {}

  // at says whether any rule acts at |point| (responses: modify-headers and modify-body).
  bool acts_at(HookPoint point) const;
  // apply runs the rules on a held flow in mitmproxy's order (block-list, map-local,
  // map-remote, modify-body, modify-headers), adding what each did to held.note.
  void apply(HeldFlow& held) const;

 private:
  std::vector<Rule> rules_;
};

// set_request_url points |request| at |url| (an absolute http:// or https:// URL): scheme,
// host, port and target; a Host header follows a new authority. false when |url| is not one.
bool set_request_url(HttpRequestData& request, std::string_view url);

// content_type_for_path is the Content-Type of a local file, from its extension.
std::string content_type_for_path(std::string_view path);

}  // namespace sightglass::core
