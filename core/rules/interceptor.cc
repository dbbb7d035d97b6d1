#include "core/rules/interceptor.h"

#include <algorithm>

namespace sightglass::core {

Interceptor::Interceptor(std::shared_ptr<const TrafficRules> rules) : rules_(std::move(rules)) {}

void Interceptor::set_on_change(std::function<void()> on_change) {
  std::lock_guard lock(mutex_);
  on_change_ = std::move(on_change);
}

void Interceptor::notify() const {
  std::unique_lock lock(mutex_);
  const std::function<void()> on_change = on_change_;
  lock.unlock();
  if (on_change) {
    on_change();
  }
}

void Interceptor::set_filter(FlowFilterConstSharedPtr filter) {
  std::lock_guard lock(mutex_);
  intercepting_.store(filter != nullptr, std::memory_order_release);
  filter_ = std::move(filter);
}

FlowFilterConstSharedPtr Interceptor::filter() const {
  std::lock_guard lock(mutex_);
  return filter_;
}

std::vector<Interceptor::HeldView> Interceptor::held() const {
  std::lock_guard lock(mutex_);
  std::vector<HeldView> out;
  out.reserve(entries_.size());
  for (const Entry& entry : entries_) {
    out.push_back(HeldView{entry.id, *entry.held});
  }
  return out;
}

bool Interceptor::is_held(FlowId id) const {
  std::lock_guard lock(mutex_);
  return std::ranges::find(entries_, id, &Entry::id) != entries_.end();
}

bool Interceptor::edit(FlowId id, const std::function<void(HeldFlow&)>& change) {
  {
    std::lock_guard lock(mutex_);
    const auto it = std::ranges::find(entries_, id, &Entry::id);
    if (it == entries_.end()) {
      return false;
    }
    change(*it->held);
    changed();
  }
  notify();
  return true;
}

bool Interceptor::release(FlowId id, bool kill) {
  Resume resume;
  {
    std::lock_guard lock(mutex_);
    const auto it = std::ranges::find(entries_, id, &Entry::id);
    if (it == entries_.end()) {
      return false;
    }
    if (kill) {
      it->held->kill = true;
      it->held->note += std::string(it->held->note.empty() ? "" : "; ") + "killed at the intercept";
    }
    resume = std::move(it->resume);
    entries_.erase(it);
    changed();
  }
  if (!resume) {
    return false;
  }
  resume();  // Outside the lock: it posts to the flow's loop.
  notify();
  return true;
}

void Interceptor::resume_all() {
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mutex_);
    entries.swap(entries_);
    changed();
  }
  for (Entry& entry : entries) {
    entry.resume();
  }
  notify();
}

void Interceptor::shutdown() {
  std::lock_guard lock(mutex_);
  intercepting_.store(false, std::memory_order_release);
  filter_.reset();
  entries_.clear();
  changed();
}

bool Interceptor::holds(HookPoint point) const {
  return intercepting_.load(std::memory_order_acquire) || (rules_ && rules_->acts_at(point));
}

bool Interceptor::run(const HeldFlowPtr& held, Resume resume) {
  if (rules_) {
    rules_->apply(*held);
  }
  if (held->kill || held->answer) {
    return true;  // Blocked or answered by a rule: nothing left to intercept.
  }
  {
    std::lock_guard lock(mutex_);
    if (filter_ == nullptr || held->flow.replay || !filter_->matches(held->flow)) {
      return true;
    }
    entries_.push_back(Entry{held->flow.id, held, std::move(resume)});
    changed();
  }
  notify();
  return false;
}

void Interceptor::dropped(const HeldFlowPtr& held) {
  {
    std::lock_guard lock(mutex_);
    if (std::erase_if(entries_, [&](const Entry& entry) { return entry.held == held; }) == 0) {
      return;
    }
    changed();
  }
  notify();
}

}  // namespace sightglass::core
