// Http2Layer's hold points: a stream's request waits before it goes to the server, its
// response before it goes to the client, until the hooks resume it (HookResumed).
#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "core/layers/http2_internal.h"

namespace sightglass::core {

void Http2Layer::check_holds(Commands& out) {
  if (ctx_->config->hooks == nullptr) {
    return;
  }
  // A held body beyond a stream window cannot come (nothing is credited while it is held):
  // the hook sees that much and the rest streams after it.
  const size_t limit =
      static_cast<size_t>(std::min<uint64_t>(ctx_->config->hold_body_limit, kStreamWindow));
  for (auto& [id, s] : streams_) {
    if (s->hook_id != 0 || s->client_closed() || !s->held()) {
      continue;
    }
    const bool request = s->hold == Stream::Hold::kRequest;
    const ByteQueue& buf = request ? s->request_buf : s->response_buf;
    const bool eof = request ? s->request_done() : s->response_done();
    // A body that streams (gRPC, events) goes on after the hook; the hook sees its head.
    const bool streams = streams_body(request ? s->request_headers : s->response_headers);
    if (!eof && buf.size() < limit && !streams) {
      continue;
    }
    auto held = std::make_shared<HeldFlow>();
    held->point = request ? HookPoint::kRequest : HookPoint::kResponse;
    held->flow = s->flow;
    held->body = std::string(buf.view());
    held->body_complete = eof;
    s->hook_id = ctx_->new_command();
    out.push_back(Hook{s->hook_id, std::move(held)});
  }
}

void Http2Layer::on_hook_resumed(Stream& s, HeldFlow& held, Commands& out) {
  const bool request = s.hold == Stream::Hold::kRequest;
  s.hold = request ? Stream::Hold::kNone : Stream::Hold::kResponsePassed;
  s.hook_id = 0;
  if (!held.note.empty()) {
    s.flow.modified += (s.flow.modified.empty() ? "" : "; ") + held.note;
  }
  s.live.milestone();
  if (s.client_closed()) {
    return;
  }
  if (held.kill) {
    s.set_error(std::string("killed at the ") + (request ? "request" : "response") + " hold point" +
                (held.note.empty() ? "" : " (" + held.note + ")"));
    if (request) {
      s.close_server();  // It never went to a server.
    } else {
      reset_server_stream(s, NGHTTP2_CANCEL);
    }
    reset_client_stream(s, NGHTTP2_CANCEL);
    return;
  }
  // Nothing is taken from a held body's buffer: it is still what the hook saw.
  const bool body_changed =
      held.body_complete && held.body != (request ? s.request_buf : s.response_buf).view();
  if (request) {
    if (held.answer) {
      answer_stream(s, held);
      return;
    }
    HttpRequestData& flow_request = *s.flow.request;
    if (held.flow.request) {
      HttpRequestData& edited = *held.flow.request;
      const std::string before = flow_request.url();
      const bool elsewhere = edited.host != flow_request.host || edited.port != flow_request.port ||
                             edited.scheme != flow_request.scheme;
      flow_request.method = s.method = edited.method;
      flow_request.target = s.path = edited.target;
      flow_request.headers = s.request_headers = edited.headers;
      flow_request.scheme = edited.scheme;
      flow_request.host = edited.host;
      flow_request.port = edited.port;
      if (flow_request.url() != before && s.flow.original_url.empty()) {
        s.flow.original_url = before;
      }
      if (elsewhere) {
        // Another server than this layer's: over HTTP/1.1, which every server speaks (its
        // HTTP/2 support is unknown), on a connection of its own.
        HttpTarget target{edited.scheme, edited.host, edited.port, edited.scheme == "https"};
        s.authority_sent = authority_text(target);
        s.elsewhere = std::move(target);
      }
    }
    if (body_changed) {
      set_content_length(s.request_headers, held.body.size(), "content-length");
      flow_request.headers = s.request_headers;
      flow_request.body = captured_body(held.body, flow_request.headers, ctx_->config->body_limit);
      s.consume_client += s.request_buf.size();  // What the client sent is credited now.
      s.uncredited_client += held.body.size();
      s.request_buf.assign(held.body);
    }
    s.head_request = s.method == "HEAD";
    send_request(s, out);
    return;
  }
  HttpResponseData& response = *s.flow.response;
  if (held.flow.response) {
    HttpResponseData& edited = *held.flow.response;
    response.status = s.status = edited.status;
    response.headers = s.response_headers = edited.headers;
  }
  if (body_changed) {
    set_content_length(s.response_headers, held.body.size(), "content-length");
    response.headers = s.response_headers;
    response.body = captured_body(held.body, response.headers, ctx_->config->body_limit);
    s.consume_server += s.response_buf.size();
    s.uncredited_server += held.body.size();
    s.response_buf.assign(held.body);
  }
  submit_response(s);
}

void Http2Layer::answer_stream(Stream& s, HeldFlow& held) {
  s.close_server();  // No server is asked (and the flow keeps this response).
  s.t_response_head = ctx_->clock->monotonic_us();
  s.status = held.answer->status;
  s.response_headers.clear();
  for (const Header& h : held.answer->headers) {
    s.response_headers.push_back({ascii_lower(h.name), h.value});
  }
  const bool no_body = s.method == "HEAD";
  set_content_length(s.response_headers, held.answer_body.size(), "content-length");
  HttpResponseData& response = s.flow.response.emplace();
  response.http_version = "HTTP/2.0";
  response.status = s.status;
  response.reason = held.answer->reason;
  response.headers = s.response_headers;
  response.body.append(no_body ? std::string_view() : std::string_view(held.answer_body),
                       ctx_->config->body_limit);
  s.response_buf.assign(no_body ? std::string() : held.answer_body);
  s.response_trailers.clear();
  s.response_head(/*end=*/true);
  s.hold = Stream::Hold::kResponsePassed;
  submit_proxy_response(s);
}

}  // namespace sightglass::core
