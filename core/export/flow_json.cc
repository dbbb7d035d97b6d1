#include "core/export/flow_json.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/export/grpc_summary.h"
#include "core/export/json_text.h"
#include "core/export/text_util.h"
#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

using nlohmann::json;

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Calendar arithmetic (Howard Hinnant's civil algorithms), so dates never depend on the
// process's time zone.
int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

void civil_from_days(int64_t days, int64_t* out_year, int64_t* out_month, int64_t* out_day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  *out_day = day_of_year - (153 * mp + 2) / 5 + 1;
  *out_month = mp < 10 ? mp + 3 : mp - 9;
  *out_year = year_of_era + era * 400 + (*out_month <= 2 ? 1 : 0);
}

int64_t days_in_month(int64_t year, int64_t month) {
  static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

// text returns |data| as a JSON string that is always valid UTF-8.
json text(std::string_view data) { return to_valid_utf8(data); }

// name_value_json is HAR's {name, value} (a header, cookie or parameter).
json name_value_json(std::string_view name, std::string_view value) {
  return {{"name", text(name)}, {"value", text(value)}};
}

json headers_json(const Headers& headers) {
  json out = json::array();
  for (const Header& header : headers) {
    out.push_back(name_value_json(header.name, header.value));
  }
  return out;
}

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

// address_host returns the address without its port: "1.2.3.4:80" -> "1.2.3.4",
// "[::1]:443" -> "::1".
std::string_view address_host(std::string_view address) {
  if (address.starts_with('[')) {
    const size_t close = address.find(']');
    return address.substr(1, close == std::string_view::npos ? address.size() - 1 : close - 1);
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || address.find(':') != colon) {
    return address;  // No port, or a bare IPv6 address.
  }
  return address.substr(0, colon);
}

// address_port returns the port of "ip:port" / "[v6]:port", or "".
std::string_view address_port(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return "";
  }
  if (!address.starts_with('[') && address.find(':') != colon) {
    return "";  // A bare IPv6 address.
  }
  if (address.starts_with('[') && address.rfind(']') > colon) {
    return "";
  }
  return address.substr(colon + 1);
}

std::string host_port(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string out = v6 ? "[" + std::string(host) + "]" : std::string(host);
  return out + ":" + std::to_string(port);
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

// Cookies.

// for_each_cookie calls |fn(name, value)| for each cookie of a Cookie header.
template <typename Fn>
void for_each_cookie(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    const size_t semicolon = header.find(';');
    const std::string_view pair = trim_whitespace(header.substr(0, semicolon));
    header =
        semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    if (pair.empty()) {
      continue;
    }
    const size_t equals = pair.find('=');
    // RFC 6265bis: a pair without '=' is a cookie with an empty name.
    const std::string_view name = equals == std::string_view::npos
                                      ? std::string_view()
                                      : trim_whitespace(pair.substr(0, equals));
    const std::string_view value =
        equals == std::string_view::npos ? pair : trim_whitespace(pair.substr(equals + 1));
    fn(name, value);
  }
}

// for_each_request_cookie calls |fn(name, value)| for each cookie of every Cookie header.
template <typename Fn>
void for_each_request_cookie(const Headers& headers, Fn&& fn) {
  for (const Header& header : headers) {
    if (iequals(header.name, "Cookie")) {
      for_each_cookie(header.value, fn);
    }
  }
}

// SetCookie is one Set-Cookie header as HAR has it; every string is still to go through text().
struct SetCookie {
  std::string_view name;
  std::string_view value;
  std::optional<std::string_view> path;
  std::optional<std::string_view> domain;
  std::optional<std::string> expires;  // ISO 8601, or as written when it is not a date.
  bool http_only = false;
  bool secure = false;
  std::optional<std::string_view> same_site;
};

std::string cookie_date(int64_t seconds) { return format_iso8601_ms(seconds * kMicrosPerSecond); }

SetCookie parse_set_cookie(std::string_view header, int64_t now_us) {
  const size_t first_semicolon = header.find(';');
  const std::string_view pair = trim_whitespace(header.substr(0, first_semicolon));
  const size_t equals = pair.find('=');
  SetCookie cookie;
  cookie.name = equals == std::string_view::npos ? std::string_view()
                                                 : trim_whitespace(pair.substr(0, equals));
  cookie.value = equals == std::string_view::npos ? pair : trim_whitespace(pair.substr(equals + 1));
  std::string_view rest = first_semicolon == std::string_view::npos
                              ? std::string_view()
                              : header.substr(first_semicolon + 1);
  std::optional<std::string> max_age_expires;
  while (!rest.empty()) {
    const size_t semicolon = rest.find(';');
    const std::string_view attribute = trim_whitespace(rest.substr(0, semicolon));
    rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
    const size_t attr_equals = attribute.find('=');
    const std::string key = ascii_lower(trim_whitespace(attribute.substr(0, attr_equals)));
    const std::string_view value = attr_equals == std::string_view::npos
                                       ? std::string_view()
                                       : trim_whitespace(attribute.substr(attr_equals + 1));
    if (key == "path") {
      cookie.path = value;
    } else if (key == "domain") {
      cookie.domain = value;
    } else if (key == "expires") {
      const auto seconds = parse_cookie_date(value);
      cookie.expires = seconds ? cookie_date(*seconds) : std::string(value);
    } else if (key == "max-age") {
      // Max-Age wins over Expires (RFC 6265 section 5.3); zero or less means "now".
      const bool digits = !value.empty() &&
                          std::all_of(value.begin() + (value.front() == '-' ? 1 : 0), value.end(),
                                      [](char c) { return c >= '0' && c <= '9'; }) &&
                          value != "-";
      if (digits && value.size() < 12) {
        const int64_t seconds = std::stoll(std::string(value));
        const int64_t now_s = floor_div(now_us, kMicrosPerSecond);
        max_age_expires = cookie_date(seconds <= 0 ? now_s : now_s + seconds);
      }
    } else if (key == "httponly") {
      cookie.http_only = true;
    } else if (key == "secure") {
      cookie.secure = true;
    } else if (key == "samesite") {
      cookie.same_site = value;
    }
  }
  if (max_age_expires) {
    cookie.expires = std::move(max_age_expires);
  }
  return cookie;
}

// for_each_set_cookie calls |fn(const SetCookie&)| for every Set-Cookie header.
template <typename Fn>
void for_each_set_cookie(const Headers& headers, int64_t now_us, Fn&& fn) {
  for (const Header& header : headers) {
    if (iequals(header.name, "Set-Cookie")) {
      fn(parse_set_cookie(header.value, now_us));
    }
  }
}

json set_cookie_json(const SetCookie& cookie) {
  json out = json::object();
  out["name"] = text(cookie.name);
  out["value"] = text(cookie.value);
  if (cookie.path) {
    out["path"] = text(*cookie.path);
  }
  if (cookie.domain) {
    out["domain"] = text(*cookie.domain);
  }
  if (cookie.expires) {
    out["expires"] = text(*cookie.expires);
  }
  if (cookie.http_only) {
    out["httpOnly"] = true;
  }
  if (cookie.secure) {
    out["secure"] = true;
  }
  if (cookie.same_site) {
    out["sameSite"] = text(*cookie.same_site);
  }
  return out;
}

// Query strings and form bodies.

// for_each_urlencoded_param calls |fn(name, value)| for each pair of "a=1&b=x+y%21",
// percent-decoded with '+' as a space (not yet valid UTF-8).
template <typename Fn>
void for_each_urlencoded_param(std::string_view params, Fn&& fn) {
  while (true) {
    const size_t amp = params.find('&');
    const std::string_view pair = params.substr(0, amp);
    if (!pair.empty()) {
      const size_t equals = pair.find('=');
      fn(percent_decode(pair.substr(0, equals), true),
         equals == std::string_view::npos ? std::string()
                                          : percent_decode(pair.substr(equals + 1), true));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    params.remove_prefix(amp + 1);
  }
}

// target_query returns the query of a request target ("/p?a=1#f" -> "a=1"), or "".
std::string_view target_query(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) {
    return {};
  }
  const std::string_view query = target.substr(question + 1);
  return query.substr(0, query.find('#'));
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
  return "tcp://" + host_port(flow.tcp_host, flow.tcp_port);
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
    flow.server_address = server_port != 0 ? host_port(server_ip, server_port) : server_ip;
  }
  *out = std::move(flow);
  return true;
}

}  // namespace

