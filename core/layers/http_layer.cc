#include "core/layers/http_layer.h"

#include "core/layers/http_layer_internal.h"
#include "core/layers/proxy_auth.h"
#include "core/layers/replay_mark.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {

std::string authority_text(const HttpTarget& target) {
  std::string out = format_host(target.host);
  const bool default_port = (target.scheme == "https" && target.port == 443) ||
                            (target.scheme == "http" && target.port == 80);
  if (!default_port) {
    out += ":" + std::to_string(target.port);
  }
  return out;
}

void take_server(FlowSnapshot& flow, const OpenCompleted& opened, bool failed, bool timings) {
  if (timings) {
    flow.timings.dns_us = opened.dns_us;
    flow.timings.connect_us = opened.connect_us;
  }
  if (failed) {
    return;
  }
  flow.server_address = opened.peer_address;
  flow.server_tls = opened.tls;
  if (timings) {
    flow.timings.ssl_us = opened.ssl_us;
    flow.timings.connect_us =  // HAR's connect includes TLS.
        opened.connect_us < 0 ? -1 : opened.connect_us + std::max<int64_t>(opened.ssl_us, 0);
  }
}

bool parse_absolute_form(std::string_view url, HttpTarget* out_target, std::string* out_path) {
  std::optional<AbsoluteForm> form = split_absolute_form(url);
  if (!form || form->authority.find('@') != std::string_view::npos) {
    return false;
  }
  std::optional<HostPort> host_port = parse_host_port(form->authority, form->tls ? 443 : 80);
  if (!host_port) {
    return false;
  }
  *out_target = HttpTarget{form->tls ? "https" : "http", std::move(host_port->host),
                           host_port->port, form->tls};
  *out_path = std::move(form->path);
  return true;
}

namespace {

// decline_h2c removes a cleartext HTTP/2 upgrade offer (Upgrade: h2c, HTTP2-Settings and
// their Connection tokens): the request then goes on as plain HTTP/1.1, as RFC 7540 allows a
// server to ignore the offer.
void decline_h2c(Headers& headers) {
  const std::string* upgrade = find_header(headers, "Upgrade");
  if (upgrade == nullptr || !iequals(*upgrade, "h2c")) {
    return;
  }
  for (Header& h : headers) {
    if (iequals(h.name, "Connection")) {
      std::string tokens;
      split_list(h.value, ',', [&](std::string_view token) {
        if (!iequals(token, "upgrade") && !iequals(token, "http2-settings")) {
          tokens += tokens.empty() ? "" : ", ";
          tokens += token;
        }
      });
      h.value = std::move(tokens);
    }
  }
  std::erase_if(headers, [](const Header& h) {
    return iequals(h.name, "Upgrade") || iequals(h.name, "HTTP2-Settings") ||
           (iequals(h.name, "Connection") && h.value.empty());
  });
}

}  // namespace

HttpLayer::HttpLayer(SessionContext* ctx, std::optional<HttpTarget> fixed, bool rewrite_host)
    : ctx_(ctx), fixed_(std::move(fixed)), rewrite_host_(rewrite_host) {}

HttpLayer::~HttpLayer() = default;

std::optional<TunnelRequest> HttpLayer::take_tunnel() {
  return exchange_ ? std::nullopt : std::exchange(tunnel_, std::nullopt);
}

void HttpLayer::handle(Event& event, Commands& out) {
  handle_event(event, out);
  // What this event changed goes to the live views in one snapshot per flow.
  if (exchange_) {
    exchange_->live.flush(exchange_->flow, ctx_, out);
  }
  if (websocket_) {
    websocket_->live.flush(websocket_->flow, ctx_, out);
  }
  if (!exchange_ && !relay_ && !tunnel_ && !client_closing_ && head_wakeup_ == 0 &&
      client_parser_.in_message()) {
    ctx_->request_wakeup(head_wakeup_, ctx_->config->client_handshake_timeout_ms, out);
  }
  // What the client sends while the server connection opens, or while an Upgrade waits for
  // its answer, is held up to a cap; beyond it the client is not read until that is over. Nor
  // is it while a held request's body, past the hold limit, waits for the hooks.
  constexpr size_t kHeldBytes = 256 * 1024;
  const bool hold = (upstream_ && !upstream_->open && !upstream_->closed &&
                     upstream_->pending.size() > kHeldBytes) ||
                    (exchange_ && exchange_->upgrade_requested && !exchange_->switching &&
                     exchange_->upgrade_remainder.size() > kHeldBytes) ||
                    (exchange_ && exchange_->hold == Exchange::Hold::kRequest &&
                     exchange_->hook_id != 0 && !exchange_->request_done);
  if (hold != client_held_ && !client_closing_) {
    client_held_ = hold;
    out.push_back(PauseReading{kClientConn, client_held_});
  }
  const bool response_hooked = exchange_ && exchange_->hold == Exchange::Hold::kResponse &&
                               exchange_->hook_id != 0 && !exchange_->held_end && upstream_ &&
                               !upstream_->closed;
  if (response_hooked != server_held_) {
    server_held_ = response_hooked;
    if (upstream_ && !upstream_->closed) {
      out.push_back(PauseReading{upstream_->conn, server_held_});
    }
  }
}

