// FlowBus subscriptions: bounded queues that consumers attach and detach while the proxy runs.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/export/flow_sink.h"

namespace sightglass::core {
namespace {

FlowSnapshotConstSharedPtr snapshot(FlowId id, uint64_t revision, FlowState state) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->id = id;
  flow->revision = revision;
  flow->state = state;
  return flow;
}

// CountingSink counts what the static sinks list gets.
class CountingSink : public FlowSink {
 public:
  void publish(FlowSnapshotConstSharedPtr /*snapshot*/) override { ++published; }
  void close() override { ++closed; }
  std::atomic<uint64_t> published{0};
  int closed = 0;
};

TEST(FlowBus, SubscriptionGetsWhatIsPublishedAfterItSubscribed) {
  FlowBus bus;
  auto sink = std::make_shared<CountingSink>();
  bus.add_sink(sink);
  bus.publish(snapshot(1, 1, FlowState::kLive));
  auto sub = bus.subscribe(16, nullptr);
  EXPECT_EQ(bus.subscription_count(), 1u);
  bus.publish(snapshot(1, 2, FlowState::kLive));
  bus.publish(snapshot(1, 3, FlowState::kFinished));
  std::vector<FlowSnapshotConstSharedPtr> got;
  EXPECT_EQ(sub->drain(&got), 2u);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]->revision, 2u);
  EXPECT_EQ(got[1]->revision, 3u);
  EXPECT_EQ(sub->drain(&got), 0u);
  EXPECT_EQ(sink->published, 3u);
  EXPECT_EQ(sub->live_dropped(), 0u);
  EXPECT_EQ(sub->queued_total(), 2u);
}

TEST(FlowBus, FullQueueDropsOrReplacesLiveSnapshotsButKeepsEveryFinalOne) {
  FlowBus bus;
  auto sub = bus.subscribe(3, nullptr);
  EXPECT_EQ(sub->capacity(), 3u);
  bus.publish(snapshot(1, 1, FlowState::kLive));
  bus.publish(snapshot(2, 1, FlowState::kLive));
  bus.publish(snapshot(3, 1, FlowState::kLive));
  // Full. A newer revision of flow 2 takes the place of the queued one.
  bus.publish(snapshot(2, 2, FlowState::kLive));
  // A live snapshot of a flow not queued is dropped.
  bus.publish(snapshot(4, 1, FlowState::kLive));
  // Finals always go in, past the capacity.
  for (FlowId id = 1; id <= 5; ++id) {
    bus.publish(snapshot(id, 9, FlowState::kFinished));
  }
  EXPECT_EQ(sub->live_dropped(), 2u);
  std::vector<FlowSnapshotConstSharedPtr> got;
  ASSERT_EQ(sub->drain(&got), 8u);
  EXPECT_EQ(got[0]->id, 1u);
  EXPECT_EQ(got[1]->id, 2u);
  EXPECT_EQ(got[1]->revision, 2u);  // Replaced in place.
  EXPECT_EQ(got[2]->id, 3u);
  size_t finals = 0;
  for (const auto& s : got) {
    finals += s->state == FlowState::kFinished ? 1u : 0u;
    EXPECT_NE(s->id == 4 && s->state == FlowState::kLive, true);
  }
  EXPECT_EQ(finals, 5u);
  // Drained: live snapshots fit again.
  bus.publish(snapshot(6, 1, FlowState::kLive));
  got.clear();
  EXPECT_EQ(sub->drain(&got), 1u);
  EXPECT_EQ(sub->live_dropped(), 2u);
}

TEST(FlowBus, NotifyComesWhenTheQueueStopsBeingEmpty) {
  FlowBus bus;
  int notified = 0;
  auto sub = bus.subscribe(8, [&notified] { ++notified; });
  bus.publish(snapshot(1, 1, FlowState::kLive));
  EXPECT_EQ(notified, 1);
  bus.publish(snapshot(1, 2, FlowState::kLive));
  bus.publish(snapshot(1, 3, FlowState::kFinished));
  EXPECT_EQ(notified, 1);  // Not empty before: no new wake-up.
  std::vector<FlowSnapshotConstSharedPtr> got;
  sub->drain(&got);
  bus.publish(snapshot(2, 1, FlowState::kLive));
  EXPECT_EQ(notified, 2);
}

