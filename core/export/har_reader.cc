#include "core/export/har_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/export/har_common.h"
#include "core/export/http_date.h"
#include "core/export/text_util.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

using detail::kMicrosPerSecond;
using nlohmann::json;

// Accessors that never throw: a missing member or one of the wrong type gives the fallback.

const json* member(const json& obj, const char* key) {
  const auto it = obj.find(key);  // end() when |obj| is not an object.
  return it == obj.end() ? nullptr : &*it;
}

// object_member is member() when that is an object, else nullptr.
const json* object_member(const json& obj, const char* key) {
  const json* value = member(obj, key);
  return value != nullptr && value->is_object() ? value : nullptr;
}

std::string get_string(const json& obj, const char* key, std::string fallback = "") {
  const json* value = member(obj, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::move(fallback);
}

double get_double(const json& obj, const char* key, double fallback) {
  const json* value = member(obj, key);
  return value != nullptr && value->is_number() ? value->get<double>() : fallback;
}

int64_t get_int(const json& obj, const char* key, int64_t fallback) {
  const json* value = member(obj, key);
  if (value == nullptr || !value->is_number()) {
    return fallback;
  }
  if (value->is_number_unsigned()) {
    const auto u = value->get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(u);
  }
  if (value->is_number_integer()) {
    return value->get<int64_t>();
  }
  const double d = value->get<double>();
  if (!std::isfinite(d) || std::fabs(d) > 9e18) {
    return fallback;
  }
  return std::llround(d);
}

bool get_bool(const json& obj, const char* key, bool fallback) {
  const json* value = member(obj, key);
  return value != nullptr && value->is_boolean() ? value->get<bool>() : fallback;
}

Headers headers_from_json(const json* array) {
  Headers out;
  if (array == nullptr || !array->is_array()) {
    return out;
  }
  for (const json& item : *array) {
    if (const json* name = member(item, "name"); name != nullptr && name->is_string()) {
      out.push_back({name->get<std::string>(), get_string(item, "value")});
    }
  }
  return out;
}

std::string body_text_from_json(const json& obj) {
  std::string text = get_string(obj, "text");
  if (get_string(obj, "encoding") == "base64") {
    if (auto decoded = base64_decode(text)) {
      return std::move(*decoded);
    }
  }
  return text;
}

// ms_to_us converts HAR milliseconds back to microseconds; negatives mean "does not apply".
int64_t ms_to_us(const json& obj, const char* key) {
  const double ms = get_double(obj, key, -1);
  if (!std::isfinite(ms) || ms < 0 || ms > 9e12) {
    return -1;
  }
  return std::llround(ms * 1000.0);
}

std::optional<TlsInfo> tls_from_json(const json* obj) {
  if (obj == nullptr) {
    return std::nullopt;
  }
  TlsInfo tls;
  tls.sni = get_string(*obj, "sni");
  tls.version = get_string(*obj, "version");
  tls.cipher = get_string(*obj, "cipher");
  tls.alpn = get_string(*obj, "alpn");
  if (const auto it = obj->find("resumed"); it != obj->end() && it->is_boolean()) {
    tls.resumed = it->get<bool>();
  }
  if (const json* cert = object_member(*obj, "certificate")) {
    tls.certificate =
        TlsCertificateInfo{get_string(*cert, "subject"), get_string(*cert, "issuer"),
                           get_string(*cert, "notAfter"), get_string(*cert, "sha256")};
  }
  return tls;
}

// CapturedBody from what a HAR entry holds: |bytes| kept, |nominal_size| the size it states.
CapturedBody body_from_json(std::string bytes, int64_t nominal_size, bool truncated) {
  CapturedBody body;
  body.kept = bytes.size();
  if (!bytes.empty()) {
    body.chunks.push_back(std::make_shared<const std::string>(std::move(bytes)));
  }
  body.size =
      std::max<uint64_t>(body.kept, nominal_size > 0 ? static_cast<uint64_t>(nominal_size) : 0);
  if (truncated && body.size <= body.kept) {
    body.size = body.kept + 1;  // The true size is unknown, but larger.
  }
  body.truncated = body.size > body.kept;
  return body;
}

// split_authority splits "host:port" / "[v6]:port" / "host".
void split_authority(std::string_view authority, std::string* out_host, uint16_t* out_port) {
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    if (const size_t close = authority.find(']'); close != std::string_view::npos) {
      host = authority.substr(1, close - 1);
      if (authority.substr(close + 1).starts_with(':')) {
        port = authority.substr(close + 2);
      }
    }
  } else if (const size_t colon = authority.rfind(':');
             colon != std::string_view::npos && authority.find(':') == colon) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  *out_host = std::string(host);
  uint16_t parsed = 0;
  const char* port_end = port.data() + port.size();
  if (const auto [ptr, error] = std::from_chars(port.data(), port_end, parsed);
      port.size() <= 5 && error == std::errc() && ptr == port_end) {
    *out_port = parsed;
  }
}

