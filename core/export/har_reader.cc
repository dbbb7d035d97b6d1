#include "core/export/har_reader.h"

#include <algorithm>
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

Headers headers_from_json(const json* array) {
  Headers out;
  if (array == nullptr || !array->is_array()) {
    return out;
  }
  for (const json& item : *array) {
    if (!item.is_object()) {
      continue;
    }
    const auto name = item.find("name");
    const auto value = item.find("value");
    if (name == item.end() || !name->is_string()) {
      continue;
    }
    out.push_back({name->get<std::string>(),
                   value != item.end() && value->is_string() ? value->get<std::string>() : ""});
  }
  return out;
}

std::string body_text_from_json(const json& obj) {
  const auto it = obj.find("text");
  if (it == obj.end() || !it->is_string()) {
    return "";
  }
  const auto& value = it->get_ref<const std::string&>();
  const auto encoding = obj.find("encoding");
  if (encoding != obj.end() && encoding->is_string() && *encoding == "base64") {
    if (auto decoded = base64_decode(value)) {
      return std::move(*decoded);
    }
  }
  return value;
}

// Accessors that never throw: a missing member or one of the wrong type gives the fallback.

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) {
    return nullptr;
  }
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
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

// ms_to_us converts HAR milliseconds back to microseconds; negatives mean "does not apply".
int64_t ms_to_us(const json& obj, const char* key) {
  const double ms = get_double(obj, key, -1);
  if (!std::isfinite(ms) || ms < 0 || ms > 9e12) {
    return -1;
  }
  return std::llround(ms * 1000.0);
}