void HttpLayer::handle_event(Event& event, Commands& out) {
  if (auto* resumed = std::get_if<HookResumed>(&event)) {
    on_hook_resumed(*resumed, out);
    return;
  }
  if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
      if (client_closing_) {
        return;
      }
      if (relay_) {
        if (upstream_ && !upstream_->closed) {
          websocket_read(true, data->data, out);
          out.push_back(SendData{upstream_->conn, std::move(data->data)});
        }
        return;
      }
      if (exchange_ && exchange_->upgrade_requested && !exchange_->switching) {
        // Bytes after an Upgrade request wait for the server's answer.
        exchange_->upgrade_remainder.append(data->data);
        return;
      }
      HttpParseEvents events;
      client_parser_.feed(data->data, events);
      on_client_events(events, out);
    } else if (upstream_ && data->conn == upstream_->conn) {
      if (relay_) {
        websocket_read(false, data->data, out);
        out.push_back(SendData{kClientConn, std::move(data->data)});
        return;
      }
      if (!exchange_ || exchange_->response_done) {
        unsolicited(data->data.size(), out);
        return;
      }
      HttpParseEvents events;
      upstream_->parser.feed(data->data, events);
      on_server_events(events, out);
    }
    return;
  }
  if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    if (!upstream_ || opened->id != upstream_->open_id) {
      return;
    }
    const bool failed = !opened->error.empty();
    if (exchange_) {
      take_server(exchange_->flow, *opened, failed);
    }
    if (failed) {
      upstream_->closed = true;
      if (exchange_) {
        fail(opened->timed_out ? 504 : 502, opened->error, out);
      }
      return;
    }
    upstream_->open = true;
    upstream_->opened = *opened;
    send_upstream(std::exchange(upstream_->pending, {}), out);
    return;
  }
  if (auto* closed = std::get_if<ConnectionClosed>(&event)) {
    if (closed->conn == kClientConn) {
      const bool again = client_closed_;
      client_closed_ = true;
      if (relay_) {
        if (upstream_ && !upstream_->closed && !again) {
          out.push_back(CloseConnection{upstream_->conn, true});
        }
        websocket_closed(true, closed->error, out);
        return;
      }
      if (exchange_) {
        // The client is gone (a close or a reset, also while its response is pending or
        // streaming): the exchange ends now, its server connection closes, and the flow is
        // logged with what did pass.
        exchange_->flow.error = client_gone_error(closed->error);
        close_upstream(out);
        publish(out);
      }
      close_client(out);
      return;
    }
    if (!upstream_ || closed->conn != upstream_->conn) {
      return;
    }
    if (relay_) {
      upstream_->closed = true;
      out.push_back(CloseConnection{kClientConn, true});
      websocket_closed(false, closed->error, out);
      return;
    }
    HttpParseEvents events;
    upstream_->parser.finish(events);
    // A close in the middle of a message is reported below, with the close's own reason.
    std::erase_if(
        events, [](const HttpParseEvent& e) { return std::holds_alternative<HttpParseError>(e); });
    on_server_events(events, out);
    if (!upstream_) {
      return;
    }
    upstream_->closed = true;
    if (exchange_ && !exchange_->response_done && !exchange_->held_end) {
      const std::string error = !closed->error.empty()
                                    ? "upstream connection failed: " + closed->error
                                : exchange_->response_started
                                    ? "upstream closed the connection in the middle of the response"
                                    : "upstream closed the connection without sending a response";
      fail(502, error, out);
    }
    upstream_.reset();
    return;
  }
  if (auto* wakeup = std::get_if<Wakeup>(&event)) {
    if (wakeup->id != 0 && wakeup->id == head_wakeup_) {
      head_wakeup_ = 0;
      if (!exchange_ && !client_closing_) {
        fail(408,
             "client timeout: the request head was not complete within " +
                 seconds_text(ctx_->config->client_handshake_timeout_ms),
             out);
      }
      return;
    }
    if (wakeup->id != 0 && wakeup->id == server_idle_wakeup_) {
      server_idle_wakeup_ = 0;
      if (!exchange_ && upstream_ && !relay_) {
        out.push_back(Log{Log::Level::kDebug,
                          authority_text(upstream_->target) + ": server connection idle for " +
                              seconds_text(ctx_->config->server_idle_timeout_ms) + ", closed"});
        close_upstream(out);
      }
      return;
    }
    if ((exchange_ && exchange_->live.take_wakeup(wakeup->id)) ||
        (websocket_ && websocket_->live.take_wakeup(wakeup->id))) {
      return;  // handle() publishes the progress that waited.
    }
    if (exchange_ && wakeup->id == exchange_->wakeup_id && exchange_->t_response_head == 0) {
      fail(504,
           "server timeout: no response head within " +
               seconds_text(ctx_->config->response_timeout_ms) + " of the request",
           out);
    }
  }
}