TEST(FlowBus, UnsubscribedOrDestroyedSubscriptionsGetNothingMore) {
  FlowBus bus;
  int notified = 0;
  auto a = bus.subscribe(8, [&notified] { ++notified; });
  auto b = bus.subscribe(8, nullptr);
  EXPECT_EQ(bus.subscription_count(), 2u);
  bus.publish(snapshot(1, 1, FlowState::kLive));
  a->unsubscribe();
  a->unsubscribe();  // Idempotent.
  EXPECT_EQ(bus.subscription_count(), 1u);
  bus.publish(snapshot(1, 2, FlowState::kFinished));
  EXPECT_EQ(notified, 1);
  std::vector<FlowSnapshotConstSharedPtr> got;
  EXPECT_EQ(a->drain(&got), 1u);  // What was queued before stays drainable.
  b.reset();
  EXPECT_EQ(bus.subscription_count(), 0u);
  bus.publish(snapshot(2, 1, FlowState::kLive));
}

TEST(FlowBus, SubscriptionMayOutliveTheBus) {
  FlowSubscriptionSharedPtr sub;
  {
    FlowBus bus;
    sub = bus.subscribe(4, nullptr);
    bus.publish(snapshot(1, 1, FlowState::kFinished));
  }
  std::vector<FlowSnapshotConstSharedPtr> got;
  EXPECT_EQ(sub->drain(&got), 1u);
  sub->unsubscribe();
}

// Four loop threads publish while a consumer subscribes, drains and unsubscribes over and over
// (run under ASan/TSan too): no crash, every subscription sees each flow's revisions in order,
// and the final snapshots published while it was attached all arrive.
TEST(FlowBus, SubscribeAndUnsubscribeWhilePublishing) {
  FlowBus bus;
  auto sink = std::make_shared<CountingSink>();
  bus.add_sink(sink);
  constexpr int kPublishers = 4;
  constexpr FlowId kFlowsPerPublisher = 2000;
  constexpr uint64_t kRevisions = 5;  // Four live, then the final one.
  std::atomic<bool> go{false};
  std::vector<std::thread> publishers;
  for (int t = 0; t < kPublishers; ++t) {
    publishers.emplace_back([&bus, &go, t] {
      while (!go.load()) {
        std::this_thread::yield();
      }
      for (FlowId i = 0; i < kFlowsPerPublisher; ++i) {
        const FlowId id = static_cast<FlowId>(t) * kFlowsPerPublisher + i + 1;
        for (uint64_t r = 1; r <= kRevisions; ++r) {
          bus.publish(snapshot(id, r, r == kRevisions ? FlowState::kFinished : FlowState::kLive));
        }
      }
    });
  }
  std::atomic<int> notifies{0};
  uint64_t subscriptions = 0;
  uint64_t snapshots = 0;
  go = true;
  while (sink->published.load() < kPublishers * kFlowsPerPublisher * kRevisions) {
    auto sub = bus.subscribe(32, [&notifies] { notifies.fetch_add(1); });
    ++subscriptions;
    std::map<FlowId, uint64_t> latest;
    std::vector<FlowSnapshotConstSharedPtr> got;
    for (int round = 0; round < 20; ++round) {
      got.clear();
      sub->drain(&got);
      for (const auto& s : got) {
        uint64_t& last = latest[s->id];
        EXPECT_GT(s->revision, last) << "flow " << s->id;
        last = s->revision;
      }
      snapshots += got.size();
      std::this_thread::yield();
    }
    if (subscriptions % 2 == 0) {
      sub->unsubscribe();  // Explicitly; else the handle's destruction detaches it.
    }
  }
  for (std::thread& t : publishers) {
    t.join();
  }
  EXPECT_EQ(bus.subscription_count(), 0u);
  EXPECT_GT(subscriptions, 0u);
  // Every final published while a subscription is attached reaches it: check with one that
  // stays for a whole run.
  auto whole = bus.subscribe(8, nullptr);
  std::thread one([&bus] {
    for (FlowId id = 1; id <= 1000; ++id) {
      bus.publish(snapshot(id, 1, FlowState::kLive));
      bus.publish(snapshot(id, 2, FlowState::kFinished));
    }
  });
  one.join();
  std::vector<FlowSnapshotConstSharedPtr> got;
  whole->drain(&got);
  size_t finals = 0;
  for (const auto& s : got) {
    finals += s->state == FlowState::kFinished ? 1u : 0u;
  }
  EXPECT_EQ(finals, 1000u);
  EXPECT_EQ(got.size() - finals + whole->live_dropped(), 1000u);
  (void)snapshots;
}

}  // namespace
}  // namespace sightglass::core
