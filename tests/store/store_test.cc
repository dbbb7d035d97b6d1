// The session store: the lossless flow codec, session files (written, reopened, refused), the
// summary column store and the JSON Lines / HAR importers.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/export/flow_json.h"
#include "core/filter/filter.h"
#include "core/store/capture_files.h"
#include "core/store/flow_codec.h"
#include "core/store/session_file.h"
#include "core/store/session_sink.h"
#include "core/store/summary_table.h"
#include "tests/support/temp_dir.h"

namespace sightglass::core {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

FlowSnapshotConstSharedPtr http_flow(FlowId id, std::string method = "GET",
                                     std::string host = "example.com", int status = 200,
                                     std::string body = "hello") {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->id = id;
  flow->state = FlowState::kFinished;
  flow->client_address = "127.0.0.1:5" + std::to_string(1000 + id);
  flow->server_address = "93.184.216.34:443";
  flow->client_tls = TlsInfo{host, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", std::nullopt};
  flow->server_tls = TlsInfo{host, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "h2",
                             TlsCertificateInfo{"CN=" + host, "CN=Origin CA",
                                                "2030-01-01T00:00:00Z", std::string(64, 'a')}};
  HttpRequestData request;
  request.method = std::move(method);
  request.scheme = "https";
  request.host = host;
  request.port = 443;
  request.target = "/api/items/" + std::to_string(id) + "?q=1";
  request.http_version = "HTTP/2.0";
  request.headers = {{"Host", host}, {"X-Mixed-Case", "Value"}, {"cookie", "a=1; b=2"}};
  request.trailers = {{"x-trailer", "t"}};
  request.body.append("request body \xff\x00 bytes", 1 << 20);
  request.header_bytes = 120;
  flow->request = std::move(request);
  HttpResponseData response;
  response.http_version = "HTTP/2.0";
  response.status = status;
  response.reason = "OK";
  response.headers = {{"Content-Type", "application/json"}, {"Set-Cookie", "s=1; Path=/"}};
  response.body.append(body, 3);  // Kept: 3 bytes of it.
  response.body.grpc = GrpcFraming{};
  response.body.grpc->feed(std::string("\0\0\0\0\2ab\0\0", 9));
  response.header_bytes = 80;
  flow->response = std::move(response);
  flow->websocket_messages.push_back(WebSocketMessage{true, 1'700'000'000'000'001, 1, "hi", false});
  flow->websocket_messages.push_back(
      WebSocketMessage{false, 1'700'000'000'000'002, 2, std::string("\x01\x02", 2), true});
  flow->timings = FlowTimings{1'700'000'000'123'456, 5, -1, 300, 200, 10, 1000, 77};
  flow->error = id % 2 == 0 ? "" : "upstream connection failed: reset";
  return flow;
}

FlowSnapshotConstSharedPtr tcp_flow(FlowId id) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->id = id;
  flow->kind = FlowKind::kTcp;
  flow->state = FlowState::kFinished;
  flow->client_address = "[::1]:40000";
  flow->server_address = "[::1]:22";
  flow->tcp_host = "::1";
  flow->tcp_port = 22;
  flow->bytes_from_client = 1234;
  flow->bytes_from_server = 5678;
  flow->tcp_sni = "sni.example";
  flow->passthrough = "--ignore-hosts";
  flow->passthrough_learned = true;
  flow->timings.started_us = 1'700'000'000'000'000;
  return flow;
}

TEST(FlowCodec, EveryFieldSurvivesTheRoundTrip) {
  for (const auto& flow : {http_flow(1), http_flow(2, "POST"), tcp_flow(3)}) {
    const std::string blob = compress_zstd(encode_flow(*flow));
    ASSERT_FALSE(blob.empty());
    const auto raw = decompress_zstd(blob, 1 << 20);
    ASSERT_TRUE(raw.has_value());
    FlowSnapshot back;
    ASSERT_TRUE(decode_flow(*raw, &back));
    EXPECT_EQ(to_json_line(back), to_json_line(*flow));
    EXPECT_EQ(encode_flow(back), encode_flow(*flow));
    ASSERT_EQ(back.websocket_messages.size(), flow->websocket_messages.size());
    if (back.request) {
      EXPECT_EQ(back.request->headers, flow->request->headers);
      EXPECT_EQ(back.request->body.contiguous(), flow->request->body.contiguous());
      EXPECT_EQ(back.response->body.size, flow->response->body.size);
      EXPECT_EQ(back.response->body.truncated, flow->response->body.truncated);
      EXPECT_EQ(back.response->body.grpc->sizes, flow->response->body.grpc->sizes);
    }
  }
}

TEST(FlowCodec, ResumedTlsSidesSurviveTheRoundTrip) {
  for (const auto& [client, server] : {std::pair{true, false}, std::pair{false, true},
                                       std::pair{true, true}, std::pair{false, false}}) {
    FlowSnapshot flow = *http_flow(7);
    flow.client_tls->resumed = client;
    flow.server_tls->resumed = server;
    FlowSnapshot back;
    ASSERT_TRUE(decode_flow(encode_flow(flow), &back));
    EXPECT_EQ(back.client_tls->resumed, client);
    EXPECT_EQ(back.server_tls->resumed, server);
    EXPECT_EQ(to_json_line(back), to_json_line(flow));
  }
}

TEST(FlowCodec, EveryCutOrDamagedBlobIsRefused) {
  const std::string data = encode_flow(*http_flow(7));
  FlowSnapshot out;
  for (size_t n = 0; n < data.size(); ++n) {
    EXPECT_FALSE(decode_flow(std::string_view(data).substr(0, n), &out)) << n;
  }
  std::string flipped = data;
  for (size_t i = 0; i < flipped.size(); ++i) {
    flipped[i] = static_cast<char>(flipped[i] ^ 0xff);
    decode_flow(flipped, &out);  // Must not crash or read out of bounds (ASan build).
    flipped[i] = data[i];
  }
  EXPECT_FALSE(decompress_zstd("not zstd", 100).has_value());
  EXPECT_FALSE(decompress_zstd(compress_zstd(std::string(1000, 'x')), 999).has_value());
}

// zstd_rle_frame is a zstd frame whose header claims |content_size| bytes and whose one block
// (RLE) makes |block_size| bytes of 'A'.
std::string zstd_rle_frame(uint64_t content_size, uint32_t block_size) {
  std::string frame("\x28\xb5\x2f\xfd", 4);
  frame += static_cast<char>(0xE0);  // An 8-byte content size, single segment.
  for (int i = 0; i < 8; ++i) {
    frame += static_cast<char>((content_size >> (8 * i)) & 0xff);
  }
  const uint32_t header = (block_size << 3) | (1 << 1) | 1;  // Last block, RLE.
  for (int i = 0; i < 3; ++i) {
    frame += static_cast<char>((header >> (8 * i)) & 0xff);
  }
  return frame + "A";
}

TEST(FlowCodec, ZstdContentSizeMustFitTheFrame) {
  EXPECT_EQ(decompress_zstd(zstd_rle_frame(1000, 1000), 1 << 20), std::string(1000, 'A'));
  // A header claiming more than the blocks make is refused before anything is allocated (a
  // crafted session file used to make each load allocate and zero 2 GiB; the fuzz regression
  // fuzz/regressions/session_file/zstd_content_size_claim.sightglass is such a file).
  EXPECT_FALSE(decompress_zstd(zstd_rle_frame((uint64_t{1} << 31) - 1, 1000), size_t{1} << 31));
  // (Without that check, this claim of 1 PiB used to throw std::bad_alloc.)
  EXPECT_FALSE(decompress_zstd(zstd_rle_frame(uint64_t{1} << 50, 1000), SIZE_MAX));
  EXPECT_FALSE(decompress_zstd(zstd_rle_frame(1001, 1000), 1 << 20));
  const std::string frame = zstd_rle_frame(1000, 1000);
  EXPECT_FALSE(decompress_zstd(frame.substr(0, frame.size() - 1), 1 << 20));  // Cut.
  // Real frames of many blocks, compressible or not, still read back.
  std::string body;
  for (uint32_t i = 0; body.size() < (3 << 20); ++i) {
    body += std::to_string(i * 2654435761u) + (i % 7 == 0 ? std::string(300, 'z') : "");
  }
  EXPECT_EQ(decompress_zstd(compress_zstd(body), body.size()), body);
  const std::string zeros(8 << 20, '\0');
  EXPECT_EQ(decompress_zstd(compress_zstd(zeros), zeros.size()), zeros);
}

TEST(SessionFile, FlowsWrittenAreReadBackExactly) {
  TempDir dir;
  const std::string path = (dir.path() / "s.sightglass").string();
  std::vector<FlowSnapshotConstSharedPtr> flows = {http_flow(1), tcp_flow(2), http_flow(3)};
  std::string error;
  {
    auto file = SessionFile::open(path, SessionFile::Mode::kWrite, &error);
    ASSERT_NE(file, nullptr) << error;
    int64_t first = 0;
    ASSERT_TRUE(file->append({flows[0], flows[1]}, &error, &first)) << error;
    EXPECT_EQ(first, 1);
    ASSERT_TRUE(file->append({flows[2]}, &error)) << error;
  }
  {
    // Appending to an existing session keeps what is there.
    auto file = SessionFile::open(path, SessionFile::Mode::kWrite, &error);
    ASSERT_NE(file, nullptr) << error;
    ASSERT_TRUE(file->append({http_flow(4)}, &error)) << error;
    flows.push_back(http_flow(4));
  }
  auto file = SessionFile::open(path, SessionFile::Mode::kRead, &error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(file->count(&error), 4);
  std::vector<int64_t> seqs;
  ASSERT_TRUE(file->for_each_summary(
      [&](int64_t seq, const FlowSummary& s) {
        const FlowSummary expected = summarize(*flows[seqs.size()]);
        EXPECT_EQ(s.url, expected.url);
        EXPECT_EQ(s.client, expected.client);
        EXPECT_EQ(s.status, expected.status);
        EXPECT_EQ(s.flags, expected.flags);
        EXPECT_EQ(s.protocol, expected.protocol);
        EXPECT_EQ(s.response_content_type, expected.response_content_type);
        EXPECT_EQ(s.duration_us, expected.duration_us);
        seqs.push_back(seq);
        return true;
      },
      &error))
      << error;
  ASSERT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4}));
  for (size_t i = 0; i < flows.size(); ++i) {
    const auto back = file->load(seqs[i], &error);
    ASSERT_NE(back, nullptr) << error;
    EXPECT_EQ(to_json_line(*back), to_json_line(*flows[i]));
  }
  EXPECT_EQ(file->load(99, &error), nullptr);
  EXPECT_NE(error.find("no flow 99"), std::string::npos) << error;
  std::string write_error;
  EXPECT_FALSE(file->append({http_flow(5)}, &write_error));
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void sql(const fs::path& path, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, statements.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(SessionFile, FilesThatAreNotSessionsAreRefusedAndLeftAlone) {
  TempDir dir;
  std::string error;
  const fs::path text = dir.path() / "notes.txt";
  write_file(text, "just some text\n");
  const fs::path other = dir.path() / "other.db";
  sql(other, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
  const fs::path newer = dir.path() / "newer.sightglass";
  {
    auto file = SessionFile::open(newer.string(), SessionFile::Mode::kWrite, &error);
    ASSERT_NE(file, nullptr) << error;
  }
  sql(newer, "PRAGMA user_version=99;");

  struct Case {
    fs::path path;
    std::string expected;
  };
  for (const Case& c :
       {Case{text, "not a Sightglass session file"}, Case{other, "another application"},
        Case{newer, "newer Sightglass (session schema 99"},
        Case{dir.path() / "missing", "no such file"}}) {
    for (auto mode : {SessionFile::Mode::kRead, SessionFile::Mode::kWrite}) {
      if (c.path.filename() == "missing" && mode == SessionFile::Mode::kWrite) {
        continue;
      }
      const std::string before = read_file(c.path);
      error.clear();
      EXPECT_EQ(SessionFile::open(c.path.string(), mode, &error), nullptr) << c.path;
      EXPECT_NE(error.find(c.expected), std::string::npos) << error;
      EXPECT_EQ(error.find('\n'), std::string::npos) << error;
      EXPECT_EQ(read_file(c.path), before) << "a refused file was changed: " << c.path;
    }
  }
}

TEST(SessionFile, ACutFileIsAnErrorNotACrash) {
  TempDir dir;
  const fs::path path = dir.path() / "cut.sightglass";
  std::string error;
  {
    auto file = SessionFile::open(path.string(), SessionFile::Mode::kWrite, &error);
    ASSERT_NE(file, nullptr) << error;
    std::vector<FlowSnapshotConstSharedPtr> many;
    for (FlowId id = 1; id <= 2000; ++id) {
      many.push_back(http_flow(id, "GET", "host" + std::to_string(id) + ".example", 200,
                               std::string(2000, static_cast<char>('a' + id % 26))));
    }
    ASSERT_TRUE(file->append(many, &error)) << error;
  }
  const std::string whole = read_file(path);
  ASSERT_GT(whole.size(), 100'000u);
  for (size_t keep : {size_t{50}, size_t{4096}, whole.size() / 2, whole.size() - 4096}) {
    const fs::path cut = dir.path() / ("cut-" + std::to_string(keep));
    write_file(cut, whole.substr(0, keep));
    error.clear();
    auto file = SessionFile::open(cut.string(), SessionFile::Mode::kRead, &error);
    if (file == nullptr) {
      EXPECT_FALSE(error.empty());
      continue;
    }
    // If it opened, reading everything either works or fails with an error; never a crash.
    SummaryTable table;
    if (load_summaries(*file, table, &error)) {
      auto lock = table.read_lock();
      for (size_t row = 0; row < table.size(); ++row) {
        file->load(static_cast<int64_t>(table.key(row)), &error);
      }
    }
  }
}

TEST(SummaryTable, LiveRowsAreUpdatedInPlaceAndFinishedOnesAppended) {
  SummaryTable table;
  auto live = std::make_shared<FlowSnapshot>(*http_flow(1));
  live->state = FlowState::kLive;
  live->response.reset();
  EXPECT_EQ(table.upsert(1, summarize(*live).view()), 0u);
  EXPECT_EQ(table.upsert(2, summarize(*http_flow(2, "POST", "b.example", 404)).view()), 1u);
  EXPECT_EQ(table.upsert(1, summarize(*http_flow(1, "GET", "a.example", 201)).view()), 0u);
  ASSERT_EQ(table.size(), 2u);
  auto lock = table.read_lock();
  const SummaryView first = table.view(0);
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(first.host, "a.example");
  EXPECT_FALSE(first.has(kSummaryLive));
  EXPECT_EQ(first.url, "https://a.example/api/items/1?q=1");
  EXPECT_EQ(first.path, "/api/items/1?q=1");
  EXPECT_EQ(first.client, "127.0.0.1:51001");
  const SummaryView second = table.view(1);
  EXPECT_EQ(second.method, "POST");
  EXPECT_EQ(second.status, 404);
  EXPECT_EQ(table.key(1), 2u);
}

TEST(SummaryTable, SummaryFiltersNeverLoadAndDetailFiltersDo) {
  SummaryTable table;
  for (FlowId id = 1; id <= 100; ++id) {
    table.upsert(
        id, summarize(*http_flow(id, id % 3 == 0 ? "POST" : "GET", id % 2 ? "a.example" : "b.test",
                                 id % 5 ? 200 : 500, id == 42 ? "needle" : "hay"))
                .view());
  }
  FilterError error;
  auto summary_filter = FlowFilter::parse("~d example & ~m POST & !~c 200", &error);
  ASSERT_NE(summary_filter, nullptr) << error.describe();
  std::atomic<int> loads{0};
  const auto rows = table.filter(*summary_filter, [&loads](uint64_t) {
    ++loads;
    return nullptr;
  });
  EXPECT_EQ(loads, 0);
  // Odd ids (a.example), multiples of 3 (POST), multiples of 5 (500): 15, 45, 75.
  ASSERT_EQ(rows.size(), 3u);
  auto lock = table.read_lock();
  EXPECT_EQ(table.key(rows[0]), 15u);
  EXPECT_EQ(table.key(rows[2]), 75u);
  lock.unlock();

  auto body_filter = FlowFilter::parse("~bs nee", &error);
  ASSERT_NE(body_filter, nullptr);
  const auto found = table.filter(*body_filter, [&loads](uint64_t key) {
    ++loads;
    return http_flow(key, "GET", "x", 200, key == 42 ? "needle" : "hay");
  });
  EXPECT_EQ(loads, 100);
  ASSERT_EQ(found.size(), 1u);
}

TEST(SummaryTable, AScanReportsItsProgressAndStopsWhenCancelled) {
  SummaryTable table;
  for (FlowId id = 1; id <= 20'000; ++id) {
    table.upsert(id, summarize(*http_flow(id, "GET", "a.example", 200, "hay")).view());
  }
  FilterError error;
  auto summary_filter = FlowFilter::parse("~c 200", &error);
  ASSERT_NE(summary_filter, nullptr);
  SummaryTable::ScanControl control;
  EXPECT_EQ(table.filter(*summary_filter, nullptr, &control).size(), 20'000u);
  EXPECT_EQ(control.scanned.load(), 20'000u);  // Every row, counted once.

  // A scan that loads flows stops at the first row after the cancel.
  auto body_filter = FlowFilter::parse("~bs hay", &error);
  ASSERT_NE(body_filter, nullptr);
  SummaryTable::ScanControl cancelled;
  std::atomic<int> loads{0};
  table.filter(
      *body_filter,
      [&](uint64_t key) {
        if (++loads == 10) {
          cancelled.cancel.store(true);
        }
        return http_flow(key, "GET", "x", 200, "hay");
      },
      &cancelled);
  EXPECT_LT(loads.load(), 100);
  EXPECT_LT(cancelled.scanned.load(), 20'000u);
}

TEST(SummaryTable, MemoizedScansAgreeWithEvaluatingEachFlow) {
  // 300k rows: the scan runs on several threads, each with its own memo.
  SummaryTable table;
  std::vector<FlowSummary> summaries;
  const FlowSummary base = summarize(*http_flow(1));
  for (FlowId id = 1; id <= 300'000; ++id) {
    FlowSummary s = base;
    s.id = id;
    s.method = id % 3 == 0 ? "POST" : (id % 7 == 0 ? "DELETE" : "GET");
    s.host = "h" + std::to_string(id % 37) + (id % 2 ? ".example.com" : ".test");
    s.url = "https://" + s.host + s.path;
    s.status = id % 11 == 0 ? 404 : 200;
    if (id % 5 == 0) {
      s.response_content_type = "text/css";
    }
    if (id % 13 == 0) {
      s.flags &= static_cast<uint8_t>(~kSummaryHasResponse);
      s.status = 0;
      s.response_content_type.clear();
    }
    summaries.push_back(std::move(s));
    table.upsert(id, summaries.back().view());
  }
  for (const char* expression :
       {"~d example & ~m POST & !~c 200", "~d '^h1[0-9]\\.'", "~m 'GET|DELETE' | ~a",
        "~t css & !~d test", "~dst 93.184 & ~m post", "!(~d h3 | ~m get) & ~s", "~q | ~c 404",
        "~t json"}) {
    FilterError error;
    auto filter = FlowFilter::parse(expression, &error);
    ASSERT_NE(filter, nullptr) << expression << ": " << error.describe();
    std::vector<uint32_t> expected;
    for (size_t row = 0; row < summaries.size(); ++row) {
      if (filter->matches(summaries[row].view(), nullptr)) {
        expected.push_back(static_cast<uint32_t>(row));
      }
    }
    EXPECT_EQ(table.filter(*filter, nullptr), expected) << expression;
    EXPECT_FALSE(expected.empty()) << expression;
  }
}

TEST(CaptureFiles, JsonLinesAndHarAreImportedAlike) {
  std::string jsonl;
  std::vector<nlohmann::json> entries;
  for (const auto& flow : {http_flow(1), tcp_flow(2), http_flow(3, "POST")}) {
    jsonl += to_json_line(*flow) + "\n\n";
    entries.push_back(to_har_entry(*flow));
  }
  const std::string har_pretty = har_document(entries).dump(2);
  const std::string har_compact = har_document(entries).dump();
  const std::vector<std::string> texts = {jsonl, har_pretty, har_compact};
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    std::string error;
    auto session = SessionFile::open("", SessionFile::Mode::kTemporary, &error);
    ASSERT_NE(session, nullptr) << error;
    std::istringstream in(text);
    uint64_t count = 0;
    CaptureFormat format{};
    ASSERT_TRUE(import_capture(in, *session, &error, &count, &format)) << error;
    EXPECT_EQ(count, 3u);
    EXPECT_EQ(format, i == 0 ? CaptureFormat::kJsonLines : CaptureFormat::kHar);
    const auto back = session->load(3, &error);
    ASSERT_NE(back, nullptr) << error;
    EXPECT_EQ(back->request->method, "POST");
    EXPECT_EQ(back->request->headers, http_flow(3)->request->headers);
  }
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"hello\n", "not a session, JSON Lines or HAR file"},
           {jsonl + "{broken\n", "line 7: not a JSON object"},
           {"{\"log\": {\"entries\": 3}}", "not a session, JSON Lines or HAR file"},
           {"{\n \"log\": {", "not a session, JSON Lines or HAR file"}}) {
    std::string error;
    auto session = SessionFile::open("", SessionFile::Mode::kTemporary, &error);
    std::istringstream in(text);
    EXPECT_FALSE(import_capture(in, *session, &error));
    EXPECT_NE(error.find(expected), std::string::npos) << error;
  }
}

TEST(SessionSink, FinishedFlowsFromManyThreadsAreAllStored) {
  TempDir dir;
  const std::string path = (dir.path() / "sink.sightglass").string();
  std::string error;
  auto sink = SessionSink::create(path, &error);
  ASSERT_NE(sink, nullptr) << error;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sink, t] {
      for (int i = 0; i < 500; ++i) {
        auto flow = std::make_shared<FlowSnapshot>(*http_flow(static_cast<FlowId>(t * 1000 + i)));
        sink->publish(flow);
        auto live = std::make_shared<FlowSnapshot>(*flow);
        live->state = FlowState::kLive;
        sink->publish(live);  // Ignored: only finished flows are stored.
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  sink->close();
  EXPECT_EQ(sink->flows_written(), 2000u);
  EXPECT_EQ(sink->flows_failed(), 0u);
  auto file = SessionFile::open(path, SessionFile::Mode::kRead, &error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(file->count(&error), 2000);
}

}  // namespace
}  // namespace sightglass::core
