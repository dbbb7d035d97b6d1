#include "core/export/flow_json.h"

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/export/grpc_summary.h"
#include "core/export/har_common.h"
#include "core/export/har_params.h"
#include "core/export/har_params_internal.h"
#include "core/export/http_date.h"
#include "core/export/json_text.h"
#include "core/export/text_util.h"
#include "core/proxy/flow.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

using detail::for_each_request_cookie;
using detail::for_each_set_cookie;
using detail::for_each_urlencoded_param;
using detail::kMicrosPerSecond;
using detail::name_value_json;
using detail::SetCookie;
using detail::target_query;
using detail::text;
using nlohmann::json;

json headers_json(const Headers& headers) {
  json out = json::array();
  for (const Header& header : headers) {
    out.push_back(name_value_json(header.name, header.value));
  }
  return out;
}

// all_header_values joins every |name| header with ", " (how repeated list headers combine).
std::optional<std::string> all_header_values(const Headers& headers, std::string_view name) {
  std::optional<std::string> out;
  for (const Header& header : headers) {
    if (iequals(header.name, name)) {
      out = out ? *out + ", " + header.value : header.value;
    }
  }
  return out;
}

// TimingPhase is one of HAR's timings; timing_phases lists them in the order of their keys.
struct TimingPhase {
  std::string_view key;
  int64_t us = -1;
  bool required = false;  // send, wait and receive, which HAR requires to be >= 0.
};

std::array<TimingPhase, 7> timing_phases(const FlowTimings& timings) {
  return {{{"blocked", timings.blocked_us, false},
           {"connect", timings.connect_us, false},
           {"dns", timings.dns_us, false},
           {"receive", timings.receive_us, true},
           {"send", timings.send_us, true},
           {"ssl", timings.ssl_us, false},
           {"wait", timings.wait_us, true}}};
}

// phase_ms converts a phase in microseconds to HAR milliseconds. std::nullopt stands for the
// integer -1 ("does not apply"); a required phase is 0.0 instead.
std::optional<double> phase_ms(const TimingPhase& phase) {
  if (phase.us < 0) {
    return phase.required ? std::optional<double>(0.0) : std::nullopt;
  }
  return static_cast<double>(phase.us) / 1000.0;
}

// total_ms is the entry's "time".
double total_ms(const FlowTimings& timings) {
  return static_cast<double>(timings.total_us()) / 1000.0;
}

// headers_size is HAR's headersSize: the bytes on the wire, or -1 when unknown.
int64_t headers_size(uint64_t header_bytes) {
  return header_bytes > 0 ? static_cast<int64_t>(header_bytes) : -1;
}

// looks_like_text: UTF-8 without the control characters that text does not contain (JSON
// would spell each as \u00XX, six bytes for one; a NUL-filled "zip bomb" must not grow so).
bool looks_like_text(std::string_view bytes) {
  for (char c : bytes) {
    const auto byte = static_cast<uint8_t>(c);
    if (byte < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') {
      return false;
    }
  }
  return is_valid_utf8(bytes);
}

// kept_bytes returns the kept bytes of |body|: its only chunk, or all of them joined in
// |*storage|.
std::string_view kept_bytes(const CapturedBody& body, std::string* storage) {
  if (body.chunks.size() == 1) {
    return *body.chunks.front();
  }
  *storage = body.contiguous();
  return *storage;
}

// HarBody is what a HAR postData or content says of a body, worked out once for both the json
// tree and the direct writer.
struct HarBody {
  HarBody() = default;
  HarBody(const HarBody&) = delete;
  HarBody& operator=(const HarBody&) = delete;

  std::string_view mime_type;  // The Content-Type, or "".
  std::string_view bytes;      // What "text" holds, before base64 (may point into |storage|).
  bool base64 = false;         // The bytes are not text, so "text" is their base64.
  bool truncated = false;      // "_truncated".
  uint64_t size = 0;           // content's "size" (decoded).
  std::optional<int64_t> compression;  // content's "compression": bytes saved by decoding.
  bool form_params = false;            // postData's "params" are parsed from the bytes.
  std::string storage;
};

