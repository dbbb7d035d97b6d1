#include "core/export/flow_json.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/export/grpc_summary.h"
#include "core/export/har_common.h"
#include "core/export/har_params_internal.h"
#include "core/export/http_date.h"
#include "core/export/json_text.h"
#include "core/export/json_tree_writer.h"
#include "core/export/text_util.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

using detail::kMicrosPerSecond;
using detail::target_query;
using detail::write_if;
using detail::write_name_value;
using detail::write_request_cookies;
using detail::write_response_cookies;
using detail::write_urlencoded_params;
using nlohmann::json;

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

// HarBody is what a HAR postData or content says of a body, worked out before it is written.
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

// Requests and responses.

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
    const uint64_t cap = std::max<uint64_t>(kMinDecodedBodyCap, body.kept * 4);
    std::optional<std::string> decoded = decode_content(
        *coding, out->bytes,
        static_cast<size_t>(std::min<uint64_t>(cap, std::numeric_limits<size_t>::max() / 2)), &info,
        body.truncated);
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

// The entry's writers, templated over their output W: JsonTextWriter for the JSON Lines log,
// JsonTreeWriter for to_har_entry. JsonTextWriter needs the members of each object in the order
// of their keys, which is the order dump() gives them (nlohmann::json keeps objects in a
// std::map), so the text is the tree's dump().

// write_headers writes the member |key|: |headers| as [{name, value}].
template <class W>
void write_headers(W& w, std::string_view key, const Headers& headers) {
  w.key(key).begin_array();
  for (const Header& header : headers) {
    write_name_value(w, header.name, header.value);
  }
  w.end_array();
}

template <class W>
void write_body_text(W& w, const HarBody& body) {
  w.key("text");
  if (body.base64) {
    w.base64(body.bytes);
  } else {
    w.string(body.bytes);  // Text is valid UTF-8 already.
  }
}

