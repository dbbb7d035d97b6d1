// The limits the README lists (its "Limits" table), each end to end: the real binary, a peer
// that goes past the limit on a raw socket, the answer it gets, and a normal client served by
// the same proxy afterwards (or meanwhile).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/proxy_fixture.h"
#include "tests/support/raw_client.h"

namespace sightglass {
namespace {

using test::closed_within;
using test::json;
using test::ProcessResult;
using test::RawClient;

class LimitsTest : public test::ProxyFixture {
 protected:
  // served says whether a normal client gets the origin's "ok" through the proxy now.
  void expect_served() {
    const ProcessResult r = curl({"--max-time", "10", origin_url("/")});
    EXPECT_EQ(r.out, "ok") << r.err;
  }
  std::string origin_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(origin_) + path;
  }
  // answer_to sends |request| on a new connection; returns what came back until the proxy
  // closed the connection (empty when it did not close within 10 s).
  std::string answer_to(const std::string& request) {
    RawClient client(proxy_port_);
    EXPECT_TRUE(client.ok());
    client.send_all(request);
    std::string got;
    EXPECT_TRUE(closed_within(client, 10000, &got)) << "not closed; got: " << got.substr(0, 200);
    return got;
  }

  uint16_t origin_ = 0;
};

// The request line and the header block together: 64 KiB.
TEST_F(LimitsTest, RequestHeadOver64KiBIs431) {
  origin_ = start_origin();
  start_proxy();
  const std::string big_header = "GET " + origin_url("/") +
                                 " HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') +
                                 "\r\n\r\n";
  std::string got = answer_to(big_header);
  EXPECT_EQ(got.rfind("HTTP/1.1 431 ", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("header section larger than 64 KiB"), std::string::npos);
  const std::string long_line =
      "GET " + origin_url("/" + std::string(70 * 1024, 'p')) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  got = answer_to(long_line);
  EXPECT_EQ(got.rfind("HTTP/1.1 431 ", 0), 0u) << got.substr(0, 200);
  expect_served();
  // Just under the limit is a normal request.
  const ProcessResult under =
      curl({"-H", "X-Big: " + std::string(60 * 1024, 'a'), origin_url("/")});
  EXPECT_EQ(under.out, "ok") << under.err;
  stop_proxy();
}

// Header fields: 1,000 in a request, in a response, or in trailers.
TEST_F(LimitsTest, MoreThanAThousandHeaderFieldsIs431) {
  origin_ = start_origin();
  start_proxy();
  std::string many;
  for (int i = 0; i < 1001; ++i) {
    many += "X-" + std::to_string(i) + ": 1\r\n";
  }
  const std::string got =
      answer_to("GET " + origin_url("/") + " HTTP/1.1\r\nHost: x\r\n" + many + "\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 431 ", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("more than 1000 header fields"), std::string::npos);
  // Under the limit is fine.
  std::vector<std::string> args;
  for (int i = 0; i < 990; ++i) {  // With curl's own four.
    args.insert(args.end(), {"-H", "X-" + std::to_string(i) + ": 1"});
  }
  args.push_back(origin_url("/"));
  const ProcessResult ok = curl(args);
  EXPECT_EQ(ok.out, "ok") << ok.err.substr(0, 300);

  // A server that answers with 1,001 fields: 502, and the proxy goes on.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread server([listener, many] {
    const int conn = accept(listener, nullptr, nullptr);
    char buf[4096];
    (void)!recv(conn, buf, sizeof(buf), 0);
    const std::string response = "HTTP/1.1 200 OK\r\n" + many + "Content-Length: 2\r\n\r\nok";
    (void)!send(conn, response.data(), response.size(), MSG_NOSIGNAL);
    ::close(conn);
  });
  const ProcessResult bad =
      curl({"-i", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/"});
  server.join();
  ::close(listener);
  EXPECT_EQ(bad.out.rfind("HTTP/1.1 502 ", 0), 0u) << bad.out.substr(0, 300);
  EXPECT_NE(bad.out.find("more than 1000 header fields"), std::string::npos);
  expect_served();
  stop_proxy();
}

// Client connections open at once (--max-connections): one more is answered 503 and closed;
// those open are served, and a place that frees up is taken again.
TEST_F(LimitsTest, ConnectionsBeyondTheLimitGet503) {
  origin_ = start_origin();
  start_proxy({"--max-connections", "3"});
  std::vector<std::unique_ptr<RawClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawClient>(proxy_port_));
    ASSERT_TRUE(open.back()->ok());
  }
  // The three are accepted (a request on the first is answered) before the fourth comes.
  const std::string request = "GET " + origin_url("/") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(open[0]->send_all(request));
  EXPECT_NE(open[0]->read_until("ok").find("HTTP/1.1 200 "), std::string::npos);
  const std::string refused = answer_to(request);
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused.substr(0, 200);
  EXPECT_NE(refused.find("3 client connections are open (--max-connections)"), std::string::npos);
  // The open ones are still served.
  for (int i = 1; i < 3; ++i) {
    ASSERT_TRUE(open[static_cast<size_t>(i)]->send_all(request));
    EXPECT_NE(open[static_cast<size_t>(i)]->read_until("ok").find("HTTP/1.1 200 "),
              std::string::npos);
  }
  // One leaves: a new client gets its place (once the proxy has seen it leave).
  open[2]->close();
  ProcessResult later;
  for (int attempt = 0; attempt < 50 && later.out != "ok"; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    later = curl({origin_url("/")});
  }
  EXPECT_EQ(later.out, "ok") << later.err;
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 5; });
  size_t refusals = 0;
  for (const json& flow : flows) {
    if (flow.value("_error", "").find("--max-connections") != std::string::npos) {
      ++refusals;
    }
  }
  EXPECT_GE(refusals, 1u);
}

