// The traffic rules end to end: the real binary between curl and the Python origin, over plain
// HTTP and through TLS interception (--map-remote, --map-local, --modify-headers,
// --modify-body, --block-list); and the rule pieces on their own.
#include <zlib.h>

#include "core/rules/interceptor.h"
#include "core/rules/traffic_rules.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::test {
namespace {

class RulesTest : public ProxyFixture {
 protected:
  // bases are the origin's URL prefixes: plain HTTP, and HTTPS (intercepted).
  std::vector<std::string> bases() {
    if (plain_port_ == 0) {
      plain_port_ = start_origin();
      tls_port_ = start_origin(good_cert_);
    }
    return {"http://127.0.0.1:" + std::to_string(plain_port_),
            "https://localhost:" + std::to_string(tls_port_)};
  }
  uint16_t plain_port_ = 0;
  uint16_t tls_port_ = 0;
};

std::string gunzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 16 + MAX_WBITS), Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  out.resize(out.size() - stream.avail_out);
  inflateEnd(&stream);
  EXPECT_EQ(rc, Z_STREAM_END) << "not a whole gzip stream";
  return out;
}

std::string gzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - stream.avail_out);
  deflateEnd(&stream);
  return out;
}

TEST_F(RulesTest, ModifyHeadersSetsAndRemovesOnRequestsAndResponses) {
  const std::vector<std::string> urls = bases();
  start_proxy({"--modify-headers", "|~q|X-Added|yes", "--modify-headers", "|~q|X-Drop|",
               "--modify-headers", "|~s ~u echo-full|Content-Type|text/x-changed"});
  for (const std::string& base : urls) {
    const ProcessResult got =
        curl({"--suppress-connect-headers", "-i", "-H", "X-Drop: please", base + "/echo-full"});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_NE(got.out.find("X-Added: yes\r\n"), std::string::npos) << base << "\n" << got.out;
    EXPECT_EQ(got.out.find("X-Drop"), std::string::npos) << base << "\n" << got.out;
    EXPECT_NE(got.out.find("Content-Type: text/x-changed\r\n"), std::string::npos) << got.out;
    EXPECT_EQ(got.out.find("application/octet-stream"), std::string::npos) << got.out;
  }
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 2; });
  ASSERT_EQ(flows.size(), 2u);
  for (const json& flow : flows) {
    EXPECT_NE(flow["_modified"].get<std::string>().find("--modify-headers |~q|X-Added|yes"),
              std::string::npos)
        << flow.dump();
  }
}

TEST_F(RulesTest, MapRemoteSendsRequestsElsewhereAndTheFlowKeepsBothUrls) {
  const std::vector<std::string> urls = bases();
  const std::string plain = urls[0];
  // Same server, another path; and from the HTTPS origin to the plain one.
  start_proxy({"--map-remote", "|~u /old/|/old/|/echo-full/new/", "--map-remote",
               "|~u /cross/|^https://localhost:" + std::to_string(tls_port_) + "/cross/|" + plain +
                   "/echo-full/crossed/"});
  for (const std::string& base : urls) {
    const ProcessResult got = curl({base + "/old/x?q=1"});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_TRUE(got.out.starts_with("GET /echo-full/new/x?q=1 HTTP/1.1\r\n")) << got.out;
  }
  const ProcessResult crossed = curl({urls[1] + "/cross/y"});
  ASSERT_EQ(crossed.exit_code, 0) << crossed.err;
  EXPECT_TRUE(crossed.out.starts_with("GET /echo-full/crossed/y HTTP/1.1\r\n")) << crossed.out;
  EXPECT_NE(crossed.out.find("\r\nHost: 127.0.0.1:" + std::to_string(plain_port_) + "\r\n"),
            std::string::npos)
      << crossed.out;
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 3; });
  ASSERT_EQ(flows.size(), 3u);
  EXPECT_EQ(flows[2]["request"]["url"], plain + "/echo-full/crossed/y");
  EXPECT_EQ(flows[2]["_original_url"], urls[1] + "/cross/y");
  EXPECT_EQ(flows[0]["_original_url"], plain + "/old/x?q=1");
}

