// The inspector's flow actions (gui/model/actions.h): the URL, copy as curl (run for real with
// /bin/sh against the Python origin), export to HAR and JSON Lines (read back with the same
// reader as `show` and the GUI), saving a session, and handing a row to the replay.

#include "gui/model/actions.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/export/flow_json.h"
#include "core/export/har_writer.h"
#include "core/store/capture_files.h"
#include "core/store/flow_codec.h"
#include "core/store/session_file.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::gui {
namespace {

using core::FlowSnapshot;
using core::FlowSnapshotConstSharedPtr;
using nlohmann::json;
namespace fs = std::filesystem;

FlowSnapshot request_flow(std::string method, std::string scheme, std::string host, uint16_t port,
                          std::string target, core::Headers headers, std::string body = "") {
  FlowSnapshot flow;
  flow.id = 1;
  flow.revision = 1;
  flow.state = core::FlowState::kFinished;
  flow.client_address = "127.0.0.1:40000";
  flow.timings.started_us = 1'700'000'000'000'000;
  auto& request = flow.request.emplace();
  request.method = std::move(method);
  request.scheme = std::move(scheme);
  request.host = std::move(host);
  request.port = port;
  request.target = std::move(target);
  request.headers = std::move(headers);
  request.body.append(body, 1 << 20);
  return flow;
}

TEST(FlowUrl, AsTheLogWritesIt) {
  EXPECT_EQ(flow_url(request_flow("GET", "https", "example.test", 443, "/a?b=1", {})),
            "https://example.test/a?b=1");
  EXPECT_EQ(flow_url(request_flow("GET", "http", "::1", 8080, "/", {})), "http://[::1]:8080/");
  FlowSnapshot tcp;
  tcp.kind = core::FlowKind::kTcp;
  tcp.tcp_host = "db.test";
  tcp.tcp_port = 5432;
  EXPECT_EQ(flow_url(tcp), "tcp://db.test:5432");
  FlowSnapshot failed;
  failed.client_tls.emplace().sni = "pinned.test";
  EXPECT_EQ(flow_url(failed), "https://pinned.test/");
  // The URL is what the HAR entry says.
  const FlowSnapshot flow = request_flow("GET", "http", "h.test", 81, "/x y", {});
  EXPECT_EQ(flow_url(flow), core::to_har_entry(flow)["request"]["url"]);
}

TEST(CurlCommand, AsChromeWritesItWithSafeQuoting) {
  EXPECT_EQ(shell_quote("it's"), R"('it'\''s')");
  EXPECT_EQ(curl_command(request_flow("GET", "https", "example.test", 443, "/a?b=1",
                                      {{"Host", "example.test"},
                                       {"Accept", "*/*"},
                                       {"accept-encoding", "gzip, br"},
                                       {"X-Q", "it's"}})),
            "curl 'https://example.test/a?b=1' \\\n"
            "  -H 'Accept: */*' \\\n"
            "  -H 'X-Q: it'\\''s' \\\n"
            "  --compressed");
  // POST with data is curl's inference: no -X; Content-Length is curl's to write; a Host that
  // the URL does not imply stays.
  EXPECT_EQ(curl_command(request_flow("POST", "http", "127.0.0.1", 8080, "/p",
                                      {{"Host", "other.test"}, {"Content-Length", "5"}}, "a'b\nc")),
            "curl 'http://127.0.0.1:8080/p' \\\n"
            "  -H 'Host: other.test' \\\n"
            "  --data-raw 'a'\\''b\nc'");
  EXPECT_EQ(curl_command(request_flow("DELETE", "http", "h.test", 80, "/d", {})),
            "curl 'http://h.test/d' \\\n  -X 'DELETE'");
  EXPECT_EQ(curl_command(request_flow("GET", "http", "h.test", 80, "/d", {}, "x")),
            "curl 'http://h.test/d' \\\n  -X 'GET' \\\n  --data-raw 'x'");
  EXPECT_EQ(curl_command(request_flow("HEAD", "http", "h.test", 80, "/", {})),
            "curl 'http://h.test/' \\\n  --head");
  // HTTP/2's pseudo-headers (another tool's HAR) are the URL's.
  EXPECT_EQ(curl_command(request_flow("GET", "https", "h.test", 443, "/",
                                      {{":authority", "h.test"}, {":path", "/"}})),
            "curl 'https://h.test/'");
  // A binary body is printed by printf (octal escapes) into --data-binary @-.
  EXPECT_EQ(curl_command(request_flow("PUT", "http", "h.test", 80, "/b", {},
                                      std::string("\x00\xff%\\'7", 6))),
            "printf '\\000\\377%%\\\\'\\''7' | curl 'http://h.test/b' \\\n"
            "  -X 'PUT' \\\n"
            "  --data-binary @-");
}

// The curl commands run for real: /bin/sh (dash on Debian) runs what the user would paste, and
// the origin echoes what it got.
class CurlRunTest : public test::ProxyFixture {
 protected:
  // run sends |flow| (its host and port replaced by the origin's) with the generated command
  // and returns what the origin received: the head, then the body.
  std::pair<std::string, std::string> run(FlowSnapshot flow, uint16_t port,
                                          const std::string& shell = "/bin/sh") {
    flow.request->host = "127.0.0.1";
    flow.request->port = port;
    flow.request->target = "/echo-full" + flow.request->target;
    const std::string command = curl_command(flow);
    const test::ProcessResult r =
        test::run_process({shell, "-c", command + " --silent --show-error --max-time 30"}, "",
                          std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << command.substr(0, 2000) << "\n" << r.err;
    const size_t end = r.out.find("\r\n\r\n");
    if (end == std::string::npos) {
      ADD_FAILURE() << "no head in " << r.out.substr(0, 2000)
                    << "\nfrom: " << command.substr(0, 2000);
      return {};
    }
    return {r.out.substr(0, end + 2), r.out.substr(end + 4)};
  }
};

TEST_F(CurlRunTest, TheOriginGetsTheSameMethodPathHeadersAndBody) {
  const uint16_t port = start_origin();
  ASSERT_NE(port, 0);
  std::string binary;
  for (int i = 0; i < 256; ++i) {
    binary.push_back(static_cast<char>(i));
  }
  binary += std::string("\\0017%%'\"$HOME`id`\\n", 20);  // Escape lookalikes, quotes, expansions.
  const std::string text = "it's \"quoted\" $HOME `id` \\ %s\nline two\ttab\r\nend";
  struct Case {
    FlowSnapshot flow;
    std::string request_line;
  };
  const std::vector<Case> cases = {
      {request_flow("GET", "http", "", 0, "?q=a%20b&x='1'",
                    {{"X-Quote", "it's \"double\" $PATH `uname` \\ 'x'"}, {"Accept", "*/*"}}),
       "GET /echo-full?q=a%20b&x='1' HTTP/1.1"},
      {request_flow("POST", "http", "", 0, "/post",
                    {{"Content-Type", "text/plain"}, {"X-Quote", "'"}, {"Content-Length", "47"}},
                    text),
       "POST /echo-full/post HTTP/1.1"},
      {request_flow("PUT", "http", "", 0, "/bin",
                    {{"Content-Type", "application/octet-stream"}, {"X-Quote", "\"'\"'"}}, binary),
       "PUT /echo-full/bin HTTP/1.1"},
      {request_flow("PATCH", "http", "", 0, "/big", {}, std::string(100'000, 'x') + "'"),
       "PATCH /echo-full/big HTTP/1.1"},
  };
  std::vector<std::string> shells = {"/bin/sh"};
  if (!test::find_program("bash").empty()) {
    shells.push_back(test::find_program("bash"));
  }
  for (const std::string& shell : shells) {
    for (const Case& c : cases) {
      const auto [head, body] = run(c.flow, port, shell);
      SCOPED_TRACE(shell + ": " + c.request_line);
      EXPECT_TRUE(head.starts_with(c.request_line + "\r\n")) << head;
      for (const core::Header& h : c.flow.request->headers) {
        if (!core::iequals(h.name, "Content-Length")) {
          EXPECT_NE(head.find("\r\n" + h.name + ": " + h.value + "\r\n"), std::string::npos)
              << h.name << " in\n"
              << head;
        }
      }
      const std::string expected = c.flow.request->body.contiguous();
      EXPECT_TRUE(body == expected) << "a body of " << body.size() << " bytes, not "
                                    << expected.size() << ", from " << c.request_line;
    }
  }
}

FlowSnapshotConstSharedPtr stored_flow(core::FlowId id, const std::string& path, bool replay) {
  FlowSnapshot flow = request_flow("POST", "https", "api.test", 443, path,
                                   {{"Host", "api.test"}, {"Content-Type", "application/json"}},
                                   R"({"n":)" + std::to_string(id) + "}");
  flow.id = id;
  flow.replay = replay;
  auto& response = flow.response.emplace();
  response.status = 201;
  response.reason = "Created";
  response.headers = {{"Content-Type", "text/plain"}};
  response.body.append("ok " + std::to_string(id), 1024);
  flow.server_address = "192.0.2.7:443";
  return std::make_shared<const FlowSnapshot>(std::move(flow));
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = FlowStore::create(&error);
    ASSERT_NE(store_, nullptr) << error;
    for (core::FlowId id = 1; id <= 4; ++id) {
      flows_.push_back(stored_flow(id, "/items/" + std::to_string(id), id == 3));
    }
    ASSERT_EQ(store_->add(flows_), 4u);
  }

  // read_back opens |path| as `show` does and returns its flows in order.
  std::vector<FlowSnapshotConstSharedPtr> read_back(const fs::path& path,
                                                    core::CaptureFormat expected) {
    std::string error;
    core::CaptureFormat format{};
    auto file = core::open_capture(path.string(), &error, &format);
    EXPECT_NE(file, nullptr) << error;
    if (!file) {
      return {};
    }
    EXPECT_EQ(format, expected);
    std::vector<FlowSnapshotConstSharedPtr> out;
    std::vector<int64_t> seqs;
    EXPECT_TRUE(file->for_each_summary(
        [&seqs](int64_t seq, const core::FlowSummary& /*unused*/) {
          seqs.push_back(seq);
          return true;
        },
        &error))
        << error;
    for (const int64_t seq : seqs) {
      auto flow = file->load(seq, &error);
      EXPECT_NE(flow, nullptr) << error;
      if (flow) {
        out.push_back(flow);
      }
    }
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<FlowStore> store_;
  std::vector<FlowSnapshotConstSharedPtr> flows_;
};

TEST_F(ExportTest, JsonLinesAreTheLinesOfTheFlowLog) {
  const fs::path path = dir_.path() / "out.jsonl";
  std::string error;
  const std::vector<uint32_t> rows = {2, 0, 3};
  ASSERT_TRUE(export_flows(*store_, rows, ExportFormat::kJsonLines, path.string(), &error))
      << error;
  std::string expected;
  for (uint32_t row : rows) {
    expected += core::to_json_line(*flows_[row]) + "\n";
  }
  EXPECT_EQ(test::read_file_bytes(path), expected);
  const auto back = read_back(path, core::CaptureFormat::kJsonLines);
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(flow_url(*back[i]), flow_url(*flows_[rows[i]]));
    EXPECT_EQ(back[i]->replay, flows_[rows[i]]->replay);
    EXPECT_EQ(back[i]->request->body.contiguous(), flows_[rows[i]]->request->body.contiguous());
  }
  // "_replay" only where it is set.
  EXPECT_NE(expected.find(R"("_replay":true)"), std::string::npos);
  EXPECT_EQ(core::to_har_entry(*flows_[0]).count("_replay"), 0u);
  EXPECT_EQ(core::to_har_entry(*flows_[2])["_replay"], true);
  EXPECT_EQ(core::to_json_line(*flows_[2]), core::to_har_entry(*flows_[2]).dump());
}

TEST_F(ExportTest, HarIsTheDocumentOfHarAndReadsBack) {
  const fs::path path = dir_.path() / "out.har";
  ASSERT_TRUE(test::write_file_bytes(path, "old content"));
  std::string error;
  const std::vector<uint32_t> rows = {0, 1, 2, 3};
  ASSERT_TRUE(export_flows(*store_, rows, ExportFormat::kHar, path.string(), &error)) << error;
  const json doc = json::parse(test::read_file_bytes(path));
  EXPECT_EQ(doc["log"]["version"], "1.2");
  ASSERT_EQ(doc["log"]["entries"].size(), 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(doc["log"]["entries"][i], core::to_har_entry(*flows_[rows[i]])) << i;
  }
  // The same document `sightglass har` makes of the same flows as JSON Lines.
  std::string lines;
  for (uint32_t row : rows) {
    lines += core::to_json_line(*flows_[row]) + "\n";
  }
  std::istringstream in(lines);
  std::ostringstream converted;
  ASSERT_TRUE(core::convert_jsonl_to_har(in, converted, &error)) << error;
  EXPECT_EQ(test::read_file_bytes(path), converted.str());

  const auto back = read_back(path, core::CaptureFormat::kHar);
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(flow_url(*back[i]), flow_url(*flows_[rows[i]]));
    EXPECT_EQ(back[i]->replay, flows_[rows[i]]->replay);
  }
  // Nothing is left beside it.
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_.path())) {
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(ExportTest, AFailedExportLeavesTheFileAlone) {
  const fs::path path = dir_.path() / "keep.jsonl";
  ASSERT_TRUE(test::write_file_bytes(path, "precious\n"));
  std::string error;
  EXPECT_FALSE(export_flows(*store_, {0, 99}, ExportFormat::kJsonLines, path.string(), &error));
  EXPECT_NE(error.find("#100"), std::string::npos) << error;
  EXPECT_EQ(test::read_file_bytes(path), "precious\n");
  error.clear();
  EXPECT_FALSE(export_flows(*store_, {0}, ExportFormat::kHar,
                            (dir_.path() / "missing" / "x.har").string(), &error));
  EXPECT_FALSE(error.empty());
}

TEST_F(ExportTest, SaveSessionWritesASessionFileAndAppendsToOne) {
  const fs::path path = dir_.path() / "saved.sightglass";
  std::string error;
  ASSERT_TRUE(save_session(*store_, {3, 1, 2}, path.string(), &error)) << error;
  auto back = read_back(path, core::CaptureFormat::kSession);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(flow_url(*back[0]), "https://api.test/items/4");
  EXPECT_EQ(flow_url(*back[2]), "https://api.test/items/3");
  EXPECT_TRUE(back[2]->replay);
  EXPECT_FALSE(back[0]->replay);
  EXPECT_EQ(core::to_json_line(*back[1]), core::to_json_line(*flows_[1]));
  back.clear();

  ASSERT_TRUE(save_session(*store_, {0}, path.string(), &error)) << error;
  EXPECT_EQ(read_back(path, core::CaptureFormat::kSession).size(), 4u);

  // Anything that is not a session is refused and left as it was.
  const fs::path other = dir_.path() / "notes.txt";
  ASSERT_TRUE(test::write_file_bytes(other, "not a session"));
  EXPECT_FALSE(save_session(*store_, {0}, other.string(), &error));
  EXPECT_EQ(test::read_file_bytes(other), "not a session");
}

TEST(FlowCodec, TheReplayMarkSurvivesAndOldBlobsStayReadable) {
  FlowSnapshot flow = *stored_flow(9, "/r", true);
  FlowSnapshot decoded;
  ASSERT_TRUE(core::decode_flow(core::encode_flow(flow), &decoded));
  EXPECT_TRUE(decoded.replay);
  flow.replay = false;
  const std::string plain = core::encode_flow(flow);
  EXPECT_EQ(plain[0], 1);  // A flow without the mark is written as before.
  ASSERT_TRUE(core::decode_flow(plain, &decoded));
  EXPECT_FALSE(decoded.replay);
}

TEST(ReplayRow, HandsTheStoredFlowToTheReplay) {
  std::string error;
  auto store = FlowStore::create(&error);
  ASSERT_NE(store, nullptr) << error;
  store->add({stored_flow(5, "/again", false)});
  EXPECT_FALSE(replay_row(*store, 0, {}, &error));
  EXPECT_NE(error.find("no proxy"), std::string::npos);
  std::string seen;
  const ReplayFn replay = [&seen](const FlowSnapshot& flow, std::string* /*unused*/) {
    seen = flow_url(flow);
    return true;
  };
  EXPECT_TRUE(replay_row(*store, 0, replay, &error));
  EXPECT_EQ(seen, "https://api.test/again");
  EXPECT_FALSE(replay_row(*store, 7, replay, &error));
}

}  // namespace
}  // namespace sightglass::gui
