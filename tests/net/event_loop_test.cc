#include "core/net/event_loop.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/net/callback_slot.h"
#include "core/net/tcp.h"
#include "tests/net/net_test_util.h"

namespace sightglass::core::test {
namespace {

using EventLoopTest = LoopTest;

// The TSan target: four producers, 10,000 tasks each, every task run exactly once, on the loop
// thread, in each producer's order.
TEST_F(EventLoopTest, PostFromFourThreadsRunsEveryTaskOnceOnTheLoopThread) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  constexpr int kTotal = kThreads * kPerThread;
  // Touched only by tasks, so only on the loop thread: TSan reports any other access.
  std::vector<int> runs(kTotal, 0);
  std::vector<int> last_index(kThreads, -1);
  int total = 0;
  int off_loop_thread = 0;
  int out_of_order = 0;
  const std::thread::id loop_thread = std::this_thread::get_id();

  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop_->post([&, t, i] {
          if (std::this_thread::get_id() != loop_thread) {
            ++off_loop_thread;
          }
          if (i <= last_index[static_cast<size_t>(t)]) {
            ++out_of_order;
          }
          last_index[static_cast<size_t>(t)] = i;
          ++runs[static_cast<size_t>(t * kPerThread + i)];
          if (++total == kTotal) {
            loop_->stop();
          }
        });
      }
    });
  }
  const bool finished = run_for(*loop_, milliseconds(20000));
  for (std::thread& producer : producers) {
    producer.join();
  }
  ASSERT_TRUE(finished) << "only " << total << " of " << kTotal << " tasks ran";
  EXPECT_EQ(total, kTotal);
  EXPECT_EQ(off_loop_thread, 0);
  EXPECT_EQ(out_of_order, 0);
  int not_once = 0;
  for (const int count : runs) {
    not_once += count == 1 ? 0 : 1;
  }
  EXPECT_EQ(not_once, 0);
}

TEST_F(EventLoopTest, TaskPostedFromATaskRunsLaterNotInside) {
  std::vector<std::string> order;
  loop_->post([&] {
    order.push_back("first begins");
    loop_->post([&] {
      order.push_back("nested");
      loop_->stop();
    });
    order.push_back("first ends");
  });
  ASSERT_TRUE(run_for(*loop_, milliseconds(2000)));
  EXPECT_EQ(order, (std::vector<std::string>{"first begins", "first ends", "nested"}));
}

TEST_F(EventLoopTest, RunReturnsWhenNoHandleIsLeft) {
  // Neither the task queue nor a signal watcher keeps run() going.
  std::string error;
  auto watcher = SignalWatcher::create(
      *loop_, [](int) {}, &error);
  ASSERT_NE(watcher, nullptr) << error;
  bool ran = false;
  Timer timer(*loop_);
  timer.start(1, [&] { ran = true; });
  Watchdog watchdog(milliseconds(5000), "EventLoop::run with no handle left");
  loop_->run();
  EXPECT_TRUE(ran);
}

TEST_F(EventLoopTest, DestructionClosesOpenHandlesAndWrappersOutliveIt) {
  std::string error;
  bool timer_fired = false;
  bool connected = false;
  bool resolved = false;
  auto timer = std::make_unique<Timer>(*loop_);
  timer->start(60000, [&] { timer_fired = true; });
  auto listener = TcpListener::create(*loop_, "127.0.0.1", 0, nullptr, &error);
  ASSERT_NE(listener, nullptr) << error;
  StreamPair pair = connect_pair(*loop_);
  ASSERT_TRUE(pair.client && pair.server);
  // Queue writes that cannot finish: the server does not read.
  const std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(pair.client->write(chunk));
  }
  EXPECT_GT(pair.client->write_queue_bytes(), 0u);
  // A connect whose request is in flight, and a DNS lookup on the thread pool.
  ConnectHandle connecting = connect_tcp(*loop_, "127.0.0.1", listener->port(), 0,
                                         [&](ConnectResult) { connected = true; });
  ConnectHandle resolving = connect_tcp(*loop_, "localhost", listener->port(), 0,
                                        [&](ConnectResult) { resolved = true; });
  auto watcher = SignalWatcher::create(
      *loop_, [](int) {}, &error);
  ASSERT_NE(watcher, nullptr) << error;
  // A handle that no wrapper made: the loop closes it without a callback.
  uv_timer_t raw{};
  ASSERT_EQ(uv_timer_init(loop_->get(), &raw), 0);
  ASSERT_EQ(uv_timer_start(
                &raw, [](uv_timer_t*) {}, 60000, 0),
            0);

  {
    Watchdog watchdog(milliseconds(10000), "~EventLoop");
    loop_.reset();  // Aborts if uv_loop_close fails with anything but EBUSY; hangs if never.
  }
  EXPECT_NE(uv_is_closing(as_uv_handle(&raw)), 0);
  EXPECT_FALSE(timer->active());
  EXPECT_FALSE(timer->start(1, [] {}));
  EXPECT_FALSE(pair.client->is_open());
  EXPECT_FALSE(pair.server->is_open());
  EXPECT_FALSE(pair.client->write("late"));
  EXPECT_FALSE(pair.client->shutdown());
  // Destroying the wrappers after the loop only frees memory (ASan checks it, and the leaks).
  timer.reset();
  listener.reset();
  pair.client.reset();
  pair.server.reset();
  watcher.reset();
  connecting.cancel();
  resolving.cancel();
  EXPECT_FALSE(timer_fired);
  EXPECT_FALSE(connected);
  EXPECT_FALSE(resolved);
}

