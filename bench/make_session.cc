// make_session N OUT.sightglass: writes a session file of N finished flows that look like a day
// of API traffic (200 hosts, GET/POST, 2xx/3xx/4xx/5xx, JSON bodies of about 600 bytes, one
// flow every 10 ms), for measuring the inspector at scale (bench/gui_scale.sh).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/store/session_file.h"

namespace {

using namespace sightglass::core;  // NOLINT(google-build-using-namespace)

FlowSnapshotConstSharedPtr make_flow(uint64_t id) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->id = id;
  flow->state = FlowState::kFinished;
  flow->client_address = "127.0.0.1:" + std::to_string(40000 + id % 20000);
  flow->server_address = "10.0.0." + std::to_string(id % 200) + ":443";
  const std::string host = (id % 4 == 0 ? "api.example.com" : "host") + std::to_string(id % 200) +
                           (id % 3 == 0 ? ".example.org" : ".test");
  HttpRequestData request;
  request.method = id % 5 == 0 ? "POST" : "GET";
  request.scheme = "https";
  request.host = host;
  request.port = 443;
  request.target = "/v1/items/" + std::to_string(id) + "?page=" + std::to_string(id % 7);
  request.http_version = id % 2 == 0 ? "HTTP/2.0" : "HTTP/1.1";
  request.headers = {{"Host", host}, {"User-Agent", "bench/1.0"}, {"Accept", "application/json"}};
  request.header_bytes = 120;
  flow->request = std::move(request);
  HttpResponseData response;
  static constexpr int kStatuses[] = {200, 200, 200, 201, 204, 304, 404, 200, 500, 200};
  response.status = kStatuses[id % 10];
  response.reason = "OK";
  std::string body = "{\"id\":" + std::to_string(id) + ",\"items\":[";
  uint64_t x = id * 0x9e3779b97f4a7c15ULL + 1;
  while (body.size() < 600) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    body += "{\"n\":" + std::to_string(x % 100000) + ",\"name\":\"item" + std::to_string(x % 977) +
            "\"},";
  }
  body.back() = ']';
  body += "}";
  response.headers = {{"Content-Type", "application/json"},
                      {"Content-Length", std::to_string(body.size())}};
  response.body.append(body, 1 << 20);
  response.header_bytes = 100;
  flow->response = std::move(response);
  flow->timings = FlowTimings{1'764'000'000'000'000 + static_cast<int64_t>(id) * 10'000,
                              0,
                              -1,
                              -1,
                              -1,
                              20,
                              static_cast<int64_t>(300 + (x % 5000)),
                              40};
  return flow;
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
