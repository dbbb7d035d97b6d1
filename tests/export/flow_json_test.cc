// The HAR entry of CONTRACT.md, both ways.
#include "core/export/flow_json.h"

#include <gtest/gtest.h>

#include <string>

#include "core/export/har_params.h"
#include "core/export/har_reader.h"
#include "core/export/http_date.h"
#include "core/export/text_util.h"
#include "tests/export/test_flows.h"

namespace sightglass::core {
namespace {

using nlohmann::json;
using test_flows::body_of;
using test_flows::failed_flow;
using test_flows::full_flow;
using test_flows::kStartedUs;
using test_flows::tcp_flow;

// expect_har_required checks every field HAR 1.2 requires, with its JSON type.
void expect_har_required(const json& entry) {
  SCOPED_TRACE(entry.dump());
  ASSERT_TRUE(entry.is_object());
  EXPECT_TRUE(entry.at("startedDateTime").is_string());
  EXPECT_TRUE(entry.at("time").is_number());
  EXPECT_TRUE(entry.at("cache").is_object());
  EXPECT_TRUE(entry.at("serverIPAddress").is_string());
  EXPECT_TRUE(entry.at("connection").is_string());
  EXPECT_EQ(entry.at("_schemaVersion"), 1);
  EXPECT_TRUE(entry.at("_id").is_number_unsigned());
  EXPECT_TRUE(entry.at("_clientAddress").is_string());

  const json& request = entry.at("request");
  for (const char* key : {"method", "url", "httpVersion"}) {
    EXPECT_TRUE(request.at(key).is_string()) << key;
  }
  for (const char* key : {"cookies", "headers", "queryString"}) {
    EXPECT_TRUE(request.at(key).is_array()) << key;
  }
  for (const char* key : {"headersSize", "bodySize"}) {
    EXPECT_TRUE(request.at(key).is_number_integer()) << key;
  }
  if (request.contains("postData")) {
    EXPECT_TRUE(request["postData"].at("mimeType").is_string());
    EXPECT_TRUE(request["postData"].at("text").is_string());
    EXPECT_TRUE(request["postData"].at("params").is_array());
  }

  const json& response = entry.at("response");
  EXPECT_TRUE(response.at("status").is_number_integer());
  for (const char* key : {"statusText", "httpVersion", "redirectURL"}) {
    EXPECT_TRUE(response.at(key).is_string()) << key;
  }
  for (const char* key : {"cookies", "headers"}) {
    EXPECT_TRUE(response.at(key).is_array()) << key;
  }
  for (const char* key : {"headersSize", "bodySize"}) {
    EXPECT_TRUE(response.at(key).is_number_integer()) << key;
  }
  EXPECT_TRUE(response.at("content").at("size").is_number_integer());
  EXPECT_TRUE(response.at("content").at("mimeType").is_string());

  for (const json* cookies : {&request.at("cookies"), &response.at("cookies")}) {
    for (const json& cookie : *cookies) {
      EXPECT_TRUE(cookie.at("name").is_string());
      EXPECT_TRUE(cookie.at("value").is_string());
    }
  }
  for (const json* headers : {&request.at("headers"), &response.at("headers")}) {
    for (const json& header : *headers) {
      EXPECT_TRUE(header.at("name").is_string());
      EXPECT_TRUE(header.at("value").is_string());
    }
  }

  const json& timings = entry.at("timings");
  for (const char* key : {"blocked", "dns", "connect", "ssl", "send", "wait", "receive"}) {
    ASSERT_TRUE(timings.at(key).is_number()) << key;
    EXPECT_GE(timings[key].get<double>(), -1.0) << key;
  }
  for (const char* key : {"send", "wait", "receive"}) {
    EXPECT_GE(timings[key].get<double>(), 0.0) << key;  // HAR: non-negative.
  }
  // time is the sum of the phases that apply (connect already includes ssl).
  double sum = 0;
  for (const char* key : {"blocked", "dns", "connect", "send", "wait", "receive"}) {
    sum += std::max(0.0, timings[key].get<double>());
  }
  EXPECT_DOUBLE_EQ(entry["time"].get<double>(), sum);
  // Whatever went in, the entry always serializes.
  EXPECT_NO_THROW(static_cast<void>(entry.dump()));
}

json pairs(std::initializer_list<std::pair<const char*, const char*>> items) {
  json out = json::array();
  for (const auto& [name, value] : items) {
    out.push_back({{"name", name}, {"value", value}});
  }
  return out;
}

TEST(HarEntry, FullFlowHasEveryFieldOfTheContract) {
  const FlowSnapshot flow = full_flow();
  const json entry = to_har_entry(flow);
  expect_har_required(entry);

  EXPECT_EQ(entry["startedDateTime"], "2023-11-14T22:13:20.123Z");
  EXPECT_DOUBLE_EQ(entry["time"].get<double>(), 76.0);
  EXPECT_EQ(entry["_id"], 42u);
  EXPECT_EQ(entry["_clientAddress"], "127.0.0.1:54321");
  EXPECT_EQ(entry["serverIPAddress"], "93.184.216.34");
  EXPECT_EQ(entry["connection"], "54321");
  EXPECT_EQ(entry["cache"], json::object());
  EXPECT_FALSE(entry.contains("_error"));
  EXPECT_FALSE(entry.contains("_tcp"));

  const json& request = entry["request"];
  EXPECT_EQ(request["method"], "POST");
  EXPECT_EQ(request["url"],
            "https://example.com/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag");
  EXPECT_EQ(request["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(request["headers"], pairs({{"Host", "example.com"},
                                       {"user-agent", "curl/7.88"},
                                       {"Cookie", "session=abc123; theme=dark"},
                                       {"cookie", "lang=en"},
                                       {"Content-Type", "application/x-www-form-urlencoded"},
                                       {"X-Mixed-Case", "Value"},
                                       {"x-mixed-case", "second"}}));
  EXPECT_EQ(request["cookies"], pairs({{"session", "abc123"}, {"theme", "dark"}, {"lang", "en"}}));
  EXPECT_EQ(
      request["queryString"],
      pairs(
          {{"q", "caf\xC3\xA9 au lait"}, {"tag", "a"}, {"tag", "b"}, {"empty", ""}, {"flag", ""}}));
  EXPECT_EQ(request["headersSize"], 180);
  EXPECT_EQ(request["bodySize"], 30);
  const json& post = request.at("postData");
  EXPECT_EQ(post["mimeType"], "application/x-www-form-urlencoded");
  EXPECT_EQ(post["text"], "name=J%C3%BCrgen&city=New+York");
  EXPECT_FALSE(post.contains("encoding"));
  EXPECT_FALSE(post.contains("_truncated"));
  EXPECT_EQ(post["params"], pairs({{"name", "J\xC3\xBCrgen"}, {"city", "New York"}}));