TEST_F(RulesTest, MapLocalAnswersFromFilesAndNeverLeavesItsDirectory) {
  const std::vector<std::string> urls = bases();
  const fs::path www = dir_.path() / "www";
  fs::create_directories(www / "sub");
  std::ofstream(www / "index.html") << "<h1>index</h1>";
  std::ofstream(www / "data.json") << "{\"local\": true}";
  std::ofstream(www / "sub" / "a b.txt") << "spaced";
  std::ofstream(dir_.path() / "secret.txt") << "do not serve";
  fs::create_symlink(dir_.path() / "secret.txt", www / "link.txt");
  for (const std::string& base : urls) {
    start_proxy({"--map-local", "|~u /static/|" + base + "/static/|" + www.string()});
    const ProcessResult json_file =
        curl({"--suppress-connect-headers", "-i", base + "/static/data.json?v=2"});
    EXPECT_NE(json_file.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << json_file.out;
    EXPECT_NE(json_file.out.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_TRUE(json_file.out.ends_with("{\"local\": true}")) << json_file.out;
    EXPECT_EQ(curl({base + "/static/"}).out, "<h1>index</h1>");
    EXPECT_EQ(curl({base + "/static/sub/a%20b.txt"}).out, "spaced");
    for (const char* escape :
         {"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/sub/../../secret.txt",
          "/static/link.txt", "/static/missing.txt"}) {
      const ProcessResult got =
          curl({"--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base + escape});
      EXPECT_EQ(got.out, "404") << base + escape;
    }
    // Requests the rule does not match still reach the origin.
    EXPECT_EQ(curl({base + "/plain"}).out, "ok");
    const std::vector<json> flows =
        stop_when_logged([](const std::vector<json>& f) { return f.size() >= 9; });
    ASSERT_EQ(flows.size(), 9u);
    EXPECT_EQ(flows[0]["serverIPAddress"], "") << "the origin was asked";
    fs::remove(jsonl());
  }
}

TEST_F(RulesTest, ModifyBodyRewritesRequestsAndGzipResponses) {
  const std::vector<std::string> urls = bases();
  const fs::path page = dir_.path() / "page.txt.gz";
  std::ofstream(page, std::ios::binary) << gzip("hello world, the world is big");
  start_proxy({"--modify-body", "|~s ~u /file|world|planet", "--modify-body", "|~q|apple|banana"});
  for (const std::string& base : urls) {
    // The client gets a valid gzip body with the change (and Content-Length to match).
    const ProcessResult raw = curl({"--suppress-connect-headers", "-D", "-",
                                    base + "/file?enc=gzip&type=text/plain&path=" + page.string()});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    const size_t body_at = raw.out.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos) << raw.out;
    const std::string body = raw.out.substr(body_at + 4);
    EXPECT_EQ(gunzip(body), "hello planet, the planet is big");
    EXPECT_NE(raw.out.find("Content-Encoding: gzip\r\n"), std::string::npos) << raw.out;
    EXPECT_NE(raw.out.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
              std::string::npos)
        << raw.out;
    EXPECT_EQ(
        curl({"--compressed", base + "/file?enc=gzip&type=text/plain&path=" + page.string()}).out,
        "hello planet, the planet is big");
    // A request body, framed again: the origin sees the new length.
    const ProcessResult echoed =
        curl({"--data-binary", "apple pie, apple tart", base + "/echo-full"});
    EXPECT_NE(echoed.out.find("Content-Length: 23\r\n"), std::string::npos) << echoed.out;
    EXPECT_TRUE(echoed.out.ends_with("\r\n\r\nbanana pie, banana tart")) << echoed.out;
  }
}

TEST_F(RulesTest, BlockListAnswersWithoutTheServerAnd444Closes) {
  const std::vector<std::string> urls = bases();
  start_proxy({"--block-list", "|~u /ads/|403", "--block-list", "|~u /track|444"});
  for (const std::string& base : urls) {
    const ProcessResult blocked = curl({"--suppress-connect-headers", "-i", base + "/ads/banner"});
    ASSERT_EQ(blocked.exit_code, 0) << blocked.err;
    EXPECT_TRUE(blocked.out.starts_with("HTTP/1.1 403 Forbidden\r\n")) << blocked.out;
    const ProcessResult closed = curl({base + "/track"});
    EXPECT_EQ(closed.exit_code, 52) << "curl: empty reply expected\n" << closed.err;
    EXPECT_EQ(curl({base + "/fine"}).out, "ok");
  }
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 6; });
  ASSERT_EQ(flows.size(), 6u);
  EXPECT_EQ(flows[0]["response"]["status"], 403);
  EXPECT_EQ(flows[0]["serverIPAddress"], "");
  EXPECT_NE(flows[1]["_error"].get<std::string>().find("killed at the request hold point"),
            std::string::npos)
      << flows[1].dump();
}

TEST_F(RulesTest, AClientWaitingFor100ContinueIsNotStuckAtTheHoldPoint) {
  const std::vector<std::string> urls = bases();
  start_proxy({"--modify-headers", "|~q|X-Added|yes"});
  for (const std::string& base : urls) {
    // curl waits (here up to 100 s, past --max-time) for the 100 before it sends the body.
    const ProcessResult got =
        curl({"--max-time", "20", "--expect100-timeout", "100", "-H", "Expect: 100-continue",
              "--data-binary", "the body", base + "/echo-full"});
    ASSERT_EQ(got.exit_code, 0) << base << ": " << got.err;
    EXPECT_TRUE(got.out.ends_with("\r\n\r\nthe body")) << got.out;
    EXPECT_NE(got.out.find("X-Added: yes\r\n"), std::string::npos) << got.out;
    EXPECT_EQ(got.out.find("Expect:"), std::string::npos) << got.out;
  }
}

TEST_F(RulesTest, BadSpecsAreRefusedWithTheOptionsName) {
  for (const auto& [option, spec, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--block-list", "|~u x|abc", "is not a status code"},
           {"--map-remote", "|~zz|a|b", "invalid filter"},
           {"--modify-body", "|~q|(|x", "invalid regex"},
           {"--map-local", "|~q|x|/no/such/dir", "no such file or directory"},
           {"--modify-headers", "|~q", "needs |FLOW-FILTER|NAME|VALUE"}}) {
    const ProcessResult got =
        run_process({SIGHTGLASS_BINARY, "--confdir", confdir().string(), option, spec}, "",
                    std::chrono::seconds(10));
    EXPECT_EQ(got.exit_code, 2) << option << " " << spec;
    EXPECT_NE(got.err.find(option), std::string::npos) << got.err;
    EXPECT_NE(got.err.find(message), std::string::npos) << got.err;
  }
}

TEST_F(RulesTest, RulesActOnHttp2StreamsThroughInterception) {
  // nghttpd speaks h2 only, so curl's streams are HTTP/2 on both sides of the proxy.
  fs::create_directories(dir_.path() / "htdocs");
  std::ofstream(dir_.path() / "htdocs" / "page.txt") << "hello world";
  const uint16_t port = start_nghttpd({"--echo-upload"});
  const fs::path www = dir_.path() / "www";
  fs::create_directories(www);
  std::ofstream(www / "local.json") << "{\"from\": \"disk\"}";
  start_proxy({"--modify-headers", "|~s ~u page|x-rule|on", "--modify-body",
               "|~s ~u page|world|planet", "--modify-body", "|~q ~u echo|apple|banana",
               "--block-list", "|~u /blocked|403", "--block-list", "|~u /dropped|444",
               "--map-local", "|~u /local/|/local/|" + www.string()});
  const std::string base = "https://localhost:" + std::to_string(port);
  const ProcessResult page =
      curl({"--http2", "--suppress-connect-headers", "-D", "-", base + "/page.txt"});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  EXPECT_TRUE(page.out.starts_with("HTTP/2 200")) << page.out;
  EXPECT_NE(page.out.find("x-rule: on\r\n"), std::string::npos) << page.out;
  EXPECT_NE(page.out.find("content-length: 12\r\n"), std::string::npos) << page.out;
  EXPECT_TRUE(page.out.ends_with("\r\n\r\nhello planet")) << page.out;
  const ProcessResult echoed =
      curl({"--http2", "-w", " %{http_version}", "--data-binary", "apple pie", base + "/echo"});
  EXPECT_EQ(echoed.out, "banana pie 2") << echoed.err;
  EXPECT_EQ(
      curl({"--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", base + "/blocked"})
          .out,
      "403 2");
  const ProcessResult dropped = curl({"--http2", base + "/dropped"});
  EXPECT_NE(dropped.exit_code, 0) << "a killed stream must not look answered";
  EXPECT_EQ(curl({"--http2", base + "/local/local.json"}).out, "{\"from\": \"disk\"}");
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 5; });
  ASSERT_EQ(flows.size(), 5u);
  for (const json& flow : flows) {
    EXPECT_EQ(flow["request"]["httpVersion"], "HTTP/2.0") << flow.dump();
  }
  EXPECT_EQ(flows[0]["response"]["content"]["text"], "hello planet");
  EXPECT_NE(flows[3]["_error"].get<std::string>().find("killed"), std::string::npos);
}

