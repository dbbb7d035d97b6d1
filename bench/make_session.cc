// make_session N OUT.sightglass: writes a session file of N finished flows that look like a day
// of API traffic (200 hosts, GET/POST, 2xx/3xx/4xx/5xx, JSON bodies of about 600 bytes, one
// flow every 10 ms), for measuring the inspector at scale (bench/gui_scale.sh).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/synthetic_flows.h"
#include "core/store/session_file.h"

namespace {

using namespace sightglass::core;  // NOLINT(google-build-using-namespace)

FlowSnapshotConstSharedPtr make_flow(uint64_t id) {
  return sightglass::bench::make_api_flow(id,
                                          {.body_size = 600, .varied = true, .spacing_us = 10'000});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_session N OUT.sightglass\n");
    return 2;
  }
  const uint64_t n = std::strtoull(argv[1], nullptr, 10);
  std::string error;
  auto file = SessionFile::open(argv[2], SessionFile::Mode::kWrite, &error);
  if (!file) {
    std::fprintf(stderr, "make_session: %s\n", error.c_str());
    return 1;
  }
  std::vector<FlowSnapshotConstSharedPtr> batch;
  for (uint64_t id = 1; id <= n; ++id) {
    batch.push_back(make_flow(id));
    if (batch.size() == 2000 || id == n) {
      if (!file->append(batch, &error)) {
        std::fprintf(stderr, "make_session: %s\n", error.c_str());
        return 1;
      }
      batch.clear();
    }
  }
  return 0;
}
