// The sinks: FlowBus, BackgroundWriter, JsonLinesWriter, HarWriter, TerminalPrinter, and the
// JSON Lines to HAR converter.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "core/export/flow_json.h"
#include "core/export/flow_sink.h"
#include "core/export/har_writer.h"
#include "core/export/json_lines_writer.h"
#include "core/export/terminal_printer.h"
#include "tests/export/test_flows.h"
#include "tests/support/temp_dir.h"

namespace sightglass::core {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_file_bytes;
using test::TempDir;
using test_flows::failed_flow;
using test_flows::full_flow;
using test_flows::shared;
using test_flows::tcp_flow;

// sample_flows returns |count| finished flows of every kind, with ids 1..count.
std::vector<FlowSnapshotConstSharedPtr> sample_flows(size_t count) {
  std::vector<FlowSnapshotConstSharedPtr> out;
  for (size_t i = 0; i < count; ++i) {
    const FlowId id = i + 1;
    switch (i % 3) {
      case 0:
        out.push_back(shared(full_flow(id)));
        break;
      case 1:
        out.push_back(shared(failed_flow(id)));
        break;
      default:
        out.push_back(shared(tcp_flow(id)));
        break;
    }
  }
  return out;
}

FlowSnapshotConstSharedPtr live_copy(const FlowSnapshot& flow) {
  FlowSnapshot live = flow;
  live.state = FlowState::kLive;
  live.id += 1000;
  return shared(std::move(live));
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

// wait_until polls |condition| for up to two seconds.
template <typename Condition>
bool wait_until(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// RecordingSink remembers what it was given.
class RecordingSink : public FlowSink {
 public:
  void publish(FlowSnapshotConstSharedPtr snapshot) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ids_.push_back(snapshot->id);
  }
  void close() override { ++closes_; }
  std::vector<FlowId> ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  int closes() const { return closes_; }

 private:
  std::mutex mutex_;
  std::vector<FlowId> ids_;
  std::atomic<int> closes_{0};
};

TEST(FlowBus, FansOutToEverySinkAndClosesEachOnce) {
  FlowBus bus;
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  bus.add_sink(a);
  bus.add_sink(b);
  bus.add_sink(nullptr);
  EXPECT_EQ(bus.sink_count(), 2u);
  for (const auto& flow : sample_flows(4)) {
    bus.publish(flow);
  }
  EXPECT_EQ(a->ids(), (std::vector<FlowId>{1, 2, 3, 4}));
  EXPECT_EQ(b->ids(), a->ids());
  bus.close();
  bus.close();
  EXPECT_EQ(a->closes(), 1);
  EXPECT_EQ(b->closes(), 1);
}

TEST(BackgroundWriter, PublishNeverWaitsForASlowWriter) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex mutex;
  std::vector<FlowId> written;
  std::atomic<bool> finished{false};
  BackgroundWriter writer(
      [&](const std::vector<FlowSnapshotConstSharedPtr>& batch) {
        released.wait();  // The "disk" is stuck until the test lets it go.
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto& snapshot : batch) {
          written.push_back(snapshot->id);
        }
      },
      [&] { finished = true; });
  ASSERT_TRUE(writer.start());
  const auto flows = sample_flows(200);
  const auto start = std::chrono::steady_clock::now();
  // Two "loop threads" publish while the writer is blocked.
  std::thread other([&] {
    for (size_t i = 100; i < 200; ++i) {
      writer.push(flows[i]);
    }
  });
  for (size_t i = 0; i < 100; ++i) {
    writer.push(flows[i]);
  }
  other.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_FALSE(finished);
  release.set_value();
  writer.stop();
  EXPECT_TRUE(finished);
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(written.size(), 200u);
  // Each publisher's flows stay in order.
  std::vector<FlowId> first;
  std::vector<FlowId> second;
  for (FlowId id : written) {
    (id <= 100 ? first : second).push_back(id);
  }
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
  EXPECT_TRUE(std::is_sorted(second.begin(), second.end()));
  // After stop, pushes are dropped.
  writer.push(flows[0]);
  writer.stop();
  EXPECT_EQ(written.size(), 200u);
}

