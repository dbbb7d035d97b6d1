// The session store's costs (issue 11's targets): appending flows with 1 KiB bodies to a session
// file on one core (>= 50,000 flows/s); a summary filter over 1,000,000 in-memory summaries
// (< 50 ms); `~b needle` over 100,000 stored flows with 10 KiB bodies (< 2 s); and the RSS of a
// session of 1,000,000 flows with 10 KiB bodies opened for viewing (< 300 MiB).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/synthetic_flows.h"
#include "core/filter/filter.h"
#include "core/store/capture_files.h"
#include "core/store/session_file.h"
#include "core/store/summary_table.h"

namespace {

namespace fs = std::filesystem;
using namespace sightglass::core;

// A typical API call: https GET/POST to one of 200 hosts, a JSON body of |body_size| bytes.
FlowSnapshotConstSharedPtr make_flow(uint64_t id, size_t body_size, bool needle = false) {
  return sightglass::bench::make_api_flow(
      id,
      {.body_size = body_size, .exact_body_size = true, .needle = needle, .auth_and_date = true});
}

fs::path temp_path(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  return fs::path(tmp != nullptr ? tmp : "/tmp") /
         ("sightglass-bench-" + std::to_string(getpid()) + "-" + name);
}

void remove_session(const fs::path& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::remove(path.string() + suffix, ec);
  }
}

size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Flows appended in the writer thread's batches, one transaction each; the argument is the
// response body's size.
void BM_StoreAppend(benchmark::State& bench) {
  const fs::path path = temp_path("append.sightglass");
  remove_session(path);
  std::string error;
  auto file = SessionFile::open(path.string(), SessionFile::Mode::kWrite, &error);
  if (!file) {
    bench.SkipWithError(error.c_str());
    return;
  }
  constexpr size_t kBatch = 256;
  std::vector<FlowSnapshotConstSharedPtr> batch;
  for (size_t i = 0; i < kBatch; ++i) {
    batch.push_back(make_flow(i, static_cast<size_t>(bench.range(0))));
  }
  for (auto _ : bench) {
    if (!file->append(batch, &error)) {
      bench.SkipWithError(error.c_str());
      break;
    }
  }
  bench.SetItemsProcessed(bench.iterations() * static_cast<int64_t>(kBatch));
  file.reset();
  remove_session(path);
}
BENCHMARK(BM_StoreAppend)->Arg(100)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// One table of a million summaries, shared by the filter benchmarks.
SummaryTable& million_summaries() {
  static SummaryTable* table = [] {
    static SummaryTable t;
    for (uint64_t id = 1; id <= 1'000'000; ++id) {
      t.upsert(id, summarize(*make_flow(id, 0)).view());
    }
    return &t;
  }();
  return *table;
}

void BM_FilterMillionSummaries(benchmark::State& bench) {
  SummaryTable& table = million_summaries();
  FilterError error;
  auto filter = FlowFilter::parse("~d example & ~m POST & !~c 200", &error);
  size_t matched = 0;
  for (auto _ : bench) {
    matched = table.filter(*filter, nullptr).size();
    benchmark::DoNotOptimize(matched);
  }
  bench.counters["rows"] = static_cast<double>(table.size());
  bench.counters["matched"] = static_cast<double>(matched);
  bench.counters["table_MiB"] = static_cast<double>(table.memory_bytes()) / (1 << 20);
}
BENCHMARK(BM_FilterMillionSummaries)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BodySearch100kStored(benchmark::State& bench) {
  const fs::path path = temp_path("bodies.sightglass");
  remove_session(path);
  std::string error;
  {
    auto file = SessionFile::open(path.string(), SessionFile::Mode::kWrite, &error);
    std::vector<FlowSnapshotConstSharedPtr> batch;
    for (uint64_t id = 1; id <= 100'000; ++id) {
      batch.push_back(make_flow(id, 10 * 1024, id % 10'000 == 0));
      if (batch.size() == 1000) {
        file->append(batch, &error);
        batch.clear();
      }
    }
  }
  auto file = SessionFile::open(path.string(), SessionFile::Mode::kRead, &error);
  SummaryTable table;
  load_summaries(*file, table, &error);
  FilterError filter_error;
  auto filter = FlowFilter::parse("~b needle", &filter_error);
  size_t matched = 0;
  for (auto _ : bench) {
    std::string load_error;
    const SessionFile::ReadScope scope(file.get());
    matched = table
                  .filter(*filter,
                          [&](uint64_t key) {
                            return file->load(static_cast<int64_t>(key), &load_error);
                          })
                  .size();
  }
  bench.counters["flows"] = static_cast<double>(table.size());
  bench.counters["matched"] = static_cast<double>(matched);
  bench.counters["file_MiB"] = static_cast<double>(fs::file_size(path)) / (1 << 20);
  file.reset();
  remove_session(path);
}
BENCHMARK(BM_BodySearch100kStored)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// A session of a million flows with 10 KiB bodies, written and then opened for viewing (its
// summaries in memory, bodies on disk). Reports the RSS after each step.
void BM_MillionFlowSessionRss(benchmark::State& bench) {
  const fs::path path = temp_path("million.sightglass");
  for (auto _ : bench) {
    remove_session(path);
    std::string error;
    const size_t before = rss_bytes();
    {
      auto file = SessionFile::open(path.string(), SessionFile::Mode::kWrite, &error);
      std::vector<FlowSnapshotConstSharedPtr> batch;
      for (uint64_t id = 1; id <= 1'000'000; ++id) {
        batch.push_back(make_flow(id, 10 * 1024));
        if (batch.size() == 1000) {
          file->append(batch, &error);
          batch.clear();
        }
      }
      bench.counters["rss_writing_MiB"] = static_cast<double>(rss_bytes()) / (1 << 20);
    }
    auto file = SessionFile::open(path.string(), SessionFile::Mode::kRead, &error);
    SummaryTable table;
    load_summaries(*file, table, &error);
    bench.counters["flows"] = static_cast<double>(table.size());
    bench.counters["rss_before_MiB"] = static_cast<double>(before) / (1 << 20);
    bench.counters["rss_open_MiB"] = static_cast<double>(rss_bytes()) / (1 << 20);
    bench.counters["table_MiB"] = static_cast<double>(table.memory_bytes()) / (1 << 20);
    bench.counters["file_MiB"] = static_cast<double>(fs::file_size(path)) / (1 << 20);
  }
  remove_session(path);
}
BENCHMARK(BM_MillionFlowSessionRss)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