void HttpLayer::on_client_events(HttpParseEvents& events, Commands& out) {
  for (HttpParseEvent& event : events) {
    if (client_closing_) {
      return;
    }
    if (auto* head = std::get_if<HttpHead>(&event)) {
      on_request_head(*head, out);
    } else if (auto* body = std::get_if<HttpBodyData>(&event)) {
      // Once the hooks answered, the rest of the body goes nowhere.
      if (!exchange_ || take_body(true, body->data, out) || exchange_->answered) {
        continue;
      }
      send_upstream(exchange_->request_chunked ? encode_chunk(body->data) : std::move(body->data),
                    out);
    } else if (auto* end = std::get_if<HttpMessageEnd>(&event)) {
      if (!exchange_) {
        continue;
      }
      const bool held = exchange_->hold == Exchange::Hold::kRequest;
      if (exchange_->request_chunked && !held && !exchange_->answered) {
        send_upstream(encode_last_chunk(end->trailers), out);
      }
      exchange_->flow.request->trailers = std::move(end->trailers);
      exchange_->request_done = true;
      exchange_->live.milestone();
      exchange_->t_request_end = ctx_->clock->monotonic_us();
      exchange_->client_wants_close = !end->keep_alive;
      if (held) {
        if (exchange_->hook_id == 0) {
          send_hook(true, out);
        }
      } else if (exchange_->response_done) {
        finish_exchange(out);
      } else if (exchange_->t_response_head == 0) {
        ctx_->request_wakeup(exchange_->wakeup_id, ctx_->config->response_timeout_ms, out);
      }
    } else if (auto* upgrade = std::get_if<HttpUpgrade>(&event)) {
      if (tunnel_) {
        tunnel_->remainder = std::move(upgrade->remainder);
      } else if (exchange_) {
        exchange_->upgrade_requested = true;
        exchange_->upgrade_remainder = std::move(upgrade->remainder);
      }
    } else if (auto* error = std::get_if<HttpParseError>(&event)) {
      const std::string text = "malformed request from the client: " + error->reason;
      if (exchange_ && exchange_->response_started) {
        exchange_->flow.error = text;
        close_upstream(out);
        publish(out);
        close_client(out);
      } else {
        fail(error->head_too_large ? 431 : 400, text, out);
      }
    }
  }
}

