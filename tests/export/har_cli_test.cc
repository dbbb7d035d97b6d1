// `sightglass har IN.jsonl [OUT.har]`, run as a real process.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/export/flow_json.h"
#include "tests/export/test_flows.h"
#include "tests/support/process.h"
#include "tests/support/sightglass_binary.h"
#include "tests/support/temp_dir.h"

namespace sightglass::core {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::ProcessResult;
using test::read_file_bytes;
using test::run_process;
using test::TempDir;
using test::write_file_bytes;

ProcessResult sightglass(std::vector<std::string> args, const std::string& input = "") {
  return test::run_sightglass(std::move(args), input, std::chrono::seconds(20));
}

// write_log writes a JSON Lines log of three flows and returns the HAR it stands for.
json write_log(const fs::path& path) {
  std::vector<json> entries;
  std::string text;
  for (const FlowSnapshot& flow :
       {test_flows::full_flow(1), test_flows::failed_flow(2), test_flows::tcp_flow(3)}) {
    text += to_json_line(flow) + "\n";
    entries.push_back(to_har_entry(flow));
  }
  EXPECT_TRUE(write_file_bytes(path, text));
  return har_document(entries);
}

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(HarCommand, ConvertsALogToAFileAndToStdout) {
  TempDir tmp;
  const fs::path in = tmp.path() / "flows.jsonl";
  const fs::path out = tmp.path() / "flows.har";
  const json expected = write_log(in);

  const ProcessResult to_file = sightglass({"har", in.string(), out.string()});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_EQ(to_file.out, "");
  EXPECT_EQ(to_file.err, "");
  EXPECT_EQ(json::parse(read_file_bytes(out)), expected);

  const ProcessResult to_stdout = sightglass({"har", in.string()});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_EQ(json::parse(to_stdout.out), expected);

  const ProcessResult from_stdin = sightglass({"har", "-", "-"}, read_file_bytes(in));
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(json::parse(from_stdin.out), expected);
}

TEST(HarCommand, UsageErrorsExit2AndNameTheProblem) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"har"}, "har needs an input file"},
      {{"har", "a.jsonl", "b.har", "c"}, "'c'"},
      {{"har", "--pretty", "a.jsonl"}, "--pretty"},
  };
  for (const auto& [args, needle] : cases) {
    const ProcessResult result = sightglass(args);
    EXPECT_EQ(result.exit_code, 2) << args.size();
    EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
  }
  TempDir tmp;
  const fs::path log = tmp.path() / "same.jsonl";
  write_log(log);
  const ProcessResult same = sightglass({"har", log.string(), log.string()});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_EQ(count_lines(read_file_bytes(log)), 3u);  // The input is untouched.
}

TEST(HarCommand, UnreadableOrMalformedInputExits1WithOneLine) {
  TempDir tmp;
  const fs::path missing = tmp.path() / "missing.jsonl";
  const fs::path out = tmp.path() / "out.har";
  const ProcessResult result = sightglass({"har", missing.string(), out.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(count_lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find(missing.string()), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(out));

  const fs::path bad = tmp.path() / "bad.jsonl";
  ASSERT_TRUE(write_file_bytes(bad, to_json_line(test_flows::tcp_flow()) + "\n{oops\n"));
  const ProcessResult malformed = sightglass({"har", bad.string(), out.string()});
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_EQ(count_lines(malformed.err), 1u) << malformed.err;
  EXPECT_NE(malformed.err.find("line 2"), std::string::npos) << malformed.err;
  EXPECT_FALSE(fs::exists(out));  // No half-written HAR is left behind.

  const ProcessResult directory = sightglass({"har", tmp.path().string()});
  EXPECT_EQ(directory.exit_code, 1);
  EXPECT_EQ(count_lines(directory.err), 1u) << directory.err;
}

}  // namespace
}  // namespace sightglass::core
