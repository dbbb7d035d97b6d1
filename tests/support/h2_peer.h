#pragma once

// An HTTP/2 peer for the sans-I/O tests: an nghttp2 session (a browser or an origin) that
// records what it receives and sends bodies (with trailers) from strings.

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::test {

// H2Message is what a peer received on one stream.
struct H2Message {
  std::vector<core::Headers> interim;  // 1xx responses, in order.
  core::Headers headers;               // Including pseudo-headers, in order.
  core::Headers trailers;
  std::string body;
  bool head_done = false;
  bool ended = false;
  bool closed = false;
  std::optional<uint32_t> reset_code;  // From a received RST_STREAM.
  uint32_t close_code = 0;
};

// H2Peer is one end of an HTTP/2 connection for the tests: an nghttp2 session that records
// what it receives and sends bodies (with trailers) from strings. It consumes received DATA
// at once, except on the streams stalled (one by one, or all at once).
class H2Peer {
 public:
  // The connection window the peer offers: a large one like browsers, or the default 64 KiB.
  enum class Window { kBrowser, kDefault };

  // |connect_protocol|: a server that takes extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL,
  // RFC 8441).
  explicit H2Peer(bool server, bool connect_protocol = false, Window window = Window::kBrowser)
      : server_(server) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (server) {
      nghttp2_session_server_new2(&session_, cb, this, opt);
    } else {
      nghttp2_session_client_new2(&session_, cb, this, opt);
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry enable_connect{NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, &enable_connect, connect_protocol ? 1 : 0);
    if (window == Window::kBrowser) {
      // Like browsers: a large connection window, the default stream window.
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 16 * 1024 * 1024);
    }
  }
  ~H2Peer() { nghttp2_session_del(session_); }
  H2Peer(const H2Peer&) = delete;
  H2Peer& operator=(const H2Peer&) = delete;

  // receive feeds bytes from the layer; false on a protocol error.
  bool receive(const std::string& data) {
    const ssize_t n = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    if (n < 0) {
      return false;
    }
    consume_pending();
    return true;
  }
  // drain returns what the session has to send.
  std::string drain() {
    for (auto& [id, t] : trailers_due_) {
      submit_trailers(id, t);
    }
    trailers_due_.clear();
    std::string out;
    for (;;) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) {
        break;
      }
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    for (auto& [id, t] : trailers_due_) {
      submit_trailers(id, t);
    }
    if (!trailers_due_.empty()) {
      trailers_due_.clear();
      out += drain();
    }
    return out;
  }

  // request submits a request (client side); returns the stream id.
  int32_t request(const core::Headers& headers, std::optional<std::string> body = std::nullopt,
                  core::Headers trailers = {}) {
    std::vector<nghttp2_nv> nv = to_nv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    const int32_t id =
        nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                               body || !trailers.empty() ? &provider : nullptr, nullptr);
    if (body || !trailers.empty()) {
      outgoing_[id] = Outgoing{body.value_or(""), std::move(trailers)};
    }
    return id;
  }
  // respond submits a response (server side).
  void respond(int32_t id, const core::Headers& headers, std::optional<std::string> body,
               core::Headers trailers = {}) {
    std::vector<nghttp2_nv> nv = to_nv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    const bool data = body.has_value() || !trailers.empty();
    if (data) {
      Outgoing& o = outgoing_[id];
      o.data = body.value_or("");
      o.trailers = std::move(trailers);
    }
    nghttp2_submit_response(session_, id, nv.data(), nv.size(), data ? &provider : nullptr);
  }
  // interim submits a 1xx response (server side).
  void interim(int32_t id, const core::Headers& headers) {
    std::vector<nghttp2_nv> nv = to_nv(headers);
    nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nv.data(), nv.size(), nullptr);
  }
  // more_body adds body bytes to a stream whose provider was deferred.
  void more_body(int32_t id, const std::string& data, bool end) {
    Outgoing& o = outgoing_[id];
    o.data += data;
    o.open_ended = !end;
    nghttp2_session_resume_data(session_, id);
  }
  void open_ended(int32_t id) { outgoing_[id].open_ended = true; }
  void reset(int32_t id, uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
  }
  void goaway(int32_t last_stream_id) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_stream_id, NGHTTP2_NO_ERROR, nullptr,
                          0);
  }
  // enable_connect_protocol sends a later SETTINGS that takes extended CONNECT (server side).
  void enable_connect_protocol() {
    const nghttp2_settings_entry entry{NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, &entry, 1);
  }
  void stall(int32_t id) { stalled_.insert(id); }
  void unstall(int32_t id) {
    stalled_.erase(id);
    consume_pending();
  }
  // stall_all stops (or resumes) consuming the DATA of every stream.
  void stall_all(bool on) {
    all_stalled_ = on;
    consume_pending();
  }
  uint32_t remote_setting(nghttp2_settings_id id) {
    return nghttp2_session_get_remote_settings(session_, id);
  }
  // unsent returns the bytes of a body not yet handed to the session.
  size_t unsent(int32_t id) { return outgoing_[id].data.size() - outgoing_[id].offset; }

  // ping sends a PING (the peer's nghttp2 acknowledges the other side's PINGs itself).
  void ping(uint64_t opaque) {
    uint8_t data[8];
    std::memcpy(data, &opaque, sizeof(data));
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, data);
  }
  struct Ping {
    bool ack = false;
    uint64_t opaque = 0;
    bool operator==(const Ping&) const = default;
  };
  std::vector<Ping> pings;  // Received, in order.

  std::map<int32_t, H2Message> messages;
  std::vector<int32_t> completed;  // Streams whose message ended, in order.
  bool got_goaway = false;

 private:
  struct Outgoing {
    std::string data;
    core::Headers trailers;
    size_t offset = 0;
    bool open_ended = false;
  };

  static std::vector<nghttp2_nv> to_nv(const core::Headers& headers) {
    std::vector<nghttp2_nv> nv;
    for (const core::Header& h : headers) {
      nv.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(h.name.data())),
                              reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())),
                              h.name.size(), h.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nv;
  }
  void submit_trailers(int32_t id, const core::Headers& trailers) {
    std::vector<nghttp2_nv> nv = to_nv(trailers);
    nghttp2_submit_trailer(session_, id, nv.data(), nv.size());
  }
  void consume_pending() {
    if (all_stalled_) {
      return;
    }
    for (auto it = unconsumed_.begin(); it != unconsumed_.end();) {
      if (stalled_.count(it->first) != 0) {
        ++it;
        continue;
      }
      nghttp2_session_consume(session_, it->first, it->second);
      it = unconsumed_.erase(it);
    }
  }
  static std::string value_of_peer(const core::Headers& headers, const std::string& name) {
    for (const core::Header& h : headers) {
      if (h.name == name) {
        return h.value;
      }
    }
    return "";
  }
  static H2Peer* self(void* p) { return static_cast<H2Peer*>(p); }
  static int on_begin_headers(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* p) {
    H2Message& m = self(p)->messages[frame->hd.stream_id];
    (void)m;
    return 0;
  }
  static int on_header(nghttp2_session* /*s*/, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                       void* p) {
    H2Message& m = self(p)->messages[frame->hd.stream_id];
    core::Header h{std::string(reinterpret_cast<const char*>(name), namelen),
                   std::string(reinterpret_cast<const char*>(value), valuelen)};
    (m.head_done ? m.trailers : m.headers).push_back(std::move(h));
    return 0;
  }
  static int on_frame(nghttp2_session* /*s*/, const nghttp2_frame* frame, void* p) {
    H2Peer* peer = self(p);
    if (frame->hd.type == NGHTTP2_PING) {
      uint64_t opaque = 0;
      std::memcpy(&opaque, frame->ping.opaque_data, sizeof(opaque));
      peer->pings.push_back({(frame->hd.flags & NGHTTP2_FLAG_ACK) != 0, opaque});
      return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      peer->got_goaway = true;
      return 0;
    }
    if (frame->hd.stream_id == 0) {
      return 0;
    }
    H2Message& m = peer->messages[frame->hd.stream_id];
    if (frame->hd.type == NGHTTP2_HEADERS && !m.head_done) {
      const std::string status = value_of_peer(m.headers, ":status");
      if (!peer->server_ && status.size() == 3 && status[0] == '1') {
        m.interim.push_back(std::move(m.headers));  // A 1xx: the final head follows.
        m.headers.clear();
      } else {
        m.head_done = true;
      }
    }
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      m.reset_code = frame->rst_stream.error_code;
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      m.ended = true;
      peer->completed.push_back(frame->hd.stream_id);
    }
    return 0;
  }
  static int on_data(nghttp2_session* /*s*/, uint8_t /*flags*/, int32_t id, const uint8_t* data,
                     size_t len, void* p) {
    self(p)->messages[id].body.append(reinterpret_cast<const char*>(data), len);
    self(p)->unconsumed_[id] += len;
    return 0;
  }
  static int on_close(nghttp2_session* /*s*/, int32_t id, uint32_t code, void* p) {
    H2Message& m = self(p)->messages[id];
    m.closed = true;
    m.close_code = code;
    return 0;
  }
  static ssize_t read_body(nghttp2_session* /*s*/, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source* /*src*/, void* p) {
    H2Peer* peer = self(p);
    Outgoing& o = peer->outgoing_[id];
    const size_t n = std::min(length, o.data.size() - o.offset);
    std::memcpy(buf, o.data.data() + o.offset, n);
    o.offset += n;
    if (o.offset == o.data.size()) {
      if (o.open_ended) {
        return n == 0 ? static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED) : static_cast<ssize_t>(n);
      }
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!o.trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        peer->trailers_due_[id] = o.trailers;
      }
    }
    return static_cast<ssize_t>(n);
  }

  bool server_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Outgoing> outgoing_;
  std::map<int32_t, size_t> unconsumed_;
  std::set<int32_t> stalled_;
  bool all_stalled_ = false;
  std::map<int32_t, core::Headers> trailers_due_;
};

}  // namespace sightglass::test