// set_body_text stores the body as HAR text: as is when it is text, else base64.
void set_body_text(json& obj, const HarBody& body) {
  if (body.base64) {
    obj["text"] = base64_encode(body.bytes);
    obj["encoding"] = "base64";
  } else {
    obj["text"] = std::string(body.bytes);
  }
}

// Requests and responses.

size_t decoded_body_cap(uint64_t kept) {
  const uint64_t cap = std::max<uint64_t>(kMinDecodedBodyCap, kept * 4);
  return static_cast<size_t>(std::min<uint64_t>(cap, std::numeric_limits<size_t>::max() / 2));
}

std::string_view header_or_empty(const Headers& headers, std::string_view name) {
  const std::string* value = find_header(headers, name);
  return value != nullptr ? std::string_view(*value) : std::string_view();
}

// request_body works out a request's postData (for a request with a body).
void request_body(const HttpRequestData& request, HarBody* out) {
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  out->mime_type = header_or_empty(request.headers, "Content-Type");
  out->bytes = kept_bytes(request.body, &out->storage);
  out->base64 = !looks_like_text(out->bytes);
  out->truncated = request.body.truncated;
  out->form_params = !out->truncated && iequals(out->mime_type.substr(0, kForm.size()), kForm);
}

// response_body works out a response's content, decoded from its Content-Encoding when that
// works.
void response_body(const HttpResponseData& response, HarBody* out) {
  const CapturedBody& body = response.body;
  out->mime_type = header_or_empty(response.headers, "Content-Type");
  out->bytes = kept_bytes(body, &out->storage);
  out->truncated = body.truncated;
  out->size = body.size;
  const std::optional<std::string> coding = all_header_values(response.headers, "Content-Encoding");
  if (coding && !is_identity_encoding(*coding) && !out->bytes.empty()) {
    ContentDecodeInfo info;
    std::optional<std::string> decoded =
        decode_content(*coding, out->bytes, decoded_body_cap(body.kept), &info, body.truncated);
    if (decoded) {
      // "compression" marks the text as decoded (from_har_entry relies on it).
      out->compression = std::max<int64_t>(
          0, static_cast<int64_t>(decoded->size()) - static_cast<int64_t>(out->bytes.size()));
      out->truncated = out->truncated || info.truncated;
      out->size = decoded->size();
      out->storage = std::move(*decoded);
      out->bytes = out->storage;
    }
  }
  out->base64 = !looks_like_text(out->bytes);
}

json request_json(const HttpRequestData& request) {
  json out = json::object();
  out["method"] = text(request.method);
  out["url"] = text(request.url());
  out["httpVersion"] = text(request.http_version);
  out["cookies"] = request_cookies_json(request.headers);
  out["headers"] = headers_json(request.headers);
  out["queryString"] = query_string_json(request.target);
  out["headersSize"] = headers_size(request.header_bytes);
  out["bodySize"] = request.body.size;
  if (request.body.size > 0) {
    HarBody body;
    request_body(request, &body);
    json post = json::object();
    post["mimeType"] = text(body.mime_type);
    set_body_text(post, body);
    post["params"] = body.form_params ? urlencoded_params_json(body.bytes) : json::array();
    if (body.truncated) {
      post["_truncated"] = true;
    }
    out["postData"] = std::move(post);
  }
  if (!request.trailers.empty()) {
    out["_trailers"] = headers_json(request.trailers);
  }
  return out;
}

// placeholder_url is the url of the placeholder that stands in for a request that never
// arrived (the flow failed before it): what the flow knows of the server, or "".
std::string placeholder_url(const FlowSnapshot& flow) {
  std::string host;
  if (flow.client_tls && !flow.client_tls->sni.empty()) {
    host = flow.client_tls->sni;
  } else if (!flow.server_address.empty()) {
    host = flow.server_address;
  }
  return host.empty() ? "" : (flow.client_tls ? "https://" : "http://") + host + "/";
}

