#include "core/export/flow_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/export/text_util.h"

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

json headers_json(const Headers& headers) {
  json out = json::array();
  for (const Header& header : headers) {
    out.push_back({{"name", text(header.name)}, {"value", text(header.value)}});
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

// ms converts a phase in microseconds to HAR milliseconds; -1 stays -1 ("does not apply").
json phase_ms(int64_t us) {
  if (us < 0) {
    return -1;
  }
  return static_cast<double>(us) / 1000.0;
}

// phase_ms_required is for send, wait and receive, which HAR requires to be >= 0.
json phase_ms_required(int64_t us) { return us < 0 ? 0.0 : static_cast<double>(us) / 1000.0; }

// address_host returns the address without its port: "1.2.3.4:80" -> "1.2.3.4",
// "[::1]:443" -> "::1".
std::string address_host(std::string_view address) {
  if (address.starts_with('[')) {
    const size_t close = address.find(']');
    return std::string(
        address.substr(1, close == std::string_view::npos ? address.size() - 1 : close - 1));
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || address.find(':') != colon) {
    return std::string(address);  // No port, or a bare IPv6 address.
  }
  return std::string(address.substr(0, colon));
}

// address_port returns the port of "ip:port" / "[v6]:port", or "".
std::string address_port(std::string_view address) {
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
  return std::string(address.substr(colon + 1));
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

// set_body_text stores |bytes| as HAR text: as is when it is text, else base64.
void set_body_text(json& obj, std::string bytes) {
  if (looks_like_text(bytes)) {
    obj["text"] = std::move(bytes);
  } else {
    obj["text"] = base64_encode(bytes);
    obj["encoding"] = "base64";
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

json cookie_date_json(int64_t seconds) { return format_iso8601_ms(seconds * kMicrosPerSecond); }

void add_request_cookies(std::string_view header, json* out) {
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
    out->push_back({{"name", text(name)}, {"value", text(value)}});
  }
}

json set_cookie_json(std::string_view header, int64_t now_us) {
  const size_t first_semicolon = header.find(';');
  const std::string_view pair = trim_whitespace(header.substr(0, first_semicolon));
  const size_t equals = pair.find('=');
  json cookie = json::object();
  cookie["name"] = text(equals == std::string_view::npos ? std::string_view()
                                                         : trim_whitespace(pair.substr(0, equals)));
  cookie["value"] =
      text(equals == std::string_view::npos ? pair : trim_whitespace(pair.substr(equals + 1)));
  std::string_view rest = first_semicolon == std::string_view::npos
                              ? std::string_view()
                              : header.substr(first_semicolon + 1);
  std::optional<json> expires;
  std::optional<json> max_age_expires;
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
      cookie["path"] = text(value);
    } else if (key == "domain") {
      cookie["domain"] = text(value);
    } else if (key == "expires") {
      const auto seconds = parse_cookie_date(value);
      expires = seconds ? cookie_date_json(*seconds) : text(value);
    } else if (key == "max-age") {
      // Max-Age wins over Expires (RFC 6265 section 5.3); zero or less means "now".
      const bool digits = !value.empty() &&
                          std::all_of(value.begin() + (value.front() == '-' ? 1 : 0), value.end(),
                                      [](char c) { return c >= '0' && c <= '9'; }) &&
                          value != "-";
      if (digits && value.size() < 12) {
        const int64_t seconds = std::stoll(std::string(value));
        const int64_t now_s = floor_div(now_us, kMicrosPerSecond);
        max_age_expires = cookie_date_json(seconds <= 0 ? now_s : now_s + seconds);
      }
    } else if (key == "httponly") {
      cookie["httpOnly"] = true;
    } else if (key == "secure") {
      cookie["secure"] = true;
    } else if (key == "samesite") {
      cookie["sameSite"] = text(value);
    }
  }
  if (max_age_expires) {
    cookie["expires"] = std::move(*max_age_expires);
  } else if (expires) {
    cookie["expires"] = std::move(*expires);
  }
  return cookie;
}

// Requests and responses.

size_t decoded_body_cap(uint64_t kept) {
  const uint64_t cap = std::max<uint64_t>(kMinDecodedBodyCap, kept * 4);
  return static_cast<size_t>(std::min<uint64_t>(cap, std::numeric_limits<size_t>::max() / 2));
}

json request_json(const HttpRequestData& request) {
  json out = json::object();
  out["method"] = text(request.method);
  out["url"] = text(request.url());
  out["httpVersion"] = text(request.http_version);
  out["cookies"] = request_cookies_json(request.headers);
  out["headers"] = headers_json(request.headers);
  out["queryString"] = query_string_json(request.target);
  out["headersSize"] = request.header_bytes > 0 ? static_cast<int64_t>(request.header_bytes) : -1;
  out["bodySize"] = request.body.size;
  if (request.body.size > 0) {
    json post = json::object();
    const std::string* content_type = find_header(request.headers, "Content-Type");
    post["mimeType"] = text(content_type != nullptr ? *content_type : "");
    const std::string bytes = request.body.contiguous();
    set_body_text(post, bytes);
    const bool form = content_type != nullptr &&
                      ascii_lower(*content_type).starts_with("application/x-www-form-urlencoded");
    post["params"] =
        form && !request.body.truncated ? urlencoded_params_json(bytes) : json::array();
    if (request.body.truncated) {
      post["_truncated"] = true;
    }
    out["postData"] = std::move(post);
  }
  if (!request.trailers.empty()) {
    out["_trailers"] = headers_json(request.trailers);
  }
  return out;
}

// placeholder_request stands in for a request that never arrived (the flow failed before it).
json placeholder_request(const FlowSnapshot& flow) {
  std::string host;
  if (flow.client_tls && !flow.client_tls->sni.empty()) {
    host = flow.client_tls->sni;
  } else if (!flow.server_address.empty()) {
    host = flow.server_address;
  }
  json out = json::object();
  out["method"] = "";
  out["url"] = host.empty() ? "" : text((flow.client_tls ? "https://" : "http://") + host + "/");
  out["httpVersion"] = "";
  out["cookies"] = json::array();
  out["headers"] = json::array();
  out["queryString"] = json::array();
  out["headersSize"] = -1;
  out["bodySize"] = -1;
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
  json content = json::object();
  const std::string* content_type = find_header(response.headers, "Content-Type");
  content["mimeType"] = text(content_type != nullptr ? *content_type : "");
  const CapturedBody& body = response.body;
  std::string bytes = body.contiguous();
  const std::optional<std::string> coding = all_header_values(response.headers, "Content-Encoding");
  bool truncated = body.truncated;
  uint64_t size = body.size;
  if (coding && !is_identity_encoding(*coding) && !bytes.empty()) {
    ContentDecodeInfo info;
    std::optional<std::string> decoded =
        decode_content(*coding, bytes, decoded_body_cap(body.kept), &info, body.truncated);
    if (decoded) {
      // "compression" marks the text as decoded (from_har_entry relies on it).
      content["compression"] = std::max<int64_t>(
          0, static_cast<int64_t>(decoded->size()) - static_cast<int64_t>(bytes.size()));
      truncated = truncated || info.truncated;
      size = decoded->size();
      bytes = std::move(*decoded);
    }
  }
  content["size"] = size;
  if (!bytes.empty()) {
    set_body_text(content, std::move(bytes));
  }
  if (truncated) {
    content["_truncated"] = true;
  }
  return content;
}

json response_json(const FlowSnapshot& flow) {
  const HttpResponseData& response = *flow.response;
  json out = json::object();
  out["status"] = response.status;
  out["statusText"] = text(response.reason);
  // CONTRACT.md: httpVersion is the version spoken on the client side.
  out["httpVersion"] = text(flow.request ? flow.request->http_version : response.http_version);
  out["cookies"] = response_cookies_json(response.headers, flow.timings.started_us);
  out["headers"] = headers_json(response.headers);
  out["content"] = content_json(response);
  const std::string* location = find_header(response.headers, "Location");
  out["redirectURL"] = text(location != nullptr ? *location : "");
  out["headersSize"] = response.header_bytes > 0 ? static_cast<int64_t>(response.header_bytes) : -1;
  out["bodySize"] = response.body.size;
  if (!response.trailers.empty()) {
    out["_trailers"] = headers_json(response.trailers);
  }
  return out;
}

json tls_json(const TlsInfo& tls, bool client_side) {
  json out = json::object();
  if (client_side || !tls.sni.empty()) {
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
  return {{"blocked", phase_ms(timings.blocked_us)},
          {"dns", phase_ms(timings.dns_us)},
          {"connect", phase_ms(timings.connect_us)},
          {"ssl", phase_ms(timings.ssl_us)},
          {"send", phase_ms_required(timings.send_us)},
          {"wait", phase_ms_required(timings.wait_us)},
          {"receive", phase_ms_required(timings.receive_us)}};
}

json websocket_json(const std::vector<WebSocketMessage>& messages) {
  json out = json::array();
  for (const WebSocketMessage& message : messages) {
    json item = json::object();
    item["type"] = message.from_client ? "send" : "receive";
    item["time"] = static_cast<double>(message.time_us) / static_cast<double>(kMicrosPerSecond);
    item["opcode"] = message.opcode;
    item["data"] = message.opcode == 1 ? text(message.data) : json(base64_encode(message.data));
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

json tcp_request_json(const FlowSnapshot& flow) {
  json out = json::object();
  out["method"] = "CONNECT";
  out["url"] = text("tcp://" + host_port(flow.tcp_host, flow.tcp_port));
  out["httpVersion"] = "";
  out["cookies"] = json::array();
  out["headers"] = json::array();
  out["queryString"] = json::array();
  out["headersSize"] = -1;
  out["bodySize"] = flow.bytes_from_client;
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
  if (const json* tls = member(entry, "_tls"); tls != nullptr) {
    flow.client_tls = tls_from_json(member(*tls, "client"));
    flow.server_tls = tls_from_json(member(*tls, "server"));
  }
  flow.websocket_messages = websocket_from_json(member(entry, "_webSocketMessages"));

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
  for (const Header& header : headers) {
    if (iequals(header.name, "Cookie")) {
      add_request_cookies(header.value, &out);
    }
  }
  return out;
}

json response_cookies_json(const Headers& headers, int64_t now_us) {
  json out = json::array();
  for (const Header& header : headers) {
    if (iequals(header.name, "Set-Cookie")) {
      out.push_back(set_cookie_json(header.value, now_us));
    }
  }
  return out;
}

json urlencoded_params_json(std::string_view params) {
  json out = json::array();
  while (true) {
    const size_t amp = params.find('&');
    const std::string_view pair = params.substr(0, amp);
    if (!pair.empty()) {
      const size_t equals = pair.find('=');
      out.push_back({{"name", text(percent_decode(pair.substr(0, equals), true))},
                     {"value", text(equals == std::string_view::npos
                                        ? std::string()
                                        : percent_decode(pair.substr(equals + 1), true))}});
    }
    if (amp == std::string_view::npos) {
      break;
    }
    params.remove_prefix(amp + 1);
  }
  return out;
}

json query_string_json(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) {
    return json::array();
  }
  std::string_view query = target.substr(question + 1);
  query = query.substr(0, query.find('#'));
  return urlencoded_params_json(query);
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
  char buffer[160];
  std::snprintf(
      buffer, sizeof(buffer), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
      static_cast<long long>(year), static_cast<long long>(month), static_cast<long long>(day),
      static_cast<long long>(second_of_day / 3600), static_cast<long long>(second_of_day / 60 % 60),
      static_cast<long long>(second_of_day % 60), static_cast<long long>(ms - seconds * 1000));
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
  entry["time"] = static_cast<double>(flow.timings.total_us()) / 1000.0;
  if (flow.kind == FlowKind::kTcp) {
    entry["request"] = tcp_request_json(flow);
    entry["response"] = empty_response(static_cast<int64_t>(flow.bytes_from_server));
    entry["_tcp"] = {{"bytesFromClient", flow.bytes_from_client},
                     {"bytesFromServer", flow.bytes_from_server}};
  } else {
    entry["request"] = flow.request ? request_json(*flow.request) : placeholder_request(flow);
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
  if (!flow.websocket_messages.empty()) {
    entry["_webSocketMessages"] = websocket_json(flow.websocket_messages);
  }
  return entry;
}

void to_json(json& out, const FlowSnapshot& flow) { out = to_har_entry(flow); }

std::string to_json_line(const FlowSnapshot& flow) {
  return to_har_entry(flow).dump(-1, ' ', false, json::error_handler_t::replace);
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