void HttpLayer::on_request_head(HttpHead& head, Commands& out) {
  cancel_wakeup(head_wakeup_, out);
  if (!fixed_ && ctx_->config->proxy_credentials) {
    const std::string* auth = find_header(head.headers, "Proxy-Authorization");
    if (auth == nullptr ||
        !check_basic_proxy_authorization(*auth, *ctx_->config->proxy_credentials)) {
      // 407, no flow: the client retries with credentials (or gives up).
      out.push_back(SendData{kClientConn, proxy_auth_required_response()});
      out.push_back(Log{Log::Level::kInfo, std::string("proxy authentication ") +
                                               (auth == nullptr ? "missing" : "failed") +
                                               " for a client at " + ctx_->client_address});
      close_client(out);
      return;
    }
  }
  // The proxy's own headers go no further, and no flow records them (the magic host's
  // included): credentials never reach a log.
  std::erase_if(head.headers, [](const Header& h) {
    return iequals(h.name, "Proxy-Connection") || iequals(h.name, "Proxy-Authorization");
  });
  HttpTarget target;
  std::string path = head.target;
  if (fixed_) {
    target = *fixed_;
    if (head.method == "CONNECT") {
      fail(400, "CONNECT inside a tunnel is not supported", out);
      return;
    }
    HttpTarget ignored;  // An absolute-form target names the path only.
    parse_absolute_form(head.target, &ignored, &path);
  } else if (head.method == "CONNECT") {
    std::optional<HostPort> host_port = parse_host_port(head.target);
    if (!host_port) {
      fail(400, "CONNECT needs host:port, got '" + head.target + "'", out);
      return;
    }
    // The session answers once the TCP connection to the server is open (or has failed).
    tunnel_ = TunnelRequest{std::move(host_port->host), host_port->port, "", head.version};
    return;
  } else if (!parse_absolute_form(head.target, &target, &path)) {
    fail(400,
         "Sightglass is a proxy: send absolute-form requests (http://host/path) or CONNECT, "
         "not '" +
             head.target + "'",
         out);
    return;
  }

  const std::string* host_header = find_header(head.headers, "Host");
  // The magic host is named by the request target, or by the Host header where the target is
  // fixed by the mode (reverse, transparent: a client that resolved "sightglass" somewhere).
  const bool by_host_header =
      rewrite_host_ || (fixed_ && ctx_->config->mode == ProxyConfig::Mode::kTransparent);
  const bool magic =
      iequals(target.host, kMagicHost) ||
      (by_host_header && host_header != nullptr && iequals(*host_header, kMagicHost));
  if (magic) {
    serve_magic_host(head, target, path, out);
    return;
  }

  cancel_wakeup(server_idle_wakeup_, out);
  exchange_ = std::make_unique<Exchange>();
  Exchange& ex = *exchange_;
  ex.t_start = ctx_->clock->monotonic_us();
  ex.flow = ctx_->new_flow();
  ex.head_request = head.method == "HEAD";
  ex.request_chunked = head.chunked;
  ex.flow.replay = take_replay_mark(head.headers, ctx_->config->replay_token);

  for (Header& h : head.headers) {
    if (rewrite_host_ && iequals(h.name, "Host")) {
      h.value = authority_text(target);
    }
  }
  decline_h2c(head.headers);
  HttpRequestData& request = ex.flow.request.emplace();
  request.method = std::move(head.method);
  request.scheme = target.scheme;
  request.host = target.host;
  request.port = target.port;
  request.target = path;
  request.http_version = head.version;
  request.headers = std::move(head.headers);
  request.header_bytes = head.header_bytes;
  if (is_grpc_content_type(request.headers)) {
    request.body.grpc.emplace();
  }
  ex.live.milestone();
  // In transparent mode the connection goes to the original destination (an IP); the flow
  // names the host the client asked for.
  const std::string* host = find_header(request.headers, "Host");
  if (fixed_ && ctx_->config->mode == ProxyConfig::Mode::kTransparent && host != nullptr) {
    if (std::optional<HostPort> name = parse_host_port(*host, target.port)) {
      request.host = std::move(name->host);
    }
  }

  ex.target = std::move(target);
  // (An Upgrade request is held too: what follows its head waits with it, unparsed.)
  if (ctx_->config->holds(HookPoint::kRequest)) {
    ex.hold = Exchange::Hold::kRequest;  // Until the body is complete (or the hold limit).
    if (const std::string* expect = find_header(request.headers, "Expect");
        expect != nullptr && iequals(trim_whitespace(*expect), "100-continue")) {
      // The client waits for a 100 before it sends the body the hook waits for: the proxy
      // answers the expectation itself (as mitmproxy does), and it goes no further.
      out.push_back(SendData{kClientConn, "HTTP/1.1 100 Continue\r\n\r\n"});
      std::erase_if(request.headers, [](const Header& h) { return iequals(h.name, "Expect"); });
    }
    if (streams_body(request.headers)) {
      send_hook(false, out);  // The body streams on after the hook (gRPC, events).
    }
    return;
  }
  start_request(out);
}

