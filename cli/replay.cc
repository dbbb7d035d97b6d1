#include "cli/replay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/base64.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/layers/http1.h"
#include "core/layers/replay_mark.h"
#include "core/proxy/host_port.h"

namespace sightglass::cli {
namespace {

using core::ProxyConfig;

constexpr size_t kMaxConnectHead = 64 * 1024;
constexpr char kClosed[] = "the connection closed";

bool is_ip_literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool is_dropped_header(const std::string& name) {
  for (const char* hop : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
                          "Transfer-Encoding", "Content-Length", "Upgrade", "HTTP2-Settings"}) {
    if (core::iequals(name, hop)) {
      return true;
    }
  }
  return name.starts_with(':');
}

std::string basic_credentials(const core::ProxyCredentials& credentials) {
  const std::string plain = credentials.user + ":" + credentials.password;
  size_t encoded_len = 0;
  if (!EVP_EncodedLength(&encoded_len, plain.size())) {
    return "";
  }
  std::string out(encoded_len, '\0');
  const size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                   reinterpret_cast<const uint8_t*>(plain.data()), plain.size());
  out.resize(n);
  return "Basic " + out;
}

std::string ssl_error_text() {
  const uint32_t code = ERR_get_error();
  if (code == 0) {
    return "";
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// Connection is a blocking client socket, with TLS once start_tls() succeeded. Every step is
// bounded by the socket timeouts.
class Connection {
 public:
  Connection() = default;
  ~Connection() {
    if (ssl_) {
      SSL_shutdown(ssl_.get());
    }
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connect_to(const std::string& address, int64_t timeout_ms, std::string* error) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      *error = "the proxy's address '" + address + "' has no port";
      return false;
    }
    std::string host = address.substr(0, colon);
    const std::string port = address.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host == "0.0.0.0" || host.empty()) {
      host = "127.0.0.1";
    } else if (host == "::") {
      host = "::1";
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
      *error = "cannot use the proxy's address '" + address + "'";
      return false;
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
    fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // Also bounds connect().
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, found->ai_addr, found->ai_addrlen) != 0) {
      *error = "cannot connect to the proxy at " + address + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

  // start_tls runs a TLS client handshake that trusts |ca_pem| only and checks |host|.
  bool start_tls(const std::string& ca_pem, const std::string& host, std::string* error) {
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
    bssl::UniquePtr<X509> ca(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                                 : nullptr);
    if (!ctx || !ca || !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get())) {
      *error = "cannot load the proxy's CA certificate";
      return false;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    static constexpr uint8_t kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
    ssl_.reset(SSL_new(ctx.get()));
    if (!ssl_ || !SSL_set_fd(ssl_.get(), fd_)) {
      *error = "cannot create a TLS connection";
      return false;
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    if (is_ip_literal(host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
      X509_VERIFY_PARAM_set1_host(param, host.data(), host.size());
    }
    if (SSL_connect(ssl_.get()) != 1) {
      const long verify = SSL_get_verify_result(ssl_.get());
      std::string why =
          verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ssl_error_text();
      *error = "TLS handshake with the proxy failed for " + host +
               (why.empty() ? std::string() : ": " + why);
      ssl_.reset();
      return false;
    }
    return true;
  }

  bool write_all(std::string_view data, std::string* error) {
    while (!data.empty()) {
      ssize_t n = 0;
      if (ssl_) {
        const int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 20));
        n = SSL_write(ssl_.get(), data.data(), chunk);
        if (n <= 0) {
          *error = "cannot send the request: " + describe_ssl_failure(static_cast<int>(n));
          return false;
        }
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          *error = std::string("cannot send the request: ") + std::strerror(errno);
          return false;
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // read_some returns the bytes read (> 0), 0 at the end of the stream, -1 on failure.
  ssize_t read_some(char* buf, size_t size, std::string* error) {
    for (;;) {
      if (ssl_) {
        const int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(size, 1 << 20)));
        if (n > 0) {
          return n;
        }
        if (SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN) {
          return 0;
        }
        std::string why = describe_ssl_failure(n);
        if (why == kClosed) {
          return 0;  // A close without close_notify: the end all the same.
        }
        *error = std::move(why);
        return -1;
      }
      const ssize_t n = recv(fd_, buf, size, 0);
      if (n >= 0) {
        return n;
      }
      if (errno == EINTR) {
        continue;
      }
      *error = errno == EAGAIN ? "timed out" : std::strerror(errno);
      return -1;
    }
  }

 private:
  std::string describe_ssl_failure(int ret) {
    const int code = SSL_get_error(ssl_.get(), ret);
    if (code == SSL_ERROR_SYSCALL) {
      if (errno == EAGAIN) {
        return "timed out";
      }
      return errno == 0 ? std::string(kClosed) : std::strerror(errno);
    }
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      return "timed out";
    }
    const std::string text = ssl_error_text();
    return text.empty() ? "TLS error " + std::to_string(code) : text;
  }

  int fd_ = -1;
  bssl::UniquePtr<SSL> ssl_;
};

// read_exact reads exactly |n| bytes.
bool read_exact(Connection& conn, size_t n, std::string* out, std::string* error) {
  out->assign(n, '\0');
  size_t have = 0;
  while (have < n) {
    const ssize_t got = conn.read_some(out->data() + have, n - have, error);
    if (got <= 0) {
      if (error->empty()) {
        *error = "the proxy closed the connection";
      }
      return false;
    }
    have += static_cast<size_t>(got);
  }
  return true;
}

// http_connect opens a tunnel with CONNECT; the answer's head is read byte by byte, so that
// nothing of the tunnel is read with it.
bool http_connect(Connection& conn, const std::string& target,
                  const std::optional<core::ProxyCredentials>& credentials, std::string* error) {
  std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (credentials) {
    request += "Proxy-Authorization: " + basic_credentials(*credentials) + "\r\n";
  }
  request += "\r\n";
  if (!conn.write_all(request, error)) {
    return false;
  }
  std::string head;
  while (!head.ends_with("\r\n\r\n")) {
    char c = 0;
    const ssize_t n = conn.read_some(&c, 1, error);
    if (n <= 0 || head.size() >= kMaxConnectHead) {
      *error = "the proxy did not answer the CONNECT to " + target +
               (error->empty() ? std::string() : ": " + *error);
      return false;
    }
    head.push_back(c);
  }
  const std::string status_line = head.substr(0, head.find("\r\n"));
  const size_t space = status_line.find(' ');
  if (space == std::string::npos || status_line.compare(space + 1, 3, "200") != 0) {
    *error = "the proxy answered the CONNECT to " + target + " with '" + status_line + "'";
    return false;
  }
  return true;
}

// socks5_connect runs the client side of RFC 1928 (and RFC 1929 with credentials).
bool socks5_connect(Connection& conn, const std::string& host, uint16_t port,
                    const std::optional<core::ProxyCredentials>& credentials, std::string* error) {
  const uint8_t method = credentials ? 0x02 : 0x00;
  std::string greeting = {0x05, 0x01, static_cast<char>(method)};
  std::string reply;
  if (!conn.write_all(greeting, error) || !read_exact(conn, 2, &reply, error)) {
    return false;
  }
  if (reply[0] != 0x05 || static_cast<uint8_t>(reply[1]) != method) {
    *error = "the SOCKS5 proxy refused the authentication method";
    return false;
  }
  if (credentials) {
    if (credentials->user.size() > 255 || credentials->password.size() > 255) {
      *error = "the SOCKS5 credentials are too long";
      return false;
    }
    std::string auth = {0x01, static_cast<char>(credentials->user.size())};
    auth += credentials->user;
    auth.push_back(static_cast<char>(credentials->password.size()));
    auth += credentials->password;
    if (!conn.write_all(auth, error) || !read_exact(conn, 2, &reply, error)) {
      return false;
    }
    if (reply[1] != 0x00) {
      *error = "the SOCKS5 proxy refused the credentials";
      return false;
    }
  }
  std::string request = {0x05, 0x01, 0x00};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    request.push_back(0x01);
    request.append(reinterpret_cast<const char*>(&v4), sizeof(v4));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    request.push_back(0x04);
    request.append(reinterpret_cast<const char*>(&v6), sizeof(v6));
  } else if (host.size() <= 255) {
    request.push_back(0x03);
    request.push_back(static_cast<char>(host.size()));
    request += host;
  } else {
    *error = "the host name is too long for SOCKS5";
    return false;
  }
  request.push_back(static_cast<char>(port >> 8));
  request.push_back(static_cast<char>(port & 0xff));
  if (!conn.write_all(request, error) || !read_exact(conn, 4, &reply, error)) {
    return false;
  }
  if (reply[1] != 0x00) {
    *error = "the SOCKS5 proxy could not connect to " + core::format_host_port(host, port) +
             " (reply " + std::to_string(static_cast<uint8_t>(reply[1])) + ")";
    return false;
  }
  size_t rest = 0;
  std::string length;
  switch (reply[3]) {
    case 0x01:
      rest = 4 + 2;
      break;
    case 0x04:
      rest = 16 + 2;
      break;
    case 0x03:
      if (!read_exact(conn, 1, &length, error)) {
        return false;
      }
      rest = static_cast<uint8_t>(length[0]) + size_t{2};
      break;
    default:
      *error = "the SOCKS5 proxy sent a malformed reply";
      return false;
  }
  return read_exact(conn, rest, &reply, error);
}

