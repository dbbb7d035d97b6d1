// Http2Layer's server side: the HTTP/2 server connections (Upstream), their nghttp2
// callbacks, and the requests submitted to them.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <utility>

#include "core/layers/http2_internal.h"
#include "core/layers/websocket.h"

namespace sightglass::core {

// --- The server side --------------------------------------------------------------------------

void Http2Layer::submit_to_server(Stream& s, Upstream& up) {
  if (!s.protocol.empty() && nghttp2_session_get_remote_settings(
                                 up.session.get(), NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
    fail_stream(s, 502,
                "the server " + authority_text(target_) +
                    " does not accept extended CONNECT (RFC 8441) for :protocol " + s.protocol);
    return;
  }
  if (up.open) {
    take_server(s.flow, up.opened, /*failed=*/false, !std::exchange(up.timings_given, true));
  }
  // The head points into the stream's strings; nghttp2 copies it when it is submitted.
  std::vector<nghttp2_nv> nv;
  nv.reserve(s.request_headers.size() + 5);
  add_nv(&nv, ":method", s.method);
  if (!s.protocol.empty()) {
    add_nv(&nv, ":protocol", s.protocol);
  }
  add_nv(&nv, ":scheme", target_.tls ? "https" : "http");
  add_nv(&nv, ":authority", s.authority_sent);
  if (s.method != "CONNECT" || !s.protocol.empty()) {
    add_nv(&nv, ":path", s.path);
  }
  add_nv(&nv, s.request_headers);
  const nghttp2_data_provider provider = Nghttp2Callbacks<Upstream>::body();
  const int32_t id = nghttp2_submit_request(
      up.session.get(), nullptr, nv.data(), nv.size(),
      s.request_done() && s.request_buf.empty() && s.request_trailers.empty() ? nullptr : &provider,
      nullptr);
  if (id < 0) {
    fail_stream(s, 502,
                std::string("cannot send the request to the server: ") + nghttp2_strerror(id));
    return;
  }
  s.server_id = id;
  s.request_send = Stream::Send::kBody;
  up.streams[id] = s.client_id;
}

Http2Layer::Upstream* Http2Layer::upstream_for_new_stream(Commands& out) {
  if (auto it = upstreams_.find(current_); it != upstreams_.end() && !it->second->goaway) {
    return it->second.get();
  }
  auto up = std::make_unique<Upstream>();
  up->owner = this;
  up->conn = ctx_->new_conn();
  up->open_id = ctx_->new_command();
  up->session = Nghttp2Callbacks<Upstream>::new_session(
      false, up.get(),
      {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)}},
      /*manual_ping_ack=*/true);
  if (!up->session) {
    return nullptr;
  }
  out.push_back(OpenConnection{up->open_id, up->conn, target_.host, target_.port, target_.tls});
  current_ = up->conn;
  Upstream* raw = up.get();
  upstreams_[up->conn] = std::move(up);
  return raw;
}

void Http2Layer::on_open_completed(const OpenCompleted& opened, Commands& out) {
  const bool failed = !opened.error.empty();
  for (auto& [conn, c] : h1_conns_) {
    if (c->open_id != opened.id) {
      continue;
    }
    Stream* s = stream(c->stream);
    if (s != nullptr) {
      take_server(s->flow, opened, failed);
    }
    if (failed) {
      if (s != nullptr) {
        s->close_server();
        fail_stream(*s, opened.timed_out ? 504 : 502, opened.error);
      }
      h1_conns_.erase(conn);
      return;
    }
    c->open = true;
    c->opened = opened;
    if (!c->pending.empty()) {
      out.push_back(SendData{c->conn, std::exchange(c->pending, {})});
    }
    return;
  }
  auto it = std::find_if(upstreams_.begin(), upstreams_.end(),
                         [&](const auto& entry) { return entry.second->open_id == opened.id; });
  if (it == upstreams_.end()) {
    return;
  }
  Upstream* up = it->second.get();
  std::string error = opened.error;
  if (error.empty() && opened.tls && opened.tls->alpn != "h2") {
    error = "the server " + authority_text(target_) + " does not speak HTTP/2 (ALPN: " +
            (opened.tls->alpn.empty() ? std::string("none") : opened.tls->alpn) + ")";
    out.push_back(CloseConnection{up->conn, false});
  }
  for (auto& [server_id, client_id] : up->streams) {
    if (Stream* s = stream(client_id)) {
      up->timings_given = true;
      take_server(s->flow, opened, !error.empty());
    }
  }
  if (!error.empty()) {
    std::vector<int32_t> ids = up->waiting_settings;
    for (auto& [server_id, client_id] : up->streams) {
      ids.push_back(client_id);
    }
    for (int32_t id : ids) {
      if (Stream* s = stream(id)) {
        s->close_server();
        fail_stream(*s, opened.timed_out ? 504 : 502, error);
      }
    }
    if (current_ == up->conn) {
      current_ = 0;
    }
    upstreams_.erase(it);
    return;
  }
  up->open = true;
  up->opened = opened;
}

