// Http2Layer's HTTP/1.1 server pool: each client stream becomes one request on a keep-alive
// HTTP/1.1 connection (one exchange per connection at a time).
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "core/layers/http2_internal.h"

namespace sightglass::core {

namespace {

// An HTTP/1.1 server connection is not read while its stream holds more than a stream window
// for the client, and read again once that drained to half of it.
constexpr size_t kH1PauseBytes = kStreamWindow;
constexpr size_t kH1ResumeBytes = kStreamWindow / 2;

}  // namespace

// --- HTTP/1.1 toward the server ------------------------------------------------------------

void Http2Layer::submit_h1_request(Stream& s, Commands& out) {
  s.h1 = true;
  s.head_request = s.method == "HEAD";
  const HttpTarget& target = s.elsewhere ? *s.elsewhere : target_;
  auto idle = std::ranges::find_if(h1_conns_, [&](const auto& entry) {
    return entry.second->open && entry.second->stream == 0 && entry.second->target == target;
  });
  H1Conn* c = idle == h1_conns_.end() ? nullptr : idle->second.get();
  if (c == nullptr) {
    auto fresh = std::make_unique<H1Conn>();
    // (A connection elsewhere leaves the one reserved for the layer's server alone.)
    fresh->conn = s.elsewhere ? ctx_->new_conn(target.host, target.port) : ctx_->new_conn();
    fresh->open_id = ctx_->new_command();
    fresh->target = target;
    out.push_back(
        OpenConnection{fresh->open_id, fresh->conn, target.host, target.port, target.tls});
    c = fresh.get();
    h1_conns_[fresh->conn] = std::move(fresh);
  } else {
    take_server(s.flow, c->opened, /*failed=*/false, /*timings=*/false);
  }
  c->stream = s.client_id;
  s.h1_conn = c->conn;
  s.server_id = -1;  // In flight on an HTTP/1.1 connection.
  s.request_send = Stream::Send::kBody;
  if (s.head_request) {
    c->parser.expect_no_body();
  }
  Headers headers;
  if (find_header(s.request_headers, "host") == nullptr) {
    headers.push_back({"host", s.authority_sent});
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
  const bool no_body = s.request_done() && s.request_buf.empty();
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
  if (it == h1_conns_.end() || !it->second->open) {
    // The body waits in request_buf, unconsumed (the client's stream window bounds it), not in
    // |pending|.
    return false;
  }
  H1Conn& c = *it->second;
  std::string data;
  const bool body = !s.request_buf.empty();
  if (body) {
    c.unwritten += s.request_buf.size();
    c.unwritten_stream = s.client_id;
    data = s.h1_chunked ? encode_chunk(s.request_buf.take()) : s.request_buf.take();
  }
  if (s.request_done()) {
    s.request_send = Stream::Send::kDone;
    if (s.h1_chunked) {
      data += encode_last_chunk(s.request_trailers);
    }
  }
  if (!data.empty()) {
    out.push_back(SendData{c.conn, std::move(data), body});
  }
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
        submit_interim(*s, head->status, h1_to_h2_headers(head->headers));
        continue;
      }
      s->status = head->status;
      s->response_headers = std::move(head->headers);
      s->t_response_head = ctx_->clock->monotonic_us();
      // No body in HTTP/2 either: HEAD, 204, 304 (whatever the server sends after the head).
      s->response_no_body = s->head_request || head->status == 204 || head->status == 304;
      s->response_head(s->response_no_body);
      if (head->status == 204) {
        std::erase_if(s->response_headers,
                      [](const Header& h) { return iequals(h.name, "content-length"); });
      }
      submit_response(*s);
      if (s->flow.response) {
        s->flow.response->reason = head->reason;
        s->flow.response->header_bytes = head->header_bytes;
      }
    } else if (auto* body = std::get_if<HttpBodyData>(&event)) {
      if (s == nullptr || s->client_closed() || s->response_no_body) {
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
      if (!s->response_received()) {
        // The end of a 1xx response (which took the parser's no-body mark of a HEAD).
        if (s->head_request) {
          c.parser.expect_no_body();
        }
      } else {
        if (!s->response_no_body) {
          s->response_trailers = std::move(end->trailers);
        }
        s->response_end();
        s->close_server();
        c.stream = 0;
        if (!end->keep_alive || s->request_send != Stream::Send::kDone) {
          close_h1(c, out);
          return;
        }
      }
      HttpParseEvents more;
      c.parser.next_message(more);
      on_h1_events(c, more, out);
      return;
    } else if (auto* error = std::get_if<HttpParseError>(&event)) {
      if (s != nullptr) {
        s->close_server();
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
  if (Stream* s = stream(it->second->stream); s != nullptr && !s->response_done()) {
    s->close_server();
    fail_stream(*s, 502, lost_error(*s, error));
  }
  close_h1(*it->second, out);
}

void Http2Layer::close_h1(H1Conn& c, Commands& out) {
  const ConnId conn = c.conn;
  if (Stream* s = stream(c.stream); s != nullptr && !s->response_done()) {
    s->close_server();
  }
  credit_written(c);  // Never written now; nobody waits for it.
  out.push_back(CloseConnection{conn, false});
  h1_conns_.erase(conn);
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

}  // namespace sightglass::core