json request_cookies_json(const Headers& headers) {
  json out = json::array();
  for_each_request_cookie(headers, [&](std::string_view name, std::string_view value) {
    out.push_back(name_value_json(name, value));
  });
  return out;
}

json response_cookies_json(const Headers& headers, int64_t now_us) {
  json out = json::array();
  for_each_set_cookie(headers, now_us,
                      [&](const SetCookie& cookie) { out.push_back(set_cookie_json(cookie)); });
  return out;
}

json urlencoded_params_json(std::string_view params) {
  json out = json::array();
  for_each_urlencoded_param(params, [&](const std::string& name, const std::string& value) {
    out.push_back(name_value_json(name, value));
  });
  return out;
}

json query_string_json(std::string_view target) {
  return urlencoded_params_json(target_query(target));
}

std::string format_iso8601_ms(int64_t time_us) {
  const int64_t ms = floor_div(time_us, 1000);
  const int64_t seconds = floor_div(ms, 1000);
  const int64_t days = floor_div(seconds, kSecondsPerDay);
  const int64_t second_of_day = seconds - days * kSecondsPerDay;
  int64_t year = 0;
  int64_t month = 0;
  int64_t day = 0;
  civil_from_days(days, &year, &month, &day);
  const int64_t millisecond = ms - seconds * 1000;
  if (year >= 0 && year <= 9999) {
    // The common case, without snprintf: the same digits as below.
    std::string out = "0000-00-00T00:00:00.000Z";
    const auto put = [&](size_t at, size_t width, int64_t value) {
      for (size_t i = width; i-- > 0; value /= 10) {
        out[at + i] = static_cast<char>('0' + value % 10);
      }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, second_of_day / 3600);
    put(14, 2, second_of_day / 60 % 60);
    put(17, 2, second_of_day % 60);
    put(20, 3, millisecond);
    return out;
  }
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(year), static_cast<long long>(month),
                static_cast<long long>(day), static_cast<long long>(second_of_day / 3600),
                static_cast<long long>(second_of_day / 60 % 60),
                static_cast<long long>(second_of_day % 60), static_cast<long long>(millisecond));
  return buffer;
}