  const json& response = entry["response"];
  const std::string html = "<html>caf\xC3\xA9 \xE2\x82\xAC</html>";
  EXPECT_EQ(response["status"], 302);
  EXPECT_EQ(response["statusText"], "Found");
  EXPECT_EQ(response["httpVersion"], "HTTP/2.0");
  EXPECT_EQ(response["redirectURL"], "https://example.com/next");
  EXPECT_EQ(response["headersSize"], 240);
  EXPECT_EQ(response["bodySize"], flow.response->body.size);
  EXPECT_EQ(response["headers"].size(), 5u);
  EXPECT_EQ(response["headers"][1], json({{"name", "Content-Encoding"}, {"value", "gzip"}}));
  const json& content = response["content"];
  EXPECT_EQ(content["text"], html);  // Decoded from gzip, UTF-8 as is.
  EXPECT_FALSE(content.contains("encoding"));
  EXPECT_EQ(content["size"], html.size());
  EXPECT_EQ(content["mimeType"], "text/html; charset=utf-8");
  ASSERT_TRUE(content.contains("compression"));
  EXPECT_EQ(content["compression"], 0);  // A tiny body grows under gzip: nothing saved.
  EXPECT_FALSE(content.contains("_truncated"));

  ASSERT_EQ(response["cookies"].size(), 2u);
  EXPECT_EQ(response["cookies"][0], json({{"name", "sid"},
                                          {"value", "xyz"},
                                          {"path", "/"},
                                          {"domain", ".example.com"},
                                          {"expires", "2015-10-21T07:28:00.000Z"},
                                          {"httpOnly", true},
                                          {"secure", true},
                                          {"sameSite", "Lax"}}));
  EXPECT_EQ(response["cookies"][1], json({{"name", "plain"}, {"value", "1"}}));

