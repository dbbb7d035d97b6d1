#include "core/layers/http1.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

namespace sightglass::core {
namespace {

// The llhttp callbacks call the parser's members.
template <int (Http1Parser::*Member)()>
int call(llhttp_t* p) {
  return (static_cast<Http1Parser*>(p->data)->*Member)();
}
template <int (Http1Parser::*Member)(std::string_view)>
int call_data(llhttp_t* p, const char* at, size_t len) {
  return (static_cast<Http1Parser*>(p->data)->*Member)(std::string_view(at, len));
}

// head_size is the length of a head whose start line takes |line| bytes (with its CRLF).
size_t head_size(size_t line, const Headers& headers) {
  size_t n = line + 2;
  for (const Header& h : headers) {
    n += h.name.size() + 2 + h.value.size() + 2;
  }
  return n;
}

void append_headers(std::string* out, const Headers& headers) {
  for (const Header& h : headers) {
    out->append(h.name).append(": ").append(h.value).append("\r\n");
  }
  out->append("\r\n");
}

}  // namespace

Http1Parser::Http1Parser(Kind kind) : kind_(kind) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = call<&Http1Parser::on_message_begin>;
  settings_.on_method = call_data<&Http1Parser::on_counted>;  // Named in on_headers_complete.
  settings_.on_url = call_data<&Http1Parser::on_url>;
  settings_.on_status = call_data<&Http1Parser::on_status>;
  settings_.on_version = call_data<&Http1Parser::on_counted>;
  settings_.on_header_field = call_data<&Http1Parser::on_header_field>;
  settings_.on_header_value = call_data<&Http1Parser::on_header_value>;
  settings_.on_headers_complete = call<&Http1Parser::on_headers_complete>;
  settings_.on_body = call_data<&Http1Parser::on_body>;
  settings_.on_chunk_header = call<&Http1Parser::on_chunk_header>;
  settings_.on_message_complete = call<&Http1Parser::on_message_complete>;
  llhttp_init(&parser_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

int Http1Parser::add_head_bytes(size_t n) {
  head_bytes_ += n;
  if (head_bytes_ > kMaxHeadBytes) {
    too_large_ = true;
    return -1;
  }
  return 0;
}

int Http1Parser::on_message_begin() {
  head_ = HttpHead{};
  head_.headers.reserve(kHeadersReserved);  // One allocation for a typical head.
  trailers_.clear();
  in_trailers_ = false;
  last_was_value_ = false;
  in_message_ = true;
  head_bytes_ = 0;
  return 0;
}

int Http1Parser::on_url(std::string_view s) {
  head_.target.append(s);
  return add_head_bytes(s.size());
}

int Http1Parser::on_status(std::string_view s) {
  head_.reason.append(s);
  return add_head_bytes(s.size());
}

int Http1Parser::on_counted(std::string_view s) { return add_head_bytes(s.size()); }

int Http1Parser::on_header_field(std::string_view s) {
  Headers& list = in_trailers_ ? trailers_ : head_.headers;
  if (list.empty() || last_was_value_) {
    if (list.size() == kMaxHeaderFields) {
      too_many_ = true;
      return -1;
    }
    list.push_back(Header{std::string(s), std::string()});
  } else {
    list.back().name.append(s);
  }
  last_was_value_ = false;
  return add_head_bytes(s.size() + 4);
}

int Http1Parser::on_header_value(std::string_view s) {
  Headers& list = in_trailers_ ? trailers_ : head_.headers;
  if (list.empty()) {
    return -1;
  }
  list.back().value.append(s);
  last_was_value_ = true;
  return add_head_bytes(s.size());
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
  const int status = head_.status;
  out_->push_back(std::move(head_));  // on_message_begin starts the next one afresh.
  last_was_value_ = false;
  // A response to HEAD: no body, whatever the headers say. (Not a 1xx before it: the mark
  // stays for the final head.)
  if (kind_ == Kind::kResponse && no_body_ && status >= 200) {
    no_body_ = false;
    return 1;
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
  out_->push_back(
      HttpMessageEnd{std::exchange(trailers_, {}), llhttp_should_keep_alive(&parser_) != 0});
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
  std::string reason;
  if (too_large_) {
    reason = "header section larger than " + std::to_string(kMaxHeadBytes / 1024) + " KiB";
  } else if (too_many_) {
    reason = "more than " + std::to_string(kMaxHeaderFields) + " header fields";
  } else {
    reason = std::string(llhttp_errno_name(err)) + ": " + llhttp_get_error_reason(&parser_);
  }
  out.push_back(HttpParseError{std::move(reason), too_large_ || too_many_});
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
  paused_at_end_ = err == HPE_PAUSED;
  if (err == HPE_OK || paused_at_end_) {
    return;
  }
  failed_ = true;
  out.push_back(HttpParseError{"connection closed in the middle of a message", false});
}

std::string serialize_request_head(std::string_view method, std::string_view target,
                                   std::string_view version, const Headers& headers) {
  std::string out;
  out.reserve(head_size(method.size() + target.size() + version.size() + 4, headers));
  out.append(method).append(1, ' ').append(target).append(1, ' ').append(version).append("\r\n");
  append_headers(&out, headers);
  return out;
}

std::string serialize_response_head(std::string_view version, int status, std::string_view reason,
                                    const Headers& headers) {
  char code[16];
  char* code_end = std::to_chars(std::begin(code), std::end(code), status).ptr;
  const std::string_view code_text(code, static_cast<size_t>(code_end - code));
  std::string out;
  out.reserve(head_size(version.size() + code_text.size() + reason.size() + 4, headers));
  out.append(version).append(1, ' ').append(code_text).append(1, ' ').append(reason).append("\r\n");
  append_headers(&out, headers);
  return out;
}

std::string encode_chunk(std::string_view data) {
  if (data.empty()) {
    return {};
  }
  char size[16];
  char* end = std::to_chars(std::begin(size), std::end(size), data.size(), 16).ptr;
  std::string out(size, end);
  out.append("\r\n").append(data).append("\r\n");
  return out;
}

std::string encode_last_chunk(const Headers& trailers) {
  std::string out = "0\r\n";
  append_headers(&out, trailers);
  return out;
}

std::optional<AbsoluteForm> split_absolute_form(std::string_view url) {
  AbsoluteForm form;
  form.tls = url.starts_with("https://");
  if (!form.tls && !url.starts_with("http://")) {
    return std::nullopt;
  }
  url.remove_prefix(form.tls ? 8 : 7);
  const size_t slash = url.find_first_of("/?");
  form.authority = url.substr(0, slash);
  form.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (form.path.front() == '?') {
    form.path.insert(form.path.begin(), '/');
  }
  return form;
}

std::string error_response(int status, std::string_view reason, std::string_view body) {
  // The text ends with a newline (hence the + 1).
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size() + 1) + "\r\nConnection: close\r\n\r\n" + std::string(body) +
         "\n";
}

std::string_view reason_phrase(int status) {
  static constexpr std::pair<int, std::string_view> kReasons[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {102, "Processing"},
      {103, "Early Hints"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {203, "Non-Authoritative Information"},
      {204, "No Content"},
      {205, "Reset Content"},
      {206, "Partial Content"},
      {207, "Multi-Status"},
      {300, "Multiple Choices"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {411, "Length Required"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"},
      {421, "Misdirected Request"},
      {422, "Unprocessable Content"},
      {425, "Too Early"},
      {426, "Upgrade Required"},
      {428, "Precondition Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {451, "Unavailable For Legal Reasons"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"}};
  const auto* it = std::ranges::find(kReasons, status, &std::pair<int, std::string_view>::first);
  return it == std::end(kReasons) ? "" : it->second;
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