template <class W>
void write_request(W& w, const HttpRequestData& request) {
  w.begin_object();
  if (!request.trailers.empty()) {
    write_headers(w, "_trailers", request.trailers);
  }
  w.key("bodySize").unsigned_integer(request.body.size);
  w.key("cookies");
  write_request_cookies(w, request.headers);
  write_headers(w, "headers", request.headers);
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

// write_bare_request writes a request without headers: a raw TCP flow's, or the placeholder
// for a request that never arrived (body size -1).
template <class W>
void write_bare_request(W& w, std::string_view method, std::string_view url,
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

template <class W>
void write_empty_response(W& w, int64_t body_size) {
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

template <class W>
void write_content(W& w, const HttpResponseData& response) {
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

template <class W>
void write_response(W& w, const FlowSnapshot& flow) {
  const HttpResponseData& response = *flow.response;
  w.begin_object();
  if (!response.trailers.empty()) {
    write_headers(w, "_trailers", response.trailers);
  }
  w.key("bodySize").unsigned_integer(response.body.size);
  w.key("content");
  write_content(w, response);
  w.key("cookies");
  write_response_cookies(w, response.headers, flow.timings.started_us);
  write_headers(w, "headers", response.headers);
  w.key("headersSize").integer(headers_size(response.header_bytes));
  // CONTRACT.md: httpVersion is the version spoken on the client side.
  w.key("httpVersion").text(flow.request ? flow.request->http_version : response.http_version);
  w.key("redirectURL").text(header_or_empty(response.headers, "Location"));
  w.key("status").integer(response.status);
  w.key("statusText").text(response.reason);
  w.end_object();
}

template <class W>
void write_tls(W& w, const TlsInfo& tls, bool client_side) {
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
  w.key("resumed").boolean(tls.resumed);
  if (client_side || !tls.sni.empty()) {  // The server side states its SNI only when sent.
    w.key("sni").text(tls.sni);
  }
  w.key("version").text(tls.version);
  w.end_object();
}

// write_timings writes HAR's timings in milliseconds. A phase that does not apply is the
// integer -1, except send, wait and receive, which HAR requires to be >= 0: they are 0.0.
template <class W>
void write_timings(W& w, const FlowTimings& t) {
  const std::tuple<std::string_view, int64_t, bool> phases[] = {
      {"blocked", t.blocked_us, false}, {"connect", t.connect_us, false}, {"dns", t.dns_us, false},
      {"receive", t.receive_us, true},  {"send", t.send_us, true},        {"ssl", t.ssl_us, false},
      {"wait", t.wait_us, true}};
  w.begin_object();
  for (const auto& [key, us, required] : phases) {
    w.key(key);
    if (us >= 0 || required) {
      w.number(static_cast<double>(std::max<int64_t>(us, 0)) / 1000.0);
    } else {
      w.integer(-1);
    }
  }
  w.end_object();
}

template <class W>
void write_websocket(W& w, const WebSocketMessageLog& messages) {
  w.begin_array();
  for (const WebSocketMessage& message : messages) {
    w.begin_object();
    write_if(w, "_truncated", message.truncated);
    w.key("data");
    if (message.opcode == 1) {  // Text; any other opcode's data is base64.
      w.text(message.data);
    } else {
      w.base64(message.data);
    }
    w.key("opcode").unsigned_integer(message.opcode);
    w.key("time").number(static_cast<double>(message.time_us) /
                         static_cast<double>(kMicrosPerSecond));
    w.key("type").string(message.from_client ? "send" : "receive");
    w.end_object();
  }
  w.end_array();
}

template <class W>
void write_grpc(W& w, const GrpcSummary& grpc) {
  w.begin_object();
  if (grpc.message) {
    w.key("message").text(*grpc.message);
  }
  for (const auto& [key, sizes] : {std::pair{"requestMessageSizes", &grpc.request_sizes},
                                   std::pair{"responseMessageSizes", &grpc.response_sizes}}) {
    w.key(key).begin_array();
    for (uint64_t size : *sizes) {
      w.unsigned_integer(size);
    }
    w.end_array();
  }
  if (grpc.status) {
    w.key("status").integer(*grpc.status);
  }
  w.end_object();
}

// write_entry writes |flow| as one HAR entry (to_har_entry's contract, flow_json.h).
template <class W>
void write_entry(W& w, const FlowSnapshot& flow) {
  w.begin_object();
  w.key("_clientAddress").text(flow.client_address);
  if (!flow.error.empty()) {
    w.key("_error").text(flow.error);
  }
  if (const auto grpc = grpc_summary(flow)) {
    w.key("_grpc");
    write_grpc(w, *grpc);
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
    write_if(w, "passthroughLearned", flow.passthrough_learned);
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
    write_bare_request(w, "CONNECT", "tcp://" + format_host_port(flow.tcp_host, flow.tcp_port),
                       flow.bytes_from_client);
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
  w.key("time").number(static_cast<double>(flow.timings.total_us()) / 1000.0);
  w.key("timings");
  write_timings(w, flow.timings);
  w.end_object();
}

// estimated_line_size is about the length of the line, so that it is allocated once.
size_t estimated_line_size(const FlowSnapshot& flow) {
  constexpr size_t kFixed = 1024;    // Keys, numbers, dates, TLS names.
  constexpr size_t kPerString = 24;  // Quotes, a key, a little escaping.
  const auto message_size = [](const auto& message) {
    size_t size =
        static_cast<size_t>(std::min<uint64_t>(message.body.kept, uint64_t{1} << 40)) / 3 * 4 + 8;
    for (const Headers* headers : {&message.headers, &message.trailers}) {
      for (const Header& header : *headers) {
        size += header.name.size() + header.value.size() + 2 * kPerString;
      }
    }
    return size;
  };
  size_t size = kFixed + flow.client_address.size() + flow.server_address.size() +
                flow.error.size() + flow.tcp_host.size();
  if (flow.request) {
    size +=
        message_size(*flow.request) + flow.request->host.size() + 2 * flow.request->target.size();
  }
  if (flow.response) {
    size += message_size(*flow.response) + flow.response->reason.size();
  }
  for (const WebSocketMessage& message : flow.websocket_messages) {
    size += message.data.size() / 3 * 4 + 8 + 4 * kPerString;
  }
  return size;
}

}  // namespace

json to_har_entry(const FlowSnapshot& flow) {
  JsonTreeWriter w;
  write_entry(w, flow);
  return w.take();
}

void to_json(json& out, const FlowSnapshot& flow) { out = to_har_entry(flow); }

std::string to_json_line(const FlowSnapshot& flow) {
  std::string line;
  line.reserve(estimated_line_size(flow));
  JsonTextWriter w(&line);
  write_entry(w, flow);
  w.finish();
  return line;
}

json har_creator() { return {{"name", "Sightglass"}, {"version", SIGHTGLASS_VERSION}}; }

json har_document(std::vector<json> entries) {
  return {{"log",
           {{"version", "1.2"},
            {"creator", har_creator()},
            {"pages", json::array()},
            {"entries", std::move(entries)}}}};
}

}  // namespace sightglass::core