// Slowloris: 100 connections each sending a request head a byte a second do not delay a
// normal client, and each is answered 408 and closed at the header timeout.
TEST_F(LimitsTest, SlowlorisIsClosedAtTheHeaderTimeoutWithoutDelayingOthers) {
  origin_ = start_origin();
  start_proxy({"--client-handshake-timeout", "3"});
  constexpr size_t kSlow = 100;
  std::vector<std::unique_ptr<RawClient>> slow;
  for (size_t i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawClient>(proxy_port_));
    ASSERT_TRUE(slow.back()->ok());
    ASSERT_TRUE(slow.back()->send_all("GET " + origin_url("/") + " HTTP/1.1\r\n"));
  }
  std::atomic<bool> done{false};
  std::thread dribble([&] {
    // A byte a second on every slow connection (a header that never ends).
    for (int second = 0; second < 12 && !done; ++second) {
      for (auto& client : slow) {
        client->send_all("X");
      }
      for (int i = 0; i < 10 && !done; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  // Normal clients meanwhile: answered at once (curl gives up after 2 s).
  for (int i = 0; i < 5; ++i) {
    const ProcessResult r = curl({"--max-time", "2", origin_url("/")});
    EXPECT_EQ(r.out, "ok") << "a normal client was held up: " << r.err;
  }
  // Each slow connection: 408, then closed (within the 3 s limit plus the dribble's pace).
  size_t answered_408 = 0;
  for (auto& client : slow) {
    std::string got;
    if (closed_within(*client, 10000, &got) && got.rfind("HTTP/1.1 408 ", 0) == 0) {
      ++answered_408;
    }
  }
  done = true;
  dribble.join();
  EXPECT_EQ(answered_408, kSlow);
  expect_served();
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= kSlow + 6; });
  size_t timed_out = 0;
  for (const json& flow : flows) {
    if (flow.value("_error", "").rfind("client timeout:", 0) == 0) {
      ++timed_out;
    }
  }
  EXPECT_EQ(timed_out, kSlow);
}

// gzip_of_zeros is |n| zero bytes, gzip-compressed.
std::string gzip_of_zeros(size_t n) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  char buf[1 << 16];
  for (size_t left = n; left > 0 || z.avail_in > 0;) {
    if (z.avail_in == 0 && left > 0) {
      const size_t take = std::min(left, zeros.size());
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
      z.avail_in = static_cast<uInt>(take);
      left -= take;
    }
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      deflate(&z, flush);
      out.append(buf, sizeof(buf) - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH) {
      break;
    }
  }
  deflateEnd(&z);
  return out;
}

// Decoding for the log: a gzip bomb (256 MiB of zeros in a quarter of a MiB) reaches the client
// as it came, and the log shows 4 MiB of it decoded; the proxy's memory stays small.
TEST_F(LimitsTest, GzipBombCostsTheLogNoMemory) {
  const std::string bomb = gzip_of_zeros(size_t{256} << 20);
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  const auto path = dir_.path() / "bomb.gz";
  std::ofstream(path, std::ios::binary) << bomb;
  origin_ = start_origin();
  start_proxy();
  const ProcessResult r =
      curl({"-o", (dir_.path() / "got.gz").string(), "-w", "%{http_code} %{size_download}",
            origin_url("/file?enc=gzip&type=text/plain&path=" + path.string())});
  EXPECT_EQ(r.out, "200 " + std::to_string(bomb.size())) << r.err;
  EXPECT_EQ(test::read_file(dir_.path() / "got.gz"), bomb);
  const int64_t peak_kib = test::peak_rss_kib(proxy_->pid());
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return !f.empty(); });
  ASSERT_EQ(flows.size(), 1u);
  const json& content = flows[0]["response"]["content"];
  EXPECT_EQ(content["size"], size_t{4} << 20);
  EXPECT_EQ(content["_truncated"], true);
  // The writers' decoded copies and their JSON: a few times 4 MiB, never the 256 MiB.
