#include "ca/cert_cache.h"

namespace sightglass::ca {

CertCache::CertCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

LeafConstSharedPtr CertCache::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void CertCache::put(const std::string& key, LeafConstSharedPtr leaf) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = std::move(leaf);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, std::move(leaf));
  index_.emplace(key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

size_t CertCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace sightglass::ca
