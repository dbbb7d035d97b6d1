#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/layers/h2_session.h"
#include "core/layers/http1.h"

namespace sightglass::core {

// H1OverH2 lets an HTTP/1.1 speaker (HttpLayer) use a server connection that speaks HTTP/2
// only: it sits on that connection and translates, sans-I/O. The HTTP/1.1 requests written
// to the connection (head, then body, chunked or not, with trailers) become HTTP/2 streams of
// an nghttp2 client session, one stream per request; what the server answers comes back as
// HTTP/1.1 response bytes, as if the connection had sent them: "HTTP/1.1 <status> <reason>",
// the headers, the body as sent when the server gave a content-length (no body for HEAD, 204
// and 304), else chunked (with the trailers as chunked trailers); 1xx answers become interim
// responses. A reset stream, a GOAWAY that refuses the request, a protocol error or a close in
// the middle of a response end the HTTP/1.1 side with an error; a GOAWAY after a complete
// response ends it quietly.
//
// nghttp2 runs through mem_recv/mem_send only, and its callbacks only record: the work happens
// once mem_recv has returned, so the session is never re-entered.
//
// Flow control. Toward the server, the request body is sent as the server's windows allow;
// bytes that wait for a window are held here, and above a threshold the adapter asks for the
// source (the client connection) to stop being read (Output::pause). From the server, received
// DATA is consumed (WINDOW_UPDATE) as soon as it has been handed on as HTTP/1.1 bytes. That is
// what automatic window updates would do, and it is bounded all the same: HttpLayer writes
// those bytes to the client at once, and the I/O driver stops reading the server connection
// while the client's write queue is above its high watermark, so at most one window is in
// flight beyond that. (Responses of a later request, which HTTP/1.1 cannot deliver yet, stay
// unconsumed: at most one stream window each.)
class H1OverH2 {
 public:
  // Output is what one call produced.
  struct Output {
    std::string to_server;      // HTTP/2 bytes for the server connection.
    std::string to_app;         // HTTP/1.1 response bytes, as if read from the connection.
    bool app_closed = false;    // The HTTP/1.1 connection ends after |to_app|.
    std::string error;          // Why it ended ("" for an orderly close).
    std::optional<bool> pause;  // Stop (true) or resume (false) reading the request's source.
  };

  // |default_authority| is the :authority of a request without Host (HTTP/1.0).
  explicit H1OverH2(std::string default_authority);
  ~H1OverH2();
  H1OverH2(const H1OverH2&) = delete;
  H1OverH2& operator=(const H1OverH2&) = delete;

  // start writes the connection preface and SETTINGS.
  void start(Output& out);
  // on_app_bytes takes HTTP/1.1 request bytes written to the connection.
  void on_app_bytes(std::string_view data, Output& out);
  // on_app_close says the HTTP/1.1 side closes the connection: a GOAWAY goes out.
  void on_app_close(Output& out);
  // on_server_bytes takes HTTP/2 bytes received from the server.
  void on_server_bytes(std::string_view data, Output& out);
  // on_server_closed says the server connection ended (|error|: how it failed, or "").
  void on_server_closed(const std::string& error, Output& out);

  struct Stream;
  // nghttp2 callbacks (public for Nghttp2Callbacks only).
  int on_begin_headers(const nghttp2_frame* frame);
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int on_frame(const nghttp2_frame* frame);
  int on_data(int32_t stream_id, std::string_view data);
  int on_stream_close(int32_t stream_id, uint32_t error_code);
  int on_frame_sent(const nghttp2_frame* frame);
  ssize_t read_body(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags);

 private:
  Stream* find(int32_t stream_id);
  void on_request_events(HttpParseEvents& events, Output& out);
  void submit_request(HttpHead& head, Output& out);
  // after runs what the callbacks recorded: response bytes out, windows credited, finished
  // streams dropped, failures reported; then sends what the session has to send.
  void after(Output& out);
  void send(Output& out);
  // end closes the adapter, once: with an |error| ("" for a quiet end) the HTTP/1.1 side too,
  // and with |goaway| the session (a GOAWAY goes out); reading the source resumes.
  void end(Output& out, std::optional<std::string> error, bool goaway = true);
  void fail(std::string error, Output& out) { end(out, std::move(error)); }
  void update_pause(Output& out);

  std::string default_authority_;
  H2SessionPtr session_;
  Http1Parser parser_{Http1Parser::Kind::kRequest};
  std::deque<std::unique_ptr<Stream>> streams_;  // In request order.
  Stream* sending_ = nullptr;  // The stream the request bytes go to, until the request's end.
  std::string failure_;        // Recorded by a callback, reported by after().
  size_t orphan_bytes_ = 0;    // DATA of streams we no longer know, to credit the connection.
  bool goaway_ = false;
  bool started_ = false;
  bool closed_ = false;
  bool paused_ = false;
};

}  // namespace sightglass::core
