#include "core/layers/http2_layer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/layers/http2_stream.h"
#include "core/layers/live_flow.h"
#include "core/layers/websocket.h"
#include "core/layers/websocket_capture.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {

// Upstream is one HTTP/2 server connection.
struct Http2Layer::Upstream {
  Http2Layer* layer = nullptr;
  ConnId conn = 0;
  CommandId open_id = 0;
  bool open = false;
  bool goaway = false;
  H2SessionPtr session;
  std::string address;
  std::optional<TlsInfo> tls;
  int64_t dns_us = -1, connect_us = -1, ssl_us = -1;
  bool timings_given = false;      // The first stream on the connection carries its setup times.
  bool settings_received = false;  // The server's first SETTINGS arrived.
  std::map<int32_t, int32_t> streams;  // Server stream id -> client stream id.
  // Extended CONNECT streams that wait for the server's SETTINGS (to know if it may send them).
  std::vector<int32_t> waiting_settings;
  // The client's PINGs forwarded to this server, waiting for its ACK (opaque data).
  std::vector<uint64_t> client_pings;
};

// H1Conn is one HTTP/1.1 server connection, carrying one exchange at a time.
struct Http2Layer::H1Conn {
  ConnId conn = 0;
  CommandId open_id = 0;
  bool open = false;
  int32_t stream = 0;   // The client stream in flight, 0 when idle.
  std::string pending;  // Bytes waiting for the connection to open.
  std::string address;
  std::optional<TlsInfo> tls;
  int64_t dns_us = -1, connect_us = -1, ssl_us = -1;
  bool timings_given = false;
  bool paused = false;  // PauseReading sent: the client is slow to take the response.
  // Request body bytes handed to the connection and not yet written (WriteDrained credits the
  // client's windows with them then, so a slow server holds back only its own stream), and
  // the client stream they came from.
  size_t unwritten = 0;
  int32_t unwritten_stream = 0;
  Http1Parser parser{Http1Parser::Kind::kResponse};
};

namespace {

constexpr int32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
constexpr uint32_t kMaxConcurrentStreams = 100;
// An HTTP/1.1 server connection is not read while its stream holds more than a stream window
// for the client, and read again once that drained to half of it.
constexpr size_t kH1PauseBytes = kStreamWindow;
constexpr size_t kH1ResumeBytes = kStreamWindow / 2;

std::string_view view(const uint8_t* data, size_t len) {
  return {reinterpret_cast<const char*>(data), len};
}

std::string code_name(uint32_t code) { return nghttp2_http2_strerror(code); }

// h1_to_h2_headers lowercases the names of HTTP/1.1 response headers and drops the
// connection-specific ones (RFC 9113 8.2.2).
Headers h1_to_h2_headers(const Headers& headers) {
  Headers out;
  for (const Header& h : headers) {
    std::string name = h.name;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
        name == "transfer-encoding" || name == "upgrade") {
      continue;
    }
    out.push_back({std::move(name), h.value});
  }
  return out;
}

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

// --- Trampolines ----------------------------------------------------------------------------

Http2Layer* client_layer(void* user_data) { return static_cast<Http2Layer*>(user_data); }

int c_begin_headers(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* user_data) {
  return client_layer(user_data)->on_client_begin_headers(frame);
}
int c_header(nghttp2_session* /*s*/, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
             void* user_data) {
  return client_layer(user_data)->on_client_header(frame, view(name, namelen),
                                                   view(value, valuelen));
}
int c_frame(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* user_data) {
  return client_layer(user_data)->on_client_frame(frame);
}
int c_data(nghttp2_session* /*s*/, uint8_t /*flags*/, int32_t stream_id, const uint8_t* data,
           size_t len, void* user_data) {
  return client_layer(user_data)->on_client_data(stream_id, view(data, len));
}
int c_close(nghttp2_session* /*s*/, int32_t stream_id, uint32_t error_code, void* user_data) {
  return client_layer(user_data)->on_client_stream_close(stream_id, error_code);
}
ssize_t c_read(nghttp2_session* /*s*/, int32_t stream_id, uint8_t* buf, size_t length,
               uint32_t* flags, nghttp2_data_source* /*source*/, void* user_data) {
  return client_layer(user_data)->read_response_body(stream_id, buf, length, flags);
}

Http2Layer::Upstream& server_of(void* user_data) {
  return *static_cast<Http2Layer::Upstream*>(user_data);
}

}  // namespace

