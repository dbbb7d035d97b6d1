#pragma once

// Live flows: a flow is published at its milestones (request head, request complete, response
// head), as its body or messages progress (at most every 250 ms), and once when it is done.
// Every publish of a flow raises its revision by one, so a consumer keeps the latest snapshot
// of each id and ignores stale ones.

#include <memory>
#include <utility>

#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/proxy/flow.h"

namespace sightglass::core {

// publish_final publishes |flow| as finished (its next revision), moving it out.
inline void publish_final(FlowSnapshot&& flow, Commands& out) {
  ++flow.revision;
  flow.state = FlowState::kFinished;
  out.push_back(PublishFlow{std::make_shared<const FlowSnapshot>(std::move(flow))});
}

// publish_final_copy publishes a finished copy of |flow|, which keeps its revision.
inline void publish_final_copy(FlowSnapshot& flow, Commands& out) {
  ++flow.revision;
  flow.state = FlowState::kFinished;
  out.push_back(PublishFlow{std::make_shared<const FlowSnapshot>(flow)});
}

// LiveFlow decides when one flow in progress is published live. The layer notes what happened
// (milestone(), progress()) as it handles an event, and calls flush() once the event is
// handled: everything that happened in one event goes out in one snapshot, and a flow that
// finishes in the same event is published finished only. A milestone goes out at once;
// progress at most once every kIntervalUs: progress that comes too soon waits for a wakeup
// (one at a time), which publishes the latest state when the interval is up. Nothing is
// copied until a snapshot actually goes out.
class LiveFlow {
 public:
  static constexpr int64_t kIntervalUs = 250'000;

  // milestone notes a milestone (a head, a complete request): the next flush publishes.
  void milestone() { milestone_ = true; }
  // progress notes new body bytes or messages: the next flush publishes when the interval
  // allows.
  void progress() { progress_ = true; }

  // flush publishes a live snapshot of |flow| when one is due and allowed; progress that is
  // not allowed yet gets a RequestWakeup in |out| (unless one is out already).
  void flush(FlowSnapshot& flow, SessionContext* ctx, Commands& out) {
    if (!milestone_ && !progress_) {
      return;
    }
    const int64_t now = ctx->clock->monotonic_us();
    if (!milestone_ && published_ && now - last_us_ < kIntervalUs) {
      if (wakeup_ == 0) {
        ctx->request_wakeup(wakeup_, (kIntervalUs - (now - last_us_)) / 1000 + 1, out);
      }
      return;
    }
    finish(out);
    published_ = true;
    last_us_ = now;
    ++flow.revision;
    if (!ctx->wants_live()) {
      return;  // Nobody would see it: no copy.
    }
    auto snapshot = std::make_shared<FlowSnapshot>(flow);
    snapshot->state = FlowState::kLive;
    out.push_back(PublishFlow{std::move(snapshot)});
  }

  // take_wakeup says whether |id| is this flow's wakeup; the wakeup is then spent (the next
  // flush publishes what waited).
  bool take_wakeup(CommandId id) {
    if (id == 0 || id != wakeup_) {
      return false;
    }
    wakeup_ = 0;
    return true;
  }

  // finish ends the live publishing: the wakeup is withdrawn and nothing more is due (the
  // caller publishes the final snapshot). flush does the same before a snapshot goes out.
  void finish(Commands& out) {
    cancel_wakeup(wakeup_, out);
    milestone_ = false;
    progress_ = false;
  }

 private:
  int64_t last_us_ = 0;
  bool published_ = false;  // A live snapshot went out (last_us_ is its time).
  bool milestone_ = false;
  bool progress_ = false;
  CommandId wakeup_ = 0;
};

}  // namespace sightglass::core