TEST_F(RulesTest, MapRemoteMovesAnHttp2StreamToAnotherServer) {
  // curl speaks HTTP/2 through interception to nghttpd (h2 only); one path is mapped to the
  // plain HTTP/1.1 origin, and goes there while the rest stays on nghttpd.
  fs::create_directories(dir_.path() / "htdocs");
  std::ofstream(dir_.path() / "htdocs" / "page.txt") << "from nghttpd";
  const std::string plain = bases()[0];
  const uint16_t port = start_nghttpd();
  const std::string base = "https://localhost:" + std::to_string(port);
  start_proxy(
      {"--map-remote", "|~u /mapped/|^" + base + "/mapped/|" + plain + "/echo-full/moved/"});
  const ProcessResult moved =
      curl({"--http2", "-w", "\n%{http_version}", base + "/mapped/z?k=v", base + "/page.txt"});
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_TRUE(moved.out.starts_with("GET /echo-full/moved/z?k=v HTTP/1.1\r\n")) << moved.out;
  EXPECT_NE(moved.out.find("\r\nhost: 127.0.0.1:" + std::to_string(plain_port_) + "\r\n"),
            std::string::npos)
      << moved.out;
  EXPECT_TRUE(moved.out.ends_with("\n2from nghttpd\n2")) << moved.out;  // Both over h2 for curl.
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return f.size() >= 2; });
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0]["request"]["url"], plain + "/echo-full/moved/z?k=v");
  EXPECT_EQ(flows[0]["_original_url"], base + "/mapped/z?k=v");
  EXPECT_EQ(flows[0]["response"]["status"], 200);
  EXPECT_EQ(flows[1]["response"]["content"]["text"], "from nghttpd");
}