TEST(JsonLinesWriter, WritesOneFlushedLinePerFinishedFlow) {
  TempDir tmp;
  const fs::path path = tmp.path() / "flows.jsonl";
  std::string error;
  auto writer = JsonLinesWriter::create(path.string(), &error);
  ASSERT_NE(writer, nullptr) << error;
  const auto flows = sample_flows(6);
  for (const auto& flow : flows) {
    writer->publish(live_copy(*flow));  // Live snapshots never reach the log.
    writer->publish(flow);
  }
  // Before close: every line is already in the file, complete and parseable.
  ASSERT_TRUE(wait_until([&] { return writer->lines_written() == flows.size(); }));
  std::vector<std::string> lines = read_lines(path);
  ASSERT_EQ(lines.size(), flows.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const json entry = json::parse(lines[i]);
    EXPECT_EQ(entry["_id"], flows[i]->id);
    EXPECT_EQ(entry, json::parse(to_json_line(*flows[i])));
  }
  writer->close();
  EXPECT_EQ(writer->error(), "");
  EXPECT_EQ(read_lines(path).size(), flows.size());
  const std::string bytes = read_file_bytes(path);
  EXPECT_EQ(bytes.back(), '\n');

  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  const mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0644 & ~mask);

  // A second run appends.
  auto again = JsonLinesWriter::create(path.string(), &error);
  ASSERT_NE(again, nullptr) << error;
  again->publish(shared(tcp_flow(99)));
  again->close();
  lines = read_lines(path);
  ASSERT_EQ(lines.size(), flows.size() + 1);
  EXPECT_EQ(json::parse(lines.back())["_id"], 99);
}

