#include "core/layers/h1_over_h2.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/layers/nghttp2_callbacks.h"

namespace sightglass::core {
namespace {

constexpr int32_t kStreamWindow = 1024 * 1024;
// Request bytes held for want of a server window: above kPauseAbove the source stops being
// read, below kResumeBelow it is read again.
constexpr size_t kPauseAbove = 256 * 1024;
constexpr size_t kResumeBelow = 64 * 1024;

}  // namespace

// Stream is one request and its response.
struct H1OverH2::Stream {
  int32_t id = 0;
  bool head_request = false;

  // The request body on its way to the server.
  ByteQueue body;
  bool body_eof = false;
  Headers trailers;
  H2Send send = H2Send::kBody;

  // The response.
  int status = 0;
  Headers headers;          // The header block being received.
  size_t header_bytes = 0;  // As header_list_full counts them.
  bool final_head = false;
  bool in_trailers = false;
  Headers response_trailers;
  bool chunked = false;
  std::string out;        // HTTP/1.1 bytes not handed on yet.
  size_t unconsumed = 0;  // DATA bytes in |out|, credited to the server once handed on.
  bool response_done = false;
  std::optional<uint32_t> close_code;  // Once the stream closed.
};

H1OverH2::H1OverH2(std::string default_authority)
    : default_authority_(std::move(default_authority)) {
  session_ = Nghttp2Callbacks<H1OverH2>::new_session(
      false, this,
      {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)}});
}

H1OverH2::~H1OverH2() = default;

H1OverH2::Stream* H1OverH2::find(int32_t stream_id) {
  auto it = std::ranges::find(streams_, stream_id, [](const auto& s) { return s->id; });
  return it == streams_.end() ? nullptr : it->get();
}

void H1OverH2::start(Output& out) {
  if (std::exchange(started_, true)) {
    return;
  }
  if (!session_) {
    fail("cannot start an HTTP/2 session", out);
    return;
  }
  send(out);
}

void H1OverH2::on_app_bytes(std::string_view data, Output& out) {
  if (closed_) {
    return;
  }
  start(out);
  HttpParseEvents events;
  parser_.feed(data, events);
  on_request_events(events, out);
  if (!closed_) {
    after(out);
  }
}

void H1OverH2::on_request_events(HttpParseEvents& events, Output& out) {
  for (HttpParseEvent& event : events) {
    if (closed_) {
      return;
    }
    if (auto* head = std::get_if<HttpHead>(&event)) {
      submit_request(*head, out);
    } else if (auto* body = std::get_if<HttpBodyData>(&event)) {
      if (sending_ == nullptr || sending_->close_code) {
        continue;  // The server is done with the stream: the rest of the body has no reader.
      }
      sending_->body.append(body->data);
      continue_body(session_.get(), sending_->id, &sending_->send, {}, true);
    } else if (auto* end = std::get_if<HttpMessageEnd>(&event)) {
      if (sending_ != nullptr) {
        sending_->body_eof = true;
        for (const Header& h : end->trailers) {
          sending_->trailers.push_back({ascii_lower(h.name), h.value});  // HTTP/2's case.
        }
        continue_body(sending_->close_code ? nullptr : session_.get(), sending_->id,
                      &sending_->send, {}, true);
        sending_ = nullptr;
      }
      HttpParseEvents more;
      parser_.next_message(more);
      on_request_events(more, out);
    } else if (auto* error = std::get_if<HttpParseError>(&event)) {
      fail("the request cannot be translated to HTTP/2: " + error->reason, out);
      return;
    }
    // HttpUpgrade: the head already failed the connection.
  }
}

