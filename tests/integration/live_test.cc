// Live flows: a consumer subscribed to the running proxy's FlowBus (in process, through the
// same ProxyRuntime that `sightglass` runs) sees each flow's revisions grow through the request
// head, the response head, body progress and the final snapshot, and the final snapshot is the
// one the JSON Lines log got.

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "cli/runtime.h"
#include "core/export/flow_json.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::test {
namespace {

class LiveTest : public ProxyFixture {
 protected:
  std::string support(const std::string& name) const {
    return std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/" + name;
  }
};

TEST_F(LiveTest, SubscriberSeesRevisionsGrowThroughHeadProgressAndFinal) {
  const uint16_t origin = start_origin(good_cert_);
  origins_.push_back(std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/python3", support("ws_echo.py"), "--cert",
                               good_cert_.first.string(), "--key", good_cert_.second.string()}));
  const std::string echo_line = origins_.back()->wait_for_line(false, "PORT ");
  ASSERT_FALSE(echo_line.empty()) << "ws_echo.py did not start";
  const std::string echo_port = echo_line.substr(5);

  cli::Options options;
  options.confdir = confdir().string();
  options.listen_port = 0;
  options.upstream_trust = {origin_ca_->cert_path().string()};
  options.write_file = jsonl().string();
  options.verbosity = 0;
  std::string error;
  auto runtime = cli::ProxyRuntime::start(options, &error);
  ASSERT_NE(runtime, nullptr) << error;
  const std::string& address = runtime->local_address();
  proxy_port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));

  std::mutex mutex;
  std::condition_variable wake;
  int notified = 0;
  auto subscription = runtime->bus().subscribe(100'000, [&] {
    std::lock_guard<std::mutex> lock(mutex);
    ++notified;
    wake.notify_one();
  });

  // A 5 MiB download that the origin sends over 2.5 s, and a WebSocket conversation, at the
  // same time.
  std::thread download([&] {
    const ProcessResult r =
        curl({"https://localhost:" + std::to_string(origin) + "/drip?n=5242880&ms=2500", "-o",
              "/dev/null"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  });
  const ProcessResult ws = run_process(
      {"/usr/bin/python3", support("ws_client.py"), "wss://localhost:" + echo_port + "/chat",
       "--proxy", "127.0.0.1:" + std::to_string(proxy_port_), "--cafile",
       (confdir() / "sightglass-ca.pem").string(), "--transcript",
       (dir_.path() / "transcript.json").string()},
      "", std::chrono::seconds(60));
  EXPECT_EQ(ws.exit_code, 0) << ws.out << ws.err;
  download.join();
  {
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait_for(lock, std::chrono::seconds(5), [&] { return notified > 0; });
  }
  runtime->shutdown();
  EXPECT_EQ(runtime->wait(), "");

  std::vector<core::FlowSnapshotConstSharedPtr> seen;
  subscription->drain(&seen);
  EXPECT_EQ(subscription->live_dropped(), 0u);
  std::map<core::FlowId, std::vector<core::FlowSnapshotConstSharedPtr>> by_id;
  for (const auto& snapshot : seen) {
    by_id[snapshot->id].push_back(snapshot);
  }
  std::map<int64_t, std::string> logged;
  for (const json& entry : read_jsonl(jsonl())) {
    logged[entry["_id"].get<int64_t>()] = entry.dump();
  }

  bool saw_download = false;
  bool saw_websocket = false;
  for (const auto& [id, snapshots] : by_id) {
    // Revisions only grow, and the last one is the final snapshot.
    for (size_t i = 1; i < snapshots.size(); ++i) {
      EXPECT_GT(snapshots[i]->revision, snapshots[i - 1]->revision) << "flow " << id;
    }
    const auto& final_snapshot = snapshots.back();
    ASSERT_EQ(final_snapshot->state, core::FlowState::kFinished) << "flow " << id;
    for (size_t i = 0; i + 1 < snapshots.size(); ++i) {
      EXPECT_EQ(snapshots[i]->state, core::FlowState::kLive) << "flow " << id;
    }
    // The final snapshot is what the log got.
    ASSERT_EQ(logged.count(static_cast<int64_t>(id)), 1u) << "flow " << id << " not logged";
    EXPECT_EQ(core::to_har_entry(*final_snapshot).dump(), logged[static_cast<int64_t>(id)]);

    const std::string url = final_snapshot->request ? final_snapshot->request->url() : "";
    if (url.find("/drip") != std::string::npos) {
      saw_download = true;
      EXPECT_EQ(final_snapshot->response->body.size, 5u << 20);
      // Head first: a live snapshot without the response, or with it and no body yet.
      bool head = false;
      std::vector<uint64_t> progress;
      for (size_t i = 0; i + 1 < snapshots.size(); ++i) {
        const auto& s = *snapshots[i];
        ASSERT_TRUE(s.request.has_value());
        if (!s.response || s.response->body.size == 0) {
          EXPECT_TRUE(progress.empty()) << "a head after body progress";
          head = true;
        } else {
          progress.push_back(s.response->body.size);
        }
      }
      EXPECT_TRUE(head);
      // 2.5 s at most 4 a second: several progress snapshots, each with more of the body.
      EXPECT_GE(progress.size(), 3u);
      EXPECT_LE(progress.size(), 16u);
      for (size_t i = 1; i < progress.size(); ++i) {
        EXPECT_GT(progress[i], progress[i - 1]);
      }
    }
    if (final_snapshot->response && final_snapshot->response->status == 101) {
      saw_websocket = true;
      EXPECT_FALSE(final_snapshot->websocket_messages.empty());
      EXPECT_GE(snapshots.size(), 2u) << "no live snapshot of the WebSocket before its end";
      EXPECT_EQ(snapshots.front()->response ? snapshots.front()->response->status : 101, 101);
    }
  }
  EXPECT_TRUE(saw_download);
  EXPECT_TRUE(saw_websocket);
}

}  // namespace
}  // namespace sightglass::test