// read_response reads one response (after any interim 1xx) to its end.
bool read_response(Connection& conn, bool head_request, std::string* error) {
  core::Http1Parser parser(core::Http1Parser::Kind::kResponse);
  if (head_request) {
    parser.expect_no_body();
  }
  std::vector<char> buf(64 * 1024);
  int status = 0;
  bool eof = false;
  core::HttpParseEvents events;
  for (;;) {
    for (size_t i = 0; i < events.size(); ++i) {
      if (const auto* head = std::get_if<core::HttpHead>(&events[i])) {
        status = head->status;
      } else if (std::holds_alternative<core::HttpMessageEnd>(events[i])) {
        if (status >= 100 && status < 200 && status != 101) {
          if (head_request) {
            parser.expect_no_body();
          }
          core::HttpParseEvents more;
          parser.next_message(more);
          events.insert(events.end(), std::make_move_iterator(more.begin()),
                        std::make_move_iterator(more.end()));
          continue;
        }
        return true;
      } else if (std::holds_alternative<core::HttpUpgrade>(events[i])) {
        return true;
      } else if (const auto* failed = std::get_if<core::HttpParseError>(&events[i])) {
        *error = "malformed response: " + failed->reason;
        return false;
      }
    }
    events.clear();
    if (eof) {
      *error = status == 0 ? "the proxy closed the connection without a response"
                           : "the connection closed before the response ended";
      return false;
    }
    const ssize_t n = conn.read_some(buf.data(), buf.size(), error);
    if (n < 0) {
      *error = "no response: " + *error;
      return false;
    }
    if (n == 0) {
      eof = true;
      parser.finish(events);
    } else {
      parser.feed(std::string_view(buf.data(), static_cast<size_t>(n)), events);
    }
  }
}

}  // namespace