void HttpLayer::start_request(Commands& out) {
  Exchange& ex = *exchange_;
  const HttpRequestData& request = *ex.flow.request;
  const HttpTarget& target = ex.target;
  if (!upstream_ || upstream_->closed || !(upstream_->target == target)) {
    close_upstream(out);
    upstream_ = std::make_unique<Upstream>();
    upstream_->conn = ctx_->new_conn(target.host, target.port);
    upstream_->target = target;
    upstream_->open_id = ctx_->new_command();
    out.push_back(
        OpenConnection{upstream_->open_id, upstream_->conn, target.host, target.port, target.tls});
  } else {
    take_server(ex.flow, upstream_->opened, /*failed=*/false, /*timings=*/false);
  }
  if (ex.head_request) {
    upstream_->parser.expect_no_body();
  }
  // Through an upstream proxy, plain HTTP requests keep the absolute form.
  const bool absolute =
      !fixed_ && !target.tls && ctx_->config->mode == ProxyConfig::Mode::kUpstream;
  send_upstream(serialize_request_head(request.method, absolute ? request.url() : request.target,
                                       request.http_version, request.headers),
                out);
}

void HttpLayer::on_server_events(HttpParseEvents& events, Commands& out) {
  for (HttpParseEvent& event : events) {
    if (!upstream_) {
      return;
    }
    if (auto* head = std::get_if<HttpHead>(&event)) {
      on_response_head(*head, out);
    } else if (auto* body = std::get_if<HttpBodyData>(&event)) {
      if (!exchange_ || !exchange_->response_started || client_closing_ ||
          take_body(false, body->data, out)) {
        continue;
      }
      out.push_back(SendData{kClientConn, exchange_->response_chunked ? encode_chunk(body->data)
                                                                      : std::move(body->data)});
    } else if (auto* end = std::get_if<HttpMessageEnd>(&event)) {
      on_response_end(*end, out);
    } else if (auto* upgrade = std::get_if<HttpUpgrade>(&event)) {
      if (exchange_ && exchange_->switching) {
        std::string client_bytes = std::move(exchange_->upgrade_remainder);
        if (exchange_->flow.response && is_websocket_upgrade(exchange_->flow.response->headers)) {
          start_websocket(std::move(client_bytes), std::move(upgrade->remainder), out);
          return;
        }
        publish(out);
        enter_relay(std::move(client_bytes), std::move(upgrade->remainder), out);
      }
    } else if (auto* error = std::get_if<HttpParseError>(&event)) {
      if (exchange_) {  // Otherwise nothing was asked: no flow, no answer to the client.
        fail(502, "upstream sent an invalid response: " + error->reason, out);
      }
      close_upstream(out);
      return;
    }
  }
}

void HttpLayer::on_response_head(HttpHead& head, Commands& out) {
  if (!exchange_) {
    // A response nobody asked for.
    close_upstream(out);
    return;
  }
  Exchange& ex = *exchange_;
  // 100 Continue and friends go to the client as they are; the final response follows.
  const bool interim = head.status >= 100 && head.status < 200 && head.status != 101;
  if (!interim && head.status != 101 && ctx_->config->holds(HookPoint::kResponse)) {
    ex.hold = Exchange::Hold::kResponse;  // The head goes on when the hooks are done.
  }
  if (ex.hold != Exchange::Hold::kResponse) {
    out.push_back(SendData{kClientConn, serialize_response_head(head.version, head.status,
                                                                head.reason, head.headers)});
  }
  if (interim) {
    return;
  }
  ex.t_response_head = ctx_->clock->monotonic_us();
  ex.response_started = true;
  ex.response_chunked = head.chunked;
  ex.switching = head.status == 101;
  const bool no_body = ex.head_request || head.status == 204 || head.status == 304 || ex.switching;
  ex.response_close_delimited = !no_body && !head.chunked && !head.content_length;
  const bool hook_at_head = ex.hold == Exchange::Hold::kResponse && streams_body(head.headers);
  HttpResponseData& response = ex.flow.response.emplace();
  response.http_version = std::move(head.version);
  response.status = head.status;
  response.reason = std::move(head.reason);
  response.headers = std::move(head.headers);
  response.header_bytes = head.header_bytes;
  if (is_grpc_content_type(response.headers)) {
    response.body.grpc.emplace();  // Count every message, also past the body limit.
  }
  ex.live.milestone();
  if (hook_at_head) {
    send_hook(false, out);  // Events or gRPC messages stream on after the hook.
  }
}

