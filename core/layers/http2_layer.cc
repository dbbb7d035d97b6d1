#include "core/layers/http2_layer.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include "core/layers/http2_internal.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {

namespace {

constexpr uint32_t kMaxConcurrentStreams = 100;

// split_authority is parse_host_port that keeps a malformed authority whole.
void split_authority(const std::string& authority, uint16_t default_port, std::string* host,
                     uint16_t* port) {
  if (std::optional<HostPort> parsed = parse_host_port(authority, default_port)) {
    *host = std::move(parsed->host);
    *port = parsed->port;
  } else {
    *host = authority;
    *port = default_port;
  }
}

// send_out writes what |session| has to send to |conn|; true if there was anything.
bool send_out(nghttp2_session* session, ConnId conn, Commands& out) {
  bool any = false;
  const uint8_t* data = nullptr;
  ssize_t n = 0;
  while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
    out.push_back(
        SendData{conn, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n))});
    any = true;
  }
  return any;
}

// StatusNv is a response head for nghttp2: :status, then |headers| (pointed into, not copied).
class StatusNv {
 public:
  StatusNv(int status, const Headers& headers) {
    const char* end = std::to_chars(std::begin(status_), std::end(status_), status).ptr;
    nv_.reserve(headers.size() + 1);
    add_nv(&nv_, ":status", std::string_view(status_, static_cast<size_t>(end - status_)));
    add_nv(&nv_, headers);
  }
  StatusNv(const StatusNv&) = delete;
  StatusNv& operator=(const StatusNv&) = delete;
  const nghttp2_nv* data() const { return nv_.data(); }
  size_t size() const { return nv_.size(); }

 private:
  char status_[12] = {};
  std::vector<nghttp2_nv> nv_;
};

}  // namespace

Http2Layer::Http2Layer(SessionContext* ctx, HttpTarget target, bool rewrite_authority,
                       UpstreamProtocol upstream)
    : ctx_(ctx),
      target_(std::move(target)),
      rewrite_authority_(rewrite_authority),
      upstream_protocol_(upstream) {}

Http2Layer::~Http2Layer() = default;

void Http2Layer::start(Commands& out) {
  if (std::exchange(started_, true)) {
    return;
  }
  client_ = Nghttp2Callbacks<Http2Layer>::new_session(
      true, this,
      {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
       {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}},
      /*manual_ping_ack=*/true);
  if (upstream_protocol_ == UpstreamProtocol::kHttp2) {
    // Connect (adopt the pre-opened connection) at once: the server's SETTINGS come meanwhile.
    upstream_for_new_stream(out);
  }
  pump(out);
}

void Http2Layer::handle(Event& event, Commands& out) {
  start(out);
  if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
      on_client_bytes(data->data, out);
    } else if (auto it = upstreams_.find(data->conn); it != upstreams_.end()) {
      on_server_bytes(*it->second, data->data, out);
    } else if (auto h1 = h1_conns_.find(data->conn); h1 != h1_conns_.end()) {
      HttpParseEvents events;
      h1->second->parser.feed(data->data, events);
      on_h1_events(*h1->second, events, out);
    }
  } else if (auto* opened = std::get_if<OpenCompleted>(&event)) {
    on_open_completed(*opened, out);
  } else if (auto* drained = std::get_if<WriteDrained>(&event)) {
    if (auto h1 = h1_conns_.find(drained->conn); h1 != h1_conns_.end()) {
      credit_written(*h1->second);
    }
  } else if (auto* wakeup = std::get_if<Wakeup>(&event)) {
    for (auto& [id, s] : streams_) {
      if (s->live.take_wakeup(wakeup->id)) {
        break;  // pump() publishes the progress that waited.
      }
      if (s->wakeup_id == wakeup->id) {
        s->wakeup_id = 0;
        if (!s->response_received() && !s->client_closed()) {
          fail_stream(*s, 504,
                      "server timeout: no response head within " +
                          seconds_text(ctx_->config->response_timeout_ms) + " of the request");
        }
        break;
      }
    }
  } else if (auto* resumed = std::get_if<HookResumed>(&event)) {
    for (auto& [id, s] : streams_) {
      if (resumed->id != 0 && s->hook_id == resumed->id && resumed->held) {
        on_hook_resumed(*s, *resumed->held, out);
        break;
      }
    }
  } else if (auto* closed = std::get_if<ConnectionClosed>(&event)) {
    const std::string error =
        closed->error.empty() ? std::string() : "upstream connection failed: " + closed->error;
    if (closed->conn == kClientConn) {
      on_client_lost(closed->error.empty()
                         ? "client closed the connection before the stream was complete"
                         : "client connection failed: " + closed->error,
                     out);
    } else if (auto it = upstreams_.find(closed->conn); it != upstreams_.end()) {
      on_upstream_lost(*it->second, error, out);
    } else if (auto h1 = h1_conns_.find(closed->conn); h1 != h1_conns_.end()) {
      on_h1_closed(*h1->second, error, out);
    }
  }
  pump(out);
}