std::string replay_refusal(const core::FlowSnapshot& flow, ProxyConfig::Mode mode) {
  if (mode == ProxyConfig::Mode::kTransparent) {
    return "replay needs an explicit, SOCKS5 or reverse listener (this proxy is transparent)";
  }
  if (flow.kind != core::FlowKind::kHttp || !flow.request) {
    return "only HTTP requests can be replayed";
  }
  const core::HttpRequestData& request = *flow.request;
  if (flow.state == core::FlowState::kLive) {
    return "the flow is still in progress";
  }
  if (request.method.empty() || request.host.empty() || request.port == 0) {
    return "the request has no method or host";
  }
  if (request.method == "CONNECT") {
    return "a CONNECT cannot be replayed";
  }
  if (request.scheme != "http" && request.scheme != "https") {
    return "only http and https requests can be replayed";
  }
  if (!flow.websocket_messages.empty() || core::find_header(request.headers, "Upgrade") ||
      (flow.response && flow.response->status == 101)) {
    return "a WebSocket or another upgrade cannot be replayed";
  }
  if (request.body.truncated || request.body.kept != request.body.size) {
    return "the request body was not kept whole (--body-limit), so it cannot be replayed";
  }
  return "";
}

std::string replay_request(const core::HttpRequestData& request, bool absolute_form,
                           const std::optional<core::ProxyCredentials>& credentials,
                           std::string_view token) {
  core::Headers headers;
  headers.reserve(request.headers.size() + 4);
  bool framed = false;  // The original had a body framing header.
  for (const core::Header& h : request.headers) {
    if (core::iequals(h.name, "Content-Length") || core::iequals(h.name, "Transfer-Encoding")) {
      framed = true;
    }
    if (!is_dropped_header(h.name)) {
      headers.push_back(h);
    }
  }
  if (core::find_header(headers, "Host") == nullptr) {
    headers.insert(
        headers.begin(),
        core::Header{"Host", core::format_authority(request.host, request.port, request.scheme)});
  }
  const bool chunked = !request.trailers.empty();
  if (chunked) {
    headers.push_back({"Transfer-Encoding", "chunked"});
  } else if (framed || request.body.size > 0 || request.method == "POST" ||
             request.method == "PUT" || request.method == "PATCH") {
    headers.push_back({"Content-Length", std::to_string(request.body.size)});
  }
  if (absolute_form && credentials) {
    headers.push_back({"Proxy-Authorization", basic_credentials(*credentials)});
  }
  headers.push_back({std::string(core::kReplayHeader), std::string(token)});
  const std::string target = request.target.empty() ? "/" : request.target;
  std::string out = core::serialize_request_head(
      request.method, absolute_form ? request.url() : target, "HTTP/1.1", headers);
  const std::string body = request.body.contiguous();
  if (chunked) {
    out += core::encode_chunk(body);
    out += core::encode_last_chunk(request.trailers);
  } else {
    out += body;
  }
  return out;
}