  EXPECT_EQ(entry["timings"], json({{"blocked", 1.0},
                                    {"dns", 2.5},
                                    {"connect", 30.0},
                                    {"ssl", 20.0},
                                    {"send", 0.5},
                                    {"wait", 40.25},
                                    {"receive", 1.75}}));

  const json& tls = entry.at("_tls");
  EXPECT_EQ(tls["client"], json({{"sni", "example.com"},
                                 {"version", "TLSv1.3"},
                                 {"cipher", "TLS_AES_128_GCM_SHA256"},
                                 {"resumed", false},
                                 {"alpn", "h2"}}));
  EXPECT_EQ(tls["server"]["version"], "TLSv1.3");
  EXPECT_EQ(tls["server"]["cipher"], "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(tls["server"]["alpn"], "h2");
  EXPECT_EQ(tls["server"]["certificate"], json({{"subject", "CN=example.com,O=Example"},
                                                {"issuer", "CN=Test CA,O=Test"},
                                                {"notAfter", "2030-01-01T00:00:00Z"},
                                                {"sha256", "ab12cd34"}}));

  const json& ws = entry.at("_webSocketMessages");
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_EQ(ws[0]["type"], "send");
  EXPECT_DOUBLE_EQ(ws[0]["time"].get<double>(), 1700000000.500001);
  EXPECT_EQ(ws[0]["opcode"], 1);
  EXPECT_EQ(ws[0]["data"], "hello \xE2\x82\xAC");
  EXPECT_EQ(ws[1]["type"], "receive");
  EXPECT_EQ(ws[1]["opcode"], 2);
  EXPECT_EQ(ws[1]["data"], "AAH//g==");
}

TEST(HarEntry, CompressionCountsTheBytesSaved) {
  FlowSnapshot flow = full_flow();
  const std::string text(10'000, 'a');
  const std::string gz = test_flows::gzip(text);
  flow.response->body = body_of(gz);
  const json content = to_har_entry(flow)["response"]["content"];
  EXPECT_EQ(content["size"], text.size());
  EXPECT_EQ(content["compression"], text.size() - gz.size());
  EXPECT_EQ(content["text"], text);
  // Without Content-Encoding there is no compression field, and the size is the raw size.
  flow.response->headers = {{"Content-Type", "text/plain"}};
  flow.response->body = body_of(text);
  const json plain = to_har_entry(flow)["response"]["content"];
  EXPECT_FALSE(plain.contains("compression"));
  EXPECT_EQ(plain["size"], text.size());
}

TEST(HarEntry, FlowWithoutResponseStillHasAResponseObject) {
  const json entry = to_har_entry(failed_flow());
  expect_har_required(entry);
  EXPECT_EQ(entry["_error"], "upstream certificate verify failed: certificate has expired");
  EXPECT_EQ(entry["request"]["url"], "https://expired.example:8443/");
  EXPECT_EQ(entry["request"]["bodySize"], 0);
  EXPECT_FALSE(entry["request"].contains("postData"));
  EXPECT_EQ(entry["response"], json({{"status", 0},
                                     {"statusText", ""},
                                     {"httpVersion", ""},
                                     {"cookies", json::array()},
                                     {"headers", json::array()},
                                     {"content", {{"size", 0}, {"mimeType", ""}}},
                                     {"redirectURL", ""},
                                     {"headersSize", -1},
                                     {"bodySize", -1}}));
  EXPECT_EQ(entry["serverIPAddress"], "");
  EXPECT_EQ(entry["timings"]["blocked"], -1);
  EXPECT_EQ(entry["timings"]["ssl"], -1);
  EXPECT_EQ(entry["timings"]["send"], 0);
  EXPECT_EQ(entry["timings"]["wait"], 0);
  EXPECT_DOUBLE_EQ(entry["time"].get<double>(), 4.0);
  EXPECT_TRUE(entry["_tls"].contains("client"));
  EXPECT_FALSE(entry["_tls"].contains("server"));
  EXPECT_FALSE(entry.contains("_webSocketMessages"));
}

TEST(HarEntry, FlowThatFailedBeforeItsRequest) {
  FlowSnapshot flow;
  flow.id = 3;
  flow.state = FlowState::kFinished;
  flow.client_address = "127.0.0.1:4000";
  flow.client_tls = TlsInfo{"pinned.example", "", "", "", {}};
  flow.error = "client rejected our certificate";
  const json entry = to_har_entry(flow);
  expect_har_required(entry);
  EXPECT_EQ(entry["request"]["method"], "");
  EXPECT_EQ(entry["request"]["url"], "https://pinned.example/");
  EXPECT_EQ(entry["response"]["status"], 0);

  FlowSnapshot back;
  std::string error;
  ASSERT_TRUE(from_har_entry(json::parse(entry.dump()), &back, &error)) << error;
  EXPECT_FALSE(back.request.has_value());
  EXPECT_FALSE(back.response.has_value());
  EXPECT_EQ(back.error, flow.error);
  ASSERT_TRUE(back.client_tls.has_value());
  EXPECT_EQ(back.client_tls->sni, "pinned.example");
}

TEST(HarEntry, TcpFlow) {
  const json entry = to_har_entry(tcp_flow());
  expect_har_required(entry);
  EXPECT_EQ(entry["request"]["method"], "CONNECT");
  EXPECT_EQ(entry["request"]["url"], "tcp://xmpp.example:5222");
  EXPECT_EQ(entry["request"]["httpVersion"], "");
  EXPECT_EQ(entry["response"]["status"], 0);
  EXPECT_EQ(entry["_tcp"], json({{"bytesFromClient", 10}, {"bytesFromServer", 2048}}));
  EXPECT_EQ(entry["serverIPAddress"], "2001:db8::1");
  EXPECT_EQ(entry["connection"], "50000");
  EXPECT_FALSE(entry.contains("_tls"));
  EXPECT_DOUBLE_EQ(entry["time"].get<double>(), 3002.0);
}

TEST(HarEntry, BinaryBodiesAreBase64AndTruncationIsFlagged) {
  FlowSnapshot flow = full_flow();
  std::string binary;
  for (int i = 0; i < 3000; ++i) {
    binary.push_back(static_cast<char>((i * 7 + 128) & 0xFF));
  }
  ASSERT_FALSE(is_valid_utf8(binary));
  flow.request->headers = {{"Content-Type", "application/octet-stream"}};
  flow.request->body = body_of(binary, 1000);
  flow.response->headers = {{"Content-Type", "image/png"}};
  flow.response->body = body_of(binary, 2000);
  const json entry = to_har_entry(flow);
  expect_har_required(entry);

  const json& post = entry["request"]["postData"];
  EXPECT_EQ(post["encoding"], "base64");
  EXPECT_EQ(base64_decode(post["text"].get<std::string>()), binary.substr(0, 1000));
  EXPECT_EQ(post["_truncated"], true);
  EXPECT_EQ(post["params"], json::array());
  EXPECT_EQ(entry["request"]["bodySize"], 3000);

  const json& content = entry["response"]["content"];
  EXPECT_EQ(content["encoding"], "base64");
  EXPECT_EQ(base64_decode(content["text"].get<std::string>()), binary.substr(0, 2000));
  EXPECT_EQ(content["_truncated"], true);
  EXPECT_EQ(content["size"], 3000);  // Identity: the decoded size is the full size.
  EXPECT_EQ(entry["response"]["bodySize"], 3000);

  // Valid UTF-8 with NULs or other control characters is not text either.
  const std::string nuls("abc\0def\x01", 8);
  ASSERT_TRUE(is_valid_utf8(nuls));
  flow.response->body = body_of(nuls);
  const json nul_content = to_har_entry(flow)["response"]["content"];
  EXPECT_EQ(nul_content["encoding"], "base64");
  EXPECT_EQ(base64_decode(nul_content["text"].get<std::string>()), nuls);
  flow.response->body = body_of("line one\r\n\tline two\f");
  EXPECT_FALSE(to_har_entry(flow)["response"]["content"].contains("encoding"));
}

TEST(HarEntry, TruncatedCompressedBodyDecodesItsPrefix) {
  FlowSnapshot flow = full_flow();
  std::string text;
  for (int i = 0; text.size() < 200'000; ++i) {
    text += std::to_string(i * 7919) + " ";
  }
  const std::string gz = test_flows::gzip(text);
  flow.response->body = body_of(gz, gz.size() / 2);
  ASSERT_TRUE(flow.response->body.truncated);
  const json content = to_har_entry(flow)["response"]["content"];
  EXPECT_EQ(content["_truncated"], true);
  const std::string shown = content["text"].get<std::string>();
  EXPECT_GT(shown.size(), 0u);
  EXPECT_LT(shown.size(), text.size());
  EXPECT_EQ(shown, text.substr(0, shown.size()));
  EXPECT_EQ(content["size"], shown.size());
}

TEST(HarEntry, UndecodableBodyIsKeptAsItCame) {
  FlowSnapshot flow = full_flow();
  flow.response->headers = {{"Content-Encoding", "gzip"}};
  flow.response->body = body_of("not gzip at all");
  const json content = to_har_entry(flow)["response"]["content"];
  EXPECT_EQ(content["text"], "not gzip at all");
  EXPECT_EQ(content["size"], 15);
  EXPECT_FALSE(content.contains("compression"));
}

TEST(HarEntry, IllFormedUtf8InHeadersStillSerializes) {
  FlowSnapshot flow = full_flow();
  flow.request->headers.push_back({"X-Latin1", "caf\xE9"});
  flow.request->target = "/p?name=%FF%FE";
  const json entry = to_har_entry(flow);
  std::string dumped;
  ASSERT_NO_THROW(dumped = entry.dump());
  EXPECT_NE(dumped.find("caf\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(entry["request"]["queryString"][0]["value"], "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(to_json_line(flow), dumped);
  const json converted = flow;  // nlohmann's to_json hook.
  EXPECT_EQ(converted, entry);
}

TEST(HarEntry, CookieParsing) {
  const Headers request_headers = {{"Cookie", " a=1;b = two ;; =empty-name; bare ;c=x=y"},
                                   {"X-Other", "d=4"}};
  EXPECT_EQ(request_cookies_json(request_headers),
            pairs({{"a", "1"}, {"b", "two"}, {"", "empty-name"}, {"", "bare"}, {"c", "x=y"}}));

  const Headers response_headers = {
      {"set-cookie", "id=a3fWa; Expires=Thu, 31 Oct 2021 07:28:00 GMT; Max-Age=3600"},
      {"Set-Cookie", "old=1; expires=Sunday, 06-Nov-94 08:49:37 GMT; path=/docs"},
      {"Set-Cookie", "weird=2; Expires=not a date"},
      {"Set-Cookie", "gone=; Max-Age=0; SECURE"}};
  const json cookies = response_cookies_json(response_headers, kStartedUs);
  ASSERT_EQ(cookies.size(), 4u);
  // Max-Age wins over Expires and counts from the flow's start.
  EXPECT_EQ(cookies[0]["expires"], "2023-11-14T23:13:20.000Z");
  EXPECT_EQ(cookies[1], json({{"name", "old"},
                              {"value", "1"},
                              {"expires", "1994-11-06T08:49:37.000Z"},
                              {"path", "/docs"}}));
  EXPECT_EQ(cookies[2]["expires"], "not a date");
  EXPECT_EQ(cookies[3]["expires"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(cookies[3]["secure"], true);
  EXPECT_EQ(cookies[3]["value"], "");
}

TEST(HarEntry, QueryStringParsing) {
  EXPECT_EQ(query_string_json("/"), json::array());
  EXPECT_EQ(query_string_json("/p?"), json::array());
  EXPECT_EQ(query_string_json("/p?a=1&&a=2&b=x+y%2By&c%20d=%zz&e"),
            pairs({{"a", "1"}, {"a", "2"}, {"b", "x y+y"}, {"c d", "%zz"}, {"e", ""}}));
  EXPECT_EQ(query_string_json("/p?k=v#frag"), pairs({{"k", "v"}}));
}

TEST(HarEntry, Dates) {
  EXPECT_EQ(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601_ms(951'782'400'000'000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13:20.123Z"), kStartedUs);
  EXPECT_EQ(parse_iso8601("2023-11-14T23:13:20.123+01:00"), kStartedUs);
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13:20.123456Z"), kStartedUs + 456);
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13:20Z"), kStartedUs - 123'000);
  EXPECT_FALSE(parse_iso8601("2023-11-14").has_value());
  EXPECT_FALSE(parse_iso8601("2023-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso8601("2023-11-14T22:13:20.123").has_value());
  EXPECT_EQ(parse_cookie_date("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480);
  EXPECT_EQ(parse_cookie_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_cookie_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parse_cookie_date("Sun, 30 Feb 2020 08:49:37 GMT").has_value());
  EXPECT_FALSE(parse_cookie_date("tomorrow").has_value());
}

void expect_same_tls(const std::optional<TlsInfo>& a, const std::optional<TlsInfo>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) {
    return;
  }
  EXPECT_EQ(a->sni, b->sni);
  EXPECT_EQ(a->version, b->version);
  EXPECT_EQ(a->cipher, b->cipher);
  EXPECT_EQ(a->alpn, b->alpn);
  ASSERT_EQ(a->certificate.has_value(), b->certificate.has_value());
  if (a->certificate) {
    EXPECT_EQ(a->certificate->subject, b->certificate->subject);
    EXPECT_EQ(a->certificate->issuer, b->certificate->issuer);
    EXPECT_EQ(a->certificate->not_after, b->certificate->not_after);
    EXPECT_EQ(a->certificate->sha256, b->certificate->sha256);
  }
}

void expect_same_timings(const FlowTimings& a, const FlowTimings& b) {
  EXPECT_EQ(a.started_us, b.started_us);
  EXPECT_EQ(a.blocked_us, b.blocked_us);
  EXPECT_EQ(a.dns_us, b.dns_us);
  EXPECT_EQ(a.connect_us, b.connect_us);
  EXPECT_EQ(a.ssl_us, b.ssl_us);
  EXPECT_EQ(a.send_us, b.send_us);
  EXPECT_EQ(a.wait_us, b.wait_us);
  EXPECT_EQ(a.receive_us, b.receive_us);
}

// round_trip serializes |flow| to text and reads it back.
FlowSnapshot round_trip(const FlowSnapshot& flow) {
  FlowSnapshot back;
  std::string error;
  EXPECT_TRUE(from_har_entry(json::parse(to_json_line(flow)), &back, &error)) << error;
  return back;
}

TEST(HarEntry, RoundTripPreservesTheFlow) {
  const FlowSnapshot flow = full_flow();
  const FlowSnapshot back = round_trip(flow);
  EXPECT_EQ(back.id, flow.id);
  EXPECT_EQ(back.kind, FlowKind::kHttp);
  EXPECT_EQ(back.state, FlowState::kFinished);
  EXPECT_EQ(back.client_address, flow.client_address);
  EXPECT_EQ(back.server_address, flow.server_address);
  EXPECT_EQ(back.error, "");
  expect_same_tls(back.client_tls, flow.client_tls);
  expect_same_tls(back.server_tls, flow.server_tls);
  expect_same_timings(back.timings, flow.timings);

  ASSERT_TRUE(back.request.has_value());
  const HttpRequestData& request = *back.request;
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.scheme, "https");
  EXPECT_EQ(request.host, "example.com");
  EXPECT_EQ(request.port, 443);
  EXPECT_EQ(request.target, flow.request->target);
  EXPECT_EQ(request.url(), flow.request->url());
  EXPECT_EQ(request.http_version, "HTTP/2.0");
  EXPECT_EQ(request.headers, flow.request->headers);  // Order, case and repeats.
  EXPECT_EQ(request.body.contiguous(), flow.request->body.contiguous());
  EXPECT_EQ(request.body.size, flow.request->body.size);
  EXPECT_FALSE(request.body.truncated);
  EXPECT_EQ(request.header_bytes, 180u);

  ASSERT_TRUE(back.response.has_value());
  const HttpResponseData& response = *back.response;
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(response.reason, "Found");
  EXPECT_EQ(response.http_version, "HTTP/2.0");
  EXPECT_EQ(response.headers, flow.response->headers);
  // HAR stores the body decoded from its Content-Encoding.
  EXPECT_EQ(response.body.contiguous(), "<html>caf\xC3\xA9 \xE2\x82\xAC</html>");
  EXPECT_FALSE(response.body.truncated);
  EXPECT_EQ(response.header_bytes, 240u);

  ASSERT_EQ(back.websocket_messages.size(), flow.websocket_messages.size());
  for (size_t i = 0; i < flow.websocket_messages.size(); ++i) {
    EXPECT_EQ(back.websocket_messages[i].from_client, flow.websocket_messages[i].from_client);
    EXPECT_EQ(back.websocket_messages[i].time_us, flow.websocket_messages[i].time_us);
    EXPECT_EQ(back.websocket_messages[i].opcode, flow.websocket_messages[i].opcode);
    EXPECT_EQ(back.websocket_messages[i].data, flow.websocket_messages[i].data);
  }
  // A second trip changes nothing more.
  EXPECT_EQ(json::parse(to_json_line(back)), json::parse(to_json_line(round_trip(back))));
}

TEST(HarEntry, RoundTripOfBinaryTruncatedBodiesFailuresAndTcp) {
  FlowSnapshot flow = full_flow();
  std::string binary(5000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) {
    binary[i] = static_cast<char>((i * 131) & 0xFF);
  }
  flow.request->headers = {{"Content-Type", "application/octet-stream"}};
  flow.request->body = body_of(binary, 1000);
  flow.response->headers = {{"Content-Type", "application/octet-stream"}};
  flow.response->body = body_of(binary, 4000);
  flow.response->trailers = {{"grpc-status", "0"}};
  FlowSnapshot back = round_trip(flow);
  ASSERT_TRUE(back.request && back.response);
  EXPECT_EQ(back.request->body.contiguous(), binary.substr(0, 1000));
  EXPECT_EQ(back.request->body.size, 5000u);
  EXPECT_TRUE(back.request->body.truncated);
  EXPECT_EQ(back.response->body.contiguous(), binary.substr(0, 4000));
  EXPECT_EQ(back.response->body.size, 5000u);
  EXPECT_TRUE(back.response->body.truncated);
  EXPECT_EQ(back.response->trailers, flow.response->trailers);

  const FlowSnapshot failed = failed_flow();
  back = round_trip(failed);
  EXPECT_EQ(back.error, failed.error);
  EXPECT_FALSE(back.response.has_value());
  ASSERT_TRUE(back.request.has_value());
  EXPECT_EQ(back.request->url(), "https://expired.example:8443/");
  EXPECT_EQ(back.request->headers, failed.request->headers);
  expect_same_tls(back.client_tls, failed.client_tls);
  EXPECT_FALSE(back.server_tls.has_value());
  EXPECT_EQ(back.timings.dns_us, 1000);
  EXPECT_EQ(back.timings.blocked_us, -1);

  const FlowSnapshot tcp = tcp_flow();
  back = round_trip(tcp);
  EXPECT_EQ(back.kind, FlowKind::kTcp);
  EXPECT_EQ(back.tcp_host, "xmpp.example");
  EXPECT_EQ(back.tcp_port, 5222);
  EXPECT_EQ(back.bytes_from_client, 10u);
  EXPECT_EQ(back.bytes_from_server, 2048u);
  EXPECT_EQ(back.server_address, "[2001:db8::1]:5222");
  EXPECT_EQ(back.client_address, "[::1]:50000");
  EXPECT_FALSE(back.request.has_value());
}

TEST(HarEntry, FromHarEntryToleratesMissingAndWrongFields) {
  FlowSnapshot flow;
  std::string error;
  ASSERT_TRUE(from_har_entry(
      json::parse(R"({"request": {"method": "GET", "url": "http://a.example/x?y=1"}})"), &flow,
      &error))
      << error;
  ASSERT_TRUE(flow.request.has_value());
  EXPECT_EQ(flow.request->host, "a.example");
  EXPECT_EQ(flow.request->port, 80);
  EXPECT_EQ(flow.request->target, "/x?y=1");
  EXPECT_FALSE(flow.response.has_value());
  EXPECT_EQ(flow.timings.started_us, 0);

  // Wrong types everywhere: defaults, no exception.
  const json odd = json::parse(R"({
    "_id": "77", "startedDateTime": 5, "time": "x", "timings": [1, 2],
    "request": {"method": "PUT", "url": "https://[::1]:8443", "headers": "nope",
                "postData": {"text": 12}, "bodySize": "big"},
    "response": {"status": 200, "headers": [{"name": "A", "value": "1"}, 5, {"value": "x"}],
                 "content": {"size": -5, "text": "body", "encoding": "base64!"}},
    "_tls": {"client": "no"}, "_webSocketMessages": [1, {"type": "send", "data": "hi"}]
  })");
  error.clear();
  ASSERT_TRUE(from_har_entry(odd, &flow, &error)) << error;
  EXPECT_EQ(flow.id, 77u);
  ASSERT_TRUE(flow.request.has_value());
  EXPECT_EQ(flow.request->host, "::1");
  EXPECT_EQ(flow.request->port, 8443);
  EXPECT_EQ(flow.request->target, "/");
  EXPECT_TRUE(flow.request->headers.empty());
  ASSERT_TRUE(flow.response.has_value());
  EXPECT_EQ(flow.response->status, 200);
  EXPECT_EQ(flow.response->headers, (Headers{{"A", "1"}}));
  EXPECT_EQ(flow.response->body.contiguous(), "body");
  EXPECT_FALSE(flow.client_tls.has_value());
  ASSERT_EQ(flow.websocket_messages.size(), 1u);
  EXPECT_EQ(flow.websocket_messages[0].data, "hi");

  EXPECT_FALSE(from_har_entry(json::array(), &flow, &error));
  EXPECT_FALSE(error.empty());
  error.clear();
  EXPECT_FALSE(from_har_entry(json::parse(R"({"request": 5})"), &flow, &error));
  EXPECT_NE(error.find("request"), std::string::npos);
  EXPECT_FALSE(from_har_entry(json(), &flow, nullptr));
  EXPECT_FALSE(from_har_entry(json::parse(R"({"request": {}})"), nullptr, &error));
}

TEST(HarEntry, ReadsAChromeStyleEntry) {
  const json chrome = json::parse(R"({
    "startedDateTime": "2024-03-01T10:00:00.250+00:00", "time": 12.5,
    "request": {"method": "GET", "url": "https://www.example.org/api?x=1", "httpVersion": "h2",
                "headers": [{"name": ":authority", "value": "www.example.org"}],
                "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
    "response": {"status": 200, "statusText": "", "httpVersion": "h2",
                 "headers": [{"name": "content-encoding", "value": "br"}], "cookies": [],
                 "content": {"size": 11, "mimeType": "application/json", "compression": 3,
                             "text": "{\"ok\":true}"},
                 "redirectURL": "", "headersSize": -1, "bodySize": 8, "_transferSize": 100},
    "cache": {}, "timings": {"blocked": 0.5, "dns": -1, "ssl": -1, "connect": -1, "send": 0.2,
                             "wait": 10, "receive": 1.8}, "serverIPAddress": "[2606:4700::1]"
  })");
  FlowSnapshot flow;
  std::string error;
  ASSERT_TRUE(from_har_entry(chrome, &flow, &error)) << error;
  EXPECT_EQ(flow.timings.started_us, parse_iso8601("2024-03-01T10:00:00.250Z"));
  EXPECT_EQ(flow.timings.wait_us, 10'000);
  EXPECT_EQ(flow.timings.dns_us, -1);
  ASSERT_TRUE(flow.response.has_value());
  EXPECT_EQ(flow.response->body.contiguous(), "{\"ok\":true}");
  EXPECT_EQ(flow.response->body.size, 11u);
  EXPECT_FALSE(flow.response->body.truncated);
  EXPECT_EQ(flow.request->url(), "https://www.example.org/api?x=1");
  EXPECT_EQ(flow.server_address, "[2606:4700::1]:443");
}

TEST(HarDocument, WrapsEntries) {
  const json document = har_document({to_har_entry(full_flow()), to_har_entry(tcp_flow())});
  const json& log = document.at("log");
  EXPECT_EQ(log["version"], "1.2");
  EXPECT_EQ(log["creator"]["name"], "Sightglass");
  EXPECT_EQ(log["creator"]["version"], SIGHTGLASS_VERSION);
  EXPECT_EQ(log["pages"], json::array());
  ASSERT_EQ(log["entries"].size(), 2u);
  EXPECT_EQ(log["entries"][1]["_tcp"]["bytesFromServer"], 2048);
  EXPECT_EQ(har_document({})["log"]["entries"], json::array());
}

}  // namespace
}  // namespace sightglass::core
