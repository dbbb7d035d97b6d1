#include "core/filter/filter.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/filter/filter_internal.h"

namespace sightglass::core {

using filter_internal::Node;
using filter_internal::Op;

std::string FilterError::describe() const {
  return message + " at position " + std::to_string(position + 1);
}

namespace {

// Decoded bodies are searched up to this size; the rest of a bigger body is not searched.
constexpr size_t kMaxDecodedBody = 16 * 1024 * 1024;

// asset_regex is mitmproxy's ~a: the response Content-Type of scripts, styles, images, fonts.
const Regex& asset_regex() {
  static const std::unique_ptr<Regex> regex = [] {
    Regex::Error error;
    return Regex::compile(
        "text/javascript|application/x-javascript|application/javascript|text/css|image/|font/|"
        "application/font",
        &error);
  }();
  return *regex;
}

// Body is a body as the filter searches it: the kept bytes, decoded when the message has a
// Content-Encoding (and the bytes decode; otherwise as they are).
class Body {
 public:
  Body(const CapturedBody& body, const Headers& headers) {
    const std::string* encoding = find_header(headers, "content-encoding");
    if (encoding != nullptr && !is_identity_encoding(*encoding)) {
      if (std::optional<std::string> decoded = decode_content(
              *encoding, body.contiguous(), kMaxDecodedBody, nullptr, body.truncated)) {
        storage_ = std::move(*decoded);
        view_ = storage_;
        return;
      }
    }
    if (body.chunks.size() == 1 && body.chunks.front()) {
      view_ = *body.chunks.front();  // No copy for the common single-chunk body.
    } else if (!body.chunks.empty()) {
      storage_ = body.contiguous();
      view_ = storage_;
    }
  }
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;

  std::string_view view() const { return view_; }

 private:
  std::string storage_;
  std::string_view view_;
};

// Evaluation is the state of one evaluation: where the summary and the full flow come from,
// and what was computed from them so far (each at most once).
class Evaluation {
 public:
  // From a full flow: the summary is computed on first use.
  explicit Evaluation(const FlowSnapshot& flow) : flow_(&flow), detail_tried_(true) {}
  // From a summary: the flow is loaded on first use.
  Evaluation(const SummaryView& summary, const FlowFilter::DetailLoader& load, FilterMemo* memo)
      : summary_(&summary), load_(&load), memo_(memo) {}

  bool eval(const Node& node) {
    switch (node.op) {
      case Op::kAnd:
        return std::ranges::all_of(node.children,
                                   [this](const auto& child) { return eval(*child); });
      case Op::kOr:
        return std::ranges::any_of(node.children,
                                   [this](const auto& child) { return eval(*child); });
      case Op::kNot:
        return !eval(*node.children.front());
      case Op::kHeader:
      case Op::kRequestHeader:
      case Op::kResponseHeader:
      case Op::kBody:
      case Op::kRequestBody:
      case Op::kResponseBody: {
        const FlowSnapshot* flow = detail();
        return flow != nullptr && eval_detail(node, *flow);
      }
      default:
        return eval_summary(node, summary());
    }
  }

 private:
  const SummaryView& summary() {
    if (summary_ == nullptr) {
      owned_summary_ = summarize(*flow_);
      owned_view_ = owned_summary_->view();
      summary_ = &owned_view_;
    }
    return *summary_;
  }

  const FlowSnapshot* detail() {
    if (!detail_tried_) {
      detail_tried_ = true;
      if (*load_) {
        loaded_ = (*load_)();
        flow_ = loaded_.get();
      }
    }
    return flow_;
  }

  // search_string searches one of the summary's interned strings, through the memo when the
  // view carries the string's id.
  bool search_string(const Node& node, const SummaryView& s, SummaryString which,
                     std::string_view text, const Regex& regex) {
    const uint32_t id = s.interned[which];
    if (memo_ == nullptr || id == kNotInterned) {
      return regex.search(text);
    }
    int8_t& answer = memo_->answer(node.memo_slot + which, id);
    if (answer < 0) {
      answer = regex.search(text) ? 1 : 0;
    }
    return answer == 1;
  }

