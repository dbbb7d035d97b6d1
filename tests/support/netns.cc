#include "tests/support/netns.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <sstream>

namespace sightglass::test {
namespace {

constexpr auto kIpTimeout = std::chrono::seconds(20);

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

// pid_alive: whether a process with this pid exists (EPERM means it does, but is not ours).
bool pid_alive(long pid) {
  return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 40) {
    return false;
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

std::string describe(const std::vector<std::string>& argv, const ProcessResult& r) {
  std::string out;
  for (const std::string& a : argv) {
    out += (out.empty() ? "" : " ") + a;
  }
  out += r.timed_out ? ": timed out" : ": exit " + std::to_string(r.exit_code);
  const std::string err = trim(r.err.empty() ? r.out : r.err);
  if (!err.empty()) {
    out += ": " + err;
  }
  return out;
}

std::string probe() {
  if (geteuid() != 0) {
    return "needs root to create network namespaces";
  }
  for (const char* tool : {"ip", "iptables"}) {
    if (find_program(tool).empty()) {
      return std::string(tool) + " is not installed";
    }
  }
  const std::string ns = std::string(NetnsLab::kPrefix) + std::to_string(getpid()) + "-probe";
  const std::vector<std::string> add = {"ip", "netns", "add", ns};
  const ProcessResult added = run_process(add, "", kIpTimeout);
  if (added.exit_code != 0) {
    return "cannot create a network namespace: " + describe(add, added);
  }
  const std::vector<std::string> rule = {"iptables", "-w",     "5",        "-t",         "nat",
                                         "-A",       "OUTPUT", "-p",       "tcp",        "--dport",
                                         "1",        "-j",     "REDIRECT", "--to-ports", "2"};
  const ProcessResult redirected = NetnsLab::run(ns, rule, "", kIpTimeout);
  run_process({"ip", "netns", "delete", ns}, "", kIpTimeout);
  if (redirected.exit_code != 0) {
    return "iptables cannot add a nat REDIRECT rule inside a namespace: " +
           describe(rule, redirected);
  }
  return "";
}

std::atomic<int> g_lab_counter{0};

}  // namespace

bool NetnsLab::available(std::string* why) {
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] {
    remove_stale_namespaces();
    reason = probe();
  });
  if (why != nullptr) {
    *why = reason;
  }
  return reason.empty();
}

NetnsLab::NetnsLab()
    : base_(std::string(kPrefix) + std::to_string(getpid()) + "-" +
            std::to_string(g_lab_counter.fetch_add(1)) + "-") {
  if (geteuid() == 0) {
    remove_stale_namespaces();
  }
}

NetnsLab::~NetnsLab() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    remove_namespace(*it);
  }
}

std::vector<std::string> NetnsLab::list_namespaces() {
  std::vector<std::string> out;
  const ProcessResult r = run_process({"ip", "netns", "list"}, "", kIpTimeout);
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    // "NAME" or "NAME (id: N)".
    const std::string name = line.substr(0, line.find(' '));
    if (!name.empty()) {
      out.push_back(name);
    }
  }
  return out;
}

int NetnsLab::remove_stale_namespaces() {
  int removed = 0;
  const std::string prefix = kPrefix;
  for (const std::string& ns : list_namespaces()) {
    if (ns.rfind(prefix, 0) != 0) {
      continue;
    }
    const std::string rest = ns.substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end == rest.c_str() || *end != '-' || pid_alive(pid)) {
      continue;  // Not ours, or its test is still running.
    }
    remove_namespace(ns);
    ++removed;
  }
  return removed;
}

void NetnsLab::remove_namespace(const std::string& ns) {
  // Processes inside keep a namespace (and its interfaces) alive after `ip netns delete`:
  // kill them first. They are children of the test (or of a dead earlier run).
  for (int round = 0; round < 5; ++round) {
    const ProcessResult pids = run_process({"ip", "netns", "pids", ns}, "", kIpTimeout);
    std::istringstream in(pids.out);
    long pid = 0;
    bool any = false;
    while (in >> pid) {
      if (pid > 1 && pid != getpid()) {
        kill(static_cast<pid_t>(pid), SIGKILL);
        any = true;
      }
    }
    if (!any) {
      break;
    }
    usleep(20000);
  }
  run_process({"ip", "netns", "delete", ns}, "", kIpTimeout);
}

bool NetnsLab::run_ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = run_process(argv, "", kIpTimeout);
  if (r.exit_code != 0) {
    error_ = describe(argv, r);
    return false;
  }
  return true;
}

std::string NetnsLab::add_namespace(const std::string& name) {
  if (!valid_name(name)) {
    error_ = "bad namespace name: " + name;
    return "";
  }
  const std::string ns = base_ + name;
  if (!run_ip({"netns", "add", ns})) {
    return "";
  }
  namespaces_.push_back(ns);
  if (!run_ip({"-n", ns, "link", "set", "lo", "up"})) {
    return "";
  }
  return ns;
}

bool NetnsLab::add_link(const std::string& ns_a, const std::string& if_a, const std::string& cidr_a,
                        const std::string& ns_b, const std::string& if_b,
                        const std::string& cidr_b) {
  return run_ip({"-n", ns_a, "link", "add", "name", if_a, "type", "veth", "peer", "name", if_b,
                 "netns", ns_b}) &&
         run_ip({"-n", ns_a, "addr", "add", cidr_a, "dev", if_a}) &&
         run_ip({"-n", ns_b, "addr", "add", cidr_b, "dev", if_b}) &&
         run_ip({"-n", ns_a, "link", "set", if_a, "up"}) &&
         run_ip({"-n", ns_b, "link", "set", if_b, "up"});
}

bool NetnsLab::add_default_route(const std::string& ns, const std::string& gateway) {
  return run_ip({"-n", ns, "route", "add", "default", "via", gateway});
}

bool NetnsLab::set_sysctl(const std::string& ns, const std::string& key, const std::string& value) {
  const std::vector<std::string> argv = {"sysctl", "-q", "-w", key + "=" + value};
  const ProcessResult r = run(ns, argv, "", kIpTimeout);
  if (r.exit_code != 0) {
    error_ = describe(argv, r);
    return false;
  }
  return true;
}

std::vector<std::string> NetnsLab::exec(const std::string& ns,
                                        const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"ip", "netns", "exec", ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

ProcessResult NetnsLab::run(const std::string& ns, const std::vector<std::string>& argv,
                            const std::string& input, std::chrono::milliseconds timeout) {
  return run_process(exec(ns, argv), input, timeout);
}

}  // namespace sightglass::test
