#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/layers/app_layer.h"
#include "core/layers/h2_session.h"
#include "core/layers/http_layer.h"

namespace sightglass::core {

// Http2Layer speaks HTTP/2 with the client (an nghttp2 server session) and with the server (an
// nghttp2 client session per server connection), sans-I/O: bytes go through
// nghttp2_session_mem_recv/mem_send only. Every client stream becomes a server stream and a
// flow. nghttp2's callbacks only record what happened; the layer acts once mem_recv or
// mem_send has returned, so no session is ever re-entered.
//
// Flow control is end to end: received DATA is consumed (a WINDOW_UPDATE to the sender) only
// once it was handed to the other side's session, so a slow reader holds at most one stream
// window per stream in memory, and a stalled stream does not block the others (the connection
// windows are much larger than a stream window).
class Http2Layer : public AppLayer {
 public:
  // What the server side speaks: HTTP/2, or HTTP/1.1 with each client stream translated to
  // one request on a keep-alive connection of a small pool (one exchange per connection at
  // a time).
  enum class UpstreamProtocol : uint8_t { kHttp2, kHttp1 };

  // Every stream goes to |target| (the CONNECT destination, the transparent destination, the
  // reverse target). With |rewrite_authority| (reverse mode) :authority names the target.
  Http2Layer(SessionContext* ctx, HttpTarget target, bool rewrite_authority,
             UpstreamProtocol upstream = UpstreamProtocol::kHttp2);
  ~Http2Layer() override;
  Http2Layer(const Http2Layer&) = delete;
  Http2Layer& operator=(const Http2Layer&) = delete;

  // start sends the server preface (SETTINGS) to the client and opens the first server
  // connection (which adopts the session's pre-opened one).
  void start(Commands& out);

  // AppLayer
  void handle(Event& event, Commands& out) override;
  bool busy() const override { return !streams_.empty(); }
  void abandon(const std::string& why, Commands& out) override;

  // upstream_alpn is the ALPN offer for a server connection this layer opens: HTTP/1.1 for the
  // HTTP/1.1 pool's.
  std::vector<std::string> upstream_alpn(ConnId conn) const {
    return upstream_protocol_ == UpstreamProtocol::kHttp2 && h1_conns_.count(conn) == 0
               ? std::vector<std::string>{"h2"}
               : std::vector<std::string>{"http/1.1"};
  }

  struct Stream;
  struct Upstream;
  struct H1Conn;

  // nghttp2 callbacks (public for Nghttp2Callbacks only): the client session's, and with the
  // Upstream, a server session's.
  int on_begin_headers(const nghttp2_frame* frame);
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int on_frame(const nghttp2_frame* frame);
  int on_data(int32_t stream_id, std::string_view data);
  int on_stream_close(int32_t stream_id, uint32_t error_code);
  ssize_t read_body(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);
  int on_begin_headers(Upstream& up, const nghttp2_frame* frame);
  int on_header(Upstream& up, const nghttp2_frame* frame, std::string_view name,
                std::string_view value);
  int on_frame(Upstream& up, const nghttp2_frame* frame);
  int on_data(Upstream& up, int32_t stream_id, std::string_view data);
  int on_stream_close(Upstream& up, int32_t stream_id, uint32_t error_code);
  ssize_t read_body(Upstream& up, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);