void Http2Layer::on_server_bytes(Upstream& up, const std::string& data, Commands& out) {
  if (data.empty()) {
    return;
  }
  const ssize_t n = nghttp2_session_mem_recv(
      up.session.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (n < 0) {
    on_upstream_lost(
        up, std::string("invalid HTTP/2 from the server: ") + nghttp2_strerror(static_cast<int>(n)),
        out);
  }
}

int Http2Layer::on_begin_headers(Upstream& up, const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (Stream* s = server_stream(up, frame->hd.stream_id)) {
    s->response_block();
  }
  return 0;
}

int Http2Layer::on_header(Upstream& up, const nghttp2_frame* frame, std::string_view name,
                          std::string_view value) {
  Stream* s = server_stream(up, frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (header_list_full(&s->response_header_bytes, name, value)) {
    s->set_error("the server's header fields are larger than " +
                 std::to_string(kMaxHeaderListBytes / 1024) + " KiB");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  take_response_header(name, value, s->response == Stream::Response::kTrailers, &s->status,
                       &s->response_headers, &s->response_trailers);
  return 0;
}

int Http2Layer::on_frame(Upstream& up, const nghttp2_frame* frame) {
  const int32_t server_id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = server_stream(up, server_id);
      if (s == nullptr) {
        return 0;
      }
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (s->response == Stream::Response::kTrailers) {
        s->response_end();
        break;
      }
      if (s->status >= 100 && s->status < 200) {
        // 1xx (100 Continue, 103 Early Hints): passed on as interim HEADERS; the final
        // response follows (nghttp2 files it under NGHTTP2_HCAT_HEADERS, the head is told by
        // response_received(), not by the category).
        later(s->client_id, [this, status = std::exchange(s->status, 0),
                             interim = std::exchange(s->response_headers, {})](
                                Stream& st, Commands&) { submit_interim(st, status, interim); });
        break;
      }
      s->response_head(end_stream);
      s->t_response_head = ctx_->clock->monotonic_us();
      if (s->protocol == "websocket" && s->status >= 200 && s->status < 300 && !end_stream) {
        // The tunnel is open: DATA both ways is the WebSocket (RFC 8441 5). Read before the
        // server's first DATA, which may come in this same read.
        s->ws = std::make_unique<WebSocketCapture>(parse_websocket_extensions(s->response_headers),
                                                   ctx_->config->body_limit);
        if (!s->ws_early.empty()) {
          websocket_read(*s, true, std::exchange(s->ws_early, {}));
        }
      }
      later(s->client_id, [this](Stream& st, Commands&) { submit_response(st); });
      break;
    }
    case NGHTTP2_DATA:
      if (Stream* s = server_stream(up, server_id);
          s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->response_end();
      }
      break;
    case NGHTTP2_RST_STREAM:
      if (Stream* s = server_stream(up, server_id)) {
        const uint32_t code = frame->rst_stream.error_code;
        s->set_error(reset_error("server", code));
        later(s->client_id, [this, code](Stream& st, Commands&) { reset_client_stream(st, code); });
      }
      break;
    case NGHTTP2_GOAWAY:
      up.goaway = true;
      break;
    case NGHTTP2_PING:
      actions_.push_back([this, conn = up.conn, ping = frame->ping](Commands& /*out*/) {
        if (auto it = upstreams_.find(conn); it != upstreams_.end()) {
          on_server_ping(*it->second, ping);
        }
      });
      break;
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        up.settings_received = true;
        actions_.push_back([this, conn = up.conn](Commands& /*out*/) { on_server_settings(conn); });
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Layer::on_data(Upstream& up, int32_t stream_id, std::string_view data) {
  Stream* s = server_stream(up, stream_id);
  if (s == nullptr || s->client_closed()) {
    actions_.push_back([this, conn = up.conn, n = data.size()](Commands& /*out*/) {
      if (auto it = upstreams_.find(conn); it != upstreams_.end()) {
        nghttp2_session_consume_connection(it->second->session.get(), n);
      }
    });
    return 0;
  }
  s->response_buf.append(data);
  if (s->ws) {
    websocket_read(*s, false, data);
    return 0;
  }
  if (s->flow.response) {
    s->flow.response->body.append(data, ctx_->config->body_limit);
    s->live.progress();
  }
  return 0;
}

void Http2Layer::on_server_settings(ConnId conn) {
  auto it = upstreams_.find(conn);
  if (it == upstreams_.end()) {
    return;
  }
  Upstream& up = *it->second;
  const bool extended_connect =
      nghttp2_session_get_remote_settings(up.session.get(),
                                          NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
  if (extended_connect && !connect_protocol_advertised_ && !client_closing_) {
    // The server takes WebSocket over HTTP/2: so does the proxy, from now on (a second
    // SETTINGS frame; the setting is never withdrawn, RFC 8441 3).
    connect_protocol_advertised_ = true;
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}};
    nghttp2_submit_settings(client_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
  }
  for (int32_t id : std::exchange(up.waiting_settings, {})) {
    if (Stream* s = stream(id); s != nullptr && !s->client_closed() && !s->server_closed()) {
      submit_to_server(*s, up);
    }
  }
}

int Http2Layer::on_stream_close(Upstream& up, int32_t stream_id, uint32_t error_code) {
  Stream* s = server_stream(up, stream_id);
  up.streams.erase(stream_id);
  if (s == nullptr) {
    return 0;
  }
  s->close_server();
  if (error_code != NGHTTP2_NO_ERROR && !s->client_closed()) {
    s->set_error(reset_error("server", error_code));
    later(s->client_id,
          [this, error_code](Stream& st, Commands&) { reset_client_stream(st, error_code); });
  } else if (!s->response_done() && !s->client_closed()) {
    // Closed without the end of a response (the connection went away).
    later(s->client_id, [this](Stream& st, Commands&) {
      fail_stream(st, 502, "the server closed the stream without a complete response");
    });
  }
  return 0;
}

ssize_t Http2Layer::read_body(Upstream& up, int32_t stream_id, uint8_t* buf, size_t length,
                              uint32_t* flags) {
  Stream* s = server_stream(up, stream_id);
  if (s == nullptr) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return take_body(s->request_buf, s->request_done(), !s->request_trailers.empty(),
                   &s->request_send, &s->consume_client, buf, length, flags);
}

void Http2Layer::on_upstream_lost(Upstream& up, const std::string& error, Commands& out) {
  const ConnId conn = up.conn;
  std::vector<int32_t> ids;
  for (auto& [server_id, client_id] : up.streams) {
    ids.push_back(client_id);
  }
  // Streams submitted but not yet given a server id do not exist; every stream is mapped.
  for (auto& [id, s] : streams_) {
    if (s->upstream == conn && !s->server_closed() &&
        std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ids.push_back(id);
    }
  }
  for (int32_t id : ids) {
    Stream* s = stream(id);
    if (s == nullptr || s->server_closed()) {
      continue;
    }
    s->close_server();
    if (!s->response_done()) {
      fail_stream(*s, 502, lost_error(*s, error));
    }
  }
  close_upstream(up, out);
}

void Http2Layer::close_upstream(Upstream& up, Commands& out) {
  release_pings(up);
  out.push_back(CloseConnection{up.conn, false});
  if (current_ == up.conn) {
    current_ = 0;
  }
  upstreams_.erase(up.conn);
}

}  // namespace sightglass::core