Http2Layer::Stream* Http2Layer::stream(int32_t client_id) {
  auto it = streams_.find(client_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

Http2Layer::Stream* Http2Layer::server_stream(Upstream& up, int32_t server_id) {
  auto it = up.streams.find(server_id);
  return it == up.streams.end() ? nullptr : stream(it->second);
}

void Http2Layer::later(int32_t client_id, std::function<void(Stream&, Commands&)> f) {
  actions_.push_back([this, client_id, f = std::move(f)](Commands& out) {
    if (Stream* s = stream(client_id)) {
      f(*s, out);
    }
  });
}

// --- The client side --------------------------------------------------------------------------

void Http2Layer::on_client_bytes(const std::string& data, Commands& out) {
  if (client_closing_ || data.empty()) {
    return;
  }
  const ssize_t n = nghttp2_session_mem_recv(
      client_.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (flooded_) {
    const std::string error = "the client flooded the HTTP/2 connection with " +
                              std::to_string(empty_frames_) +
                              " empty DATA frames (CVE-2019-9518): connection closed";
    out.push_back(Log{Log::Level::kWarn, error + " (" + ctx_->client_address + ")"});
    nghttp2_session_terminate_session(client_.get(), NGHTTP2_ENHANCE_YOUR_CALM);
    on_client_lost(error, out, /*eof=*/false);  // The GOAWAY goes out before the close.
    return;
  }
  if (n < 0) {
    out.push_back(
        Log{Log::Level::kInfo, "HTTP/2 from the client " + ctx_->client_address +
                                   " is invalid: " + nghttp2_strerror(static_cast<int>(n))});
    on_client_lost(std::string("client connection failed: invalid HTTP/2 from the client: ") +
                       nghttp2_strerror(static_cast<int>(n)),
                   out);
  }
}

int Http2Layer::on_begin_headers(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto s = std::make_unique<Stream>();
    s->client_id = frame->hd.stream_id;
    s->t_start = ctx_->clock->monotonic_us();
    s->flow = ctx_->new_flow();
    streams_[s->client_id] = std::move(s);
  }
  return 0;
}

int Http2Layer::on_header(const nghttp2_frame* frame, std::string_view name,
                          std::string_view value) {
  Stream* s = stream(frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (header_list_full(&s->request_header_bytes, name, value)) {
    // nghttp2 resets the stream (INTERNAL_ERROR) and skips the rest of the block.
    s->set_error("the client's header fields are larger than " +
                 std::to_string(kMaxHeaderListBytes / 1024) + " KiB");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (s->request != Stream::Request::kHead) {
    s->request_trailers.push_back({std::string(name), std::string(value)});
    return 0;
  }
  if (name == ":method") {
    s->method = value;
  } else if (name == ":scheme") {
    s->scheme = value;
  } else if (name == ":authority") {
    s->authority = value;
  } else if (name == ":path") {
    s->path = value;
  } else if (name == ":protocol") {
    s->protocol = value;
  } else if (!name.starts_with(":")) {
    if (s->request_headers.empty()) {
      s->request_headers.reserve(kHeadersReserved);
    }
    s->request_headers.push_back({std::string(name), std::string(value)});
  }
  return 0;
}

int Http2Layer::on_frame(const nghttp2_frame* frame) {
  const int32_t id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      ++useful_frames_;
      Stream* s = stream(id);
      if (s == nullptr) {
        return 0;
      }
      if (s->request == Stream::Request::kHead) {
        s->request = Stream::Request::kBody;  // Its body follows, if any.
        later(id, [this](Stream& st, Commands& out) { submit_request(st, out); });
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        s->request_end(ctx_->clock->monotonic_us());
      }
      break;
    }
    case NGHTTP2_DATA:
      if (frame->hd.length == 0 && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
        // A frame that carries nothing: cheap to send, not free to process (CVE-2019-9518).
        // More of them than a generous multiple of the frames that do carry something is a
        // flood: processing stops, and the connection is closed.
        ++empty_frames_;
        if (empty_frames_ > kEmptyFrameAllowance + 4 * useful_frames_) {
          flooded_ = true;
          return NGHTTP2_ERR_PAUSE;
        }
      } else {
        ++useful_frames_;
      }
      if (Stream* s = stream(id); s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->request_end(ctx_->clock->monotonic_us());
      }
      break;
    case NGHTTP2_PING:
      actions_.push_back([this, ping = frame->ping](Commands& /*out*/) { on_client_ping(ping); });
      break;
    case NGHTTP2_RST_STREAM:
      if (Stream* s = stream(id); s != nullptr) {
        const uint32_t code = frame->rst_stream.error_code;
        s->set_error(reset_error("client", code));
        later(id, [this, code](Stream& st, Commands&) { reset_server_stream(st, code); });
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Layer::on_data(int32_t stream_id, std::string_view data) {
  Stream* s = stream(stream_id);
  if (s == nullptr || s->server_closed()) {
    // Nobody will read it (no stream, or its server stream is gone): credit the connection
    // window at once.
    actions_.push_back([this, n = data.size()](Commands& /*out*/) {
      nghttp2_session_consume_connection(client_.get(), n);
    });
    return 0;
  }
  s->request_buf.append(data);
  if (s->protocol == "websocket") {
    // The tunnel's bytes are the WebSocket's messages, not a request body.
    if (s->ws) {
      websocket_read(*s, true, data);
    } else if (s->ws_early.size() < static_cast<size_t>(kStreamWindow)) {
      s->ws_early.append(data);  // Sent before the server accepted: read once it has.
    }
    return 0;
  }
  if (s->flow.request) {
    s->flow.request->body.append(data, ctx_->config->body_limit);
    s->live.progress();
  }
  return 0;
}

int Http2Layer::on_stream_close(int32_t stream_id, uint32_t error_code) {
  Stream* s = stream(stream_id);
  if (s == nullptr) {
    return 0;
  }
  s->close_client();
  if (error_code != NGHTTP2_NO_ERROR) {
    s->set_error(reset_error("client", error_code));
  }
  if (!s->server_closed() && s->server_id != 0) {
    later(stream_id, [this](Stream& st, Commands&) { reset_server_stream(st, NGHTTP2_CANCEL); });
  }
  return 0;
}

ssize_t Http2Layer::read_body(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
  Stream* s = stream(stream_id);
  if (s == nullptr) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return take_body(s->response_buf, s->response_done(), !s->response_trailers.empty(),
                   &s->response_send, &s->consume_server, buf, length, flags);
}

void Http2Layer::submit_request(Stream& s, Commands& out) {
  if (s.client_closed()) {
    return;
  }
  HttpRequestData& request = s.flow.request.emplace();
  request.method = s.method;
  request.scheme = s.scheme.empty() ? target_.scheme : s.scheme;
  request.target = s.path;
  request.http_version = "HTTP/2.0";
  request.headers = s.request_headers;
  if (is_grpc_content_type(request.headers)) {
    request.body.grpc.emplace();  // Count every message, also past the body limit.
  }
  std::string authority = s.authority;
  if (authority.empty()) {
    if (const std::string* host = find_header(s.request_headers, "host")) {
      authority = *host;
    }
  }
  if (rewrite_authority_ || authority.empty()) {
    authority = authority_text(target_);
    for (Header& h : s.request_headers) {
      if (iequals(h.name, "host")) {
        h.value = authority;
      }
    }
  }
  split_authority(authority, request.scheme == "https" ? 443 : 80, &request.host, &request.port);
  if (request.host.empty()) {
    request.host = target_.host;
    request.port = target_.port;
  }
  s.live.milestone();
  // The body captured so far (DATA may have come with the head).
  if (s.protocol != "websocket") {
    request.body.append(s.request_buf.view(), ctx_->config->body_limit);
  }
  s.authority_sent = authority;
  if (s.protocol.empty() && ctx_->config->holds(HookPoint::kRequest)) {
    s.hold = Stream::Hold::kRequest;  // check_holds() sends the Hook once the body is here.
    return;
  }
  send_request(s, out);
}

void Http2Layer::send_request(Stream& s, Commands& out) {
  if (ctx_->config->response_timeout_ms > 0) {
    ctx_->request_wakeup(s.wakeup_id, ctx_->config->response_timeout_ms, out);
  }
  if (upstream_protocol_ == UpstreamProtocol::kHttp1 || s.elsewhere) {
    if (!s.protocol.empty()) {
      // Not advertised to the client in this mode (nghttp2 refuses it before we see it).
      fail_stream(s, 501, "extended CONNECT cannot be translated to HTTP/1.1");
      return;
    }
    submit_h1_request(s, out);
    return;
  }
  Upstream* up = upstream_for_new_stream(out);
  if (up == nullptr) {
    fail_stream(s, 502, "cannot open a connection to " + authority_text(target_));
    return;
  }
  s.upstream = up->conn;
  if (!s.protocol.empty() && !up->settings_received) {
    // Whether the server takes extended CONNECT is known from its SETTINGS only.
    up->waiting_settings.push_back(s.client_id);
    return;
  }
  submit_to_server(s, *up);
}

void Http2Layer::submit_response(Stream& s) {
  if (s.client_closed() || s.response_submitted() || s.hold == Stream::Hold::kResponse) {
    return;
  }
  if (s.hold != Stream::Hold::kResponsePassed) {
    HttpResponseData& response = s.flow.response.emplace();
    response.http_version = "HTTP/2.0";  // As spoken to the client (CONTRACT.md).
    response.status = s.status;
    response.headers = s.response_headers;
    if (is_grpc_content_type(response.headers)) {
      response.body.grpc.emplace();
    }
    if (!s.ws) {
      response.body.append(s.response_buf.view(), ctx_->config->body_limit);
    }
    s.live.milestone();
    if (!s.ws && s.protocol.empty() && ctx_->config->holds(HookPoint::kResponse)) {
      s.hold = Stream::Hold::kResponse;  // check_holds() sends the Hook.
      return;
    }
  }
  const int rv = submit_head(s, s.h1 ? h1_to_h2_headers(s.response_headers) : s.response_headers);
  if (rv != 0) {
    s.flow.error = std::string("cannot answer the client: ") + nghttp2_strerror(rv);
    reset_server_stream(s, NGHTTP2_INTERNAL_ERROR);
  }
}

int Http2Layer::submit_head(Stream& s, const Headers& headers) {
  s.response_send = Stream::Send::kBody;
  const StatusNv nv(s.status, headers);
  const nghttp2_data_provider provider = Nghttp2Callbacks<Http2Layer>::body();
  const bool no_body = s.response_done() && s.response_buf.empty() && s.response_trailers.empty();
  return nghttp2_submit_response(client_.get(), s.client_id, nv.data(), nv.size(),
                                 no_body ? nullptr : &provider);
}

void Http2Layer::submit_interim(Stream& s, int status, const Headers& headers) {
  if (s.client_closed() || s.response_submitted()) {
    return;
  }
  const StatusNv nv(status, headers);
  nghttp2_submit_headers(client_.get(), NGHTTP2_FLAG_NONE, s.client_id, nullptr, nv.data(),
                         nv.size(), nullptr);
}

void Http2Layer::fail_stream(Stream& s, int status, const std::string& error) {
  s.set_error(error);
  reset_server_stream(s, NGHTTP2_CANCEL);
  if (s.client_closed()) {
    return;
  }
  if (s.response_submitted()) {
    reset_client_stream(s, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  // The proxy answers itself; the flow keeps no response, like HttpLayer's errors.
  s.response_from_proxy = true;
  s.status = status;
  s.response_headers = {{"content-type", "text/plain; charset=utf-8"},
                        {"content-length", std::to_string(error.size() + 1)}};
  s.response_buf.assign(error + "\n");
  s.response_trailers.clear();
  s.response_end();
  submit_proxy_response(s);
}

void Http2Layer::submit_proxy_response(Stream& s) {
  if (submit_head(s, s.response_headers) != 0) {
    reset_client_stream(s, NGHTTP2_INTERNAL_ERROR);
  }
}

void Http2Layer::reset_client_stream(Stream& s, uint32_t code) {
  if (s.client_closed()) {
    return;
  }
  nghttp2_submit_rst_stream(client_.get(), NGHTTP2_FLAG_NONE, s.client_id, code);
}

void Http2Layer::reset_server_stream(Stream& s, uint32_t code) {
  if (s.server_closed()) {
    return;
  }
  if (s.h1) {
    // HTTP/1.1 cannot cancel one exchange: the connection goes.
    if (auto it = h1_conns_.find(s.h1_conn);
        it != h1_conns_.end() && it->second->stream == s.client_id) {
      it->second->stream = 0;
      it->second->pending.clear();
      // Closed from pump() (CloseConnection needs the command list).
      h1_to_close_.push_back(s.h1_conn);
    }
  } else if (auto it = upstreams_.find(s.upstream); s.server_id != 0 && it != upstreams_.end()) {
    nghttp2_submit_rst_stream(it->second->session.get(), NGHTTP2_FLAG_NONE, s.server_id, code);
    it->second->streams.erase(s.server_id);
  }
  s.close_server();
}

void Http2Layer::on_client_lost(const std::string& error, Commands& out, bool eof) {
  client_eof_ = eof;
  for (auto& [id, s] : streams_) {
    if (s->client_closed()) {
      continue;
    }
    s->close_client();
    s->set_error(error);
    reset_server_stream(*s, NGHTTP2_CANCEL);
  }
  close_client(out);
}

void Http2Layer::close_client(Commands& out) {
  if (std::exchange(client_closing_, true)) {
    return;
  }
  // Pending frames (a GOAWAY, resets) go first.
  if (!client_eof_) {
    send_out(client_.get(), kClientConn, out);
  } else {
    // The bytes have nowhere to go, but sending runs the callbacks of what was queued (the
    // streams reset just now get their errors).
    const uint8_t* data = nullptr;
    nghttp2_session_mem_send(client_.get(), &data);
  }
  while (!upstreams_.empty()) {
    close_upstream(*upstreams_.begin()->second, out);
  }
  for (auto& [conn, h1] : h1_conns_) {
    out.push_back(CloseConnection{conn, false});
  }
  h1_conns_.clear();
  out.push_back(CloseConnection{kClientConn, false});
}

// --- The pump -------------------------------------------------------------------------------

void Http2Layer::pump(Commands& out) {
  if (!client_) {
    return;
  }
  // Finalizing may fail streams of a dead server connection: their answers go out too.
  for (int pass = 0; pass < 2; ++pass) {
    send_all(out);
    if (!finalize(out)) {
      break;
    }
  }
  // Streams whose hold point was reached while the sessions ran.
  check_holds(out);
  update_h1_reading(out);
  // What this event changed goes to the live views, one snapshot per stream: milestones at
  // once, progress (body bytes, WebSocket messages) at most every LiveFlow::kIntervalUs.
  for (auto& [id, s] : streams_) {
    if (!s->published) {
      s->live.flush(s->flow, ctx_, out);
    }
  }
}

void Http2Layer::websocket_read(Stream& s, bool from_client, std::string_view data) {
  WebSocketCapture::Read read = s.ws->read(from_client, data, ctx_->clock->wall_us(), s.flow);
  if (read.progress) {
    s.live.progress();
  }
  if (!read.error.empty()) {
    actions_.push_back([error = std::move(read.error)](Commands& out) {
      out.push_back(Log{Log::Level::kWarn, error});
    });
  }
}

void Http2Layer::send_all(Commands& out) {
  for (int round = 0; round < 1000; ++round) {
    bool progress = false;
    while (!actions_.empty()) {
      auto actions = std::move(actions_);
      actions_.clear();
      for (auto& action : actions) {
        action(out);
      }
      progress = true;
    }
    if (client_closing_) {
      break;
    }
    for (auto& [id, s] : streams_) {
      auto up = upstreams_.find(s->upstream);
      progress |= continue_body(
          up == upstreams_.end() || s->server_closed() ? nullptr : up->second->session.get(),
          s->server_id, &s->request_send, s->request_trailers,
          !s->request_buf.empty() || s->request_done());
      progress |= continue_body(s->client_closed() ? nullptr : client_.get(), s->client_id,
                                &s->response_send, s->response_trailers,
                                !s->response_buf.empty() || s->response_done());
    }
    // What the sessions have to send.
    progress |= send_out(client_.get(), kClientConn, out);
    for (auto& [conn, up] : upstreams_) {
      if (up->open) {
        progress |= send_out(up->session.get(), conn, out);
      }
    }
    for (ConnId conn : std::exchange(h1_to_close_, {})) {
      if (auto it = h1_conns_.find(conn); it != h1_conns_.end()) {
        close_h1(*it->second, out);
        progress = true;
      }
    }
    for (auto& [id, s] : streams_) {
      if (s->h1 && !s->server_closed() && s->h1_conn != 0 &&
          s->request_send != Stream::Send::kDone &&
          (!s->request_buf.empty() || s->request_done())) {
        progress |= forward_h1_request(*s, out);
      }
    }
    // Credit the windows for what was handed on.
    for (auto& [id, s] : streams_) {
      for (auto [consumed, uncredited] : {std::pair{&s->consume_client, &s->uncredited_client},
                                          std::pair{&s->consume_server, &s->uncredited_server}}) {
        const size_t skip = std::min(*consumed, *uncredited);
        *consumed -= skip;
        *uncredited -= skip;
      }
      if (s->consume_client > 0) {
        nghttp2_session_consume(client_.get(), s->client_id, s->consume_client);
        s->consume_client = 0;
        progress = true;
      }
      if (auto it = upstreams_.find(s->upstream);
          s->consume_server > 0 && !s->response_from_proxy && !s->h1 && it != upstreams_.end()) {
        nghttp2_session_consume(it->second->session.get(), s->server_id, s->consume_server);
        progress = true;
      }
      s->consume_server = 0;
    }
    if (!progress) {
      break;
    }
  }
}

bool Http2Layer::finalize(Commands& out) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& s = *it->second;
    if (s.client_closed() && !s.published) {
      publish(s, out);
    }
    if (s.client_closed() && (s.server_closed() || s.server_id == 0)) {
      // Bytes received and never handed on still count against the connection windows.
      if (!s.request_buf.empty()) {
        nghttp2_session_consume_connection(client_.get(), s.request_buf.size());
      }
      if (auto up = upstreams_.find(s.upstream);
          up != upstreams_.end() && !s.response_from_proxy && !s.response_buf.empty()) {
        nghttp2_session_consume_connection(up->second->session.get(), s.response_buf.size());
      }
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
  // A server that said GOAWAY is closed once its streams are done.
  std::vector<ConnId> done;
  std::vector<ConnId> dead;
  for (auto& [conn, up] : upstreams_) {
    if (up->goaway && up->streams.empty()) {
      done.push_back(conn);
    } else if (up->open && nghttp2_session_want_read(up->session.get()) == 0 &&
               nghttp2_session_want_write(up->session.get()) == 0) {
      dead.push_back(conn);  // nghttp2 gave up on it (a protocol error): its GOAWAY is out.
    }
  }
  for (ConnId conn : done) {
    close_upstream(*upstreams_[conn], out);
  }
  for (ConnId conn : dead) {
    on_upstream_lost(*upstreams_[conn], "the server broke the HTTP/2 protocol", out);
  }
  const bool more = !dead.empty();
  if (!client_closing_ && client_ && nghttp2_session_want_read(client_.get()) == 0 &&
      nghttp2_session_want_write(client_.get()) == 0) {
    close_client(out);
  }
  return more;
}

void Http2Layer::abandon(const std::string& why, Commands& out) {
  for (auto& [id, s] : streams_) {
    if (!s->published) {
      s->set_error(why);
      publish(*s, out);
    }
  }
}

void Http2Layer::publish(Stream& s, Commands& out) {
  s.published = true;
  cancel_wakeup(s.wakeup_id, out);
  s.live.finish(out);
  if (!s.flow.request) {
    // Reset before the head was complete.
    HttpRequestData& request = s.flow.request.emplace();
    request.method = s.method;
    request.scheme = s.scheme;
    request.target = s.path;
    request.http_version = "HTTP/2.0";
    request.headers = s.request_headers;
    split_authority(s.authority, 443, &request.host, &request.port);
  }
  s.flow.request->trailers = s.request_trailers;
  if (s.flow.response) {
    s.flow.response->trailers = s.response_trailers;
  }
  if (s.response_from_proxy) {
    s.flow.response.reset();
  }
  s.flow.timings.settle_exchange(s.t_start, s.t_request_end, s.t_response_head,
                                 ctx_->clock->monotonic_us());
  // The record is done: it moves out, and what still arrives on the stream (a late DATA frame
  // of a reset stream) finds no request or response to add to.
  publish_final(std::exchange(s.flow, FlowSnapshot{}), out);
}

}  // namespace sightglass::core