 private:
  Stream* stream(int32_t client_id);
  Stream* server_stream(Upstream& up, int32_t server_id);
  Upstream* upstream_for_new_stream(Commands& out);
  void on_client_bytes(const std::string& data, Commands& out);
  void on_server_bytes(Upstream& up, const std::string& data, Commands& out);
  void on_open_completed(const OpenCompleted& opened, Commands& out);
  void on_upstream_lost(Upstream& up, const std::string& error, Commands& out);
  // on_client_lost ends the client connection: every open stream carries |error|. Unless |eof|
  // (the client is gone), what is pending for it (a GOAWAY) goes out first.
  void on_client_lost(const std::string& error, Commands& out, bool eof = true);
  // later runs |f| on stream |client_id|, if it is still there, once nghttp2 has returned.
  void later(int32_t client_id, std::function<void(Stream&, Commands&)> f);
  void submit_request(Stream& s, Commands& out);
  // send_request sends a stream's request on (after its hold point, if any).
  void send_request(Stream& s, Commands& out);
  // Hold points: check_holds sends the Hook of each held stream whose body is complete (or a
  // stream window long); on_hook_resumed carries out what the hooks decided; answer_stream
  // answers with the hook's response.
  void check_holds(Commands& out);
  void on_hook_resumed(Stream& s, HeldFlow& held, Commands& out);
  void answer_stream(Stream& s, HeldFlow& held);
  // submit_proxy_response answers a stream with the proxy's own s.status, s.response_headers
  // and s.response_buf (an error, a hook's answer).
  void submit_proxy_response(Stream& s);
  // submit_to_server sends a stream's request on |up| (its SETTINGS known for an extended
  // CONNECT).
  void submit_to_server(Stream& s, Upstream& up);
  // on_server_settings runs once a server's SETTINGS arrived: extended CONNECT (RFC 8441) is
  // advertised to the client when the server does, and the streams waiting for it go.
  void on_server_settings(ConnId conn);
  // WebSocket over HTTP/2: websocket_read reads a copy of one direction's bytes into the
  // flow's messages (published live as progress).
  void websocket_read(Stream& s, bool from_client, std::string_view data);
  // HTTP/1.1 toward the server.
  void submit_h1_request(Stream& s, Commands& out);
  bool forward_h1_request(Stream& s, Commands& out);
  // credit_written credits the client with the request bytes |c| has written (or dropped).
  void credit_written(H1Conn& c);
  void on_h1_events(H1Conn& h1, HttpParseEvents& events, Commands& out);
  void on_h1_closed(H1Conn& h1, const std::string& error, Commands& out);
  void close_h1(H1Conn& h1, Commands& out);
  void submit_response(Stream& s);
  // submit_head submits the response head (s.status, |headers|) to the client, with the
  // provider of its body unless it has none; nghttp2's result.
  int submit_head(Stream& s, const Headers& headers);
  // submit_interim passes a 1xx response on to the client as interim HEADERS.
  void submit_interim(Stream& s, int status, const Headers& headers);
  // fail_stream answers a stream with |status| and |error| as text when no response started,
  // else resets it; the flow carries |error|.
  void fail_stream(Stream& s, int status, const std::string& error);
  void reset_client_stream(Stream& s, uint32_t code);
  void reset_server_stream(Stream& s, uint32_t code);
  // pump runs what the callbacks asked for, writes what the sessions have to send and credits
  // the windows, until nothing changes; then publishes finished streams.
  void pump(Commands& out);
  void send_all(Commands& out);
  // update_h1_reading pauses the HTTP/1.1 server connections whose response waits for a slow
  // client, and resumes them once it drained.
  void update_h1_reading(Commands& out);
  // finalize publishes and forgets finished streams and closes spent connections; true when
  // that left frames to send.
  bool finalize(Commands& out);
  void publish(Stream& s, Commands& out);
  void close_upstream(Upstream& up, Commands& out);
  // PING passes through: the client's to the server it talks to, a server's to the client,
  // and each ACK back to the sender. Without a peer to ask, the proxy answers.
  void on_client_ping(const nghttp2_ping& ping);
  void on_server_ping(Upstream& up, const nghttp2_ping& ping);
  // release_pings answers the client's PINGs that |up| will never acknowledge now.
  void release_pings(Upstream& up);
  void close_client(Commands& out);

  SessionContext* ctx_;
  HttpTarget target_;
  bool rewrite_authority_;
  UpstreamProtocol upstream_protocol_;
  std::map<ConnId, std::unique_ptr<H1Conn>> h1_conns_;
  H2SessionPtr client_;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;  // By client stream id.
  std::map<ConnId, std::unique_ptr<Upstream>> upstreams_;
  ConnId current_ = 0;  // The server connection new streams go to.
  // Work that callbacks asked for, run after nghttp2 has returned.
  std::vector<std::function<void(Commands&)>> actions_;
  // Servers' PINGs forwarded to the client, waiting for its ACK: opaque data -> connection.
  std::multimap<uint64_t, ConnId> server_pings_;
  std::vector<ConnId> h1_to_close_;  // HTTP/1.1 connections whose exchange was cancelled.
  bool started_ = false;
  // Frames from the client that carry nothing (empty DATA without END_STREAM), and those that
  // do: a flood of the first is closed (CVE-2019-9518).
  static constexpr uint64_t kEmptyFrameAllowance = 1000;
  uint64_t empty_frames_ = 0;
  uint64_t useful_frames_ = 0;
  bool flooded_ = false;
  bool client_closing_ = false;
  bool client_eof_ = false;
  bool connect_protocol_advertised_ = false;  // SETTINGS_ENABLE_CONNECT_PROTOCOL went out.
};

}  // namespace sightglass::core