  bool eval_summary(const Node& node, const SummaryView& s) {
    const bool http = s.protocol != FlowProtocol::kTcp;
    const Regex* regex = node.regex.get();
    switch (node.op) {
      case Op::kAll:
        return true;
      case Op::kAsset:
        return http && !s.response_content_type.empty() &&
               search_string(node, s, kStringResponseType, s.response_content_type, asset_regex());
      case Op::kError:
        return s.has(kSummaryError);
      case Op::kNoResponse:
        return http && !s.has(kSummaryHasResponse);
      case Op::kResponse:
        return http && s.has(kSummaryHasResponse);
      case Op::kTcp:
        return !http;
      case Op::kWebSocket:
        return s.protocol == FlowProtocol::kWebSocket;
      case Op::kCode:
        return http && s.has(kSummaryHasResponse) && s.status == node.code;
      case Op::kDomain:
        return !s.host.empty() && search_string(node, s, kStringHost, s.host, *regex);
      case Op::kDestination:
        if (!s.server.empty() && search_string(node, s, kStringServer, s.server, *regex)) {
          return true;
        }
        if (s.host.empty()) {
          return false;
        }
        // The host the client asked for, as "host:port" ("[v6]:port").
        scratch_.clear();
        if (s.host.find(':') != std::string_view::npos && s.host.front() != '[') {
          scratch_.append("[").append(s.host).append("]");
        } else {
          scratch_.append(s.host);
        }
        scratch_.append(":").append(std::to_string(s.port));
        return regex->search(scratch_);
      case Op::kSource:
        return !s.client.empty() && regex->search(s.client);
      case Op::kMethod:
        return http && !s.method.empty() && search_string(node, s, kStringMethod, s.method, *regex);
      case Op::kContentType:
        return http &&
               ((!s.request_content_type.empty() &&
                 search_string(node, s, kStringRequestType, s.request_content_type, *regex)) ||
                (!s.response_content_type.empty() &&
                 search_string(node, s, kStringResponseType, s.response_content_type, *regex)));
      case Op::kUrl:
        return !s.url.empty() && regex->search(s.url);
      default:
        return false;
    }
  }

  bool search_headers(const Regex& regex, const Headers& headers) {
    for (const Header& header : headers) {
      // Each header is its own subject, so ^ and $ anchor to the line.
      scratch_.assign(header.name).append(": ").append(header.value);
      if (regex.search(scratch_)) {
        return true;
      }
    }
    return false;
  }

  bool search_messages(const Regex& regex, const FlowSnapshot& flow, bool client, bool server) {
    for (const WebSocketMessage& message : flow.websocket_messages) {
      if ((message.from_client ? client : server) && regex.search(message.data)) {
        return true;
      }
    }
    return false;
  }

  // search_body searches the body of |message| (a request or response), decoded once per
  // evaluation into |*body|.
  template <class Message>
  bool search_body(const Regex& regex, const std::optional<Message>& message,
                   std::optional<Body>* body) {
    if (!message) {
      return false;
    }
    if (!*body) {
      body->emplace(message->body, message->headers);
    }
    return regex.search((*body)->view());
  }

  // eval_detail evaluates a detail term (~h ~hq ~hs ~b ~bq ~bs).
  bool eval_detail(const Node& node, const FlowSnapshot& flow) {
    if (flow.kind != FlowKind::kHttp) {
      return false;  // TCP flows keep no headers and no content.
    }
    const Regex& regex = *node.regex;
    const bool request_side = node.op != Op::kResponseHeader && node.op != Op::kResponseBody;
    const bool response_side = node.op != Op::kRequestHeader && node.op != Op::kRequestBody;
    if (node.op == Op::kHeader || node.op == Op::kRequestHeader || node.op == Op::kResponseHeader) {
      return (request_side && flow.request &&
              (search_headers(regex, flow.request->headers) ||
               search_headers(regex, flow.request->trailers))) ||
             (response_side && flow.response &&
              (search_headers(regex, flow.response->headers) ||
               search_headers(regex, flow.response->trailers)));
    }
    return (request_side && search_body(regex, flow.request, &request_body_)) ||
           (response_side && search_body(regex, flow.response, &response_body_)) ||
           search_messages(regex, flow, request_side, response_side);
  }

  const FlowSnapshot* flow_ = nullptr;
  const SummaryView* summary_ = nullptr;
  const FlowFilter::DetailLoader* load_ = nullptr;
  bool detail_tried_ = false;
  FlowSnapshotConstSharedPtr loaded_;
  std::optional<FlowSummary> owned_summary_;
  FilterMemo* memo_ = nullptr;
  SummaryView owned_view_;
  std::optional<Body> request_body_;
  std::optional<Body> response_body_;
  std::string scratch_;
};

class CompiledFilter final : public FlowFilter {
 public:
  CompiledFilter(std::string text, std::unique_ptr<Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}

  bool matches(const FlowSnapshot& flow) const override { return Evaluation(flow).eval(*root_); }

  bool matches(const SummaryView& summary, const DetailLoader& load,
               FilterMemo* memo) const override {
    return Evaluation(summary, load, memo).eval(*root_);
  }

  bool needs_detail() const override { return root_->detail; }
  const std::string& text() const override { return text_; }

 private:
  std::string text_;
  std::unique_ptr<Node> root_;
};

}  // namespace

std::shared_ptr<const FlowFilter> FlowFilter::parse(std::string_view expression,
                                                    FilterError* error) {
  FilterError local;
  std::unique_ptr<Node> root =
      filter_internal::parse_expression(expression, error != nullptr ? error : &local);
  if (!root) {
    return nullptr;
  }
  // Each term gets its own range of memo slots, one per interned string it may search.
  size_t next_slot = 0;
  const std::function<void(Node&)> number = [&](Node& node) {
    node.memo_slot = next_slot;
    next_slot += kSummaryStrings;
    for (const std::unique_ptr<Node>& child : node.children) {
      number(*child);
    }
  };
  number(*root);
  return std::make_shared<CompiledFilter>(std::string(expression), std::move(root));
}

}  // namespace sightglass::core