#ifdef SIGHTGLASS_SANITIZED
  constexpr int64_t kBoundKib = 320 * 1024;  // AddressSanitizer's shadow and quarantine.
#else
  constexpr int64_t kBoundKib = 96 * 1024;
#endif
  EXPECT_LT(peak_kib, kBoundKib) << "peak RSS " << peak_kib << " KiB";
}

// cpu_ms is the CPU time (user + system) a process has used, in milliseconds.
int64_t cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  int64_t utime = 0;
  int64_t stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) {
      utime = std::stoll(field);
    } else if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return (utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

// H2Frame is one frame the proxy sent.
struct H2Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

std::vector<H2Frame> parse_frames(const std::string& bytes) {
  std::vector<H2Frame> frames;
  for (size_t at = 0; at + 9 <= bytes.size();) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[at + i]); };
    const size_t length = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
    if (at + 9 + length > bytes.size()) {
      break;
    }
    H2Frame f;
    f.type = byte(3);
    f.flags = byte(4);
    f.stream = ((uint32_t{byte(5)} & 0x7f) << 24) | (uint32_t{byte(6)} << 16) |
               (uint32_t{byte(7)} << 8) | byte(8);
    f.payload = bytes.substr(at + 9, length);
    frames.push_back(std::move(f));
    at += 9 + length;
  }
  return frames;
}

// goaway_code is the error code of the GOAWAY among |frames|, if there is one.
std::optional<uint32_t> goaway_code(const std::vector<H2Frame>& frames) {
  for (const H2Frame& f : frames) {
    if (f.type == 7 && f.payload.size() >= 8) {
      return (uint32_t{static_cast<uint8_t>(f.payload[4])} << 24) |
             (uint32_t{static_cast<uint8_t>(f.payload[5])} << 16) |
             (uint32_t{static_cast<uint8_t>(f.payload[6])} << 8) |
             static_cast<uint8_t>(f.payload[7]);
    }
  }
  return std::nullopt;
}

// HTTP/2 peers that abuse the protocol, each on a prior-knowledge (h2c) connection to the
// proxy in reverse mode: the proxy's CPU and memory stay bounded, and a normal HTTP/2 client is
// served afterwards.
class Http2AbuseTest : public LimitsTest {
 protected:
  void SetUp() override {
    LimitsTest::SetUp();
    origin_ = start_origin();
    start_proxy({"--mode", "reverse:http://127.0.0.1:" + std::to_string(origin_)});
    cpu_before_ms_ = cpu_ms(proxy_->pid());
  }
  // kGet is a HEADERS block: GET / on http, authority x (static table and a literal).
  static std::string get_block() { return std::string("\x82\x86\x84\x01\x01x", 6); }
  static std::string preface() {
    return "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + test::h2_frame(4, 0, 0, "");
  }
  // send_fast sends |frames| (whatever the proxy takes; false once it closed).
  static bool send_fast(RawClient& client, const std::string& frames) {
    return client.send_all(frames);
  }
  // expect_bounded: the proxy used at most |cpu_limit_ms| of CPU since SetUp and stayed
  // small; a normal HTTP/2 client is served.
  void expect_bounded_and_serving(int64_t cpu_limit_ms) {
    const int64_t used = cpu_ms(proxy_->pid()) - cpu_before_ms_;
#ifdef SIGHTGLASS_SANITIZED
    cpu_limit_ms *= 5;  // AddressSanitizer's cost.
    constexpr int64_t kRssBoundKib = 320 * 1024;
#else
    constexpr int64_t kRssBoundKib = 64 * 1024;
#endif
    EXPECT_LT(used, cpu_limit_ms) << "CPU ms used by the proxy";
    const int64_t peak = test::peak_rss_kib(proxy_->pid());
    EXPECT_LT(peak, kRssBoundKib) << "peak RSS KiB";
    const ProcessResult r = curl({"--http2-prior-knowledge", "--max-time", "10",
                                  "http://127.0.0.1:" + std::to_string(proxy_port_) + "/"},
                                 false);
    EXPECT_EQ(r.out, "ok") << r.err;
  }

  int64_t cpu_before_ms_ = 0;
};