void HttpLayer::on_response_end(HttpMessageEnd& end, Commands& out) {
  if (!exchange_) {
    return;
  }
  Exchange& ex = *exchange_;
  if (ex.hold == Exchange::Hold::kResponse) {
    ex.held_end = std::move(end);  // The end goes on after the hooks (response_resumed).
    if (ex.hook_id == 0) {
      send_hook(true, out);
    }
    return;
  }
  if (!ex.response_started) {
    if (upstream_) {  // The end of a 1xx response: the final one follows.
      HttpParseEvents more;
      upstream_->parser.next_message(more);
      on_server_events(more, out);
    }
    return;
  }
  if (ex.switching) {
    return;  // HttpUpgrade follows.
  }
  if (ex.response_chunked && !client_closing_) {
    out.push_back(SendData{kClientConn, encode_last_chunk(end.trailers)});
  }
  ex.flow.response->trailers = std::move(end.trailers);
  ex.response_done = true;
  if (!end.keep_alive || ex.response_close_delimited) {
    ex.client_wants_close = true;
    close_upstream(out);
  } else if (upstream_ && upstream_->parser.buffered_bytes() > 0) {
    // Bytes past a complete response: nobody asked for them.
    unsolicited(upstream_->parser.buffered_bytes(), out);
  }
  if (ex.request_done) {
    finish_exchange(out);
  }
}

void HttpLayer::send_upstream(std::string data, Commands& out) {
  if (!upstream_ || upstream_->closed || data.empty()) {
    return;
  }
  if (!upstream_->open) {
    upstream_->pending.append(data);
    return;
  }
  out.push_back(SendData{upstream_->conn, std::move(data)});
}

void HttpLayer::close_upstream(Commands& out) {
  cancel_wakeup(server_idle_wakeup_, out);
  if (upstream_ && !upstream_->closed) {
    out.push_back(CloseConnection{upstream_->conn, false});
  }
  upstream_.reset();
}

void HttpLayer::fail(int status, const std::string& error, Commands& out) {
  const bool head_sent =
      exchange_ && exchange_->response_started && exchange_->hold != Exchange::Hold::kResponse;
  if (!head_sent && !client_closing_) {
    out.push_back(SendData{kClientConn, error_response(status, reason_phrase(status), error)});
  }
  if (exchange_) {
    exchange_->flow.error = error;
    publish(out);
  } else {
    FlowSnapshot flow = ctx_->new_flow();
    flow.request.emplace();
    flow.error = error;
    publish_final(std::move(flow), out);
  }
  close_client(out);
}

void HttpLayer::settle_timings(Commands& out) {
  Exchange& ex = *exchange_;
  cancel_wakeup(ex.wakeup_id, out);
  ex.flow.timings.settle_exchange(ex.t_start, ex.t_request_end, ex.t_response_head,
                                  ctx_->clock->monotonic_us());
}

void HttpLayer::publish(Commands& out) {
  settle_timings(out);
  exchange_->live.finish(out);
  publish_final(std::move(exchange_->flow), out);
  exchange_.reset();
}

void HttpLayer::finish_exchange(Commands& out) {
  const bool close = exchange_->client_wants_close || client_closed_;
  const bool refused_upgrade = exchange_->upgrade_requested && !exchange_->switching;
  std::string after_upgrade = std::move(exchange_->upgrade_remainder);
  publish(out);
  if (close) {
    close_client(out);
    return;
  }
  if (upstream_) {
    // Ready for the next response (bytes past this one were dealt with at its end).
    HttpParseEvents extra;
    upstream_->parser.next_message(extra);
    on_server_events(extra, out);
  }
  if (upstream_ && !upstream_->closed && server_idle_wakeup_ == 0) {
    ctx_->request_wakeup(server_idle_wakeup_, ctx_->config->server_idle_timeout_ms, out);
  }
  if (tunnel_) {
    return;
  }
  HttpParseEvents more;
  if (refused_upgrade) {
    client_parser_.resume_after_upgrade(std::move(after_upgrade), more);
  } else {
    client_parser_.next_message(more);
  }
  on_client_events(more, out);
}