std::string tcp_url(const FlowSnapshot& flow) {
  return "tcp://" + format_host_port(flow.tcp_host, flow.tcp_port);
}

// bare_request_json is a request without headers: a raw TCP flow's, or a placeholder.
json bare_request_json(std::string_view method, std::string_view url, json body_size) {
  json out = json::object();
  out["method"] = std::string(method);
  out["url"] = text(url);
  out["httpVersion"] = "";
  out["cookies"] = json::array();
  out["headers"] = json::array();
  out["queryString"] = json::array();
  out["headersSize"] = -1;
  out["bodySize"] = std::move(body_size);
  return out;
}

json empty_response(int64_t body_size) {
  json out = json::object();
  out["status"] = 0;
  out["statusText"] = "";
  out["httpVersion"] = "";
  out["cookies"] = json::array();
  out["headers"] = json::array();
  out["content"] = {{"size", 0}, {"mimeType", ""}};
  out["redirectURL"] = "";
  out["headersSize"] = -1;
  out["bodySize"] = body_size;
  return out;
}

json content_json(const HttpResponseData& response) {
  HarBody body;
  response_body(response, &body);
  json content = json::object();
  content["mimeType"] = text(body.mime_type);
  if (body.compression) {
    content["compression"] = *body.compression;
  }
  content["size"] = body.size;
  if (!body.bytes.empty()) {
    set_body_text(content, body);
  }
  if (body.truncated) {
    content["_truncated"] = true;
  }
  return content;
}

// response_http_version: CONTRACT.md says httpVersion is the version spoken on the client side.
const std::string& response_http_version(const FlowSnapshot& flow) {
  return flow.request ? flow.request->http_version : flow.response->http_version;
}

json response_json(const FlowSnapshot& flow) {
  const HttpResponseData& response = *flow.response;
  json out = json::object();
  out["status"] = response.status;
  out["statusText"] = text(response.reason);
  out["httpVersion"] = text(response_http_version(flow));
  out["cookies"] = response_cookies_json(response.headers, flow.timings.started_us);
  out["headers"] = headers_json(response.headers);
  out["content"] = content_json(response);
  out["redirectURL"] = text(header_or_empty(response.headers, "Location"));
  out["headersSize"] = headers_size(response.header_bytes);
  out["bodySize"] = response.body.size;
  if (!response.trailers.empty()) {
    out["_trailers"] = headers_json(response.trailers);
  }
  return out;
}

// has_sni: the client side always states its SNI, the server side only when it sent one.
bool has_sni(const TlsInfo& tls, bool client_side) { return client_side || !tls.sni.empty(); }

json tls_json(const TlsInfo& tls, bool client_side) {
  json out = json::object();
  if (has_sni(tls, client_side)) {
    out["sni"] = text(tls.sni);
  }
  out["version"] = text(tls.version);
  out["cipher"] = text(tls.cipher);
  out["alpn"] = text(tls.alpn);
  if (tls.certificate) {
    out["certificate"] = {{"subject", text(tls.certificate->subject)},
                          {"issuer", text(tls.certificate->issuer)},
                          {"notAfter", text(tls.certificate->not_after)},
                          {"sha256", text(tls.certificate->sha256)}};
  }
  return out;
}

json timings_json(const FlowTimings& timings) {
  json out = json::object();
  for (const TimingPhase& phase : timing_phases(timings)) {
    const std::optional<double> ms = phase_ms(phase);
    out[std::string(phase.key)] = ms ? json(*ms) : json(-1);
  }
  return out;
}

const char* message_type(const WebSocketMessage& message) {
  return message.from_client ? "send" : "receive";
}

double message_time_s(const WebSocketMessage& message) {
  return static_cast<double>(message.time_us) / static_cast<double>(kMicrosPerSecond);
}

json grpc_json(const GrpcSummary& summary) {
  json out = json::object();
  if (summary.message) {
    out["message"] = text(*summary.message);
  }
  out["requestMessageSizes"] = summary.request_sizes;
  out["responseMessageSizes"] = summary.response_sizes;
  if (summary.status) {
    out["status"] = *summary.status;
  }
  return out;
}

