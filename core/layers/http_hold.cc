// HttpLayer's hold points: a request stops before it goes to the server, a response before it
// goes to the client, until the hooks resume it (Hook, HookResumed); then what the flow says is
// sent, framed anew only when the body changed.
#include "core/layers/http_layer.h"
#include "core/layers/http_layer_internal.h"

namespace sightglass::core {

bool HttpLayer::take_body(bool request, std::string_view data, Commands& out) {
  Exchange& ex = *exchange_;
  (request ? ex.flow.request->body : ex.flow.response->body).append(data, ctx_->config->body_limit);
  ex.live.progress();
  if (ex.hold != (request ? Exchange::Hold::kRequest : Exchange::Hold::kResponse)) {
    return false;
  }
  if (ex.hook_id != 0) {
    ex.held_after.append(data);
    return true;
  }
  ex.held_body.append(data);
  if (ex.held_body.size() > ctx_->config->hold_body_limit) {
    send_hook(false, out);  // The hooks see this much; the rest streams after them.
  }
  return true;
}

void HttpLayer::send_hook(bool complete, Commands& out) {
  Exchange& ex = *exchange_;
  auto held = std::make_shared<HeldFlow>();
  held->point = ex.hold == Exchange::Hold::kRequest ? HookPoint::kRequest : HookPoint::kResponse;
  held->flow = ex.flow;
  held->body = ex.held_body;
  held->body_complete = complete;
  ex.hook_id = ctx_->new_command();
  out.push_back(Hook{ex.hook_id, std::move(held)});
}

void HttpLayer::on_hook_resumed(HookResumed& resumed, Commands& out) {
  if (!exchange_ || resumed.id == 0 || resumed.id != exchange_->hook_id || !resumed.held ||
      client_closing_) {
    return;  // The exchange ended meanwhile.
  }
  HeldFlow& held = *resumed.held;
  Exchange& ex = *exchange_;
  const bool request = ex.hold == Exchange::Hold::kRequest;
  ex.hold = Exchange::Hold::kNone;
  ex.hook_id = 0;
  if (!held.note.empty()) {
    ex.flow.modified += (ex.flow.modified.empty() ? "" : "; ") + held.note;
  }
  ex.live.milestone();
  if (held.kill) {
    // The client connection closes without an answer.
    ex.flow.error = std::string("killed at the ") + (request ? "request" : "response") +
                    " hold point" + (held.note.empty() ? "" : " (" + held.note + ")");
    publish(out);
    close_client(out);
    return;
  }
  if (request) {
    request_resumed(held, out);
  } else {
    response_resumed(held, out);
  }
}

void HttpLayer::request_resumed(HeldFlow& held, Commands& out) {
  Exchange& ex = *exchange_;
  if (held.answer) {
    answer_from_hook(held, out);
    return;
  }
  HttpRequestData& request = *ex.flow.request;
  const bool body_changed = held.body_complete && held.body != ex.held_body;
  if (held.flow.request) {
    HttpRequestData& edited = *held.flow.request;
    const std::string url_before = request.url();
    if (edited.scheme != request.scheme || edited.host != request.host ||
        edited.port != request.port) {
      ex.target = HttpTarget{edited.scheme, edited.host, edited.port, edited.scheme == "https"};
    }
    request.method = std::move(edited.method);
    request.scheme = std::move(edited.scheme);
    request.host = std::move(edited.host);
    request.port = edited.port;
    request.target = std::move(edited.target);
    request.headers = std::move(edited.headers);
    if (request.url() != url_before && ex.flow.original_url.empty()) {
      ex.flow.original_url = url_before;
    }
  }
  if (body_changed) {
    set_content_length(request.headers, held.body.size(), "Content-Length");
    request.body = captured_body(held.body, request.headers, ctx_->config->body_limit);
    ex.request_chunked = false;
  }
  ex.head_request = request.method == "HEAD";
  start_request(out);
  std::string body = ex.take_held();
  send_upstream(body_changed         ? std::move(held.body)
                : ex.request_chunked ? encode_chunk(body)
                                     : std::move(body),
                out);
  if (ex.request_done) {
    if (ex.request_chunked) {
      send_upstream(encode_last_chunk(request.trailers), out);
    }
    ctx_->request_wakeup(ex.wakeup_id, ctx_->config->response_timeout_ms, out);
  }
}

void HttpLayer::answer_from_hook(HeldFlow& held, Commands& out) {
  Exchange& ex = *exchange_;
  HttpResponseData response = std::move(*held.answer);
  set_content_length(response.headers, held.answer_body.size(), "Content-Length");
  const std::string_view body = ex.head_request ? std::string_view() : held.answer_body;
  out.push_back(
      SendData{kClientConn, serialize_response_head(response.http_version, response.status,
                                                    response.reason, response.headers) +
                                std::string(body)});
  response.body = CapturedBody();
  response.body.append(body, ctx_->config->body_limit);
  ex.flow.response = std::move(response);
  ex.t_response_head = ctx_->clock->monotonic_us();
  ex.response_started = true;
  ex.response_done = true;
  ex.answered = true;
  ex.take_held();
  if (ex.request_done) {
    finish_exchange(out);
  }
  // Otherwise the rest of the request's body comes, goes nowhere, and its end finishes.
}

void HttpLayer::response_resumed(HeldFlow& held, Commands& out) {
  Exchange& ex = *exchange_;
  HttpResponseData& response = *ex.flow.response;
  const bool body_changed = held.body_complete && held.body != ex.held_body;
  if (held.flow.response) {
    HttpResponseData& edited = *held.flow.response;
    response.status = edited.status;
    response.reason = std::move(edited.reason);
    response.headers = std::move(edited.headers);
  }
  if (body_changed) {
    set_content_length(response.headers, held.body.size(), "Content-Length");
    response.body = captured_body(held.body, response.headers, ctx_->config->body_limit);
    ex.response_chunked = false;
    ex.response_close_delimited = false;
  }
  std::string body = ex.take_held();
  if (body_changed) {
    body = ex.head_request ? "" : std::move(held.body);
  } else if (ex.response_chunked) {
    body = encode_chunk(body);
  }
  if (!client_closing_) {
    out.push_back(
        SendData{kClientConn, serialize_response_head(response.http_version, response.status,
                                                      response.reason, response.headers)});
    if (!body.empty()) {
      out.push_back(SendData{kClientConn, std::move(body)});
    }
  }
  if (ex.held_end) {
    HttpMessageEnd end = *std::exchange(ex.held_end, std::nullopt);
    on_response_end(end, out);
  }
}

}  // namespace sightglass::core
