#include "core/layers/http1.h"

namespace sightglass::core {
namespace {

Http1Parser* self(llhttp_t* p) { return static_cast<Http1Parser*>(p->data); }

std::string_view view(const char* at, size_t len) { return std::string_view(at, len); }

int cb_message_begin(llhttp_t* p) { return self(p)->on_message_begin(); }
int cb_method(llhttp_t* p, const char* at, size_t len) { return self(p)->on_method(view(at, len)); }
int cb_url(llhttp_t* p, const char* at, size_t len) { return self(p)->on_url(view(at, len)); }
int cb_status(llhttp_t* p, const char* at, size_t len) { return self(p)->on_status(view(at, len)); }
int cb_version(llhttp_t* p, const char* at, size_t len) {
  return self(p)->on_version(view(at, len));
}
int cb_header_field(llhttp_t* p, const char* at, size_t len) {
  return self(p)->on_header_field(view(at, len));
}
int cb_header_value(llhttp_t* p, const char* at, size_t len) {
  return self(p)->on_header_value(view(at, len));
}
int cb_headers_complete(llhttp_t* p) { return self(p)->on_headers_complete(); }
int cb_body(llhttp_t* p, const char* at, size_t len) { return self(p)->on_body(view(at, len)); }
int cb_chunk_header(llhttp_t* p) { return self(p)->on_chunk_header(); }
int cb_message_complete(llhttp_t* p) { return self(p)->on_message_complete(); }

void append_headers(std::string* out, const Headers& headers) {
  for (const Header& h : headers) {
    out->append(h.name);
    out->append(": ");
    out->append(h.value);
    out->append("\r\n");
  }
  out->append("\r\n");
}

}  // namespace

Http1Parser::Http1Parser(Kind kind, size_t max_head_bytes)
    : kind_(kind), max_head_bytes_(max_head_bytes) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = cb_message_begin;
  settings_.on_method = cb_method;
  settings_.on_url = cb_url;
  settings_.on_status = cb_status;
  settings_.on_version = cb_version;
  settings_.on_header_field = cb_header_field;
  settings_.on_header_value = cb_header_value;
  settings_.on_headers_complete = cb_headers_complete;
  settings_.on_body = cb_body;
  settings_.on_chunk_header = cb_chunk_header;
  settings_.on_message_complete = cb_message_complete;
  llhttp_init(&parser_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

bool Http1Parser::add_head_bytes(size_t n) {
  head_bytes_ += n;
  if (head_bytes_ > max_head_bytes_) {
    too_large_ = true;
    return false;
  }
  return true;
}

int Http1Parser::on_message_begin() {
  head_ = HttpHead{};
  trailers_.clear();
  in_trailers_ = false;
  last_was_value_ = false;
  in_message_ = true;
  head_bytes_ = 0;
  return 0;
}

int Http1Parser::on_method(std::string_view s) {
  head_.method.append(s);
  return add_head_bytes(s.size()) ? 0 : -1;
}

int Http1Parser::on_url(std::string_view s) {
  head_.target.append(s);
  return add_head_bytes(s.size()) ? 0 : -1;
}

int Http1Parser::on_status(std::string_view s) {
  head_.reason.append(s);
  return add_head_bytes(s.size()) ? 0 : -1;
}

int Http1Parser::on_version(std::string_view s) { return add_head_bytes(s.size()) ? 0 : -1; }

int Http1Parser::on_header_field(std::string_view s) {
  Headers& list = in_trailers_ ? trailers_ : head_.headers;
  if (list.empty() || last_was_value_) {
    list.push_back(Header{std::string(s), std::string()});
  } else {
    list.back().name.append(s);
  }
  last_was_value_ = false;
  return add_head_bytes(s.size() + 4) ? 0 : -1;
}

int Http1Parser::on_header_value(std::string_view s) {
  Headers& list = in_trailers_ ? trailers_ : head_.headers;
  if (list.empty()) {
    return -1;
  }
  list.back().value.append(s);
  last_was_value_ = true;
  return add_head_bytes(s.size()) ? 0 : -1;
}

int Http1Parser::on_headers_complete() {
  head_.version = "HTTP/" + std::to_string(llhttp_get_http_major(&parser_)) + "." +
                  std::to_string(llhttp_get_http_minor(&parser_));
  if (kind_ == Kind::kRequest) {
    head_.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
    head_.header_bytes = head_.method.size() + 1 + head_.target.size() + 1 + 8 + 2;
  } else {
    head_.status = llhttp_get_status_code(&parser_);
    head_.header_bytes = 8 + 1 + 3 + 1 + head_.reason.size() + 2;
  }
  for (const Header& h : head_.headers) {
    head_.header_bytes += h.name.size() + 2 + h.value.size() + 2;
  }
  head_.header_bytes += 2;
  head_.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    head_.content_length = parser_.content_length;
  }
  head_.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  out_->push_back(head_);
  last_was_value_ = false;
  if (kind_ == Kind::kResponse && no_body_) {
    no_body_ = false;
    return 1;  // A response to HEAD: no body, whatever the headers say.
  }
  return 0;
}

int Http1Parser::on_body(std::string_view s) {
  // Coalesce consecutive pieces of one feed into one event.
  if (!out_->empty()) {
    if (auto* body = std::get_if<HttpBodyData>(&out_->back())) {
      body->data.append(s);
      return 0;
    }
  }
  out_->push_back(HttpBodyData{std::string(s)});
  return 0;
}

int Http1Parser::on_chunk_header() {
  if (parser_.content_length == 0) {
    in_trailers_ = true;  // The last chunk: what follows are trailers.
    last_was_value_ = false;
  }
  return 0;
}

int Http1Parser::on_message_complete() {
  in_message_ = false;
  out_->push_back(HttpMessageEnd{std::move(trailers_), llhttp_should_keep_alive(&parser_) != 0});
  trailers_.clear();
  // An upgrade (CONNECT, Upgrade:) pauses by itself; anything else pauses here so that a
  // pipelined next message waits for next_message().
  return llhttp_get_upgrade(&parser_) != 0 ? 0 : HPE_PAUSED;
}

void Http1Parser::run(HttpParseEvents& out) {
  if (failed_ || paused_at_end_ || upgraded_ || pending_.empty()) {
    return;
  }
  out_ = &out;
  const llhttp_errno_t err = llhttp_execute(&parser_, pending_.data(), pending_.size());
  out_ = nullptr;
  if (err == HPE_OK) {
    pending_.clear();
    return;
  }
  const char* pos = llhttp_get_error_pos(&parser_);
  const size_t consumed =
      pos != nullptr ? static_cast<size_t>(pos - pending_.data()) : pending_.size();
  if (err == HPE_PAUSED) {
    pending_.erase(0, consumed);
    paused_at_end_ = true;
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    upgraded_ = true;
    out.push_back(HttpUpgrade{pending_.substr(consumed)});
    pending_.clear();
    return;
  }
  failed_ = true;
  pending_.clear();
  if (too_large_) {
    out.push_back(HttpParseError{
        "header section larger than " + std::to_string(max_head_bytes_ / 1024) + " KiB", true});
  } else {
    out.push_back(HttpParseError{
        std::string(llhttp_errno_name(err)) + ": " + llhttp_get_error_reason(&parser_), false});
  }
}

void Http1Parser::feed(std::string_view data, HttpParseEvents& out) {
  if (failed_ || upgraded_) {
    return;
  }
  pending_.append(data);
  run(out);
}

void Http1Parser::next_message(HttpParseEvents& out) {
  if (!paused_at_end_) {
    return;
  }
  paused_at_end_ = false;
  llhttp_resume(&parser_);
  run(out);
}

void Http1Parser::resume_after_upgrade(std::string remainder, HttpParseEvents& out) {
  if (!upgraded_) {
    return;
  }
  upgraded_ = false;
  llhttp_resume_after_upgrade(&parser_);
  pending_ = std::move(remainder);
  run(out);
}

void Http1Parser::finish(HttpParseEvents& out) {
  if (failed_ || paused_at_end_ || upgraded_) {
    return;
  }
  out_ = &out;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  out_ = nullptr;
  if (err == HPE_OK || err == HPE_PAUSED) {
    if (err == HPE_PAUSED) {
      paused_at_end_ = true;
    }
    return;
  }
  failed_ = true;
  out.push_back(HttpParseError{"connection closed in the middle of a message", false});
}

std::string serialize_request_head(std::string_view method, std::string_view target,
                                   std::string_view version, const Headers& headers) {
  std::string out;
  out.reserve(256);
  out.append(method);
  out.push_back(' ');
  out.append(target);
  out.push_back(' ');
  out.append(version);
  out.append("\r\n");
  append_headers(&out, headers);
  return out;
}

std::string serialize_response_head(std::string_view version, int status, std::string_view reason,
                                    const Headers& headers) {
  std::string out;
  out.reserve(256);
  out.append(version);
  out.push_back(' ');
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  append_headers(&out, headers);
  return out;
}

std::string encode_chunk(std::string_view data) {
  if (data.empty()) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string size;
  for (size_t n = data.size(); n > 0; n >>= 4) {
    size.insert(size.begin(), kHex[n & 0xf]);
  }
  std::string out;
  out.reserve(size.size() + data.size() + 4);
  out.append(size);
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
  return out;
}

std::string encode_last_chunk(const Headers& trailers) {
  std::string out = "0\r\n";
  append_headers(&out, trailers);
  return out;
}

std::string error_response(int status, std::string_view reason, std::string_view body) {
  std::string text(body);
  text.push_back('\n');
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                    std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n";
  out.append(text);
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

void set_content_length(Headers& headers, size_t size, std::string_view name) {
  std::erase_if(headers, [](const Header& h) {
    return iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding");
  });
  headers.push_back({std::string(name), std::to_string(size)});
}

CapturedBody captured_body(std::string_view data, const Headers& headers, uint64_t limit) {
  CapturedBody body;
  if (is_grpc_content_type(headers)) {
    body.grpc.emplace();
  }
  body.append(data, limit);
  return body;
}

bool streams_body(const Headers& headers) {
  const std::string* type = find_header(headers, "Content-Type");
  return is_grpc_content_type(headers) ||
         (type != nullptr &&
          iequals(trim_whitespace(std::string_view(*type).substr(0, type->find(';'))),
                  "text/event-stream"));
}

}  // namespace sightglass::core
