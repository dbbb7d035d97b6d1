#pragma once

// Interceptor: the proxy's FlowHooks. At each hold point it runs the traffic rules, then holds
// the flows that match the intercept filter until someone resumes (maybe after editing) or
// kills them: mitmproxy's intercept addon, with a thread-safe surface for the inspector.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/filter/filter.h"
#include "core/proxy/context.h"
#include "core/rules/traffic_rules.h"

namespace sightglass::core {

class Interceptor : public FlowHooks {
 public:
  explicit Interceptor(std::shared_ptr<const TrafficRules> rules);

  // set_filter starts intercepting flows that match |filter| (null: stop; flows already held
  // stay held). Any thread.
  void set_filter(FlowFilterConstSharedPtr filter);
  FlowFilterConstSharedPtr filter() const;

  // HeldView is a copy of one held flow, for showing and editing.
  struct HeldView {
    FlowId id = 0;
    HeldFlow held;
  };
  // held returns copies of the flows held now, in the order they stopped. Any thread.
  std::vector<HeldView> held() const;
  // is_held says whether flow |id| waits at a hold point now.
  bool is_held(FlowId id) const;
  // generation changes whenever a flow is held, edited or let go.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // set_on_change installs what runs (on any thread, outside the lock) after each change of
  // generation: the inspector wakes its window. Any thread.
  void set_on_change(std::function<void()> on_change);

  // edit changes held flow |id| under the lock; false when it is not held (any more).
  bool edit(FlowId id, const std::function<void(HeldFlow&)>& change);
  // resume lets flow |id| go on as it now is; kill ends it (the client's connection closes).
  // false when it is not held. Any thread.
  bool resume(FlowId id) { return release(id, false); }
  bool kill(FlowId id) { return release(id, true); }
  // resume_all lets every held flow go on (intercept turned off, the window closing).
  void resume_all();
  // shutdown forgets every held flow without resuming it: call before the loops end.
  void shutdown();

  // FlowHooks (loop threads).
  bool holds(HookPoint point) const override;
  bool run(const HeldFlowPtr& held, Resume resume) override;
  void dropped(const HeldFlowPtr& held) override;

 private:
  struct Entry {
    FlowId id = 0;
    HeldFlowPtr held;
    Resume resume;
  };
  // release removes the entry of flow |id| (marked killed when |kill|) and resumes it.
  bool release(FlowId id, bool kill);
  // changed bumps the generation (under the lock); notify tells the owner (outside it).
  void changed() { generation_.fetch_add(1, std::memory_order_acq_rel); }
  void notify() const;

  std::shared_ptr<const TrafficRules> rules_;
  std::atomic<bool> intercepting_{false};
  mutable std::mutex mutex_;
  FlowFilterConstSharedPtr filter_;
  std::vector<Entry> entries_;
  std::atomic<uint64_t> generation_{0};
  std::function<void()> on_change_;  // Guarded by mutex_; called outside it.
};

}  // namespace sightglass::core
