// The JSON Lines log's cost per flow: to_json_line (the direct writer) against building the
// HAR entry as a nlohmann::json tree and dumping it, for a typical small flow (a keep-alive GET
// over HTTPS, test_flows::typical_flow).
#include <benchmark/benchmark.h>

#include <string>

#include "core/export/flow_json.h"
#include "core/proxy/flow.h"
#include "tests/export/test_flows.h"

namespace {

using sightglass::core::FlowSnapshot;
using sightglass::core::test_flows::typical_flow;

void BM_ToJsonLine(benchmark::State& bench) {
  const FlowSnapshot flow = typical_flow();
  for (auto _ : bench) {
    std::string line = sightglass::core::to_json_line(flow);
    benchmark::DoNotOptimize(line);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_ToJsonLine);

void BM_ToHarEntryDump(benchmark::State& bench) {
  const FlowSnapshot flow = typical_flow();
  for (auto _ : bench) {
    std::string line = sightglass::core::to_har_entry(flow).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    benchmark::DoNotOptimize(line);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_ToHarEntryDump);

}  // namespace

BENCHMARK_MAIN();