void HttpLayer::abandon(const std::string& why, Commands& out) {
  if (exchange_) {
    if (exchange_->flow.error.empty()) {
      exchange_->flow.error = why;
    }
    publish(out);
  }
  if (websocket_) {
    if (websocket_->flow.error.empty()) {
      websocket_->flow.error = why;
    }
    finish_websocket(out);
  }
}

std::string HttpLayer::client_gone_error(const std::string& error) const {
  const Exchange& ex = *exchange_;
  std::string text = error.empty() ? "the client closed the connection"
                                   : "the client connection failed (" + error + ")";
  const int64_t elapsed_ms = (ctx_->clock->monotonic_us() - ex.t_start) / 1000;
  if (!ex.request_done) {
    text += " before its request was complete";
  } else if (!ex.response_started) {
    text += " while waiting for the response";
  } else {
    const uint64_t sent = ex.flow.response ? ex.flow.response->body.size : 0;
    text += " during the response, after " + std::to_string(sent) + " bytes of its body";
  }
  return text + " (" + std::to_string(elapsed_ms) + " ms into the exchange)";
}

void HttpLayer::unsolicited(size_t bytes, Commands& out) {
  const std::string note = "the server sent " + std::to_string(bytes) +
                           " bytes nobody asked for (past a complete response); its connection "
                           "was closed";
  if (exchange_ && exchange_->flow.error.empty()) {
    exchange_->flow.error = note;
  }
  out.push_back(
      Log{Log::Level::kWarn, (upstream_ ? authority_text(upstream_->target) + ": " : "") + note});
  close_upstream(out);
}

void HttpLayer::close_client(Commands& out) {
  if (std::exchange(client_closing_, true)) {
    return;
  }
  close_upstream(out);
  out.push_back(CloseConnection{kClientConn, false});
}

void HttpLayer::enter_relay(std::string client_bytes, std::string server_bytes, Commands& out) {
  relay_ = true;
  if (upstream_ && !upstream_->closed) {
    websocket_read(true, client_bytes, out);
  }
  if (!server_bytes.empty()) {
    websocket_read(false, server_bytes, out);
    out.push_back(SendData{kClientConn, std::move(server_bytes)});
  }
  if (upstream_ && !upstream_->closed) {
    if (!client_bytes.empty()) {
      out.push_back(SendData{upstream_->conn, std::move(client_bytes)});
    }
    if (client_closed_) {
      out.push_back(CloseConnection{upstream_->conn, true});
    }
  }
}

void HttpLayer::start_websocket(std::string client_bytes, std::string server_bytes, Commands& out) {
  settle_timings(out);
  websocket_ = std::make_unique<WebSocket>(
      parse_websocket_extensions(exchange_->flow.response->headers), ctx_->config->body_limit);
  websocket_->flow = std::move(exchange_->flow);
  websocket_->live = std::move(exchange_->live);
  exchange_.reset();
  // Live views see the upgraded flow at once (before the frames that came with the 101), then
  // at most every LiveFlow::kIntervalUs as messages come.
  websocket_->live.milestone();
  websocket_->live.flush(websocket_->flow, ctx_, out);
  enter_relay(std::move(client_bytes), std::move(server_bytes), out);
  if (client_closed_) {
    websocket_closed(true, "", out);
  }
}

void HttpLayer::websocket_read(bool from_client, std::string_view data, Commands& out) {
  if (!websocket_) {
    return;
  }
  WebSocket& ws = *websocket_;
  WebSocketCapture::Read read = ws.capture.read(from_client, data, ctx_->clock->wall_us(), ws.flow);
  if (!read.error.empty()) {
    out.push_back(Log{Log::Level::kWarn, std::move(read.error)});
  }
  if (read.progress) {
    ws.live.progress();
  }
}

void HttpLayer::websocket_closed(bool from_client, const std::string& error, Commands& out) {
  if (websocket_ && websocket_->capture.on_closed(from_client, error, websocket_->flow)) {
    finish_websocket(out);
  }
}

void HttpLayer::finish_websocket(Commands& out) {
  websocket_->live.finish(out);
  publish_final(std::move(websocket_->flow), out);
  // Whatever still comes (after the close handshake) is relayed raw.
  websocket_.reset();
}

}  // namespace sightglass::core