// Rapid reset (CVE-2023-44487): 10,000 streams opened and cancelled at once.
TEST_F(Http2AbuseTest, RapidResetOfTenThousandStreams) {
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.ok());
  std::string frames = preface();
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t id = 2 * i + 1;
    frames += test::h2_frame(1, 0x5, id, get_block());                 // END_STREAM|END_HEADERS
    frames += test::h2_frame(3, 0, id, std::string("\0\0\0\x08", 4));  // RST_STREAM CANCEL
  }
  send_fast(client, frames);
  std::string got;
  const bool closed = closed_within(client, 10000, &got);
  const auto code = goaway_code(parse_frames(got));
  // nghttp2's reset rate limit (1,000 at once, then 33 a second) ends the connection with
  // GOAWAY INTERNAL_ERROR after about a thousand streams, far from the 10,000th.
  EXPECT_TRUE(closed);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0x2u);
  expect_bounded_and_serving(5000);
  stop_proxy();
}

// SETTINGS and PING floods from a peer that does not read: the acknowledgements it never
// takes are not queued without bound.
TEST_F(Http2AbuseTest, SettingsAndPingFloods) {
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.ok());
  std::string flood = preface();
  for (int i = 0; i < 100000; ++i) {
    flood += test::h2_frame(4, 0, 0, "");
    flood += test::h2_frame(6, 0, 0, std::string(8, static_cast<char>(i)));
  }
  // The proxy stops reading (or closes) once its unread answers pile up: send what it takes.
  fcntl(client.fd(), F_SETFL, fcntl(client.fd(), F_GETFL) | O_NONBLOCK);
  size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sent < flood.size() && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::send(client.fd(), flood.data() + sent, flood.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN) {
      break;  // Closed by the proxy.
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  expect_bounded_and_serving(10000);
  client.close();
  stop_proxy();
}

// CONTINUATION flood (CVE-2024-27316 and kin): a header block that never ends.
TEST_F(Http2AbuseTest, ContinuationFlood) {
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.ok());
  std::string frames = preface() + test::h2_frame(1, 0x1, 1, get_block());  // No END_HEADERS.
  const std::string field = std::string("\x40\x01y\x01z", 5);  // y: z, indexed (63 bytes).
  for (int i = 0; i < 100000; ++i) {
    frames += test::h2_frame(9, 0, 1, field);
  }
  send_fast(client, frames);
  std::string got;
  EXPECT_TRUE(closed_within(client, 10000, &got));
  expect_bounded_and_serving(5000);
  stop_proxy();
}

// HPACK bomb: one 4,000-byte field in the dynamic table, then referenced by one byte each,
// 14,000 times (56 MB of headers in 18 KB of frames). The stream is reset at 64 KiB of fields,
// and its flow says why.
TEST_F(Http2AbuseTest, HpackBombIsResetAtTheHeaderListLimit) {
  RawClient client(proxy_port_);
  ASSERT_TRUE(client.ok());
  // Literal with incremental indexing, new name "x-bomb", value of 4,000 bytes (7-bit prefix
  // integer: 127 + 3873 = 0x7f, 0xa1 0x1e).
  std::string block =
      get_block() + "\x40\x06x-bomb" + std::string("\x7f\xa1\x1e", 3) + std::string(4000, 'a');
  block += std::string(14000, '\xbe');  // Index 62: the newest dynamic entry.
  std::string frames = preface();
  const size_t first = 16384;
  frames += test::h2_frame(1, 0x1, 1, block.substr(0, first));  // END_STREAM
  frames += test::h2_frame(9, 0x4, 1, block.substr(first));     // END_HEADERS
  ASSERT_TRUE(send_fast(client, frames));
  std::string got = client.read_until(std::string("\x00\x00\x04\x03", 4), 10000);
  bool reset = false;
  for (const H2Frame& f : parse_frames(got)) {
    reset |= f.type == 3 && f.stream == 1;
  }
  EXPECT_TRUE(reset) << "stream 1 not reset";
  // The connection goes on: a normal request on it is answered.
  ASSERT_TRUE(client.send_all(test::h2_frame(1, 0x5, 3, get_block())));
  got = client.read_until("ok", 10000);
  bool answered = false;
  for (const H2Frame& f : parse_frames(got)) {
    answered |= f.type == 1 && f.stream == 3;
  }
  EXPECT_TRUE(answered);
  expect_bounded_and_serving(5000);
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 3; });
  size_t named = 0;
  for (const json& flow : flows) {
    named +=
        flow.value("_error", "").find("header fields are larger than 64 KiB") != std::string::npos;
  }
  EXPECT_EQ(named, 1u);
}

}  // namespace
}  // namespace sightglass
