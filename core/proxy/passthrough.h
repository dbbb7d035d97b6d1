#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/filter/regex.h"

namespace sightglass::core {

// PassthroughPolicy decides which connections are relayed untouched instead of intercepted:
// --ignore-hosts and --allow-hosts regexes (searched, case-insensitively, in "host:port", as
// mitmproxy does), and the hosts learned this run from clients that rejected our certificate
// (automatic passthrough). Shared by every session of every loop: the regexes are fixed before
// the proxy starts; the learned list is guarded by a mutex.
class PassthroughPolicy {
 public:
  // set_* return false with *error naming the bad regex.
  bool set_ignore_hosts(const std::vector<std::string>& patterns, std::string* error);
  bool set_allow_hosts(const std::vector<std::string>& patterns, std::string* error);
  void set_auto_learn(bool on) { auto_learn_ = on; }
  bool auto_learn() const { return auto_learn_; }

  // reason says why a connection named by |host_ports| ("host:port" for the SNI, the CONNECT
  // host or the destination address) is passed through: "ignore-hosts", "allow-hosts",
  // "auto-passthrough", or "" to intercept it.
  std::string reason(std::span<const std::string> host_ports) const;

  // learn remembers |host_port| (automatic passthrough); true when it was not known yet.
  bool learn(const std::string& host_port, const std::string& why);
  // learned returns the learned hosts with the reason, in the order they were learned.
  std::vector<std::pair<std::string, std::string>> learned() const;

 private:
  using Regexes = std::vector<std::unique_ptr<Regex>>;
  static bool compile(const std::vector<std::string>& patterns, Regexes* out, std::string* error);
  static bool any_match(const Regexes& regexes, std::span<const std::string> host_ports);

  Regexes ignore_;
  Regexes allow_;
  bool auto_learn_ = true;
  mutable std::mutex mutex_;
  std::atomic<bool> has_learned_{false};
  std::vector<std::pair<std::string, std::string>> learned_;
};

}  // namespace sightglass::core