void H1OverH2::submit_request(HttpHead& head, Output& out) {
  if (find_header(head.headers, "Upgrade") != nullptr) {
    fail("the server speaks HTTP/2 only, and an HTTP/1.1 Upgrade (" +
             *find_header(head.headers, "Upgrade") +
             ") cannot be translated to HTTP/2 (WebSocket over HTTP/2, RFC 8441, is not "
             "supported yet)",
         out);
    return;
  }
  if (head.method == "CONNECT") {
    fail("the server speaks HTTP/2 only: CONNECT cannot be translated", out);
    return;
  }
  std::string authority = default_authority_;
  if (const std::string* host = find_header(head.headers, "Host"); host != nullptr) {
    authority = std::string(trim_whitespace(*host));
  }
  std::string path = head.target;
  if (std::optional<AbsoluteForm> form = split_absolute_form(head.target)) {
    authority = form->authority;
    path = std::move(form->path);
  }
  // Headers named by Connection are connection-specific too; Host becomes :authority.
  std::vector<std::string> named{"host"};
  for (const Header& h : head.headers) {
    if (iequals(h.name, "Connection")) {
      split_list(h.value, ',', [&](std::string_view name) { named.push_back(ascii_lower(name)); });
    }
  }
  Headers fields{
      {":method", head.method}, {":scheme", "https"}, {":authority", authority}, {":path", path}};
  for (const Header& h : head.headers) {
    std::string name = ascii_lower(h.name);
    if (is_connection_specific(name) || std::ranges::find(named, name) != named.end() ||
        (name == "te" && !iequals(trim_whitespace(h.value), "trailers"))) {
      continue;
    }
    fields.push_back({std::move(name), h.value});
  }
  const std::vector<nghttp2_nv> nv = h2_nv(fields);
  const bool has_body = head.chunked || (head.content_length && *head.content_length > 0);
  const nghttp2_data_provider provider = Nghttp2Callbacks<H1OverH2>::body();
  const int32_t id = nghttp2_submit_request(session_.get(), nullptr, nv.data(), nv.size(),
                                            has_body ? &provider : nullptr, nullptr);
  if (id < 0) {
    fail(std::string("cannot send the request over HTTP/2: ") + nghttp2_strerror(id), out);
    return;
  }
  Stream& stream = *streams_.emplace_back(std::make_unique<Stream>());
  stream.id = id;
  stream.head_request = head.method == "HEAD";
  sending_ = &stream;
}

ssize_t H1OverH2::read_body(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags) {
  Stream* s = find(stream_id);
  if (s == nullptr) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  size_t consumed = 0;  // Nothing to credit: what waits pauses the source (update_pause).
  return take_body(s->body, s->body_eof, !s->trailers.empty(), &s->send, &consumed, buf, length,
                   flags);
}

int H1OverH2::on_begin_headers(const nghttp2_frame* frame) {
  Stream* s = find(frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (s->final_head) {
    s->in_trailers = true;
  } else {
    s->headers.clear();
    s->status = 0;
  }
  return 0;
}

int H1OverH2::on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) {
  Stream* s = find(frame->hd.stream_id);
  if (s == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (header_list_full(&s->header_bytes, name, value)) {
    if (failure_.empty()) {
      failure_ = "the server's header fields are larger than " +
                 std::to_string(kMaxHeaderListBytes / 1024) + " KiB";
    }
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  take_response_header(name, value, s->in_trailers, &s->status, &s->headers, &s->response_trailers);
  return 0;
}

int H1OverH2::on_frame(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    goaway_ = true;
    return 0;
  }
  Stream* s = find(frame->hd.stream_id);
  if (s == nullptr) {
    return 0;
  }
  const bool headers = frame->hd.type == NGHTTP2_HEADERS;
  if (headers && !s->in_trailers) {
    if (s->status == 101) {
      failure_ = "the HTTP/2 server answered 101, which HTTP/2 does not allow";
      return 0;
    }
    s->final_head = s->status / 100 != 1;  // 1xx heads are interim responses.
    const bool no_body = s->head_request || s->status == 204 || s->status == 304;
    if (s->final_head && !no_body && find_header(s->headers, "content-length") == nullptr) {
      s->chunked = true;
      s->headers.push_back({"transfer-encoding", "chunked"});
    }
    s->out += serialize_response_head("HTTP/1.1", s->status, reason_phrase(s->status), s->headers);
    s->headers.clear();
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->response_done &&
      ((headers && s->final_head) || frame->hd.type == NGHTTP2_DATA)) {
    if (s->chunked) {
      s->out += encode_last_chunk(s->response_trailers);
    }
    // With a content-length there is nowhere for trailers to go in HTTP/1.1: they are dropped.
    s->response_done = true;
  }
  return 0;
}

int H1OverH2::on_data(int32_t stream_id, std::string_view data) {
  Stream* s = find(stream_id);
  if (s == nullptr || !s->final_head) {
    orphan_bytes_ += data.size();
    return 0;
  }
  s->out += s->chunked ? encode_chunk(data) : std::string(data);
  s->unconsumed += data.size();
  return 0;
}

int H1OverH2::on_frame_sent(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_GOAWAY && !closed_ && failure_.empty()) {
    // nghttp2 ends the connection itself when the server breaks the protocol.
    failure_ = std::string("invalid HTTP/2 from the server: ") +
               nghttp2_http2_strerror(frame->goaway.error_code);
    if (const size_t n = frame->goaway.opaque_data_len; n > 0) {
      failure_ +=
          " (" + std::string(reinterpret_cast<const char*>(frame->goaway.opaque_data), n) + ")";
    }
  }
  return 0;
}