TEST(JsonLinesWriter, UnopenableFileIsAnErrorNamingIt) {
  TempDir tmp;
  std::string error;
  const std::string missing_dir = (tmp.path() / "no" / "such" / "flows.jsonl").string();
  EXPECT_EQ(JsonLinesWriter::create(missing_dir, &error), nullptr);
  EXPECT_NE(error.find(missing_dir), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(JsonLinesWriter::create(tmp.path().string(), &error), nullptr);
  EXPECT_NE(error.find("directory"), std::string::npos) << error;
}

json parse_file(const fs::path& path) { return json::parse(read_file_bytes(path)); }

TEST(HarWriter, WritesOneDocumentOnClose) {
  TempDir tmp;
  const fs::path path = tmp.path() / "run.har";
  ASSERT_TRUE(test::write_file_bytes(path, "old content that must go"));
  std::string error;
  auto writer = HarWriter::create(path.string(), &error);
  ASSERT_NE(writer, nullptr) << error;
  const auto flows = sample_flows(7);
  for (const auto& flow : flows) {
    writer->publish(flow);
    writer->publish(live_copy(*flow));
  }
  writer->close();
  EXPECT_EQ(writer->error(), "");
  EXPECT_EQ(writer->entry_count(), flows.size());
  const json document = parse_file(path);
  std::vector<json> expected;
  for (const auto& flow : flows) {
    expected.push_back(to_har_entry(*flow));
  }
  EXPECT_EQ(document, har_document(expected));
  EXPECT_EQ(document["log"]["entries"].size(), 7u);
}

TEST(HarWriter, EmptyRunIsAnEmptyLog) {
  TempDir tmp;
  const fs::path path = tmp.path() / "empty.har";
  std::string error;
  auto writer = HarWriter::create(path.string(), &error);
  ASSERT_NE(writer, nullptr) << error;
  writer->close();
  EXPECT_EQ(parse_file(path), har_document({}));
  EXPECT_EQ(HarWriter::create((tmp.path() / "x" / "y.har").string(), &error), nullptr);
}

TEST(ConvertJsonlToHar, EqualsWhatHarWriterWrites) {
  TempDir tmp;
  const fs::path jsonl = tmp.path() / "flows.jsonl";
  const fs::path har = tmp.path() / "flows.har";
  std::string error;
  auto lines = JsonLinesWriter::create(jsonl.string(), &error);
  auto har_writer = HarWriter::create(har.string(), &error);
  ASSERT_TRUE(lines && har_writer) << error;
  FlowBus bus;
  bus.add_sink(std::move(lines));
  bus.add_sink(std::move(har_writer));
  for (const auto& flow : sample_flows(9)) {
    bus.publish(live_copy(*flow));
    bus.publish(flow);
  }
  bus.close();

  // Blank lines (and CRLF endings) are fine.
  std::string text = read_file_bytes(jsonl);
  text = "\n" + text + "\n  \n";
  std::istringstream in(text);
  std::ostringstream out;
  ASSERT_TRUE(convert_jsonl_to_har(in, out, &error)) << error;
  const json converted = json::parse(out.str());
  EXPECT_EQ(converted, parse_file(har));
  EXPECT_EQ(converted["log"]["entries"].size(), 9u);

  std::string crlf;
  for (const std::string& line : read_lines(jsonl)) {
    crlf += line + "\r\n";
  }
  std::istringstream crlf_in(crlf);
  std::ostringstream crlf_out;
  ASSERT_TRUE(convert_jsonl_to_har(crlf_in, crlf_out, &error)) << error;
  EXPECT_EQ(json::parse(crlf_out.str()), converted);

  std::istringstream empty_in("");
  std::ostringstream empty_out;
  ASSERT_TRUE(convert_jsonl_to_har(empty_in, empty_out, &error));
  EXPECT_EQ(json::parse(empty_out.str()), har_document({}));
}

TEST(ConvertJsonlToHar, MalformedLineIsAnErrorNamingIt) {
  const std::string good = to_json_line(full_flow());
  const std::pair<std::string, std::string> cases[] = {
      {good + "\n" + good + "\n{\"truncated\": \n", "line 3: not valid JSON"},
      {good + "\n\n[1, 2]\n", "line 3: not a JSON object"},
      {"garbage\n", "line 1: not valid JSON"},
  };
  for (const auto& [input, message] : cases) {
    std::istringstream in(input);
    std::ostringstream out;
    std::string error;
    EXPECT_FALSE(convert_jsonl_to_har(in, out, &error));
    EXPECT_EQ(error, message);
  }
}

TEST(TerminalPrinter, FormatsEveryKindOfFlow) {
  FlowSnapshot flow = full_flow();
  flow.websocket_messages.clear();
  flow.response->body = test_flows::body_of(std::string(1229, 'x'));
  EXPECT_EQ(format_flow_line(flow),
            "POST https://example.com/search?q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag 302 "
            "1.2 KiB 76 ms");
  EXPECT_EQ(format_flow_line(failed_flow()),
            "GET https://expired.example:8443/ << upstream certificate verify failed: "
            "certificate has expired");
  EXPECT_EQ(format_flow_line(tcp_flow()), "TCP xmpp.example:5222 10 B up 2.0 KiB down 3.0 s");

  FlowSnapshot bad_gateway = failed_flow();
  bad_gateway.response = HttpResponseData{};
  bad_gateway.response->status = 502;
  EXPECT_EQ(format_flow_line(bad_gateway),
            "GET https://expired.example:8443/ << 502 upstream certificate verify failed: "
            "certificate has expired");

  // Nothing from the wire reaches the terminal as a control sequence.
  FlowSnapshot hostile = full_flow();
  hostile.request->target = "/\x1b[2J\x07";
  hostile.error =
      "bad \xC2\x9B"
      "31m";
  const std::string line = format_flow_line(hostile);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\x07'), std::string::npos);
  EXPECT_EQ(line.find("\xC2\x9B"), std::string::npos);
  EXPECT_NE(line.find("\\x1b[2J\\x07"), std::string::npos) << line;

  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(uint64_t{5} << 30), "5.0 GiB");
  EXPECT_EQ(format_duration(400), "0.4 ms");
  EXPECT_EQ(format_duration(34'000), "34 ms");
  EXPECT_EQ(format_duration(1'250'000), "1.2 s");
  EXPECT_EQ(format_duration(75'000'000), "75 s");
}

TEST(TerminalPrinter, PrintsFinishedFlowsFromItsThread) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::tmpfile(), &std::fclose);
  ASSERT_NE(file, nullptr);
  std::string error;
  auto printer = TerminalPrinter::create(file.get(), &error);
  ASSERT_NE(printer, nullptr) << error;
  const auto flows = sample_flows(5);
  std::string expected;
  for (const auto& flow : flows) {
    printer->publish(live_copy(*flow));
    printer->publish(flow);
    expected += format_flow_line(*flow) + "\n";
  }
  printer->close();
  std::rewind(file.get());
  std::string printed;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    printed.append(buffer, n);
  }
  EXPECT_EQ(printed, expected);
}

}  // namespace
}  // namespace sightglass::core
