// Session files end to end: flows captured with --save and -w by the real proxy, reopened with
// `sightglass show` and `sightglass har`, are the same flows byte for byte; --filter selects
// what is recorded; files that are not sessions are refused; a SIGKILLed capture keeps what
// finished before the kill.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <map>
#include <thread>

#include "core/export/http_date.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::test {
namespace {

// lines_by_id maps each JSON line's _id to the line as written.
std::map<int64_t, std::string> lines_by_id(const std::string& text) {
  std::map<int64_t, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      continue;
    }
    const json entry = json::parse(line);
    EXPECT_TRUE(out.emplace(entry["_id"].get<int64_t>(), line).second) << "twice: " << line;
  }
  return out;
}

ProcessResult sightglass(std::vector<std::string> args) {
  args.insert(args.begin(), SIGHTGLASS_BINARY);
  return run_process(args, "", std::chrono::seconds(120));
}

class SessionTest : public ProxyFixture {
 protected:
  fs::path session() const { return dir_.path() / "run.sightglass"; }
};

TEST_F(SessionTest, SavedFlowsReopenAsTheSameFlowsByteForByte) {
  const uint16_t plain = start_origin();
  const uint16_t tls = start_origin(good_cert_);
  start_proxy({"--save", session().string()});
  const std::string http = "http://127.0.0.1:" + std::to_string(plain);
  const std::string https = "https://localhost:" + std::to_string(tls);
  const fs::path upload = dir_.path() / "upload.bin";
  {
    std::ofstream out(upload, std::ios::binary);
    for (int i = 0; i < 5000; ++i) {
      out << "line " << i << " \x01\xfe binary\n";
    }
  }
  ASSERT_EQ(curl({http + "/hello?x=1&y=two", "-H", "X-Mixed-Case: Value", "-H", "Cookie: a=1; b=2"})
                .exit_code,
            0);
  ASSERT_EQ(curl({https + "/upload", "--data-binary", "@" + upload.string()}).exit_code, 0);
  ASSERT_EQ(curl({https + "/bytes?n=300000", "-o", "/dev/null"}).exit_code, 0);
  ASSERT_EQ(curl({https + "/chunked", "--http2"}).exit_code, 0);
  ASSERT_EQ(curl({http + "/status/404"}).exit_code, 0);
  curl({"http://127.0.0.1:1/refused"});  // A 502 with an error, logged too.
  const std::vector<json> logged =
      stop_when_logged([](const std::vector<json>& flows) { return flows.size() >= 6; });
  ASSERT_EQ(logged.size(), 6u);

  // show -w -: the session's flows as JSON Lines, line for line what -w wrote.
  const ProcessResult shown = sightglass({"show", session().string(), "-w", "-"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto from_session = lines_by_id(shown.out);
  const auto from_log = lines_by_id(read_file(jsonl()));
  ASSERT_EQ(from_session.size(), 6u);
  EXPECT_EQ(from_session, from_log);

  // har: the same entries as the HAR of the JSON Lines log and as --har wrote.
  const fs::path from_session_har = dir_.path() / "session.har";
  const fs::path from_log_har = dir_.path() / "log.har";
  ASSERT_EQ(sightglass({"har", session().string(), from_session_har.string()}).exit_code, 0);
  ASSERT_EQ(sightglass({"har", jsonl().string(), from_log_har.string()}).exit_code, 0);
  auto entries_by_id = [](const fs::path& path) {
    std::map<int64_t, json> out;
    const json document = json::parse(read_file(path));
    for (const json& entry : document["log"]["entries"]) {
      out[entry["_id"].get<int64_t>()] = entry;
    }
    return out;
  };
  EXPECT_EQ(entries_by_id(from_session_har), entries_by_id(from_log_har));
  EXPECT_EQ(entries_by_id(from_session_har), entries_by_id(har()));

  // show: one line a flow, as the live printer prints it; a filter selects.
  const ProcessResult listed = sightglass({"show", session().string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 6);
  EXPECT_NE(listed.out.find("POST https://localhost:" + std::to_string(tls) + "/upload"),
            std::string::npos)
      << listed.out;
  const ProcessResult posts = sightglass({"show", session().string(), "~m POST"});
  ASSERT_EQ(posts.exit_code, 0) << posts.err;
  EXPECT_EQ(std::count(posts.out.begin(), posts.out.end(), '\n'), 1) << posts.out;
  const ProcessResult needle = sightglass({"show", session().string(), "~bq 'line 4999'"});
  EXPECT_EQ(std::count(needle.out.begin(), needle.out.end(), '\n'), 1) << needle.out;
  const ProcessResult errors = sightglass({"show", session().string(), "~e | ~c 404"});
  EXPECT_EQ(std::count(errors.out.begin(), errors.out.end(), '\n'), 2) << errors.out;

  // The JSON Lines log and its HAR read the same way as the session.
  for (const fs::path& other : {jsonl(), har()}) {
    const ProcessResult same = sightglass({"show", other.string(), "~m POST"});
    ASSERT_EQ(same.exit_code, 0) << same.err;
    EXPECT_EQ(same.out, posts.out) << other;
  }
}

TEST_F(SessionTest, FilterSelectsWhatIsRecordedAndPrinted) {
  const uint16_t plain = start_origin();
  start_proxy({"--save", session().string(), "--filter", "~u /keep & !~c 500"});
  const std::string http = "http://127.0.0.1:" + std::to_string(plain);
  for (const char* path : {"/keep/1", "/drop/2", "/keep/3", "/status/500?keep"}) {
    ASSERT_EQ(curl({http + path}).exit_code, 0);
  }
  curl({http + "/keep/last"});
  const auto logged = stop_when_logged([](const std::vector<json>& flows) {
    return !flows.empty() && flows.back()["request"]["url"].get<std::string>().ends_with("last");
  });
  ASSERT_EQ(logged.size(), 3u);
  for (const json& flow : logged) {
    EXPECT_NE(flow["request"]["url"].get<std::string>().find("/keep/"), std::string::npos);
  }
  const ProcessResult shown = sightglass({"show", session().string()});
  EXPECT_EQ(std::count(shown.out.begin(), shown.out.end(), '\n'), 3) << shown.out;
}

TEST_F(SessionTest, MalformedFiltersAreExitTwoNamingThePosition) {
  const ProcessResult bad = sightglass({"--filter", "~m GET & (~c 200", "-p", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--filter"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("position 17"), std::string::npos) << bad.err;
  const fs::path empty = dir_.path() / "empty.jsonl";
  std::ofstream(empty).close();
  const ProcessResult show = sightglass({"show", empty.string(), "~c abc"});
  EXPECT_EQ(show.exit_code, 2);
  EXPECT_NE(show.err.find("position 4"), std::string::npos) << show.err;
  const ProcessResult nothing = sightglass({"show", empty.string()});
  EXPECT_EQ(nothing.exit_code, 0) << nothing.err;
  EXPECT_EQ(nothing.out, "");
}

void sql(const fs::path& path, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, statements.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST_F(SessionTest, FilesThatAreNotSessionsAreOneLineErrorsAndNeverOverwritten) {
  const uint16_t plain = start_origin();
  start_proxy({"--save", session().string()});
  ASSERT_EQ(curl({"http://127.0.0.1:" + std::to_string(plain) + "/a"}).exit_code, 0);
  stop_when_logged([](const std::vector<json>& flows) { return flows.size() >= 1; });
  const std::string whole = read_file(session());

  const fs::path other = dir_.path() / "other.db";
  sql(other, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
  const fs::path newer = dir_.path() / "newer.sightglass";
  fs::copy_file(session(), newer);
  sql(newer, "PRAGMA user_version=7;");
  const fs::path cut = dir_.path() / "cut.sightglass";
  std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() / 2);
  const fs::path binary = dir_.path() / "random.bin";
  std::ofstream(binary, std::ios::binary) << std::string("\x00\x01\x02garbage\xff", 11);

  for (const fs::path& path : {other, newer, cut, binary}) {
    const std::string before = read_file(path);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"show", path.string()},
          std::vector<std::string>{"har", path.string(), (dir_.path() / "out.har").string()}}) {
      const ProcessResult r = sightglass(args);
      EXPECT_EQ(r.exit_code, 1) << path << "\n" << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_FALSE(fs::exists(dir_.path() / "out.har"));
    }
    if (path != cut) {
      // --save refuses it before listening, and leaves it as it was.
      const ProcessResult r =
          sightglass({"--confdir", confdir().string(), "-p", "0", "--save", path.string()});
      EXPECT_EQ(r.exit_code, 1) << path << "\n" << r.err;
      EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
    }
    EXPECT_EQ(read_file(path), before) << path;
  }
  const ProcessResult newer_shown = sightglass({"show", newer.string()});
  EXPECT_NE(newer_shown.err.find("newer Sightglass"), std::string::npos) << newer_shown.err;
}

TEST_F(SessionTest, SigkillLosesOnlyTheLastMoments) {
  const uint16_t plain = start_origin();
  start_proxy({"--save", session().string()});
  const std::string url = "http://127.0.0.1:" + std::to_string(plain) + "/k";
  // Four clients keep requesting until the proxy dies.
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        std::vector<std::string> args;
        for (int i = 0; i < 50; ++i) {
          args.push_back(url);
          args.push_back("-o");
          args.push_back("/dev/null");
        }
        curl(args);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto killed_at = std::chrono::system_clock::now();
  proxy_->signal(SIGKILL);
  proxy_->wait(std::chrono::seconds(10));
  stop = true;
  for (auto& client : clients) {
    client.join();
  }
  const int64_t kill_us =
      std::chrono::duration_cast<std::chrono::microseconds>(killed_at.time_since_epoch()).count();

  // The flows the JSON Lines log has (line by line) that finished a second before the kill.
  const auto logged = lines_by_id(read_file(jsonl()));
  ASSERT_GT(logged.size(), 100u);
  const ProcessResult shown = sightglass({"show", session().string(), "-w", "-"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const auto saved = lines_by_id(shown.out);
  size_t old_enough = 0;
  size_t lost = 0;
  for (const auto& [id, line] : logged) {
    const json entry = json::parse(line);
    const int64_t started =
        core::parse_iso8601(entry["startedDateTime"].get<std::string>()).value_or(0);
    const int64_t finished = started + static_cast<int64_t>(entry["time"].get<double>() * 1000);
    if (saved.count(id) == 0) {
      ++lost;
      EXPECT_GT(finished, kill_us - 1'000'000)
          << "flow " << id << " finished " << (kill_us - finished) / 1000
          << " ms before the kill and was lost";
    } else {
      EXPECT_EQ(saved.at(id), line);
    }
    old_enough += finished <= kill_us - 1'000'000;
  }
  std::cout << "SIGKILL after " << logged.size() << " flows: " << saved.size()
            << " in the session, " << lost << " lost (all from the last second); " << old_enough
            << " had finished more than a second before\n";
}

}  // namespace
}  // namespace sightglass::test
