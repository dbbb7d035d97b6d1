#pragma once

// HTTP/1.x on top of llhttp, sans-I/O: bytes in, parse events out; and the serializers for
// the way back. Header names, case and order are kept exactly as received.

#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

// HttpHead is a request line or status line with its headers.
struct HttpHead {
  std::string method;  // Requests.
  std::string target;  // Requests.
  int status = 0;      // Responses.
  std::string reason;  // Responses.
  std::string version = "HTTP/1.1";
  Headers headers;
  uint64_t header_bytes = 0;
  bool chunked = false;
  std::optional<uint64_t> content_length;
  bool keep_alive = true;
};

struct HttpBodyData {
  std::string data;  // Transfer-decoded body bytes.
};

struct HttpMessageEnd {
  Headers trailers;
  bool keep_alive = true;
};

// HttpUpgrade follows the head of a CONNECT request or a 101 response: the rest of the
// stream is no longer HTTP/1. |remainder| holds the bytes already received past the head.
struct HttpUpgrade {
  std::string remainder;
};

struct HttpParseError {
  std::string reason;
  bool head_too_large = false;
};

using HttpParseEvent =
    std::variant<HttpHead, HttpBodyData, HttpMessageEnd, HttpUpgrade, HttpParseError>;
using HttpParseEvents = std::vector<HttpParseEvent>;

// Http1Parser parses a stream of requests or responses. It stops after each message: the
// bytes that follow (pipelined requests) wait until next_message(). Errors are sticky.
class Http1Parser {
 public:
  enum class Kind : uint8_t { kRequest, kResponse };
  static constexpr size_t kMaxHeadBytes = 64 * 1024;
  // Header fields in one head (or in the trailers); more is an error as a large head is.
  static constexpr size_t kMaxHeaderFields = 1000;
  // Room made for header fields when a head starts (more simply grows the list).
  static constexpr size_t kHeadersReserved = 16;

  explicit Http1Parser(Kind kind);
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // feed parses |data|, appending events to |out|.
  void feed(std::string_view data, HttpParseEvents& out);
  // finish tells the parser that the peer closed: a response delimited by the close ends.
  void finish(HttpParseEvents& out);
  // next_message continues after an HttpMessageEnd with the bytes already buffered.
  void next_message(HttpParseEvents& out);
  // resume_after_upgrade continues parsing HTTP after an HttpUpgrade that did not happen
  // (the server refused the Upgrade), starting with |remainder|.
  void resume_after_upgrade(std::string remainder, HttpParseEvents& out);
  // expect_no_body makes the next response head carry no body (a response to HEAD).
  void expect_no_body() { no_body_ = true; }
  // in_message says whether a message has begun but not ended.
  bool in_message() const { return in_message_; }
  bool failed() const { return failed_; }
  size_t buffered_bytes() const { return pending_.size(); }

  // llhttp callbacks (public for the C trampolines only).
  int on_message_begin();
  int on_counted(std::string_view s);  // Bytes only counted (the method, the version).
  int on_url(std::string_view s);
  int on_status(std::string_view s);
  int on_header_field(std::string_view s);
  int on_header_value(std::string_view s);
  int on_headers_complete();
  int on_body(std::string_view s);
  int on_chunk_header();
  int on_message_complete();

 private:
  void run(HttpParseEvents& out);
  // add_head_bytes counts |n| bytes of the head: -1 (stop) past kMaxHeadBytes, else 0.
  int add_head_bytes(size_t n);

  Kind kind_;
  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  std::string pending_;  // Received but not yet parsed (after a pause).
  HttpParseEvents* out_ = nullptr;
  HttpHead head_;
  Headers trailers_;
  bool in_trailers_ = false;
  bool last_was_value_ = false;
  bool in_message_ = false;
  bool paused_at_end_ = false;
  bool upgraded_ = false;
  bool failed_ = false;
  bool no_body_ = false;
  bool too_large_ = false;
  bool too_many_ = false;
  size_t head_bytes_ = 0;
};

// serialize_request_head writes "METHOD target VERSION" and the headers.
std::string serialize_request_head(std::string_view method, std::string_view target,
                                   std::string_view version, const Headers& headers);
// serialize_response_head writes "VERSION status reason" and the headers.
std::string serialize_response_head(std::string_view version, int status, std::string_view reason,
                                    const Headers& headers);
// encode_chunk frames |data| as one chunk of a chunked body ("" for empty data).
std::string encode_chunk(std::string_view data);
// encode_last_chunk ends a chunked body, with trailers.
std::string encode_last_chunk(const Headers& trailers);
// set_content_length frames a body the proxy replaced: every Content-Length and
// Transfer-Encoding goes, and |name| (its case: "content-length" for HTTP/2) says |size|.
void set_content_length(Headers& headers, size_t size, std::string_view name);
// captured_body is what a flow keeps of a body the proxy replaced with |data| (gRPC framing
// followed when |headers| say gRPC).
CapturedBody captured_body(std::string_view data, const Headers& headers, uint64_t limit);
// streams_body says whether a message's body is a stream of events rather than a document
// (Server-Sent Events, gRPC): a hold point lets such a body go on as it comes instead of
// waiting for its end, which may never come while the other side waits for an answer.
bool streams_body(const Headers& headers);
// reason_phrase is the usual reason for a status code ("" for one it does not know): HTTP/2
// carries none, and a response the proxy makes needs one.
std::string_view reason_phrase(int status);
// AbsoluteForm is an "http[s]://authority[/path]" request target split up: |path| is in origin
// form ("/" when there is none).
struct AbsoluteForm {
  bool tls = false;
  std::string_view authority;
  std::string path;
};
// split_absolute_form splits |url|, or returns nullopt when it is not http:// or https://.
std::optional<AbsoluteForm> split_absolute_form(std::string_view url);
// error_response is a complete response from the proxy itself: text body, Connection: close.
std::string error_response(int status, std::string_view reason, std::string_view body);

}  // namespace sightglass::core
