#include "core/proxy/passthrough.h"

#include <algorithm>
#include <utility>

#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

// is_learned says whether |key| (lowered) is among the learned hosts.
bool is_learned(const std::vector<std::pair<std::string, std::string>>& learned,
                const std::string& key) {
  return std::ranges::find(learned, key, &std::pair<std::string, std::string>::first) !=
         learned.end();
}

}  // namespace

bool PassthroughPolicy::compile(const std::vector<std::string>& patterns, Regexes* out,
                                std::string* error) {
  Regexes compiled;
  for (const std::string& pattern : patterns) {
    Regex::Error regex_error;
    std::unique_ptr<Regex> regex = Regex::compile(pattern, &regex_error);  // Case-insensitive.
    if (!regex) {
      *error = "invalid regular expression '" + pattern + "': " + regex_error.message +
               " at offset " + std::to_string(regex_error.offset);
      return false;
    }
    compiled.push_back(std::move(regex));
  }
  *out = std::move(compiled);
  return true;
}

bool PassthroughPolicy::set_ignore_hosts(const std::vector<std::string>& patterns,
                                         std::string* error) {
  return compile(patterns, &ignore_, error);
}

bool PassthroughPolicy::set_allow_hosts(const std::vector<std::string>& patterns,
                                        std::string* error) {
  return compile(patterns, &allow_, error);
}

bool PassthroughPolicy::any_match(const Regexes& regexes, std::span<const std::string> host_ports) {
  for (const std::unique_ptr<Regex>& regex : regexes) {
    for (const std::string& host_port : host_ports) {
      if (!host_port.empty() && regex->search(host_port)) {
        return true;
      }
    }
  }
  return false;
}

std::string PassthroughPolicy::reason(std::span<const std::string> host_ports) const {
  if (!ignore_.empty() && any_match(ignore_, host_ports)) {
    return "ignore-hosts";
  }
  if (!allow_.empty() && !any_match(allow_, host_ports)) {
    return "allow-hosts";
  }
  if (has_learned_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mutex_);
    for (const std::string& host_port : host_ports) {
      if (is_learned(learned_, ascii_lower(host_port))) {
        return "auto-passthrough";
      }
    }
  }
  return {};
}

bool PassthroughPolicy::learn(const std::string& host_port, const std::string& why) {
  if (!auto_learn_ || host_port.empty()) {
    return false;
  }
  const std::string key = ascii_lower(host_port);
  std::lock_guard lock(mutex_);
  if (is_learned(learned_, key)) {
    return false;
  }
  learned_.emplace_back(key, why);
  has_learned_.store(true, std::memory_order_release);
  return true;
}

std::vector<std::pair<std::string, std::string>> PassthroughPolicy::learned() const {
  std::lock_guard lock(mutex_);
  return learned_;
}

}  // namespace sightglass::core
