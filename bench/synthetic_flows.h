#pragma once

// Synthetic API-like flows for the benchmarks (store_bench, make_session): finished HTTPS
// GET/POST calls (every fifth a POST) from 127.0.0.1 to one of 200 hosts, each answered with a
// JSON body whose items come from an xorshift sequence seeded by the flow's id, so that the same
// id and options always give the same flow.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/proxy/flow.h"

namespace sightglass::bench {

// How the two benchmarks' flows differ.
struct ApiFlowOptions {
  // false: a JSON document {"id":ID,"items":[{"n":..,"name":".."},..]} of at least |body_size|
  // bytes; true: items {"id":..,"name":".."}, cut to exactly |body_size| bytes.
  size_t body_size = 600;
  bool exact_body_size = false;
  // Writes "needle" in the middle of an exact-size body.
  bool needle = false;
  // true: HTTP/2 for even ids, statuses from 200 to 500, waits of 0.3 to 5.3 ms; false: all
  // HTTP/1.1, 200 (404 for every tenth id), a wait of 0.3 ms.
  bool varied = false;
  // Adds an Authorization request header and a Date response header.
  bool auth_and_date = false;
  // The flows start this many µs apart.
  int64_t spacing_us = 100;
};

// next_xorshift advances |x| (xorshift64) and returns it.
inline uint64_t next_xorshift(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// make_api_flow is flow |id| of the synthetic API traffic described above.
inline core::FlowSnapshotConstSharedPtr make_api_flow(uint64_t id, const ApiFlowOptions& options) {
  using namespace sightglass::core;  // NOLINT(google-build-using-namespace)
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
  request.http_version = options.varied && id % 2 == 0 ? "HTTP/2.0" : "HTTP/1.1";
  request.headers = {{"Host", host}, {"User-Agent", "bench/1.0"}, {"Accept", "application/json"}};
  if (options.auth_and_date) {
    request.headers.push_back({"Authorization", "Bearer abcdef0123456789"});
  }
  request.header_bytes = options.auth_and_date ? 160 : 120;
  flow->request = std::move(request);

  HttpResponseData response;
  static constexpr int kStatuses[] = {200, 200, 200, 201, 204, 304, 404, 200, 500, 200};
  response.status = options.varied ? kStatuses[id % 10] : (id % 10 == 0 ? 404 : 200);
  response.reason = "OK";
  std::string body;
  uint64_t x = id * 0x9e3779b97f4a7c15ULL + 1;
  if (options.exact_body_size) {
    body.reserve(options.body_size);
    while (body.size() < options.body_size) {
      next_xorshift(x);
      body += "{\"id\":" + std::to_string(x % 100000) + ",\"name\":\"item" +
              std::to_string(x % 977) + "\"},";
    }
    body.resize(options.body_size);
    if (options.needle) {
      body.replace(options.body_size / 2, 6, "needle");
    }
  } else {
    body = "{\"id\":" + std::to_string(id) + ",\"items\":[";
    while (body.size() < options.body_size) {
      next_xorshift(x);
      body += "{\"n\":" + std::to_string(x % 100000) + ",\"name\":\"item" +
              std::to_string(x % 977) + "\"},";
    }
    body.back() = ']';
    body += "}";
  }
  response.headers = {{"Content-Type", "application/json"},
                      {"Content-Length", std::to_string(body.size())}};
  if (options.auth_and_date) {
    response.headers.push_back({"Date", "Wed, 02 Dec 2026 12:00:00 GMT"});
  }
  response.body.append(body, 1 << 20);
  response.header_bytes = options.auth_and_date ? 120 : 100;
  flow->response = std::move(response);
  flow->timings = FlowTimings{
      1'764'000'000'000'000 + static_cast<int64_t>(id) * options.spacing_us, 0, -1, -1, -1, 20,
      options.varied ? static_cast<int64_t>(300 + (x % 5000)) : 300,         40};
  return flow;
}

}  // namespace sightglass::bench