// parse_url fills scheme, host, port and target of |request| from a HAR url.
void parse_url(std::string_view url, HttpRequestData* request) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    // CONNECT's authority form ("host:port"), or something we cannot take apart.
    split_authority(url, &request->host, &request->port);
    request->target = std::string(url);
    return;
  }
  request->scheme = ascii_lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  const size_t path_start = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_start);
  const std::string_view scheme = request->scheme;
  request->port = scheme == "https" || scheme == "wss" ? 443
                  : scheme == "http" || scheme == "ws" ? 80
                                                       : 0;
  split_authority(authority, &request->host, &request->port);
  if (path_start == std::string_view::npos) {
    request->target = "/";
  } else if (rest[path_start] == '?') {
    request->target = "/" + std::string(rest.substr(path_start));
  } else {
    request->target = std::string(rest.substr(path_start));
  }
  if (const size_t hash = request->target.find('#'); hash != std::string::npos) {
    request->target.resize(hash);
  }
}

// message_from_json reads what requests and responses share: version, headers, trailers, and
// the body from the object |body_key| (postData or content).
template <typename Message>
void message_from_json(const json& obj, const char* body_key, Message* message) {
  message->http_version = get_string(obj, "httpVersion", "HTTP/1.1");
  message->headers = headers_from_json(member(obj, "headers"));
  message->trailers = headers_from_json(member(obj, "_trailers"));
  const int64_t headers_size = get_int(obj, "headersSize", -1);
  message->header_bytes = headers_size > 0 ? static_cast<uint64_t>(headers_size) : 0;
  const int64_t body_size = get_int(obj, "bodySize", -1);
  if (const json* body = object_member(obj, body_key)) {
    // A response's content with "compression" holds the body decoded from its Content-Encoding,
    // and its size is the decoded size; otherwise bodySize is the size of the bytes in the text.
    const bool content_size = body_key == std::string_view("content") &&
                              (member(*body, "compression") != nullptr || body_size < 0);
    message->body = body_from_json(body_text_from_json(*body),
                                   content_size ? get_int(*body, "size", -1) : body_size,
                                   get_bool(*body, "_truncated", false));
  } else if (body_size > 0) {
    message->body = body_from_json("", body_size, true);
  }
}

HttpRequestData request_from_json(const json& obj) {
  HttpRequestData request;
  request.method = get_string(obj, "method");
  parse_url(get_string(obj, "url"), &request);
  message_from_json(obj, "postData", &request);
  return request;
}

HttpResponseData response_from_json(const json& obj) {
  HttpResponseData response;
  response.status = static_cast<int>(std::clamp<int64_t>(get_int(obj, "status", 0), 0, 999));
  response.reason = get_string(obj, "statusText");
  message_from_json(obj, "content", &response);
  return response;
}

std::vector<WebSocketMessage> websocket_from_json(const json* array) {
  std::vector<WebSocketMessage> out;
  if (array == nullptr || !array->is_array()) {
    return out;
  }
  for (const json& item : *array) {
    if (!item.is_object()) {
      continue;
    }
    WebSocketMessage message;
    message.from_client = get_string(item, "type") == "send";
    const double seconds = get_double(item, "time", 0);
    message.time_us = std::isfinite(seconds) && std::fabs(seconds) < 9e12
                          ? std::llround(seconds * static_cast<double>(kMicrosPerSecond))
                          : 0;
    message.opcode = static_cast<uint8_t>(std::clamp<int64_t>(get_int(item, "opcode", 1), 0, 15));
    message.data = get_string(item, "data");
    if (auto decoded = message.opcode != 1 ? base64_decode(message.data) : std::nullopt) {
      message.data = std::move(*decoded);
    }
    message.truncated = get_bool(item, "_truncated", false);
    out.push_back(std::move(message));
  }
  return out;
}

