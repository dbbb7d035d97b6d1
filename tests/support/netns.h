#pragma once

// NetnsLab: Linux network namespaces joined by veth pairs, for tests that need a small network
// of their own (a client, a router, a server) without touching the host's. Everything it makes
// is removed in its destructor, which also runs when a gtest assertion fails; whatever a
// crashed earlier run left behind (same prefix, owner process gone) is removed on construction.
//
//   NetnsLab lab;
//   const std::string client = lab.add_namespace("client");
//   const std::string server = lab.add_namespace("server");
//   lab.add_link(client, "c0", "198.18.0.1/24", server, "s0", "198.18.0.2/24");
//   ChildProcess child(lab.exec(server, {"/usr/bin/python3", "-m", "http.server"}));
//   ProcessResult r = lab.run(client, {"curl", "http://198.18.0.2:8000/"});
//
// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2 and iptables; available() says
// whether the machine allows it. Use addresses of a private range (198.18.0.0/15, RFC 2544)
// only inside the namespaces.

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace sightglass::test {

class NetnsLab {
 public:
  // The prefix of every namespace name, followed by "<pid>-<lab number>-<name>".
  static constexpr const char* kPrefix = "sgtest-";

  // available tells whether namespaces can be made here: root, `ip netns add` works, and
  // iptables can add a nat REDIRECT rule inside a namespace. The answer is computed once.
  // When false, |why| (if not null) says what is missing.
  static bool available(std::string* why);

  // Removes namespaces whose name starts with kPrefix and whose creating process is gone
  // (a crashed or killed earlier run), with any process still inside them.
  NetnsLab();
  // Kills every process still inside this lab's namespaces and deletes the namespaces (their
  // veth interfaces and addresses go with them).
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // add_namespace creates a namespace with its loopback up and returns its full name ("" on
  // failure, with the reason in error()). |name|: letters, digits, '-'.
  std::string add_namespace(const std::string& name);

  // add_link creates a veth pair: interface |if_a| in namespace |ns_a| with address |cidr_a|
  // (e.g. "198.18.1.1/24"), |if_b| in |ns_b| with |cidr_b|, both up. Interface names live in
  // the namespaces, so they can be short and fixed ("eth0"). False on failure (see error()).
  bool add_link(const std::string& ns_a, const std::string& if_a, const std::string& cidr_a,
                const std::string& ns_b, const std::string& if_b, const std::string& cidr_b);

  // add_default_route sets |ns|'s default IPv4 route via |gateway|.
  bool add_default_route(const std::string& ns, const std::string& gateway);

  // set_sysctl runs `sysctl -w KEY=VALUE` inside |ns| (per-namespace keys such as
  // net.ipv4.ip_forward).
  bool set_sysctl(const std::string& ns, const std::string& key, const std::string& value);

  // exec returns the argv that runs |argv| inside |ns| (`ip netns exec NS ...`), for
  // ChildProcess. `ip netns exec` execs the command, so the child's pid is the command's.
  static std::vector<std::string> exec(const std::string& ns, const std::vector<std::string>& argv);

  // run runs |argv| inside |ns| and waits for it (see run_process).
  static ProcessResult run(const std::string& ns, const std::vector<std::string>& argv,
                           const std::string& input = "",
                           std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // namespaces lists the namespaces this lab made, in creation order.
  const std::vector<std::string>& namespaces() const { return namespaces_; }
  // error describes the last failure.
  const std::string& error() const { return error_; }

  // list_namespaces returns every namespace name `ip netns list` shows.
  static std::vector<std::string> list_namespaces();
  // remove_stale_namespaces removes namespaces named kPrefix + "<pid>-..." whose pid is not a
  // running process; returns how many it removed.
  static int remove_stale_namespaces();

 private:
  // run_ip runs `ip ARGS...` and records a failure in error_.
  bool run_ip(const std::vector<std::string>& args);
  static void remove_namespace(const std::string& ns);

  std::string base_;  // kPrefix + "<pid>-<n>-"
  std::vector<std::string> namespaces_;
  std::string error_;
};

}  // namespace sightglass::test