std::optional<int64_t> parse_iso8601(std::string_view text_in) {
  size_t pos = 0;
  const auto digits = [&](size_t count, int64_t* out_value) {
    if (pos + count > text_in.size()) {
      return false;
    }
    int64_t value = 0;
    for (size_t i = 0; i < count; ++i) {
      const char c = text_in[pos + i];
      if (c < '0' || c > '9') {
        return false;
      }
      value = value * 10 + (c - '0');
    }
    pos += count;
    *out_value = value;
    return true;
  };
  const auto expect = [&](char c) {
    if (pos < text_in.size() && text_in[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  int64_t year = 0;
  int64_t month = 0;
  int64_t day = 0;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  if (!digits(4, &year) || !expect('-') || !digits(2, &month) || !expect('-') || !digits(2, &day) ||
      !(expect('T') || expect('t') || expect(' ')) || !digits(2, &hour) || !expect(':') ||
      !digits(2, &minute) || !expect(':') || !digits(2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (expect('.') || expect(',')) {
    int64_t scale = 100'000;
    size_t count = 0;
    while (pos < text_in.size() && text_in[pos] >= '0' && text_in[pos] <= '9') {
      micros += (text_in[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++count;
    }
    if (count == 0) {
      return std::nullopt;
    }
  }
  int64_t offset_seconds = 0;
  if (expect('Z') || expect('z')) {
    // UTC.
  } else if (pos < text_in.size() && (text_in[pos] == '+' || text_in[pos] == '-')) {
    const int64_t sign = text_in[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t offset_hours = 0;
    int64_t offset_minutes = 0;
    if (!digits(2, &offset_hours)) {
      return std::nullopt;
    }
    expect(':');
    if (!digits(2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return std::nullopt;
  }
  if (pos != text_in.size()) {
    return std::nullopt;
  }
  const int64_t seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 +
                          minute * 60 + second - offset_seconds;
  return seconds * kMicrosPerSecond + micros;
}

std::optional<int64_t> parse_cookie_date(std::string_view date) {
  // RFC 6265 section 5.1.1: tokens split at delimiters, each tried as time, day, month, year.
  const auto is_delimiter = [](char c) {
    const auto b = static_cast<uint8_t>(c);
    return b == 0x09 || (b >= 0x20 && b <= 0x2F) || (b >= 0x3B && b <= 0x40) ||
           (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
  };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  // leading_digits parses |min|..|max| digits at the start of |token| followed by a non-digit
  // or the end.
  const auto leading_digits = [&](std::string_view token, size_t min, size_t max,
                                  int64_t* out_value) {
    size_t count = 0;
    int64_t value = 0;
    while (count < token.size() && is_digit(token[count])) {
      value = value * 10 + (token[count] - '0');
      ++count;
      if (count > max) {
        return false;
      }
    }
    if (count < min) {
      return false;
    }
    *out_value = value;
    return true;
  };
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  bool found_time = false;
  bool found_day = false;
  bool found_month = false;
  bool found_year = false;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  int64_t day = 0;
  int64_t month = 0;
  int64_t year = 0;
  size_t pos = 0;
  while (pos < date.size()) {
    while (pos < date.size() && is_delimiter(date[pos])) {
      ++pos;
    }
    const size_t start = pos;
    while (pos < date.size() && !is_delimiter(date[pos])) {
      ++pos;
    }
    const std::string_view token = date.substr(start, pos - start);
    if (token.empty()) {
      continue;
    }
    if (!found_time) {
      // time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT ( non-digit *OCTET )
      int64_t h = 0;
      int64_t m = 0;
      int64_t s = 0;
      const size_t colon1 = token.find(':');
      const size_t colon2 = colon1 == std::string_view::npos ? colon1 : token.find(':', colon1 + 1);
      if (colon2 != std::string_view::npos && colon1 >= 1 && colon1 <= 2 &&
          leading_digits(token.substr(0, colon1), 1, 2, &h) && colon2 - colon1 - 1 >= 1 &&
          colon2 - colon1 - 1 <= 2 &&
          leading_digits(token.substr(colon1 + 1, colon2 - colon1 - 1), 1, 2, &m) &&
          leading_digits(token.substr(colon2 + 1), 1, 2, &s)) {
        found_time = true;
        hour = h;
        minute = m;
        second = s;
        continue;
      }
    }
    int64_t value = 0;
    if (!found_day && leading_digits(token, 1, 2, &value)) {
      found_day = true;
      day = value;
      continue;
    }
    if (!found_month && token.size() >= 3) {
      const std::string prefix = ascii_lower(token.substr(0, 3));
      bool matched = false;
      for (int64_t i = 0; i < 12; ++i) {
        if (prefix == kMonths[i]) {
          found_month = true;
          month = i + 1;
          matched = true;
          break;
        }
      }
      if (matched) {
        continue;
      }
    }
    if (!found_year && leading_digits(token, 2, 4, &value)) {
      found_year = true;
      year = value;
      continue;
    }
  }
  if (year >= 70 && year <= 99) {
    year += 1900;
  } else if (year >= 0 && year <= 69) {
    year += 2000;
  }
  if (!found_time || !found_day || !found_month || !found_year || year < 1601 || day < 1 ||
      day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  return days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
}

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
