#pragma once

// NetnsHubFixture: a ProxyFixture whose tests run across three network namespaces of their own,
// a hub (a router, or the proxy itself) linked to two others. Where namespaces cannot be made
// (not root) the tests skip; scripts/test runs as root, so CI runs them.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/support/netns.h"
#include "tests/support/proxy_fixture.h"

namespace sightglass::test {

// HubSide is the link between the hub and one other namespace: that namespace's name, its
// interface and address (CIDR, "198.18.1.2/24"), and the hub's interface and address.
struct HubSide {
  std::string name;
  std::string if_outer;
  std::string cidr_outer;
  std::string if_hub;
  std::string cidr_hub;
};

class NetnsHubFixture : public ProxyFixture {
 protected:
  // set_up_hub sets up the ProxyFixture, then the lab: namespaces |left.name|, |hub| and
  // |right.name| (full names in left_, hub_, right_) and the two links. Callers return when
  // IsSkipped() or HasFatalFailure().
  void set_up_hub(const HubSide& left, const std::string& hub, const HubSide& right) {
    std::string why;
    if (!NetnsLab::available(&why)) {
      GTEST_SKIP() << "network namespaces unavailable: " << why;
    }
    ProxyFixture::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    lab_ = std::make_unique<NetnsLab>();
    left_ = lab_->add_namespace(left.name);
    hub_ = lab_->add_namespace(hub);
    right_ = lab_->add_namespace(right.name);
    ASSERT_FALSE(left_.empty() || hub_.empty() || right_.empty()) << lab_->error();
    for (const auto& [side, ns] : {std::pair{&left, left_}, std::pair{&right, right_}}) {
      ASSERT_TRUE(
          lab_->add_link(ns, side->if_outer, side->cidr_outer, hub_, side->if_hub, side->cidr_hub))
          << lab_->error();
    }
  }

  std::unique_ptr<NetnsLab> lab_;
  std::string left_, hub_, right_;
};

}  // namespace sightglass::test