int H1OverH2::on_stream_close(int32_t stream_id, uint32_t error_code) {
  if (Stream* s = find(stream_id)) {
    s->close_code = error_code;
  }
  return 0;
}

void H1OverH2::after(Output& out) {
  if (!failure_.empty()) {
    fail(std::move(failure_), out);
    return;
  }
  if (orphan_bytes_ > 0) {
    nghttp2_session_consume_connection(session_.get(), orphan_bytes_);
    orphan_bytes_ = 0;
  }
  // Only the oldest exchange speaks on the HTTP/1.1 side; the next one waits for it.
  while (!streams_.empty()) {
    Stream& s = *streams_.front();
    out.to_app += std::exchange(s.out, {});
    if (s.unconsumed > 0) {
      nghttp2_session_consume(session_.get(), s.id, s.unconsumed);
      s.unconsumed = 0;
    }
    if (s.close_code && !s.response_done) {
      fail(*s.close_code == NGHTTP2_REFUSED_STREAM
               ? std::string("the HTTP/2 server refused the request") +
                     (goaway_ ? " (GOAWAY)" : " (REFUSED_STREAM)")
           : *s.close_code != NGHTTP2_NO_ERROR
               ? std::string("the HTTP/2 server reset the stream: ") +
                     nghttp2_http2_strerror(*s.close_code)
               : "the HTTP/2 stream closed before the response was complete",
           out);
      return;
    }
    if (!s.response_done || &s == sending_) {
      break;
    }
    streams_.pop_front();
  }
  send(out);
  if (!failure_.empty()) {
    fail(std::move(failure_), out);
    return;
  }
  update_pause(out);
  if (streams_.empty() && (goaway_ || (nghttp2_session_want_read(session_.get()) == 0 &&
                                       nghttp2_session_want_write(session_.get()) == 0))) {
    // The server is done with the connection and nothing is in flight: a quiet end.
    closed_ = true;
    out.app_closed = true;
  }
}

void H1OverH2::send(Output& out) {
  if (!session_) {
    return;
  }
  for (;;) {
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
      if (n < 0) {
        if (!closed_) {
          closed_ = true;
          out.app_closed = true;
          out.error =
              std::string("HTTP/2 session failed: ") + nghttp2_strerror(static_cast<int>(n));
        }
        return;
      }
      if (n == 0) {
        break;
      }
      out.to_server.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    bool more = false;
    for (auto& s : streams_) {
      more |= continue_body(session_.get(), s->id, &s->send, s->trailers, /*ready=*/false);
    }
    if (!more) {
      return;
    }
  }
}

void H1OverH2::update_pause(Output& out) {
  size_t queued = 0;
  for (const auto& s : streams_) {
    queued += s->body.size();
  }
  if (!paused_ && queued > kPauseAbove) {
    paused_ = true;
    out.pause = true;
  } else if (paused_ && queued < kResumeBelow) {
    paused_ = false;
    out.pause = false;
  }
}

void H1OverH2::end(Output& out, std::optional<std::string> error, bool goaway) {
  if (std::exchange(closed_, true)) {
    return;
  }
  if (error) {
    out.app_closed = true;
    out.error = std::move(*error);
  }
  if (goaway && session_) {
    nghttp2_session_terminate_session(session_.get(), NGHTTP2_NO_ERROR);
    send(out);
  }
  if (paused_) {
    paused_ = false;
    out.pause = false;
  }
}

void H1OverH2::on_app_close(Output& out) { end(out, std::nullopt, started_); }

void H1OverH2::on_server_bytes(std::string_view data, Output& out) {
  if (closed_) {
    return;
  }
  start(out);
  const ssize_t n = nghttp2_session_mem_recv(
      session_.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (n < 0) {
    fail(std::string("invalid HTTP/2 from the server: ") + nghttp2_strerror(static_cast<int>(n)),
         out);
    return;
  }
  after(out);
}

void H1OverH2::on_server_closed(const std::string& error, Output& out) {
  end(out, error, /*goaway=*/false);
}

}  // namespace sightglass::core
