#pragma once

// Helpers for the core/net tests: a fixture with a loop, a bounded run, a watchdog for code that
// could hang outside a loop, and a connected pair of streams on loopback.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/net/event_loop.h"
#include "core/net/tcp.h"

namespace sightglass::core::test {

using std::chrono::milliseconds;

// run_for runs |loop| until the test calls loop.stop() or |limit| passes. Returns false (the
// test failed to finish) when the limit stopped it.
inline bool run_for(EventLoop& loop, milliseconds limit) {
  bool timed_out = false;
  Timer deadline(loop);
  deadline.start(static_cast<uint64_t>(limit.count()), [&] {
    timed_out = true;
    loop.stop();
  });
  loop.run();
  return !timed_out;
}

// Watchdog ends the process with a message if it is not destroyed within |limit|: for code that
// cannot be bounded by a loop timer (the EventLoop destructor).
class Watchdog {
 public:
  explicit Watchdog(milliseconds limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s did not finish in time\n", what_.c_str());
        std::_Exit(3);
      }
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// LoopTest gives each test a fresh loop_, with SIGPIPE ignored as the CLI does.
class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ignore_sigpipe(&error)) << error;
    loop_ = EventLoop::create(&error);
    ASSERT_NE(loop_, nullptr) << error;
  }
  void TearDown() override {
    Watchdog watchdog(milliseconds(10000), "~EventLoop");
    loop_.reset();
  }

  std::unique_ptr<EventLoop> loop_;
};

// StreamPair is both ends of one loopback connection.
struct StreamPair {
  std::unique_ptr<TcpStream> client;
  std::unique_ptr<TcpStream> server;
};

// connect_pair listens on |host| port 0, connects to it and returns both ends (null on
// failure, with a test failure recorded).
inline StreamPair connect_pair(EventLoop& loop, std::string_view host = "127.0.0.1") {
  StreamPair pair;
  std::string error;
  auto listener = TcpListener::create(
      loop, host, 0,
      [&](std::unique_ptr<TcpStream> stream) {
        pair.server = std::move(stream);
        if (pair.client) {
          loop.stop();
        }
      },
      &error);
  if (!listener) {
    ADD_FAILURE() << error;
    return pair;
  }
  ConnectHandle connecting =
      connect_tcp(loop, host, listener->port(), 2000, [&](ConnectResult result) {
        if (result.kind != ConnectResult::Kind::kOk) {
          ADD_FAILURE() << result.error;
          loop.stop();
          return;
        }
        pair.client = std::move(result.stream);
        if (pair.server) {
          loop.stop();
        }
      });
  EXPECT_TRUE(run_for(loop, milliseconds(5000))) << "no connection within 5 s";
  return pair;
}

}  // namespace sightglass::core::test
