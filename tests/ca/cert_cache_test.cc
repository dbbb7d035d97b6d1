#include "ca/cert_cache.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "ca/leaf_minter.h"

namespace sightglass::ca {
namespace {

LeafConstSharedPtr make_leaf(const std::string& name) {
  auto leaf = std::make_shared<Leaf>();
  leaf->names = {name};
  return leaf;
}

TEST(CertCache, EvictsTheLeastRecentlyUsed) {
  CertCache cache(2);
  cache.put("a", make_leaf("a"));
  cache.put("b", make_leaf("b"));
  ASSERT_NE(cache.get("a"), nullptr);  // "a" is now the most recent.
  cache.put("c", make_leaf("c"));      // Evicts "b".
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.get("a"), nullptr);
  EXPECT_EQ(cache.get("b"), nullptr);
  EXPECT_NE(cache.get("c"), nullptr);
}

TEST(CertCache, PutReplacesAnExistingEntry) {
  CertCache cache(4);
  cache.put("a", make_leaf("first"));
  cache.put("a", make_leaf("second"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.get("a")->names.front(), "second");
}

TEST(CertCache, EvictedLeavesStayValidForTheirHolders) {
  CertCache cache(1);
  cache.put("a", make_leaf("a"));
  LeafConstSharedPtr held = cache.get("a");
  cache.put("b", make_leaf("b"));
  EXPECT_EQ(cache.get("a"), nullptr);
  EXPECT_EQ(held->names.front(), "a");
}

TEST(CertCache, ConcurrentUseStaysBounded) {
  CertCache cache(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string((i * 7 + t) % 200);
        if (!cache.get(key)) {
          cache.put(key, make_leaf(key));
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(cache.size(), 64u);
}

}  // namespace
}  // namespace sightglass::ca