TEST_F(RulesTest, RulesActOnHttp2ClientsOfAnHttp11Origin) {
  const uint16_t port = start_origin(good_cert_);
  start_proxy({"--mode", "reverse:https://localhost:" + std::to_string(port), "--modify-headers",
               "|~q|x-added|yes", "--map-remote", "|~u /old|/old|/echo-full/new"});
  // nghttp offers h2 only: each stream becomes an HTTP/1.1 request to the origin.
  const ProcessResult got =
      run_process({"nghttp", "https://localhost:" + std::to_string(proxy_port_) + "/old/x"}, "",
                  std::chrono::seconds(30));
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err;
  EXPECT_TRUE(got.out.starts_with("GET /echo-full/new/x HTTP/1.1\r\n")) << got.out;
  EXPECT_NE(got.out.find("\r\nx-added: yes\r\n"), std::string::npos) << got.out;
  const std::vector<json> flows =
      stop_when_logged([](const std::vector<json>& f) { return !f.empty(); });
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0]["request"]["httpVersion"], "HTTP/2.0");
  EXPECT_NE(flows[0]["_original_url"].get<std::string>().find("/old/x"), std::string::npos);
}

// --- The pieces -----------------------------------------------------------------------------

TEST(RuleSpecs, TheFirstCharacterSeparatesAndTheFilterMayBeLeftOut) {
  std::string error;
  std::optional<core::Rule> rule =
      core::parse_rule(core::RuleKind::kModifyHeaders, ":~q:X-A:a:b", &error);
  ASSERT_TRUE(rule) << error;
  EXPECT_EQ(rule->name, "X-A");
  EXPECT_EQ(rule->value, "a:b");  // The last part keeps further separators.
  ASSERT_NE(rule->filter, nullptr);
  rule = core::parse_rule(core::RuleKind::kMapRemote, "|example|other", &error);
  ASSERT_TRUE(rule) << error;
  EXPECT_EQ(rule->filter, nullptr);  // Every flow.
  EXPECT_EQ(rule->value, "other");
  EXPECT_FALSE(core::parse_rule(core::RuleKind::kBlockList, "|~q|1000", &error));
}

