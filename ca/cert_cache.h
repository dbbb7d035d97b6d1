#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sightglass::ca {

struct Leaf;
using LeafConstSharedPtr = std::shared_ptr<const Leaf>;

// CertCache is a thread-safe, bounded LRU map from a leaf's cache key (its name set and key
// type) to the minted leaf. Leaves are shared: an evicted leaf stays valid for its holders.
class CertCache {
 public:
  explicit CertCache(size_t capacity);
  CertCache(const CertCache&) = delete;
  CertCache& operator=(const CertCache&) = delete;

  // get returns the cached leaf for |key| and marks it most recently used, or nullptr.
  LeafConstSharedPtr get(const std::string& key);
  // put stores |leaf| under |key|, replacing any previous entry and evicting the least
  // recently used entry when full.
  void put(const std::string& key, LeafConstSharedPtr leaf);
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  using Entry = std::pair<std::string, LeafConstSharedPtr>;

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // Most recently used first.
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sightglass::ca
