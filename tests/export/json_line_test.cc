// to_json_line (the direct writer of the JSON Lines log) must write, byte for byte, what
// to_har_entry(flow).dump() writes: for the test flows, for variations that reach every branch
// of the entry, and for thousands of random flows.
#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/export/flow_json.h"
#include "tests/export/test_flows.h"

namespace sightglass::core {
namespace {

using nlohmann::json;
using test_flows::body_of;
using test_flows::gzip;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

std::string brotli(const std::string& data) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 16, '\0');
  size_t size = out.size();
  EXPECT_TRUE(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, data.size(),
                                    reinterpret_cast<const uint8_t*>(data.data()), &size,
                                    reinterpret_cast<uint8_t*>(out.data())));
  out.resize(size);
  return out;
}

std::string zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t size = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(size));
  out.resize(size);
  return out;
}

std::string reference_line(const FlowSnapshot& flow) {
  return to_har_entry(flow).dump(-1, ' ', false, json::error_handler_t::replace);
}

// same_line compares to_json_line with the reference and, when they differ, says where.
testing::AssertionResult same_line(const FlowSnapshot& flow) {
  const std::string expected = reference_line(flow);
  const std::string actual = to_json_line(flow);
  if (actual == expected) {
    return testing::AssertionSuccess();
  }
  const size_t at = static_cast<size_t>(
      std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end()).first -
      actual.begin());
  const size_t from = at < 60 ? 0 : at - 60;
  return testing::AssertionFailure()
         << "flow " << flow.id << ": the lines differ at byte " << at << "\n  to_json_line: ..."
         << actual.substr(from, 120) << "\n  dump:         ..." << expected.substr(from, 120);
}

// A variation is a base flow and a change to it.
struct Variation {
  const char* name;
  std::function<FlowSnapshot()> base;
  std::function<void(FlowSnapshot&)> change = [](FlowSnapshot& /*unused*/) {};

  FlowSnapshot make() const {
    FlowSnapshot flow = base();
    change(flow);
    return flow;
  }
};

FlowSnapshot full() { return test_flows::full_flow(); }
FlowSnapshot failed() { return test_flows::failed_flow(); }
FlowSnapshot tcp() { return test_flows::tcp_flow(); }

FlowSnapshot with_response_body(const std::string& content_encoding, const std::string& body,
                                uint64_t limit = 1 << 20) {
  FlowSnapshot flow = full();
  flow.response->headers = {{"Content-Type", "text/plain"}};
  if (!content_encoding.empty()) {
    flow.response->headers.push_back({"Content-Encoding", content_encoding});
  }
  flow.response->body = body_of(body, limit);
  return flow;
}

std::string binary_bytes(size_t size) {
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  }
  return out;
}

const std::string kText = "caf\xC3\xA9 au lait \xE2\x82\xAC 100\n\ttabbed\r\n\"quoted\" \\ back";