TEST(RuleSpecs, SubstitutionIsPythonsReSub) {
  core::Regex::Error error;
  core::Regex::Options options;
  options.case_sensitive = true;
  auto regex = core::Regex::compile("(\\w+)@(?P<host>\\w+)", options, &error);
  ASSERT_NE(regex, nullptr) << error.message;
  size_t count = 0;
  EXPECT_EQ(regex->substitute("a@b, c@d, E@F", "\\g<host>=\\1\\\\", &count), "b=a\\, d=c\\, F=E\\");
  EXPECT_EQ(count, 3u);
  auto empty = core::Regex::compile("x*", options, &error);
  EXPECT_EQ(empty->substitute("abc", "-"), "-a-b-c-");
  auto sensitive = core::Regex::compile("ABC", options, &error);
  EXPECT_EQ(sensitive->substitute("abc ABC", "x"), "abc x");
}

core::HeldFlowPtr held_get(core::FlowId id, const std::string& path) {
  auto held = std::make_shared<core::HeldFlow>();
  held->flow.id = id;
  core::HttpRequestData& request = held->flow.request.emplace();
  request.method = "GET";
  request.scheme = "http";
  request.host = "example.test";
  request.port = 80;
  request.target = path;
  return held;
}

TEST(Interceptor, HoldsMatchingFlowsUntilResumedEditedOrKilledFromAnyThread) {
  std::string error;
  std::vector<core::Rule> rules;
  rules.push_back(*core::parse_rule(core::RuleKind::kMapRemote, "|/go|/went", &error));
  core::Interceptor interceptor(std::make_shared<const core::TrafficRules>(std::move(rules)));
  EXPECT_TRUE(interceptor.holds(core::HookPoint::kRequest));    // A request rule.
  EXPECT_FALSE(interceptor.holds(core::HookPoint::kResponse));  // Nothing acts there yet.
  int notified = 0;
  interceptor.set_on_change([&notified] { ++notified; });
  core::FilterError filter_error;
  interceptor.set_filter(core::FlowFilter::parse("~u /stop", &filter_error));
  EXPECT_TRUE(interceptor.holds(core::HookPoint::kResponse));

  std::atomic<int> resumed{0};
  const auto resume = [&resumed] { ++resumed; };
  // Not matching: the rules ran, and it goes on at once.
  core::HeldFlowPtr passing = held_get(1, "/go");
  EXPECT_TRUE(interceptor.run(passing, resume));
  EXPECT_EQ(passing->flow.request->target, "/went");
  // A replay is never intercepted.
  core::HeldFlowPtr replay = held_get(2, "/stop");
  replay->flow.replay = true;
  EXPECT_TRUE(interceptor.run(replay, resume));
  // Matching: held until someone acts.
  core::HeldFlowPtr a = held_get(3, "/stop/a");
  core::HeldFlowPtr b = held_get(4, "/stop/b");
  core::HeldFlowPtr c = held_get(5, "/stop/c");
  EXPECT_FALSE(interceptor.run(a, resume));
  EXPECT_FALSE(interceptor.run(b, resume));
  EXPECT_FALSE(interceptor.run(c, resume));
  ASSERT_EQ(interceptor.held().size(), 3u);
  EXPECT_TRUE(interceptor.is_held(4));
  EXPECT_GE(notified, 3);
  std::thread other([&] {
    EXPECT_TRUE(interceptor.edit(3, [](core::HeldFlow& flow) { flow.body = "edited"; }));
    EXPECT_TRUE(interceptor.resume(3));
    EXPECT_TRUE(interceptor.kill(4));
  });
  other.join();
  EXPECT_EQ(resumed.load(), 2);
  EXPECT_EQ(a->body, "edited");
  EXPECT_TRUE(b->kill);
  EXPECT_FALSE(interceptor.resume(3)) << "resumed twice";
  // The session of c ended: it is forgotten, and nobody resumes it.
  interceptor.dropped(c);
  EXPECT_TRUE(interceptor.held().empty());
  EXPECT_EQ(resumed.load(), 2);
  core::HeldFlowPtr d = held_get(6, "/stop/d");
  EXPECT_FALSE(interceptor.run(d, resume));
  interceptor.resume_all();
  EXPECT_EQ(resumed.load(), 3);
}

TEST(RuleSpecs, ContentTypesComeFromTheExtension) {
  EXPECT_EQ(core::content_type_for_path("/a/b.JSON"), "application/json");
  EXPECT_EQ(core::content_type_for_path("/a.d/b"), "application/octet-stream");
  EXPECT_EQ(core::content_type_for_path("x.png"), "image/png");
}

}  // namespace
}  // namespace sightglass::test