std::optional<TlsInfo> tls_from_json(const json* obj) {
  if (obj == nullptr || !obj->is_object()) {
    return std::nullopt;
  }
  TlsInfo tls;
  tls.sni = get_string(*obj, "sni");
  tls.version = get_string(*obj, "version");
  tls.cipher = get_string(*obj, "cipher");
  tls.alpn = get_string(*obj, "alpn");
  if (const json* cert = member(*obj, "certificate"); cert != nullptr && cert->is_object()) {
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

uint16_t default_port(std::string_view scheme) {
  if (scheme == "https" || scheme == "wss") {
    return 443;
  }
  if (scheme == "http" || scheme == "ws") {
    return 80;
  }
  return 0;
}

bool parse_port(std::string_view digits, uint16_t* out_port) {
  if (digits.empty() || digits.size() > 5) {
    return false;
  }
  uint32_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) {
    return false;
  }
  *out_port = static_cast<uint16_t>(value);
  return true;
}

// split_authority splits "host:port" / "[v6]:port" / "host".
void split_authority(std::string_view authority, std::string* out_host, uint16_t* out_port) {
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close != std::string_view::npos) {
      *out_host = std::string(authority.substr(1, close - 1));
      if (close + 1 < authority.size() && authority[close + 1] == ':') {
        port = authority.substr(close + 2);
      }
    } else {
      *out_host = std::string(authority);
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(':') == colon) {
      *out_host = std::string(authority.substr(0, colon));
      port = authority.substr(colon + 1);
    } else {
      *out_host = std::string(authority);
    }
  }
  uint16_t parsed = 0;
  if (parse_port(port, &parsed)) {
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
  request->port = default_port(request->scheme);
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

HttpRequestData request_from_json(const json& obj) {
  HttpRequestData request;
  request.method = get_string(obj, "method");
  parse_url(get_string(obj, "url"), &request);
  request.http_version = get_string(obj, "httpVersion", "HTTP/1.1");
  request.headers = headers_from_json(member(obj, "headers"));
  request.trailers = headers_from_json(member(obj, "_trailers"));
  const int64_t headers_size = get_int(obj, "headersSize", -1);
  request.header_bytes = headers_size > 0 ? static_cast<uint64_t>(headers_size) : 0;
  const int64_t body_size = get_int(obj, "bodySize", -1);
  if (const json* post = member(obj, "postData"); post != nullptr && post->is_object()) {
    request.body =
        body_from_json(body_text_from_json(*post), body_size, get_bool(*post, "_truncated", false));
  } else if (body_size > 0) {
    request.body = body_from_json("", body_size, true);
  }
  return request;
}

HttpResponseData response_from_json(const json& obj) {
  HttpResponseData response;
  response.status = static_cast<int>(std::clamp<int64_t>(get_int(obj, "status", 0), 0, 999));
  response.reason = get_string(obj, "statusText");
  response.http_version = get_string(obj, "httpVersion", "HTTP/1.1");
  response.headers = headers_from_json(member(obj, "headers"));
  response.trailers = headers_from_json(member(obj, "_trailers"));
  const int64_t headers_size = get_int(obj, "headersSize", -1);
  response.header_bytes = headers_size > 0 ? static_cast<uint64_t>(headers_size) : 0;
  const int64_t body_size = get_int(obj, "bodySize", -1);
  const json* content = member(obj, "content");
  if (content != nullptr && content->is_object()) {
    // With "compression", the text is the body decoded from its Content-Encoding, and its
    // size is the decoded size; otherwise bodySize is the size of the bytes in the text.
    const bool decoded = member(*content, "compression") != nullptr;
    const int64_t nominal = decoded || body_size < 0 ? get_int(*content, "size", -1) : body_size;
    response.body = body_from_json(body_text_from_json(*content), nominal,
                                   get_bool(*content, "_truncated", false));
  } else if (body_size > 0) {
    response.body = body_from_json("", body_size, true);
  }
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
    std::string data = get_string(item, "data");
    if (message.opcode != 1) {
      if (auto decoded = base64_decode(data)) {
        data = std::move(*decoded);
      }
    }
    message.data = std::move(data);
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
  const json* request = member(entry, "request");
  if (request == nullptr || !request->is_object()) {
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
      const std::string& digits = id->get_ref<const std::string&>();
      if (!digits.empty() && digits.size() < 20 &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        flow.id = std::stoull(digits);
      }
    }
  }
  flow.client_address = get_string(entry, "_clientAddress");
  flow.error = get_string(entry, "_error");
  if (const json* replay = member(entry, "_replay"); replay != nullptr && replay->is_boolean()) {
    flow.replay = replay->get<bool>();
  }
  if (const json* url = member(entry, "_original_url"); url != nullptr && url->is_string()) {
    flow.original_url = url->get<std::string>();
  }
  if (const json* modified = member(entry, "_modified");
      modified != nullptr && modified->is_string()) {
    flow.modified = modified->get<std::string>();
  }
  if (const json* tls = member(entry, "_tls"); tls != nullptr) {
    flow.client_tls = tls_from_json(member(*tls, "client"));
    flow.server_tls = tls_from_json(member(*tls, "server"));
  }
  flow.websocket_messages =
      WebSocketMessageLog(websocket_from_json(member(entry, "_webSocketMessages")));

  if (const auto started = parse_iso8601(get_string(entry, "startedDateTime"))) {
    flow.timings.started_us = *started;
  }
  if (const json* timings = member(entry, "timings"); timings != nullptr && timings->is_object()) {
    flow.timings.blocked_us = ms_to_us(*timings, "blocked");
    flow.timings.dns_us = ms_to_us(*timings, "dns");
    flow.timings.connect_us = ms_to_us(*timings, "connect");
    flow.timings.ssl_us = ms_to_us(*timings, "ssl");
    flow.timings.send_us = ms_to_us(*timings, "send");
    flow.timings.wait_us = ms_to_us(*timings, "wait");
    flow.timings.receive_us = ms_to_us(*timings, "receive");
  }

  uint16_t server_port = 0;
  if (const json* tcp = member(entry, "_tcp"); tcp != nullptr && tcp->is_object()) {
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
    if (const json* learned = member(*tcp, "passthroughLearned");
        learned != nullptr && learned->is_boolean()) {
      flow.passthrough_learned = learned->get<bool>();
    }
  } else {
    flow.kind = FlowKind::kHttp;
    // A flow that failed before its request carries a placeholder with an empty method.
    if (!get_string(*request, "method").empty()) {
      flow.request = request_from_json(*request);
      server_port = flow.request->port;
    }
    const json* response = member(entry, "response");
    if (response != nullptr && response->is_object() && get_int(*response, "status", 0) > 0) {
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
    ok = false;
  }
  if (!ok && out_error != nullptr) {
    *out_error = error;
  }
  return ok;
}

}  // namespace sightglass::core