std::vector<Variation> variations() {
  std::vector<Variation> out = {
      {"full", full},
      {"typical", [] { return test_flows::typical_flow(); }},
      {"failed", failed},
      {"tcp", tcp},
      {"empty", [] { return FlowSnapshot{}; }},
      {"request only", full, [](FlowSnapshot& f) { f.response.reset(); }},
      {"response only", full, [](FlowSnapshot& f) { f.request.reset(); }},
      {"placeholder from sni", failed, [](FlowSnapshot& f) { f.request.reset(); }},
      {"placeholder from server address", failed,
       [](FlowSnapshot& f) {
         f.request.reset();
         f.client_tls.reset();
         f.server_address = "[2001:db8::7]:8080";
       }},
      {"placeholder https without sni", failed,
       [](FlowSnapshot& f) {
         f.request.reset();
         f.client_tls->sni = "";
         f.server_address = "10.0.0.1:443";
       }},
      {"placeholder with bad utf-8", failed,
       [](FlowSnapshot& f) {
         f.request.reset();
         f.client_tls->sni = "bad\xFF\x01host";
       }},
      {"tcp huge counts", tcp,
       [](FlowSnapshot& f) {
         f.bytes_from_client = kMaxU64;
         f.bytes_from_server = kMaxU64 - 5;  // Negative as the response's int64 bodySize.
         f.tcp_host = "::1";
         f.tcp_port = 0;
         f.server_address = "";
         f.client_address = "no-port";
       }},
      {"tcp with tls and error", tcp,
       [](FlowSnapshot& f) {
         f.client_tls = TlsInfo{"", "TLSv1.2", "ECDHE", "", {}};
         f.error = "reset by peer\n\x7F\x80";
         f.tcp_host = "h\xC3\x28st";
       }},
      {"error with control characters", failed,
       [](FlowSnapshot& f) { f.error = std::string("a\0b\x01\x1F\b\f\n\r\t\"\\/\x7F end", 19); }},
      {"trailers", full,
       [](FlowSnapshot& f) {
         f.request->trailers = {{"X-Checksum", "abc"}, {"X-Bad", "\xFF"}};
         f.response->trailers = {{"grpc-status", "0"}, {"grpc-message", "ok \"fine\""}};
       }},
      {"cookies", full,
       [](FlowSnapshot& f) {
         f.request->headers = {{"Cookie", " a=1;b = two ;; =empty-name; bare ;c=x=y"},
                               {"COOKIE", "\xFF=\xFE; q=\"quoted\""},
                               {"Cookie", ""},
                               {"Cookie", ";;;"}};
         f.response->headers = {
             {"set-cookie", "id=a3fWa; Expires=Thu, 31 Oct 2021 07:28:00 GMT; Max-Age=3600"},
             {"Set-Cookie", "old=1; expires=Sunday, 06-Nov-94 08:49:37 GMT; path=/docs"},
             {"Set-Cookie", "weird=2; Expires=not a date\xFF"},
             {"Set-Cookie", "gone=; Max-Age=0; SECURE"},
             {"Set-Cookie", "neg=1; Max-Age=-5; Max-Age=x; Path=/a; Path=/b; HttpOnly; httponly"},
             {"Set-Cookie", "big=1; Max-Age=99999999999; SameSite=Strict; Domain=example.com"},
             {"Set-Cookie", "huge=1; Max-Age=999999999999999; Expires=Wed, 21 Oct 2015 07:28:00"},
             {"Set-Cookie", "dash=1; Max-Age=-; samesite; domain"},
             {"Set-Cookie", "noequals; Secure"},
             {"Set-Cookie", ""},
             {"Set-Cookie", "=; ; =; Path"},
             {"Set-Cookie",
              "u=\xE2\x82\xAC; Path=/\xE2\x82\xAC; Expires=Sun, 06 Nov 1994 08:49:37"},
         };
       }},
      {"query strings", full,
       [](FlowSnapshot& f) {
         f.request->target =
             "/p?a=1&&a=2&b=x+y%2By&c%20d=%zz&e&%00=%0A&%FF%FE=%C3%A9&=v&k==&x=%2&y=%#frag?z=1";
       }},
      {"no query", full, [](FlowSnapshot& f) { f.request->target = "/"; }},
      {"empty target and odd port", full,
       [](FlowSnapshot& f) {
         f.request->target = "";
         f.request->port = 8443;
         f.request->host = "2001:db8::1";
       }},
      {"connect request", failed,
       [](FlowSnapshot& f) {
         f.request->method = "CONNECT";
         f.request->target = "expired.example:8443";
       }},
      {"text bodies", full,
       [](FlowSnapshot& f) {
         f.request->headers = {{"Content-Type", "text/plain"}};
         f.request->body = body_of(kText);
         f.response->headers = {{"Content-Type", "application/json"}};
         f.response->body = body_of("{\"k\":\"v\\n\"}");
       }},
      {"binary bodies", full,
       [](FlowSnapshot& f) {
         f.request->headers = {{"Content-Type", "application/octet-stream"}};
         f.request->body = body_of(binary_bytes(1000));
         f.response->headers = {};
         f.response->body = body_of(binary_bytes(3001));
       }},
      {"truncated bodies", full,
       [](FlowSnapshot& f) {
         f.request->body = body_of("name=a&b=c&d=e", 5);
         f.response->headers = {{"Content-Type", "text/plain"}};
         f.response->body = body_of(binary_bytes(100), 10);
       }},
      {"bodies kept empty", full,
       [](FlowSnapshot& f) {
         f.request->body = body_of("abc", 0);
         f.response->body = body_of("abc", 0);
       }},
      {"bodies in many chunks", full,
       [](FlowSnapshot& f) {
         f.request->body = CapturedBody{};
         f.response->headers = {{"Content-Type", "text/plain"}};
         f.response->body = CapturedBody{};
         for (int i = 0; i < 10; ++i) {
           f.request->body.append("k" + std::to_string(i) + "=v+" + std::to_string(i) + "&",
                                  1 << 20);
           f.response->body.append(i == 5 ? "\xE2\x82" : "\xAC chunk ", 60);
         }
       }},
      {"form content type in capitals", full,
       [](FlowSnapshot& f) {
         f.request->headers = {
             {"content-type", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"}};
       }},
      {"form body with binary", full,
       [](FlowSnapshot& f) { f.request->body = body_of("a=%FF&b=\xFF\x01&c=%00"); }},
      {"gzip", [] { return with_response_body("gzip", gzip(kText)); }},
      {"x-gzip in capitals", [] { return with_response_body("X-GZIP", gzip(kText)); }},
      {"br", [] { return with_response_body("br", brotli(kText)); }},
      {"zstd", [] { return with_response_body("zstd", zstd(kText)); }},
      {"chained", [] { return with_response_body("gzip, br", brotli(gzip(kText))); }},
      {"chained over two headers", [] { return with_response_body("gzip", zstd(gzip(kText))); },
       [](FlowSnapshot& f) {
         f.response->headers.push_back({"content-encoding", "zstd"});
       }},
      {"compressed binary", [] { return with_response_body("br", brotli(binary_bytes(5000))); }},
      {"compressed and truncated",
       [] {
         std::string text;
         for (int i = 0; text.size() < 100'000; ++i) {
           text += std::to_string(i * 7919) + " ";
         }
         const std::string gz = gzip(text);
         return with_response_body("gzip", gz, gz.size() / 2);
       }},
      {"corrupt gzip", [] { return with_response_body("gzip", "not gzip at all"); }},
      {"corrupt br", [] { return with_response_body("br", binary_bytes(50)); }},
      {"unknown coding", [] { return with_response_body("compress", gzip(kText)); }},
      {"identity", [] { return with_response_body("identity", kText); }},
      {"compressed empty", [] { return with_response_body("gzip", ""); }},
      {"compressed to nothing", [] { return with_response_body("gzip", gzip("")); }},
      {"bad utf-8 and controls in headers and url", full,
       [](FlowSnapshot& f) {
         f.request->method = "G\xC3\x28T";
         f.request->host =
             "ex\xFF"
             "ample.com";
         f.request->target = std::string("/p\x01\x7F\x80/\xED\xA0\x80?\x00=\x1F", 14);
         f.request->http_version = "HTTP/1.1\r\n";
         f.request->headers.push_back({"X-Latin1\t", "caf\xE9"});
         f.request->headers.push_back({std::string("\0", 1), std::string("\0\x01\x02", 3)});
         f.response->reason = "OK\xC0\xAF\"";
         f.response->headers.push_back({"Location", "/next\xF4\x90\x80\x80?\xF0\x9F\x98"});
         f.response->headers.push_back({"Content-Type", "text/\xFE"});
         f.client_address = "127.0.0.1:5\xFF";
         f.server_address = "\xFF:1";
       }},
      {"unicode", full,
       [](FlowSnapshot& f) {
         f.request->target = "/\xE6\x97\xA5\xE6\x9C\xAC?q=\xF0\x9F\x98\x80&r=\xE2\x80\xA8";
         f.request->headers.push_back({"X-Emoji", "\xF0\x9F\x98\x80 \xC2\x85 \xC2\x9F \x7F"});
         f.response->reason = "\xE3\x81\x8A\xE3\x81\x8B\xE3\x81\x97\xE3\x81\x84";
         f.response->body = body_of("\xF0\x9F\x98\x80\xE2\x80\xA8\xC2\x85");
         f.response->headers = {{"Content-Type", "text/plain; charset=utf-8"}};
       }},
      {"huge numbers", full,
       [](FlowSnapshot& f) {
         f.id = kMaxU64;
         f.request->header_bytes = kMaxU64;  // Negative as an int64 headersSize.
         f.response->header_bytes = uint64_t{1} << 63;
         f.response->status = std::numeric_limits<int>::min();
         f.request->body.size = kMaxU64;
         f.request->body.truncated = true;
         f.response->body.size = kMaxU64 - 1;
         f.response->body.truncated = true;
       }},
      {"status zero and negative", full, [](FlowSnapshot& f) { f.response->status = -1; }},
      {"negative timings", full,
       [](FlowSnapshot& f) {
         f.timings = FlowTimings{};
         f.timings.started_us = -1'234'567'890'123;
         f.timings.blocked_us = -5;
         f.timings.dns_us = -1;
         f.timings.connect_us = std::numeric_limits<int64_t>::min();
         f.timings.ssl_us = -2;
         f.timings.send_us = -7;
         f.timings.wait_us = -1;
         f.timings.receive_us = std::numeric_limits<int64_t>::min();
       }},
      {"large timings", full,
       [](FlowSnapshot& f) {
         f.timings.started_us = kMaxI64;
         f.timings.blocked_us = int64_t{1} << 60;
         f.timings.dns_us = (int64_t{1} << 60) + 1;
         f.timings.connect_us = 123'456'789'012'345;
         f.timings.ssl_us = kMaxI64;
         f.timings.send_us = 1;
         f.timings.wait_us = 65;
         f.timings.receive_us = 999'999'999'999'999;
       }},
      {"zero timings", full,
       [](FlowSnapshot& f) { f.timings = FlowTimings{0, 0, 0, 0, 0, 0, 0, 0}; }},
      {"far dates", full,
       [](FlowSnapshot& f) { f.timings.started_us = std::numeric_limits<int64_t>::min(); }},
      {"tls without certificate", full, [](FlowSnapshot& f) { f.server_tls->certificate.reset(); }},
      {"tls server only without sni", full,
       [](FlowSnapshot& f) {
         f.client_tls.reset();
         f.server_tls->sni = "";
       }},
      {"tls client only with empty fields", full,
       [](FlowSnapshot& f) {
         f.server_tls.reset();
         f.client_tls = TlsInfo{};
       }},
      {"tls with bad utf-8", full,
       [](FlowSnapshot& f) {
         f.server_tls->certificate->subject = "CN=\xFF\"x\"";
         f.server_tls->certificate->issuer = std::string("CN=\0", 4);
         f.server_tls->alpn = "h2\x80";
       }},
      {"grpc counted by the layer", full,
       [](FlowSnapshot& f) {
         f.request->headers = {{"Content-Type", "application/grpc+proto"}, {"te", "trailers"}};
         f.request->body = CapturedBody{};
         f.request->body.grpc.emplace();
         f.request->body.append(std::string("\0\0\0\0\3abc\0\0\0\0\0", 13), 4);
         f.response->trailers = {{"grpc-status", "5"}, {"grpc-message", "not \xFF found"}};
       }},
      {"grpc from the kept body, trailers-only", full,
       [](FlowSnapshot& f) {
         f.response->headers = {{"content-type", "APPLICATION/GRPC"}, {"grpc-status", "x"}};
         f.response->trailers.clear();
         f.response->body = test_flows::body_of(std::string("\1\0\0\0\2hi\0\0", 9));
       }},
      {"websocket", full,
       [](FlowSnapshot& f) {
         f.websocket_messages.clear();
         int64_t time = test_flows::kStartedUs;
         for (const int opcode : {0, 1, 2, 8, 9, 10, 15, 255}) {
           f.websocket_messages.push_back({opcode % 2 == 0, time, static_cast<uint8_t>(opcode),
                                           std::string("data \xFF\x00 \xE2\x82\xAC", 11),
                                           opcode > 8});
           time += 1'234'567;
         }
         f.websocket_messages.push_back({true, -1, 1, "", false});
         f.websocket_messages.push_back(
             {false, std::numeric_limits<int64_t>::min(), 1, std::string("\x00\x01\"\\", 4), true});
         f.websocket_messages.push_back({false, kMaxI64, 2, "", false});
       }},
  };
  return out;
}

TEST(JsonLine, EqualsTheDumpedHarEntry) {
  for (const Variation& variation : variations()) {
    SCOPED_TRACE(variation.name);
    const FlowSnapshot flow = variation.make();
    EXPECT_TRUE(same_line(flow));
    // Each line is one line of valid JSON.
    const std::string line = to_json_line(flow);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_TRUE(json::accept(line));
  }
}

TEST(JsonLine, TheDumpedEntryTakesEveryBranch) {
  // Spot checks that the variations above reach what they are meant to.
  const auto entry = [](const char* name) {
    for (const Variation& variation : variations()) {
      if (std::string_view(variation.name) == name) {
        return to_har_entry(variation.make());
      }
    }
    ADD_FAILURE() << name;
    return json();
  };
  EXPECT_EQ(entry("huge numbers")["_id"], kMaxU64);
  EXPECT_LT(entry("huge numbers")["request"]["headersSize"].get<int64_t>(), 0);
  EXPECT_TRUE(entry("chained")["response"]["content"].contains("compression"));
  EXPECT_EQ(entry("chained")["response"]["content"]["text"], kText);
  EXPECT_EQ(entry("zstd")["response"]["content"]["text"], kText);
  EXPECT_EQ(entry("compressed binary")["response"]["content"]["encoding"], "base64");
  EXPECT_TRUE(entry("compressed and truncated")["response"]["content"]["_truncated"]);
  EXPECT_FALSE(entry("corrupt gzip")["response"]["content"].contains("compression"));
  EXPECT_EQ(entry("cookies")["response"]["cookies"].size(), 12u);
  EXPECT_EQ(entry("form content type in capitals")["request"]["postData"]["params"].size(), 2u);
  EXPECT_TRUE(entry("negative timings")["timings"]["blocked"].is_number_integer());
  EXPECT_TRUE(entry("negative timings")["timings"]["send"].is_number_float());
  EXPECT_EQ(entry("response only")["request"]["method"], "");
  EXPECT_EQ(entry("tcp huge counts")["response"]["bodySize"], -6);
  EXPECT_EQ(entry("websocket")["_webSocketMessages"].size(), 11u);
  const json grpc = entry("grpc counted by the layer")["_grpc"];
  EXPECT_EQ(grpc["requestMessageSizes"], json::array({3, 0}));
  EXPECT_EQ(grpc["status"], 5);
  EXPECT_TRUE(grpc.contains("message"));
  const json trailers_only = entry("grpc from the kept body, trailers-only")["_grpc"];
  EXPECT_EQ(trailers_only["responseMessageSizes"], json::array({2}));
  EXPECT_FALSE(trailers_only.contains("status"));  // "x" is no status.
  EXPECT_FALSE(entry("cookies").contains("_grpc"));
}

TEST(GrpcFraming, CountsMessagesSplitAnywhere) {
  // Three messages: 3 bytes, 0 bytes, 70000 bytes (a length with every prefix byte used).
  std::string body =
      std::string("\0\0\0\0\3abc", 8) + std::string(5, '\0') + std::string("\0\0\x01\x11\x70", 5);
  body += std::string(70000, 'x');
  for (size_t split = 0; split <= body.size(); split += split < 40 ? 1 : 9999) {
    GrpcFraming framing;
    framing.feed(std::string_view(body).substr(0, split));
    framing.feed(std::string_view(body).substr(split));
    EXPECT_EQ(framing.sizes, (std::vector<uint64_t>{3, 0, 70000})) << split;
    EXPECT_EQ(framing.messages, 3u);
    EXPECT_TRUE(framing.complete());
  }
  GrpcFraming partial;
  partial.feed(std::string("\0\0\0\0\5ab", 7));
  EXPECT_EQ(partial.messages, 0u);
  EXPECT_FALSE(partial.complete());
}

// RandomFlows makes flows whose every string may hold any byte.
class RandomFlows {
 public:
  explicit RandomFlows(uint64_t seed) : random_(seed) {
    const std::string text = "{\"text\":\"" + kText + "\"}\n" + kText + kText;
    bodies_ = {"", kText, binary_bytes(300), "a=1&b=%FF+x&c", std::string("\0\0\0", 3)};
    encoded_ = {{"gzip", gzip(text)},
                {"br", brotli(text)},
                {"zstd", zstd(binary_bytes(200))},
                {"gzip, zstd", zstd(gzip(text))},
                {"deflate", "corrupt"},
                {"gzip", gzip(text).substr(0, 20)},
                {"identity", text},
                {"x-unknown", text}};
  }

  FlowSnapshot flow() {
    FlowSnapshot flow;
    flow.id = chance(10) ? kMaxU64 - below(3) : random_();
    flow.kind = chance(8) ? FlowKind::kTcp : FlowKind::kHttp;
    flow.state = FlowState::kFinished;
    flow.client_address = chance(2) ? "127.0.0.1:" + std::to_string(below(65536)) : bytes(20);
    flow.server_address = chance(2) ? "[2001:db8::1]:443" : bytes(20);
    if (chance(2)) {
      flow.client_tls = tls();
    }
    if (chance(2)) {
      flow.server_tls = tls();
    }
    if (chance(6) || flow.kind == FlowKind::kHttp) {
      if (!chance(6)) {
        flow.request = request();
      }
      if (!chance(4)) {
        flow.response = response();
      }
    }
    if (chance(5)) {
      for (uint64_t i = below(4); i > 0; --i) {
        const auto opcode = static_cast<uint8_t>(chance(3) ? below(256) : 1 + below(2));
        flow.websocket_messages.push_back({chance(2), duration(), opcode, bytes(30), chance(4)});
      }
    }
    flow.tcp_host = chance(2) ? "example.com" : bytes(12);
    flow.tcp_port = static_cast<uint16_t>(below(65536));
    flow.bytes_from_client = number();
    flow.bytes_from_server = number();
    flow.timings.started_us = chance(10) ? static_cast<int64_t>(random_()) : duration();
    for (int64_t* phase : {&flow.timings.blocked_us, &flow.timings.dns_us, &flow.timings.connect_us,
                           &flow.timings.ssl_us, &flow.timings.send_us, &flow.timings.wait_us,
                           &flow.timings.receive_us}) {
      *phase = chance(3) ? -1 : duration();
    }
    flow.error = chance(3) ? bytes(40) : "";
    return flow;
  }

 private:
  bool chance(uint64_t one_in) { return random_() % one_in == 0; }
  uint64_t below(uint64_t limit) { return random_() % limit; }

  // bytes returns up to |max_size| bytes: any byte, control characters, UTF-8 (well-formed or
  // not), and the characters that mean something to cookies, queries and JSON.
  std::string bytes(size_t max_size) {
    static const std::vector<std::string> kPieces = {"=",
                                                     ";",
                                                     "&",
                                                     "+",
                                                     "%",
                                                     "%2B",
                                                     "%FF",
                                                     "%0A",
                                                     "%C3%A9",
                                                     "?",
                                                     "#",
                                                     " ",
                                                     "\t",
                                                     "\"",
                                                     "\\",
                                                     "Path=/",
                                                     "Max-Age=60",
                                                     "Expires=Wed, 21 Oct 2015 07:28:00 GMT",
                                                     "HttpOnly",
                                                     "Secure",
                                                     "SameSite=Lax",
                                                     "Domain=.x",
                                                     "\xC3\xA9",
                                                     "\xE2\x82\xAC",
                                                     "\xF0\x9F\x98\x80",
                                                     "\xED\xA0\x80",
                                                     "\xC0\xAF",
                                                     "\xF0\x9F\x98",
                                                     "\x7F",
                                                     "\xC2\x85"};
    const size_t size = below(max_size + 1);
    std::string out;
    while (out.size() < size) {
      switch (below(4)) {
        case 0:
          out.push_back(static_cast<char>(below(256)));
          break;
        case 1:
          out += kPieces[below(kPieces.size())];
          break;
        default:
          out.push_back(static_cast<char>('a' + below(26)));
          break;
      }
    }
    return out;
  }

  uint64_t number() {
    switch (below(4)) {
      case 0:
        return 0;
      case 1:
        return random_();
      default:
        return below(100'000);
    }
  }

  // duration returns microseconds: small, large, or negative.
  int64_t duration() {
    switch (below(5)) {
      case 0:
        return static_cast<int64_t>(below(1000));
      case 1:
        return static_cast<int64_t>(random_() >> 4);  // Up to 2^60: the sum never overflows.
      case 2:
        return -static_cast<int64_t>(below(1'000'000));
      default:
        return static_cast<int64_t>(below(10'000'000'000));
    }
  }

  Headers headers() {
    static const std::vector<std::string> kNames = {
        "Cookie",           "Set-Cookie", "set-cookie", "Content-Type",
        "Content-Encoding", "Location",   "Host",       "X-Custom"};
    Headers out;
    for (uint64_t i = below(8); i > 0; --i) {
      const std::string name = chance(5) ? bytes(10) : kNames[below(kNames.size())];
      std::string value = bytes(40);
      if (iequals(name, "Content-Type") && chance(2)) {
        value = chance(2) ? "application/x-www-form-urlencoded" : "text/html";
      }
      out.push_back({name, value});
    }
    return out;
  }

  TlsInfo tls() {
    TlsInfo out{chance(3) ? "" : bytes(15), bytes(8), bytes(20), bytes(5), std::nullopt};
    if (chance(2)) {
      out.certificate = TlsCertificateInfo{bytes(30), bytes(30), bytes(20), bytes(64)};
    }
    return out;
  }

  CapturedBody body(Headers* headers) {
    std::string data;
    if (chance(3)) {
      const auto& [coding, encoded] = encoded_[below(encoded_.size())];
      headers->push_back({"Content-Encoding", coding});
      data = encoded;
    } else {
      data = chance(2) ? bytes(200) : bodies_[below(bodies_.size())];
    }
    CapturedBody out;
    const uint64_t limit = chance(4) ? below(data.size() + 1) : 1 << 20;
    for (size_t at = 0; at < data.size();) {
      const size_t piece = std::min<size_t>(data.size() - at, 1 + below(100));
      out.append(std::string_view(data).substr(at, piece), limit);
      at += piece;
    }
    if (data.empty() && chance(2)) {
      out.append("x", 0);  // Size 1, nothing kept.
    }
    return out;
  }

  HttpRequestData request() {
    HttpRequestData out;
    out.method = chance(4) ? bytes(8) : (chance(8) ? "CONNECT" : "POST");
    out.scheme = chance(2) ? "https" : (chance(2) ? "http" : bytes(5));
    out.host = chance(2) ? "example.com" : bytes(20);
    out.port = static_cast<uint16_t>(chance(2) ? 443 : below(65536));
    out.target = "/" + bytes(30) + (chance(2) ? "?" + bytes(60) : "");
    out.http_version = chance(2) ? "HTTP/1.1" : bytes(10);
    out.headers = headers();
    if (chance(4)) {
      out.trailers = headers();
    }
    if (chance(2)) {
      out.body = body(&out.headers);
    }
    out.header_bytes = number();
    return out;
  }

  HttpResponseData response() {
    HttpResponseData out;
    out.http_version = bytes(10);
    out.status = static_cast<int>(static_cast<int64_t>(below(1200)) - 100);
    out.reason = bytes(20);
    out.headers = headers();
    if (chance(4)) {
      out.trailers = headers();
    }
    out.body = body(&out.headers);
    out.header_bytes = number();
    return out;
  }

  std::mt19937_64 random_;
  std::vector<std::string> bodies_;
  std::vector<std::pair<std::string, std::string>> encoded_;
};

TEST(JsonLine, EqualsTheDumpedHarEntryForRandomFlows) {
  RandomFlows flows(0x5167'6c61'7373);
  for (int i = 0; i < 4000; ++i) {
    const FlowSnapshot flow = flows.flow();
    ASSERT_TRUE(same_line(flow)) << "random flow " << i;
  }
}

}  // namespace
}  // namespace sightglass::core