bool from_har_entry_unchecked(const json& entry, FlowSnapshot* out, std::string* out_error) {
  if (!entry.is_object()) {
    *out_error = "a HAR entry must be a JSON object";
    return false;
  }
  const json* request = object_member(entry, "request");
  if (request == nullptr) {
    *out_error = "the entry has no \"request\" object";
    return false;
  }
  FlowSnapshot flow;
  flow.state = FlowState::kFinished;
  if (const json* id = member(entry, "_id"); id != nullptr) {
    if (id->is_number_unsigned()) {
      flow.id = id->get<uint64_t>();
    } else if (id->is_number_integer() && id->get<int64_t>() >= 0) {
      flow.id = static_cast<uint64_t>(id->get<int64_t>());
    } else if (id->is_string()) {
      // Up to 19 digits, which always fit.
      const std::string& digits = id->get_ref<const std::string&>();
      const char* end = digits.data() + digits.size();
      if (uint64_t value = 0; !digits.empty() && digits.size() < 20 &&
                              std::from_chars(digits.data(), end, value).ptr == end) {
        flow.id = value;
      }
    }
  }
  flow.client_address = get_string(entry, "_clientAddress");
  flow.error = get_string(entry, "_error");
  flow.replay = get_bool(entry, "_replay", false);
  flow.original_url = get_string(entry, "_original_url");
  flow.modified = get_string(entry, "_modified");
  if (const json* tls = member(entry, "_tls"); tls != nullptr) {
    flow.client_tls = tls_from_json(object_member(*tls, "client"));
    flow.server_tls = tls_from_json(object_member(*tls, "server"));
  }
  flow.websocket_messages =
      WebSocketMessageLog(websocket_from_json(member(entry, "_webSocketMessages")));

  if (const auto started = parse_iso8601(get_string(entry, "startedDateTime"))) {
    flow.timings.started_us = *started;
  }
  if (const json* timings = object_member(entry, "timings")) {
    flow.timings.blocked_us = ms_to_us(*timings, "blocked");
    flow.timings.dns_us = ms_to_us(*timings, "dns");
    flow.timings.connect_us = ms_to_us(*timings, "connect");
    flow.timings.ssl_us = ms_to_us(*timings, "ssl");
    flow.timings.send_us = ms_to_us(*timings, "send");
    flow.timings.wait_us = ms_to_us(*timings, "wait");
    flow.timings.receive_us = ms_to_us(*timings, "receive");
  }

  uint16_t server_port = 0;
  if (const json* tcp = object_member(entry, "_tcp")) {
    flow.kind = FlowKind::kTcp;
    HttpRequestData parsed;
    parse_url(get_string(*request, "url"), &parsed);
    flow.tcp_host = parsed.host;
    flow.tcp_port = parsed.port;
    server_port = parsed.port;
    flow.bytes_from_client =
        static_cast<uint64_t>(std::max<int64_t>(0, get_int(*tcp, "bytesFromClient", 0)));
    flow.bytes_from_server =
        static_cast<uint64_t>(std::max<int64_t>(0, get_int(*tcp, "bytesFromServer", 0)));
    flow.passthrough = get_string(*tcp, "passthrough");
    flow.tcp_sni = get_string(*tcp, "sni");
    flow.passthrough_learned = get_bool(*tcp, "passthroughLearned", false);
  } else {
    flow.kind = FlowKind::kHttp;
    // A flow that failed before its request carries a placeholder with an empty method.
    if (!get_string(*request, "method").empty()) {
      flow.request = request_from_json(*request);
      server_port = flow.request->port;
    }
    const json* response = object_member(entry, "response");
    if (response != nullptr && get_int(*response, "status", 0) > 0) {
      flow.response = response_from_json(*response);
    }
  }
  std::string server_ip = get_string(entry, "serverIPAddress");
  if (server_ip.size() > 2 && server_ip.front() == '[' && server_ip.back() == ']') {
    server_ip = server_ip.substr(1, server_ip.size() - 2);
  }
  if (!server_ip.empty()) {
    flow.server_address = server_port != 0 ? format_host_port(server_ip, server_port) : server_ip;
  }
  *out = std::move(flow);
  return true;
}

}  // namespace

bool from_har_entry(const json& entry, FlowSnapshot* out, std::string* out_error) {
  std::string error = "no output FlowSnapshot";
  bool ok = false;
  try {
    ok = out != nullptr && from_har_entry_unchecked(entry, out, &error);
  } catch (const std::exception& e) {
    error = std::string("cannot read the HAR entry: ") + e.what();
  }
  if (!ok && out_error != nullptr) {
    *out_error = error;
  }
  return ok;
}

}  // namespace sightglass::core