// A text message's data is text; any other opcode's is base64.
bool message_is_text(const WebSocketMessage& message) { return message.opcode == 1; }

json websocket_json(const WebSocketMessageLog& messages) {
  json out = json::array();
  for (const WebSocketMessage& message : messages) {
    json item = json::object();
    item["type"] = message_type(message);
    item["time"] = message_time_s(message);
    item["opcode"] = message.opcode;
    item["data"] =
        message_is_text(message) ? text(message.data) : json(base64_encode(message.data));
    if (message.truncated) {
      item["_truncated"] = true;
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

json to_har_entry(const FlowSnapshot& flow) {
  json entry = json::object();
  entry["_schemaVersion"] = kHarSchemaVersion;
  entry["_id"] = flow.id;
  entry["_clientAddress"] = text(flow.client_address);
  entry["startedDateTime"] = format_iso8601_ms(flow.timings.started_us);
  entry["time"] = total_ms(flow.timings);
  if (flow.kind == FlowKind::kTcp) {
    entry["request"] = bare_request_json("CONNECT", tcp_url(flow), flow.bytes_from_client);
    entry["response"] = empty_response(static_cast<int64_t>(flow.bytes_from_server));
    entry["_tcp"] = {{"bytesFromClient", flow.bytes_from_client},
                     {"bytesFromServer", flow.bytes_from_server}};
    if (!flow.passthrough.empty()) {
      entry["_tcp"]["passthrough"] = text(flow.passthrough);
    }
    if (flow.passthrough_learned) {
      entry["_tcp"]["passthroughLearned"] = true;
    }
    if (!flow.tcp_sni.empty()) {
      entry["_tcp"]["sni"] = text(flow.tcp_sni);
    }
  } else {
    entry["request"] = flow.request ? request_json(*flow.request)
                                    : bare_request_json("", placeholder_url(flow), -1);
    entry["response"] = flow.response ? response_json(flow) : empty_response(-1);
  }
  entry["cache"] = json::object();
  entry["timings"] = timings_json(flow.timings);
  entry["serverIPAddress"] = text(address_host(flow.server_address));
  entry["connection"] = text(address_port(flow.client_address));
  if (flow.client_tls || flow.server_tls) {
    json tls = json::object();
    if (flow.client_tls) {
      tls["client"] = tls_json(*flow.client_tls, true);
    }
    if (flow.server_tls) {
      tls["server"] = tls_json(*flow.server_tls, false);
    }
    entry["_tls"] = std::move(tls);
  }
  if (!flow.error.empty()) {
    entry["_error"] = text(flow.error);
  }
  if (const auto grpc = grpc_summary(flow)) {
    entry["_grpc"] = grpc_json(*grpc);
  }
  if (flow.replay) {
    entry["_replay"] = true;
  }
  if (!flow.original_url.empty()) {
    entry["_original_url"] = text(flow.original_url);
  }
  if (!flow.modified.empty()) {
    entry["_modified"] = text(flow.modified);
  }
  if (!flow.websocket_messages.empty()) {
    entry["_webSocketMessages"] = websocket_json(flow.websocket_messages);
  }
  return entry;
}

void to_json(json& out, const FlowSnapshot& flow) { out = to_har_entry(flow); }

// The JSON Lines fast path: the same entry as to_har_entry(flow).dump(), written straight into
// the line. JsonTextWriter needs the members of each object in the order of their keys, which
// is the order dump() gives them (nlohmann::json keeps objects in a std::map).
namespace {

void write_name_value(JsonTextWriter& w, std::string_view name, std::string_view value) {
  w.begin_object().key("name").text(name).key("value").text(value).end_object();
}

void write_headers(JsonTextWriter& w, const Headers& headers) {
  w.begin_array();
  for (const Header& header : headers) {
    write_name_value(w, header.name, header.value);
  }
  w.end_array();
}

void write_urlencoded_params(JsonTextWriter& w, std::string_view params) {
  w.begin_array();
  for_each_urlencoded_param(params, [&](const std::string& name, const std::string& value) {
    write_name_value(w, name, value);
  });
  w.end_array();
}

// write_if writes the member |name| when |value| holds something: a string, or true.
template <typename Optional>
void write_if(JsonTextWriter& w, std::string_view name, const Optional& value) {
  if constexpr (std::is_same_v<Optional, bool>) {
    if (value) {
      w.key(name).boolean(true);
    }
  } else if (value) {
    w.key(name).text(*value);
  }
}

void write_set_cookie(JsonTextWriter& w, const SetCookie& cookie) {
  w.begin_object();
  write_if(w, "domain", cookie.domain);
  write_if(w, "expires", cookie.expires);
  write_if(w, "httpOnly", cookie.http_only);
  w.key("name").text(cookie.name);
  write_if(w, "path", cookie.path);
  write_if(w, "sameSite", cookie.same_site);
  write_if(w, "secure", cookie.secure);
  w.key("value").text(cookie.value);
  w.end_object();
}

void write_body_text(JsonTextWriter& w, const HarBody& body) {
  w.key("text");
  if (body.base64) {
    w.base64(body.bytes);
  } else {
    w.string(body.bytes);  // Text is valid UTF-8 already.
  }
}

void write_request(JsonTextWriter& w, const HttpRequestData& request) {
  w.begin_object();
  if (!request.trailers.empty()) {
    w.key("_trailers");
    write_headers(w, request.trailers);
  }
  w.key("bodySize").unsigned_integer(request.body.size);
  w.key("cookies").begin_array();
  for_each_request_cookie(request.headers, [&](std::string_view name, std::string_view value) {
    write_name_value(w, name, value);
  });
  w.end_array();
  w.key("headers");
  write_headers(w, request.headers);
  w.key("headersSize").integer(headers_size(request.header_bytes));
  w.key("httpVersion").text(request.http_version);
  w.key("method").text(request.method);
  if (request.body.size > 0) {
    HarBody body;
    request_body(request, &body);
    w.key("postData").begin_object();
    write_if(w, "_truncated", body.truncated);
    if (body.base64) {
      w.key("encoding").string("base64");
    }
    w.key("mimeType").text(body.mime_type);
    w.key("params");
    write_urlencoded_params(w, body.form_params ? body.bytes : std::string_view());
    write_body_text(w, body);
    w.end_object();
  }
  w.key("queryString");
  write_urlencoded_params(w, target_query(request.target));
  w.key("url").text(request.url());
  w.end_object();
}

// write_bare_request writes bare_request_json(method, url, body_size or -1).
void write_bare_request(JsonTextWriter& w, std::string_view method, std::string_view url,
                        std::optional<uint64_t> body_size) {
  w.begin_object().key("bodySize");
  if (body_size) {
    w.unsigned_integer(*body_size);
  } else {
    w.integer(-1);
  }
  w.key("cookies").begin_array().end_array();
  w.key("headers").begin_array().end_array();
  w.key("headersSize").integer(-1);
  w.key("httpVersion").string("");
  w.key("method").string(method);
  w.key("queryString").begin_array().end_array();
  w.key("url").text(url);
  w.end_object();
}

void write_empty_response(JsonTextWriter& w, int64_t body_size) {
  w.begin_object().key("bodySize").integer(body_size);
  w.key("content").begin_object().key("mimeType").string("").key("size").integer(0).end_object();
  w.key("cookies").begin_array().end_array();
  w.key("headers").begin_array().end_array();
  w.key("headersSize").integer(-1);
  w.key("httpVersion").string("");
  w.key("redirectURL").string("");
  w.key("status").integer(0);
  w.key("statusText").string("");
  w.end_object();
}

void write_content(JsonTextWriter& w, const HttpResponseData& response) {
  HarBody body;
  response_body(response, &body);
  w.begin_object();
  write_if(w, "_truncated", body.truncated);
  if (body.compression) {
    w.key("compression").integer(*body.compression);
  }
  if (!body.bytes.empty() && body.base64) {
    w.key("encoding").string("base64");
  }
  w.key("mimeType").text(body.mime_type);
  w.key("size").unsigned_integer(body.size);
  if (!body.bytes.empty()) {
    write_body_text(w, body);
  }
  w.end_object();
}

void write_response(JsonTextWriter& w, const FlowSnapshot& flow) {
  const HttpResponseData& response = *flow.response;
  w.begin_object();
  if (!response.trailers.empty()) {
    w.key("_trailers");
    write_headers(w, response.trailers);
  }
  w.key("bodySize").unsigned_integer(response.body.size);
  w.key("content");
  write_content(w, response);
  w.key("cookies").begin_array();
  for_each_set_cookie(response.headers, flow.timings.started_us,
                      [&](const SetCookie& cookie) { write_set_cookie(w, cookie); });
  w.end_array();
  w.key("headers");
  write_headers(w, response.headers);
  w.key("headersSize").integer(headers_size(response.header_bytes));
  w.key("httpVersion").text(response_http_version(flow));
  w.key("redirectURL").text(header_or_empty(response.headers, "Location"));
  w.key("status").integer(response.status);
  w.key("statusText").text(response.reason);
  w.end_object();
}

void write_tls(JsonTextWriter& w, const TlsInfo& tls, bool client_side) {
  w.begin_object().key("alpn").text(tls.alpn);
  if (tls.certificate) {
    const TlsCertificateInfo& certificate = *tls.certificate;
    w.key("certificate").begin_object();
    w.key("issuer").text(certificate.issuer);
    w.key("notAfter").text(certificate.not_after);
    w.key("sha256").text(certificate.sha256);
    w.key("subject").text(certificate.subject);
    w.end_object();
  }
  w.key("cipher").text(tls.cipher);
  if (has_sni(tls, client_side)) {
    w.key("sni").text(tls.sni);
  }
  w.key("version").text(tls.version);
  w.end_object();
}

void write_timings(JsonTextWriter& w, const FlowTimings& timings) {
  w.begin_object();
  for (const TimingPhase& phase : timing_phases(timings)) {
    w.key(phase.key);
    if (const std::optional<double> ms = phase_ms(phase)) {
      w.number(*ms);
    } else {
      w.integer(-1);
    }
  }
  w.end_object();
}

void write_websocket(JsonTextWriter& w, const WebSocketMessageLog& messages) {
  w.begin_array();
  for (const WebSocketMessage& message : messages) {
    w.begin_object();
    write_if(w, "_truncated", message.truncated);
    w.key("data");
    if (message_is_text(message)) {
      w.text(message.data);
    } else {
      w.base64(message.data);
    }
    w.key("opcode").unsigned_integer(message.opcode);
    w.key("time").number(message_time_s(message));
    w.key("type").string(message_type(message));
    w.end_object();
  }
  w.end_array();
}

// estimated_line_size is about the length of the line, so that it is allocated once.
size_t estimated_line_size(const FlowSnapshot& flow) {
  constexpr size_t kFixed = 1024;    // Keys, numbers, dates, TLS names.
  constexpr size_t kPerString = 24;  // Quotes, a key, a little escaping.
  const auto headers_size_of = [](const Headers& headers) {
    size_t size = 0;
    for (const Header& header : headers) {
      size += header.name.size() + header.value.size() + 2 * kPerString;
    }
    return size;
  };
  const auto body_size_of = [](const CapturedBody& body) {
    return static_cast<size_t>(std::min<uint64_t>(body.kept, uint64_t{1} << 40)) / 3 * 4 + 8;
  };
  size_t size = kFixed + flow.client_address.size() + flow.server_address.size() +
                flow.error.size() + flow.tcp_host.size();
  if (flow.request) {
    const HttpRequestData& request = *flow.request;
    size += headers_size_of(request.headers) + headers_size_of(request.trailers) +
            body_size_of(request.body) + request.host.size() + 2 * request.target.size();
  }
  if (flow.response) {
    const HttpResponseData& response = *flow.response;
    size += headers_size_of(response.headers) + headers_size_of(response.trailers) +
            body_size_of(response.body) + response.reason.size();
  }
  for (const WebSocketMessage& message : flow.websocket_messages) {
    size += message.data.size() / 3 * 4 + 8 + 4 * kPerString;
  }
  return size;
}

}  // namespace

std::string to_json_line(const FlowSnapshot& flow) {
  std::string line;
  line.reserve(estimated_line_size(flow));
  JsonTextWriter w(&line);
  w.begin_object();
  w.key("_clientAddress").text(flow.client_address);
  if (!flow.error.empty()) {
    w.key("_error").text(flow.error);
  }
  if (const auto grpc = grpc_summary(flow)) {
    w.key("_grpc").begin_object();
    if (grpc->message) {
      w.key("message").text(*grpc->message);
    }
    for (const auto& [key, sizes] : {std::pair{"requestMessageSizes", &grpc->request_sizes},
                                     std::pair{"responseMessageSizes", &grpc->response_sizes}}) {
      w.key(key).begin_array();
      for (uint64_t size : *sizes) {
        w.unsigned_integer(size);
      }
      w.end_array();
    }
    if (grpc->status) {
      w.key("status").integer(*grpc->status);
    }
    w.end_object();
  }
  w.key("_id").unsigned_integer(flow.id);
  if (flow.replay) {
    w.key("_replay").boolean(true);
  }
  if (!flow.original_url.empty()) {
    w.key("_original_url").text(flow.original_url);
  }
  if (!flow.modified.empty()) {
    w.key("_modified").text(flow.modified);
  }
  w.key("_schemaVersion").integer(kHarSchemaVersion);
  if (flow.kind == FlowKind::kTcp) {
    w.key("_tcp").begin_object();
    w.key("bytesFromClient").unsigned_integer(flow.bytes_from_client);
    w.key("bytesFromServer").unsigned_integer(flow.bytes_from_server);
    if (!flow.passthrough.empty()) {
      w.key("passthrough").text(flow.passthrough);
    }
    if (flow.passthrough_learned) {
      w.key("passthroughLearned").boolean(true);
    }
    if (!flow.tcp_sni.empty()) {
      w.key("sni").text(flow.tcp_sni);
    }
    w.end_object();
  }
  if (flow.client_tls || flow.server_tls) {
    w.key("_tls").begin_object();
    if (flow.client_tls) {
      w.key("client");
      write_tls(w, *flow.client_tls, true);
    }
    if (flow.server_tls) {
      w.key("server");
      write_tls(w, *flow.server_tls, false);
    }
    w.end_object();
  }
  if (!flow.websocket_messages.empty()) {
    w.key("_webSocketMessages");
    write_websocket(w, flow.websocket_messages);
  }
  w.key("cache").begin_object().end_object();
  w.key("connection").text(address_port(flow.client_address));
  w.key("request");
  if (flow.kind == FlowKind::kTcp) {
    write_bare_request(w, "CONNECT", tcp_url(flow), flow.bytes_from_client);
  } else if (flow.request) {
    write_request(w, *flow.request);
  } else {
    write_bare_request(w, "", placeholder_url(flow), std::nullopt);
  }
  w.key("response");
  if (flow.kind == FlowKind::kTcp) {
    write_empty_response(w, static_cast<int64_t>(flow.bytes_from_server));
  } else if (flow.response) {
    write_response(w, flow);
  } else {
    write_empty_response(w, -1);
  }
  w.key("serverIPAddress").text(address_host(flow.server_address));
  w.key("startedDateTime").string(format_iso8601_ms(flow.timings.started_us));
  w.key("time").number(total_ms(flow.timings));
  w.key("timings");
  write_timings(w, flow.timings);
  w.end_object();
  return line;
}

json har_creator() { return {{"name", "Sightglass"}, {"version", SIGHTGLASS_VERSION}}; }

json har_document(std::vector<json> entries) {
  json log = json::object();
  log["version"] = "1.2";
  log["creator"] = har_creator();
  log["pages"] = json::array();
  log["entries"] = json(std::move(entries));
  return {{"log", std::move(log)}};
}

}  // namespace sightglass::core