// The server-side trampolines need Upstream's definition (above) and the layer's members.
namespace {
int s_begin_headers(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->on_server_begin_headers(up, frame);
}
int s_header(nghttp2_session* /*s*/, const nghttp2_frame* frame, const uint8_t* name,
             size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
             void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->on_server_header(up, frame, view(name, namelen), view(value, valuelen));
}
int s_frame(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->on_server_frame(up, frame);
}
int s_data(nghttp2_session* /*s*/, uint8_t /*flags*/, int32_t stream_id, const uint8_t* data,
           size_t len, void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->on_server_data(up, stream_id, view(data, len));
}
int s_close(nghttp2_session* /*s*/, int32_t stream_id, uint32_t error_code, void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->on_server_stream_close(up, stream_id, error_code);
}
ssize_t s_read(nghttp2_session* /*s*/, int32_t stream_id, uint8_t* buf, size_t length,
               uint32_t* flags, nghttp2_data_source* /*source*/, void* user_data) {
  Http2Layer::Upstream& up = server_of(user_data);
  return up.layer->read_request_body(up, stream_id, buf, length, flags);
}

// take_body moves up to |length| bytes of |buf| into |out|: the shared logic of both data
// providers.
ssize_t take_body(ByteQueue& buf, bool eof, bool has_trailers, bool* deferred, bool* trailers_due,
                  size_t* consumed, uint8_t* out, size_t length, uint32_t* flags) {
  const size_t n = std::min(length, buf.size());
  if (n > 0) {
    std::memcpy(out, buf.view().data(), n);
    buf.consume(n);
    *consumed += n;
  }
  if (buf.empty() && eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (has_trailers) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      *trailers_due = true;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    *deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace

Http2Layer::Http2Layer(SessionContext* ctx, HttpTarget target, bool rewrite_authority,
                       UpstreamProtocol upstream)
    : ctx_(ctx),
      target_(std::move(target)),
      rewrite_authority_(rewrite_authority),
      upstream_protocol_(upstream) {}

Http2Layer::~Http2Layer() = default;

void Http2Layer::start(Commands& out) {
  if (started_) {
    return;
  }
  started_ = true;
  H2Callbacks callbacks;
  callbacks.begin_headers = c_begin_headers;
  callbacks.header = c_header;
  callbacks.frame_recv = c_frame;
  callbacks.data_chunk_recv = c_data;
  callbacks.stream_close = c_close;
  client_ = new_h2_session(true, callbacks, this, /*manual_ping_ack=*/true);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(client_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(client_.get(), NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  if (upstream_protocol_ == UpstreamProtocol::kHttp2) {
    // Connect (adopt the pre-opened connection) at once: the server's SETTINGS come meanwhile.
    upstream_for_new_stream(out);
  }
  pump(out);
}

void Http2Layer::handle(Event& event, Commands& out) {
  if (!started_) {
    start(out);
  }
  if (auto* data = std::get_if<DataReceived>(&event)) {
    if (data->conn == kClientConn) {
      on_client_bytes(data->data, out);
    } else if (auto it = upstreams_.find(data->conn); it != upstreams_.end()) {
      on_server_bytes(*it->second, data->data, out);
    } else if (auto h1 = h1_conns_.find(data->conn); h1 != h1_conns_.end()) {
      on_h1_bytes(*h1->second, data->data, out);
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
        if (!s->response_received && !s->client_closed) {
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
    if (closed->conn == kClientConn) {
      on_client_lost(closed->error, out);
    } else if (auto it = upstreams_.find(closed->conn); it != upstreams_.end()) {
      on_upstream_lost(
          *it->second,
          closed->error.empty() ? std::string() : "upstream connection failed: " + closed->error,
          out);
    } else if (auto h1 = h1_conns_.find(closed->conn); h1 != h1_conns_.end()) {
      on_h1_closed(
          *h1->second,
          closed->error.empty() ? std::string() : "upstream connection failed: " + closed->error,
          out);
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
    on_client_lost_with(error, out);
    return;
  }
  if (n < 0) {
    out.push_back(
        Log{Log::Level::kInfo, "HTTP/2 from the client " + ctx_->client_address +
                                   " is invalid: " + nghttp2_strerror(static_cast<int>(n))});
    on_client_lost(
        std::string("invalid HTTP/2 from the client: ") + nghttp2_strerror(static_cast<int>(n)),
        out);
  }
}

int Http2Layer::on_client_begin_headers(const nghttp2_frame* frame) {
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

int Http2Layer::on_client_header(const nghttp2_frame* frame, std::string_view name,
                                 std::string_view value) {
  Stream* s = stream(frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (s->request_head_done) {
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
    s->request_headers.push_back({std::string(name), std::string(value)});
  }
  return 0;
}

int Http2Layer::on_client_frame(const nghttp2_frame* frame) {
  const int32_t id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      ++useful_frames_;
      Stream* s = stream(id);
      if (s == nullptr) {
        return 0;
      }
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (!s->request_head_done) {
        s->request_head_done = true;
        s->request_eof = end_stream;
        if (end_stream) {
          s->t_request_end = ctx_->clock->monotonic_us();
          s->live.milestone();
        }
        actions_.push_back([this, id](Commands& out) { submit_request(id, out); });
      } else if (end_stream) {
        s->request_eof = true;
        s->t_request_end = ctx_->clock->monotonic_us();
        s->live.milestone();
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
        s->request_eof = true;
        s->t_request_end = ctx_->clock->monotonic_us();
        s->live.milestone();
      }
      break;
    case NGHTTP2_PING: {
      std::array<uint8_t, 8> opaque{};
      std::memcpy(opaque.data(), frame->ping.opaque_data, opaque.size());
      const bool ack = (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0;
      actions_.push_back(
          [this, opaque, ack](Commands& /*out*/) { on_client_ping(opaque.data(), ack); });
      break;
    }
    case NGHTTP2_RST_STREAM:
      if (Stream* s = stream(id); s != nullptr) {
        const uint32_t code = frame->rst_stream.error_code;
        if (s->flow.error.empty()) {
          s->flow.error = "stream reset by the client (" + code_name(code) + ")";
        }
        actions_.push_back([this, id, code](Commands& /*out*/) {
          if (Stream* st = stream(id)) {
            reset_server_stream(*st, code);
          }
        });
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Layer::on_client_data(int32_t stream_id, std::string_view data) {
  Stream* s = stream(stream_id);
  if (s == nullptr) {
    // Nobody will read it: credit the connection window at once.
    actions_.push_back([this, n = data.size()](Commands& /*out*/) {
      nghttp2_session_consume_connection(client_.get(), n);
    });
    return 0;
  }
  if (s->server_closed) {
    // The server stream is gone: nobody will read it.
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

int Http2Layer::on_client_stream_close(int32_t stream_id, uint32_t error_code) {
  Stream* s = stream(stream_id);
  if (s == nullptr) {
    return 0;
  }
  s->client_closed = true;
  if (error_code != NGHTTP2_NO_ERROR && s->flow.error.empty()) {
    s->flow.error = "stream reset by the client (" + code_name(error_code) + ")";
  }
  if (!s->server_closed && s->server_id != 0) {
    actions_.push_back([this, stream_id](Commands& /*out*/) {
      if (Stream* st = stream(stream_id)) {
        reset_server_stream(*st, NGHTTP2_CANCEL);
      }
    });
  }
  return 0;
}

ssize_t Http2Layer::read_response_body(int32_t stream_id, uint8_t* buf, size_t length,
                                       uint32_t* flags) {
  Stream* s = stream(stream_id);
  if (s == nullptr) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return take_body(s->response_buf, s->response_eof, !s->response_trailers.empty(),
                   &s->response_deferred, &s->response_trailers_due, &s->consume_server, buf,
                   length, flags);
}

void Http2Layer::submit_request(int32_t client_id, Commands& out) {
  Stream* s = stream(client_id);
  if (s == nullptr || s->client_closed) {
    return;
  }
  HttpRequestData& request = s->flow.request.emplace();
  request.method = s->method;
  request.scheme = s->scheme.empty() ? target_.scheme : s->scheme;
  request.target = s->path;
  request.http_version = "HTTP/2.0";
  request.headers = s->request_headers;
  if (is_grpc_content_type(request.headers)) {
    request.body.grpc.emplace();  // Count every message, also past the body limit.
  }
  std::string authority = s->authority;
  if (authority.empty()) {
    if (const std::string* host = find_header(s->request_headers, "host")) {
      authority = *host;
    }
  }
  if (rewrite_authority_ || authority.empty()) {
    authority = authority_text(target_);
    for (Header& h : s->request_headers) {
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
  s->live.milestone();
  // The body captured so far (DATA may have come with the head).
  if (s->protocol != "websocket") {
    request.body.append(s->request_buf.view(), ctx_->config->body_limit);
  }
  s->authority_sent = authority;
  if (s->protocol.empty() && holds(HookPoint::kRequest)) {
    s->hold = Stream::Hold::kRequest;  // check_holds() sends the Hook once the body is here.
    return;
  }
  send_request(*s, out);
}

void Http2Layer::send_request(Stream& stream_ref, Commands& out) {
  Stream* s = &stream_ref;
  const int32_t client_id = s->client_id;
  const std::string authority = s->authority_sent;
  if (ctx_->config->response_timeout_ms > 0) {
    s->wakeup_id = ctx_->new_command();
    out.push_back(RequestWakeup{s->wakeup_id, ctx_->config->response_timeout_ms});
  }

  if (upstream_protocol_ == UpstreamProtocol::kHttp1) {
    if (!s->protocol.empty()) {
      // Not advertised to the client in this mode (nghttp2 refuses it before we see it).
      fail_stream(*s, 501, "extended CONNECT cannot be translated to HTTP/1.1");
      return;
    }
    submit_h1_request(*s, authority, out);
    return;
  }
  Upstream* up = upstream_for_new_stream(out);
  if (up == nullptr) {
    fail_stream(*s, 502, "cannot open a connection to " + authority_text(target_));
    return;
  }
  s->upstream = up->conn;
  s->authority_sent = authority;
  if (!s->protocol.empty() && !up->settings_received) {
    // Whether the server takes extended CONNECT is known from its SETTINGS only.
    up->waiting_settings.push_back(client_id);
    return;
  }
  submit_to_server(*s, *up);
}

void Http2Layer::submit_to_server(Stream& stream_ref, Upstream& upstream_ref) {
  Stream* s = &stream_ref;
  Upstream* up = &upstream_ref;
  const int32_t client_id = s->client_id;
  const std::string& authority = s->authority_sent;
  if (!s->protocol.empty() &&
      nghttp2_session_get_remote_settings(up->session.get(),
                                          NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
    fail_stream(*s, 502,
                "the server " + authority_text(target_) +
                    " does not accept extended CONNECT (RFC 8441) for :protocol " + s->protocol);
    return;
  }
  if (up->open) {
    s->flow.server_address = up->address;
    s->flow.server_tls = up->tls;
    if (!up->timings_given) {
      up->timings_given = true;
      s->flow.timings.dns_us = up->dns_us;
      s->flow.timings.ssl_us = up->ssl_us;
      s->flow.timings.connect_us = up->connect_us;
    }
  }
  H2NvList nv;
  const std::string method = ":method", scheme = ":scheme", auth = ":authority", path = ":path",
                    protocol = ":protocol";
  const std::string scheme_value = target_.tls ? "https" : "http";
  nv.add(method, s->method);
  if (!s->protocol.empty()) {
    nv.add(protocol, s->protocol);
  }
  nv.add(scheme, scheme_value);
  nv.add(auth, authority);
  if (s->method != "CONNECT" || !s->protocol.empty()) {
    nv.add(path, s->path);
  }
  for (const Header& h : s->request_headers) {
    nv.add(h.name, h.value);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = s_read;
  const int32_t id = nghttp2_submit_request(
      up->session.get(), nullptr, nv.nv.data(), nv.nv.size(),
      s->request_eof && s->request_buf.empty() && s->request_trailers.empty() ? nullptr : &provider,
      nullptr);
  if (id < 0) {
    fail_stream(*s, 502,
                std::string("cannot send the request to the server: ") + nghttp2_strerror(id));
    return;
  }
  s->server_id = id;
  up->streams[id] = client_id;
}

// --- The server side --------------------------------------------------------------------------

Http2Layer::Upstream* Http2Layer::upstream_for_new_stream(Commands& out) {
  if (auto it = upstreams_.find(current_); it != upstreams_.end() && !it->second->goaway) {
    return it->second.get();
  }
  auto up = std::make_unique<Upstream>();
  up->layer = this;
  up->conn = ctx_->new_conn();
  up->open_id = ctx_->new_command();
  H2Callbacks callbacks;
  callbacks.begin_headers = s_begin_headers;
  callbacks.header = s_header;
  callbacks.frame_recv = s_frame;
  callbacks.data_chunk_recv = s_data;
  callbacks.stream_close = s_close;
  up->session = new_h2_session(false, callbacks, up.get(), /*manual_ping_ack=*/true);
  if (!up->session) {
    return nullptr;
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
  };
  nghttp2_submit_settings(up->session.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(up->session.get(), NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  out.push_back(OpenConnection{up->open_id, up->conn, target_.host, target_.port, target_.tls});
  current_ = up->conn;
  Upstream* raw = up.get();
  upstreams_[up->conn] = std::move(up);
  return raw;
}

void Http2Layer::on_open_completed(const OpenCompleted& opened, Commands& out) {
  for (auto& [conn, h1] : h1_conns_) {
    if (h1->open_id != opened.id) {
      continue;
    }
    H1Conn& c = *h1;
    Stream* s = stream(c.stream);
    if (!opened.error.empty()) {
      if (s != nullptr) {
        s->flow.timings.dns_us = opened.dns_us;
        s->flow.timings.connect_us = opened.connect_us;
        s->server_closed = true;
        fail_stream(*s, opened.timed_out ? 504 : 502, opened.error);
      }
      h1_conns_.erase(conn);
      return;
    }
    c.open = true;
    c.address = opened.peer_address;
    c.tls = opened.tls;
    if (s != nullptr) {
      s->flow.server_address = c.address;
      s->flow.server_tls = c.tls;
      s->flow.timings.dns_us = opened.dns_us;
      s->flow.timings.ssl_us = opened.ssl_us;
      s->flow.timings.connect_us =
          opened.connect_us < 0 ? -1 : opened.connect_us + std::max<int64_t>(opened.ssl_us, 0);
    }
    if (!c.pending.empty()) {
      out.push_back(SendData{c.conn, std::move(c.pending)});
      c.pending.clear();
    }
    return;
  }
  Upstream* up = nullptr;
  for (auto& [conn, candidate] : upstreams_) {
    if (candidate->open_id == opened.id) {
      up = candidate.get();
    }
  }
  if (up == nullptr) {
    return;
  }
  std::string error = opened.error;
  if (error.empty() && opened.tls && opened.tls->alpn != "h2") {
    error = "the server " + authority_text(target_) + " does not speak HTTP/2 (ALPN: " +
            (opened.tls->alpn.empty() ? std::string("none") : opened.tls->alpn) + ")";
    out.push_back(CloseConnection{up->conn, false});
  }
  up->dns_us = opened.dns_us;
  up->ssl_us = opened.ssl_us;
  up->connect_us =
      opened.connect_us < 0 ? -1 : opened.connect_us + std::max<int64_t>(opened.ssl_us, 0);
  for (auto& [server_id, client_id] : up->streams) {
    if (Stream* s = stream(client_id)) {
      up->timings_given = true;
      s->flow.timings.dns_us = opened.dns_us;
      if (error.empty()) {
        s->flow.server_address = opened.peer_address;
        s->flow.server_tls = opened.tls;
        s->flow.timings.ssl_us = opened.ssl_us;
        s->flow.timings.connect_us =
            opened.connect_us < 0 ? -1 : opened.connect_us + std::max<int64_t>(opened.ssl_us, 0);
      } else {
        s->flow.timings.connect_us = opened.connect_us;
      }
    }
  }
  if (!error.empty()) {
    const bool timed_out = opened.timed_out;
    std::vector<int32_t> ids = up->waiting_settings;
    for (auto& [server_id, client_id] : up->streams) {
      ids.push_back(client_id);
    }
    for (int32_t id : ids) {
      if (Stream* s = stream(id)) {
        s->server_closed = true;
        fail_stream(*s, timed_out ? 504 : 502, error);
      }
    }
    if (current_ == up->conn) {
      current_ = 0;
    }
    upstreams_.erase(up->conn);
    return;
  }
  up->open = true;
  up->address = opened.peer_address;
  up->tls = opened.tls;
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

int Http2Layer::on_server_begin_headers(Upstream& up, const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (Stream* s = server_stream(up, frame->hd.stream_id)) {
    s->in_response_trailers = s->response_received;
    if (!s->response_received) {
      s->response_headers.clear();
      s->status = 0;
    }
  }
  return 0;
}

int Http2Layer::on_server_header(Upstream& up, const nghttp2_frame* frame, std::string_view name,
                                 std::string_view value) {
  Stream* s = server_stream(up, frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  take_response_header(name, value, s->in_response_trailers, &s->status, &s->response_headers,
                       &s->response_trailers);
  return 0;
}

int Http2Layer::on_server_frame(Upstream& up, const nghttp2_frame* frame) {
  const int32_t server_id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = server_stream(up, server_id);
      if (s == nullptr) {
        return 0;
      }
      const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (s->in_response_trailers) {
        s->response_eof = true;
        s->in_response_trailers = false;
        break;
      }
      if (s->status >= 100 && s->status < 200) {
        // 1xx (100 Continue, 103 Early Hints): passed on as interim HEADERS; the final
        // response follows (nghttp2 files it under NGHTTP2_HCAT_HEADERS, the head is told by
        // response_received, not by the category).
        Headers interim = std::move(s->response_headers);
        s->response_headers.clear();
        const int32_t id = s->client_id;
        const int status = s->status;
        s->status = 0;
        actions_.push_back([this, id, status, interim = std::move(interim)](Commands& /*out*/) {
          submit_interim(id, status, interim);
        });
        break;
      }
      s->response_received = true;
      s->response_eof = end_stream;
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
      const int32_t id = s->client_id;
      actions_.push_back([this, id](Commands& /*out*/) { submit_response(id); });
      break;
    }
    case NGHTTP2_DATA:
      if (Stream* s = server_stream(up, server_id);
          s != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        s->response_eof = true;
      }
      break;
    case NGHTTP2_RST_STREAM:
      if (Stream* s = server_stream(up, server_id)) {
        const uint32_t code = frame->rst_stream.error_code;
        if (s->flow.error.empty()) {
          s->flow.error = "stream reset by the server (" + code_name(code) + ")";
        }
        const int32_t id = s->client_id;
        actions_.push_back([this, id, code](Commands& /*out*/) {
          if (Stream* st = stream(id)) {
            reset_client_stream(*st, code);
          }
        });
      }
      break;
    case NGHTTP2_GOAWAY:
      up.goaway = true;
      break;
    case NGHTTP2_PING: {
      std::array<uint8_t, 8> opaque{};
      std::memcpy(opaque.data(), frame->ping.opaque_data, opaque.size());
      const bool ack = (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0;
      actions_.push_back([this, conn = up.conn, opaque, ack](Commands& /*out*/) {
        if (auto it = upstreams_.find(conn); it != upstreams_.end()) {
          on_server_ping(*it->second, opaque.data(), ack);
        }
      });
      break;
    }
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

int Http2Layer::on_server_data(Upstream& up, int32_t stream_id, std::string_view data) {
  Stream* s = server_stream(up, stream_id);
  if (s == nullptr || s->client_closed) {
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
    if (Stream* s = stream(id); s != nullptr && !s->client_closed && !s->server_closed) {
      submit_to_server(*s, up);
    }
  }
}

int Http2Layer::on_server_stream_close(Upstream& up, int32_t stream_id, uint32_t error_code) {
  Stream* s = server_stream(up, stream_id);
  up.streams.erase(stream_id);
  if (s == nullptr) {
    return 0;
  }
  s->server_closed = true;
  if (error_code != NGHTTP2_NO_ERROR && !s->client_closed) {
    if (s->flow.error.empty()) {
      s->flow.error = "stream reset by the server (" + code_name(error_code) + ")";
    }
    const int32_t id = s->client_id;
    actions_.push_back([this, id, error_code](Commands& /*out*/) {
      if (Stream* st = stream(id)) {
        reset_client_stream(*st, error_code);
      }
    });
  } else if (!s->response_eof && !s->client_closed) {
    // Closed without the end of a response (the connection went away).
    const int32_t id = s->client_id;
    actions_.push_back([this, id](Commands& /*out*/) {
      if (Stream* st = stream(id)) {
        fail_stream(*st, 502, "the server closed the stream without a complete response");
      }
    });
  }
  return 0;
}

ssize_t Http2Layer::read_request_body(Upstream& up, int32_t stream_id, uint8_t* buf, size_t length,
                                      uint32_t* flags) {
  Stream* s = server_stream(up, stream_id);
  if (s == nullptr) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return take_body(s->request_buf, s->request_eof, !s->request_trailers.empty(),
                   &s->request_deferred, &s->request_trailers_due, &s->consume_client, buf, length,
                   flags);
}

void Http2Layer::submit_response(int32_t client_id) {
  Stream* s = stream(client_id);
  if (s == nullptr || s->client_closed || s->response_submitted ||
      s->hold == Stream::Hold::kResponse) {
    return;
  }
  if (!s->response_hooked) {
    HttpResponseData& response = s->flow.response.emplace();
    response.http_version = "HTTP/2.0";  // As spoken to the client (CONTRACT.md).
    response.status = s->status;
    response.headers = s->response_headers;
    if (is_grpc_content_type(response.headers)) {
      response.body.grpc.emplace();
    }
    if (!s->ws) {
      response.body.append(s->response_buf.view(), ctx_->config->body_limit);
    }
    s->live.milestone();
    if (!s->ws && s->protocol.empty() && holds(HookPoint::kResponse)) {
      s->hold = Stream::Hold::kResponse;  // check_holds() sends the Hook.
      return;
    }
  }
  s->response_submitted = true;
  H2NvList nv;
  const std::string status_name = ":status";
  const std::string status_value = std::to_string(s->status);
  nv.add(status_name, status_value);
  const Headers lowered = s->h1 ? h1_to_h2_headers(s->response_headers) : Headers{};
  for (const Header& h : s->h1 ? lowered : s->response_headers) {
    nv.add(h.name, h.value);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = c_read;
  const bool no_body = s->response_eof && s->response_buf.empty() && s->response_trailers.empty();
  const int rv = nghttp2_submit_response(client_.get(), client_id, nv.nv.data(), nv.nv.size(),
                                         no_body ? nullptr : &provider);
  if (rv != 0) {
    s->flow.error = std::string("cannot answer the client: ") + nghttp2_strerror(rv);
    reset_server_stream(*s, NGHTTP2_INTERNAL_ERROR);
  }
}

void Http2Layer::submit_interim(int32_t client_id, int status, const Headers& headers) {
  Stream* s = stream(client_id);
  if (s == nullptr || s->client_closed || s->response_submitted) {
    return;
  }
  H2NvList nv;
  const std::string status_name = ":status";
  const std::string status_value = std::to_string(status);
  nv.add(status_name, status_value);
  for (const Header& h : headers) {
    nv.add(h.name, h.value);
  }
  nghttp2_submit_headers(client_.get(), NGHTTP2_FLAG_NONE, client_id, nullptr, nv.nv.data(),
                         nv.nv.size(), nullptr);
}

void Http2Layer::fail_stream(Stream& s, int status, const std::string& error) {
  if (s.flow.error.empty()) {
    s.flow.error = error;
  }
  reset_server_stream(s, NGHTTP2_CANCEL);
  if (s.client_closed) {
    return;
  }
  if (s.response_submitted) {
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
  s.response_eof = true;
  s.response_received = true;
  submit_proxy_response(s);
}

void Http2Layer::submit_proxy_response(Stream& s) {
  s.response_submitted = true;
  H2NvList nv;
  const std::string status_name = ":status";
  const std::string status_value = std::to_string(s.status);
  nv.add(status_name, status_value);
  for (const Header& h : s.response_headers) {
    nv.add(h.name, h.value);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = c_read;
  const bool no_body = s.response_eof && s.response_buf.empty();
  if (nghttp2_submit_response(client_.get(), s.client_id, nv.nv.data(), nv.nv.size(),
                              no_body ? nullptr : &provider) != 0) {
    reset_client_stream(s, NGHTTP2_INTERNAL_ERROR);
  }
}

void Http2Layer::reset_client_stream(Stream& s, uint32_t code) {
  if (s.client_closed) {
    return;
  }
  nghttp2_submit_rst_stream(client_.get(), NGHTTP2_FLAG_NONE, s.client_id, code);
}

void Http2Layer::reset_server_stream(Stream& s, uint32_t code) {
  if (s.h1) {
    // HTTP/1.1 cannot cancel one exchange: the connection goes.
    if (!s.server_closed) {
      if (auto it = h1_conns_.find(s.h1_conn);
          it != h1_conns_.end() && it->second->stream == s.client_id) {
        it->second->stream = 0;
        it->second->pending.clear();
        // Closed from pump() (CloseConnection needs the command list).
        h1_to_close_.push_back(s.h1_conn);
      }
    }
    s.server_closed = true;
    return;
  }
  if (s.server_closed || s.server_id == 0) {
    s.server_closed = true;
    return;
  }
  auto it = upstreams_.find(s.upstream);
  if (it != upstreams_.end()) {
    nghttp2_submit_rst_stream(it->second->session.get(), NGHTTP2_FLAG_NONE, s.server_id, code);
    it->second->streams.erase(s.server_id);
  }
  s.server_closed = true;
}

void Http2Layer::on_upstream_lost(Upstream& up, const std::string& error, Commands& out) {
  const ConnId conn = up.conn;
  std::vector<int32_t> ids;
  for (auto& [server_id, client_id] : up.streams) {
    ids.push_back(client_id);
  }
  // Streams submitted but not yet given a server id do not exist; every stream is mapped.
  for (auto& [id, s] : streams_) {
    if (s->upstream == conn && !s->server_closed &&
        std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ids.push_back(id);
    }
  }
  for (int32_t id : ids) {
    Stream* s = stream(id);
    if (s == nullptr || s->server_closed) {
      continue;
    }
    s->server_closed = true;
    const std::string text = !error.empty() ? error
                             : s->response_submitted
                                 ? "upstream closed the connection in the middle of the response"
                                 : "upstream closed the connection without sending a response";
    if (!s->response_eof) {
      fail_stream(*s, 502, text);
    }
  }
  release_pings(up);
  out.push_back(CloseConnection{conn, false});
  if (current_ == conn) {
    current_ = 0;
  }
  upstreams_.erase(conn);
}

namespace {

// At most this many PINGs wait for the other side's ACK, from the client to a server and from
// the servers to the client; past it the proxy answers itself (a flood stays with its sender).
constexpr size_t kMaxForwardedPings = 16;

uint64_t ping_key(const uint8_t* opaque) {
  uint64_t key = 0;
  std::memcpy(&key, opaque, sizeof(key));
  return key;
}

}  // namespace

void Http2Layer::on_client_ping(const uint8_t* opaque, bool ack) {
  const uint64_t key = ping_key(opaque);
  if (ack) {
    // The client acknowledges a server's PING.
    auto it = server_pings_.find(key);
    if (it == server_pings_.end()) {
      return;
    }
    const ConnId conn = it->second;
    server_pings_.erase(it);
    if (auto up = upstreams_.find(conn); up != upstreams_.end()) {
      nghttp2_submit_ping(up->second->session.get(), NGHTTP2_FLAG_ACK, opaque);
    }
    return;
  }
  auto up = upstreams_.find(current_);
  if (upstream_protocol_ == UpstreamProtocol::kHttp2 && up != upstreams_.end() &&
      !up->second->goaway && up->second->client_pings.size() < kMaxForwardedPings) {
    up->second->client_pings.push_back(key);
    nghttp2_submit_ping(up->second->session.get(), NGHTTP2_FLAG_NONE, opaque);
    return;
  }
  nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, opaque);
}

void Http2Layer::on_server_ping(Upstream& up, const uint8_t* opaque, bool ack) {
  const uint64_t key = ping_key(opaque);
  if (ack) {
    // The server acknowledges the client's PING.
    auto it = std::find(up.client_pings.begin(), up.client_pings.end(), key);
    if (it != up.client_pings.end()) {
      up.client_pings.erase(it);
      nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, opaque);
    }
    return;
  }
  if (!client_closing_ && !client_eof_ && server_pings_.size() < kMaxForwardedPings) {
    server_pings_.emplace(key, up.conn);
    nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_NONE, opaque);
    return;
  }
  nghttp2_submit_ping(up.session.get(), NGHTTP2_FLAG_ACK, opaque);
}

void Http2Layer::release_pings(Upstream& up) {
  for (const uint64_t key : up.client_pings) {
    uint8_t opaque[8];
    std::memcpy(opaque, &key, sizeof(opaque));
    nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, opaque);
  }
  up.client_pings.clear();
  std::erase_if(server_pings_, [&](const auto& entry) { return entry.second == up.conn; });
}

void Http2Layer::on_client_lost_with(const std::string& error, Commands& out) {
  for (auto& [id, s] : streams_) {
    if (!s->client_closed && s->flow.error.empty()) {
      s->flow.error = error;
    }
  }
  // The GOAWAY goes out before the close (the client is still there).
  on_client_lost(std::string(), out, /*eof=*/false);
}

void Http2Layer::on_client_lost(const std::string& error, Commands& out, bool eof) {
  client_eof_ = eof;
  for (auto& [id, s] : streams_) {
    if (s->client_closed) {
      continue;
    }
    s->client_closed = true;
    if (s->flow.error.empty()) {
      s->flow.error = error.empty() ? "client closed the connection before the stream was complete"
                                    : "client connection failed: " + error;
    }
    reset_server_stream(*s, NGHTTP2_CANCEL);
  }
  close_client(out);
}

void Http2Layer::close_upstream(Upstream& up, Commands& out) {
  release_pings(up);
  out.push_back(CloseConnection{up.conn, false});
  if (current_ == up.conn) {
    current_ = 0;
  }
  upstreams_.erase(up.conn);
}

void Http2Layer::close_client(Commands& out) {
  if (client_closing_) {
    return;
  }
  client_closing_ = true;
  // Pending frames (a GOAWAY, resets) go first.
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(client_.get(), &data);
    if (n <= 0 || client_eof_) {
      break;
    }
    out.push_back(SendData{
        kClientConn, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n))});
  }
  std::vector<ConnId> conns;
  for (auto& [conn, up] : upstreams_) {
    conns.push_back(conn);
  }
  for (ConnId conn : conns) {
    close_upstream(*upstreams_[conn], out);
  }
  for (auto& [conn, h1] : h1_conns_) {
    out.push_back(CloseConnection{conn, false});
  }
  h1_conns_.clear();
  out.push_back(CloseConnection{kClientConn, false});
}

// --- HTTP/1.1 toward the server ------------------------------------------------------------

void Http2Layer::submit_h1_request(Stream& s, const std::string& authority, Commands& out) {
  s.h1 = true;
  s.head_request = s.method == "HEAD";
  H1Conn* c = nullptr;
  for (auto& [conn, candidate] : h1_conns_) {
    if (candidate->open && candidate->stream == 0) {
      c = candidate.get();
      break;
    }
  }
  if (c == nullptr) {
    auto fresh = std::make_unique<H1Conn>();
    fresh->conn = ctx_->new_conn();
    fresh->open_id = ctx_->new_command();
    out.push_back(
        OpenConnection{fresh->open_id, fresh->conn, target_.host, target_.port, target_.tls});
    c = fresh.get();
    h1_conns_[fresh->conn] = std::move(fresh);
  } else {
    s.flow.server_address = c->address;
    s.flow.server_tls = c->tls;
  }
  c->stream = s.client_id;
  s.h1_conn = c->conn;
  s.server_id = -1;  // In flight on an HTTP/1.1 connection.
  if (s.head_request) {
    c->parser.expect_no_body();
  }
  Headers headers;
  if (find_header(s.request_headers, "host") == nullptr) {
    headers.push_back({"host", authority});
  }
  bool has_length = false;
  std::string cookies;
  for (const Header& h : s.request_headers) {
    if (iequals(h.name, "content-length")) {
      has_length = true;
    }
    if (iequals(h.name, "cookie")) {
      // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
      cookies += (cookies.empty() ? "" : "; ") + h.value;
      continue;
    }
    headers.push_back(h);
  }
  if (!cookies.empty()) {
    headers.push_back({"cookie", cookies});
  }
  const bool no_body = s.request_eof && s.request_buf.empty();
  if (!has_length && (!no_body || !s.request_trailers.empty())) {
    headers.push_back({"transfer-encoding", "chunked"});
    s.h1_chunked = true;
  }
  std::string head = serialize_request_head(s.method, s.path, "HTTP/1.1", headers);
  if (c->open) {
    out.push_back(SendData{c->conn, std::move(head)});
  } else {
    c->pending += head;
  }
}

bool Http2Layer::forward_h1_request(Stream& s, Commands& out) {
  auto it = h1_conns_.find(s.h1_conn);
  if (it == h1_conns_.end()) {
    return false;
  }
  H1Conn& c = *it->second;
  if (!c.open) {
    // The body waits in request_buf, unconsumed (the client's stream window bounds it), not in
    // |pending|.
    return false;
  }
  std::string data;
  const bool body = !s.request_buf.empty();
  if (body) {
    c.unwritten += s.request_buf.size();
    c.unwritten_stream = s.client_id;
    data = s.h1_chunked ? encode_chunk(s.request_buf.view()) : s.request_buf.take();
    s.request_buf.consume(s.request_buf.size());
  }
  if (s.request_eof) {
    s.h1_ended = true;
    if (s.h1_chunked) {
      data += encode_last_chunk(s.request_trailers);
    }
  }
  if (data.empty()) {
    return true;
  }
  out.push_back(SendData{c.conn, std::move(data), body});
  return true;
}

void Http2Layer::credit_written(H1Conn& c) {
  if (c.unwritten == 0) {
    return;
  }
  if (Stream* s = stream(c.unwritten_stream); s != nullptr) {
    s->consume_client += c.unwritten;
  } else {
    nghttp2_session_consume_connection(client_.get(), c.unwritten);
  }
  c.unwritten = 0;
}

void Http2Layer::on_h1_bytes(H1Conn& c, const std::string& data, Commands& out) {
  HttpParseEvents events;
  c.parser.feed(data, events);
  on_h1_events(c, events, out);
}

void Http2Layer::on_h1_events(H1Conn& c, HttpParseEvents& events, Commands& out) {
  const ConnId conn = c.conn;
  for (HttpParseEvent& event : events) {
    if (h1_conns_.count(conn) == 0) {
      return;
    }
    Stream* s = stream(c.stream);
    if (auto* head = std::get_if<HttpHead>(&event)) {
      if (s == nullptr) {
        close_h1(c, out);  // A response nobody asked for.
        return;
      }
      if (head->status >= 100 && head->status < 200) {
        if (head->status == 101) {
          fail_stream(*s, 502, "the server switched protocols, which HTTP/2 cannot carry");
          close_h1(c, out);
          return;
        }
        // 100 Continue, 103 Early Hints: interim HEADERS to the client; the final response
        // follows.
        submit_interim(s->client_id, head->status, h1_to_h2_headers(head->headers));
        continue;
      }
      s->status = head->status;
      s->response_headers = std::move(head->headers);
      s->response_received = true;
      s->t_response_head = ctx_->clock->monotonic_us();
      // No body in HTTP/2 either: HEAD, 204, 304 (whatever the server sends after the head).
      s->response_no_body = s->head_request || head->status == 204 || head->status == 304;
      if (s->response_no_body) {
        s->response_eof = true;
        if (head->status == 204) {
          std::erase_if(s->response_headers,
                        [](const Header& h) { return iequals(h.name, "content-length"); });
        }
      }
      submit_response(s->client_id);
      if (s->flow.response) {
        s->flow.response->reason = head->reason;
        s->flow.response->header_bytes = head->header_bytes;
      }
    } else if (auto* body = std::get_if<HttpBodyData>(&event)) {
      if (s == nullptr || s->client_closed || s->response_no_body) {
        continue;
      }
      s->response_buf.append(body->data);
      if (s->flow.response) {
        s->flow.response->body.append(body->data, ctx_->config->body_limit);
        s->live.progress();
      }
    } else if (auto* end = std::get_if<HttpMessageEnd>(&event)) {
      if (s == nullptr) {
        continue;
      }
      if (!s->response_received) {
        // The end of a 1xx response (which took the parser's no-body mark of a HEAD).
        if (s->head_request) {
          c.parser.expect_no_body();
        }
        HttpParseEvents more;
        c.parser.next_message(more);
        on_h1_events(c, more, out);
        return;
      }
      if (!s->response_no_body) {
        s->response_trailers = std::move(end->trailers);
      }
      s->response_eof = true;
      s->server_closed = true;
      c.stream = 0;
      if (!end->keep_alive || !s->h1_ended) {
        close_h1(c, out);
        return;
      }
      HttpParseEvents more;
      c.parser.next_message(more);
      on_h1_events(c, more, out);
      return;
    } else if (auto* error = std::get_if<HttpParseError>(&event)) {
      if (s != nullptr) {
        s->server_closed = true;
        fail_stream(*s, 502, "upstream sent an invalid response: " + error->reason);
      }
      close_h1(c, out);
      return;
    }
  }
}

void Http2Layer::on_h1_closed(H1Conn& c, const std::string& error, Commands& out) {
  const ConnId conn = c.conn;
  HttpParseEvents events;
  c.parser.finish(events);
  std::erase_if(events,
                [](const HttpParseEvent& e) { return std::holds_alternative<HttpParseError>(e); });
  on_h1_events(c, events, out);
  auto it = h1_conns_.find(conn);
  if (it == h1_conns_.end()) {
    return;
  }
  if (Stream* s = stream(it->second->stream); s != nullptr && !s->response_eof) {
    s->server_closed = true;
    fail_stream(*s, 502,
                !error.empty() ? error
                : s->response_submitted
                    ? "upstream closed the connection in the middle of the response"
                    : "upstream closed the connection without sending a response");
  }
  credit_written(*it->second);  // Never written now; nobody waits for it.
  out.push_back(CloseConnection{conn, false});
  h1_conns_.erase(conn);
}

void Http2Layer::close_h1(H1Conn& c, Commands& out) {
  const ConnId conn = c.conn;
  if (Stream* s = stream(c.stream); s != nullptr && !s->response_eof) {
    s->server_closed = true;
  }
  credit_written(c);
  out.push_back(CloseConnection{conn, false});
  h1_conns_.erase(conn);
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

void Http2Layer::update_h1_reading(Commands& out) {
  if (client_closing_) {
    return;
  }
  for (auto& [conn, c] : h1_conns_) {
    const Stream* s = stream(c->stream);
    const size_t buffered = s == nullptr ? 0 : s->response_buf.size();
    if (!c->paused && buffered > kH1PauseBytes) {
      c->paused = true;
      out.push_back(PauseReading{conn, true});
    } else if (c->paused && buffered <= kH1ResumeBytes) {
      c->paused = false;
      out.push_back(PauseReading{conn, false});
    }
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
      if (s->request_trailers_due) {
        s->request_trailers_due = false;
        if (auto it = upstreams_.find(s->upstream); it != upstreams_.end() && !s->server_closed) {
          H2NvList nv;
          for (const Header& h : s->request_trailers) {
            nv.add(h.name, h.value);
          }
          nghttp2_submit_trailer(it->second->session.get(), s->server_id, nv.nv.data(),
                                 nv.nv.size());
          progress = true;
        }
      }
      if (s->response_trailers_due) {
        s->response_trailers_due = false;
        if (!s->client_closed) {
          H2NvList nv;
          for (const Header& h : s->response_trailers) {
            nv.add(h.name, h.value);
          }
          nghttp2_submit_trailer(client_.get(), s->client_id, nv.nv.data(), nv.nv.size());
          progress = true;
        }
      }
      if (s->request_deferred && (!s->request_buf.empty() || s->request_eof) && !s->server_closed) {
        if (auto it = upstreams_.find(s->upstream); it != upstreams_.end()) {
          s->request_deferred = false;
          nghttp2_session_resume_data(it->second->session.get(), s->server_id);
          progress = true;
        }
      }
      if (s->response_deferred && (!s->response_buf.empty() || s->response_eof) &&
          !s->client_closed) {
        s->response_deferred = false;
        nghttp2_session_resume_data(client_.get(), s->client_id);
        progress = true;
      }
    }
    // What the sessions have to send.
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(client_.get(), &data);
      if (n <= 0) {
        break;
      }
      out.push_back(SendData{
          kClientConn, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n))});
      progress = true;
    }
    for (auto& [conn, up] : upstreams_) {
      if (!up->open) {
        continue;
      }
      for (;;) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(up->session.get(), &data);
        if (n <= 0) {
          break;
        }
        out.push_back(SendData{
            conn, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n))});
        progress = true;
      }
    }
    for (ConnId conn : std::exchange(h1_to_close_, {})) {
      if (auto it = h1_conns_.find(conn); it != h1_conns_.end()) {
        close_h1(*it->second, out);
        progress = true;
      }
    }
    for (auto& [id, s] : streams_) {
      if (s->h1 && !s->server_closed && s->h1_conn != 0 && !s->h1_ended &&
          (!s->request_buf.empty() || s->request_eof)) {
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
      if (s->consume_server > 0) {
        if (s->response_from_proxy || s->h1) {
          s->consume_server = 0;
        } else if (auto it = upstreams_.find(s->upstream); it != upstreams_.end()) {
          nghttp2_session_consume(it->second->session.get(), s->server_id, s->consume_server);
          s->consume_server = 0;
          progress = true;
        } else {
          s->consume_server = 0;
        }
      }
    }
    if (!progress) {
      break;
    }
  }
}

bool Http2Layer::finalize(Commands& out) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& s = *it->second;
    if (s.client_closed && !s.published) {
      publish(s, out);
    }
    if (s.client_closed && (s.server_closed || s.server_id == 0)) {
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
    if (s->published) {
      continue;
    }
    if (s->flow.error.empty()) {
      s->flow.error = why;
    }
    publish(*s, out);
  }
}

void Http2Layer::publish(Stream& s, Commands& out) {
  s.published = true;
  if (s.wakeup_id != 0) {
    out.push_back(CancelWakeup{s.wakeup_id});
    s.wakeup_id = 0;
  }
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
  publish_final_copy(s.flow, out);
}

size_t Http2Layer::stream_window() { return static_cast<size_t>(kStreamWindow); }

}  // namespace sightglass::core