std::string run_replay(const ReplayEndpoint& endpoint, const core::FlowSnapshot& flow) {
  if (std::string refusal = replay_refusal(flow, endpoint.mode); !refusal.empty()) {
    return refusal;
  }
  const core::HttpRequestData& request = *flow.request;
  const bool https = request.scheme == "https";
  // The name the client asked the TLS for: its SNI, else the request's host.
  std::string tls_name =
      flow.client_tls && !flow.client_tls->sni.empty() ? flow.client_tls->sni : request.host;
  std::string error;
  Connection conn;
  if (!conn.connect_to(endpoint.address, endpoint.timeout_ms, &error)) {
    return error;
  }
  bool tls = https;
  bool absolute_form = false;
  switch (endpoint.mode) {
    case ProxyConfig::Mode::kRegular:
    case ProxyConfig::Mode::kUpstream:
      if (https) {
        if (!http_connect(conn, core::format_host_port(request.host, request.port),
                          endpoint.credentials, &error)) {
          return error;
        }
      } else {
        absolute_form = true;
      }
      break;
    case ProxyConfig::Mode::kSocks5:
      if (!socks5_connect(conn, request.host, request.port, endpoint.credentials, &error)) {
        return error;
      }
      break;
    case ProxyConfig::Mode::kReverse:
      // The client's side of a reverse proxy: TLS when the recorded client spoke it.
      tls = flow.client_tls.has_value();
      break;
    case ProxyConfig::Mode::kTransparent:
      return "replay needs an explicit, SOCKS5 or reverse listener";
  }
  if (tls && !conn.start_tls(endpoint.ca_cert_pem, tls_name, &error)) {
    return error;
  }
  const std::string bytes =
      replay_request(request, absolute_form, endpoint.credentials, endpoint.token);
  if (!conn.write_all(bytes, &error)) {
    return error;
  }
  if (!read_response(conn, request.method == "HEAD", &error)) {
    return error;
  }
  return "";
}

}  // namespace sightglass::cli