TEST_F(EventLoopTest, TimerFiresOnceAndStopCancels) {
  int fired = 0;
  int cancelled = 0;
  Timer once(*loop_);
  Timer stopped(*loop_);
  Timer end(*loop_);
  once.start(5, [&] { ++fired; });
  stopped.start(5, [&] { ++cancelled; });
  stopped.stop();
  EXPECT_FALSE(stopped.active());
  EXPECT_TRUE(once.active());
  end.start(60, [&] { loop_->stop(); });
  ASSERT_TRUE(run_for(*loop_, milliseconds(2000)));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(cancelled, 0);
  EXPECT_FALSE(once.active());
}

TEST_F(EventLoopTest, TimerCanRestartAndDestroyItselfFromItsCallback) {
  auto timer = std::make_unique<Timer>(*loop_);
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks < 3) {
      timer->start(1, tick);
      return;
    }
    timer.reset();  // Destroyed inside its own callback.
    loop_->stop();
  };
  timer->start(1, tick);
  ASSERT_TRUE(run_for(*loop_, milliseconds(2000)));
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(timer, nullptr);
}

TEST_F(EventLoopTest, SignalWatcherReportsSigtermInTheLoop) {
  std::string error;
  int received = 0;
  std::unique_ptr<SignalWatcher> watcher;
  watcher = SignalWatcher::create(
      *loop_,
      [&](int signum) {
        received = signum;
        watcher.reset();  // Destroyed inside its own callback.
        loop_->stop();
      },
      &error);
  ASSERT_NE(watcher, nullptr) << error;
  ASSERT_EQ(raise(SIGTERM), 0);
  ASSERT_TRUE(run_for(*loop_, milliseconds(2000)));
  EXPECT_EQ(received, SIGTERM);
  EXPECT_EQ(watcher, nullptr);
}

// Owner holds a CallbackSlot, as the wrappers do.
struct SlotOwner {
  detail::CallbackSlot<std::function<void()>> slot;
};

TEST(CallbackSlot, OwnerDestroyedInsideTheCallbackKeepsTheCallableAliveUntilItReturns) {
  auto owner = std::make_unique<SlotOwner>();
  std::string seen;
  // The capture is on the heap: ASan reports a use after free if the slot frees the running
  // callable early.
  owner->slot.set([&owner, &seen, text = std::string(200, 'x')] {
    owner.reset();
    seen = text;
  });
  const bool alive = owner->slot.invoke([](std::function<void()>& callback) { callback(); });
  EXPECT_FALSE(alive);
  EXPECT_EQ(owner, nullptr);
  EXPECT_EQ(seen, std::string(200, 'x'));
}

TEST(CallbackSlot, ReplacingTheCallbackInsideItIsSafe) {
  SlotOwner owner;
  std::string seen;
  int second = 0;
  owner.slot.set([&owner, &seen, &second, text = std::string(200, 'y')] {
    owner.slot.set([&second] { ++second; });
    seen = text;
  });
  EXPECT_TRUE(owner.slot.invoke([](std::function<void()>& callback) { callback(); }));
  EXPECT_EQ(seen, std::string(200, 'y'));
  EXPECT_TRUE(owner.slot.invoke([](std::function<void()>& callback) { callback(); }));
  EXPECT_EQ(second, 1);
}

}  // namespace
}  // namespace sightglass::core::test
