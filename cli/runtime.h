#pragma once

// ProxyRuntime is `sightglass` without its main thread: the CA, the TLS contexts, the sinks of
// the command line (terminal, -w, --har, --save, behind --filter), and one proxy loop per core,
// each on a thread of its own. `sightglass` runs one until a signal; `sightglass-gui` runs one
// beside its window and subscribes to its FlowBus; tests run one in process.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/options.h"
#include "core/export/flow_sink.h"
#include "core/rules/interceptor.h"

namespace sightglass::cli {

class ProxyRuntime {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // SignalFn runs on a loop thread when SIGINT or SIGTERM arrives, after the graceful shutdown
  // began.
  using SignalFn = std::function<void(int signum)>;

  // start sets everything up and starts the loops; nullptr with a one-line *error (the port is
  // in use, the CA cannot be read, a file cannot be opened...). SIGINT and SIGTERM begin the
  // graceful shutdown (a second one stops at once).
  static std::unique_ptr<ProxyRuntime> start(const Options& options, std::string* error,
                                             SignalFn on_signal = {});

  explicit ProxyRuntime(PrivateTag /*unused*/);
  // ~ProxyRuntime stops everything at once if wait() was not called.
  ~ProxyRuntime();
  ProxyRuntime(const ProxyRuntime&) = delete;
  ProxyRuntime& operator=(const ProxyRuntime&) = delete;

  // bus is where every published flow goes (after --filter); subscribe to it for live views.
  core::FlowBus& bus();
  // local_address is "ip:port" of the listener.
  const std::string& local_address() const;
  // mode_description says what the proxy is ("regular proxy", "reverse proxy to ...").
  const std::string& mode_description() const;
  // exposure_warning is what to say at start when clients beyond this host can reach the proxy
  // without credentials (listening beyond loopback without --proxyauth); empty otherwise.
  const std::string& exposure_warning() const;
  std::string ca_cert_path() const;

  // shutdown begins the graceful shutdown (as a signal does); thread-safe, and a second call
  // stops at once.
  void shutdown();

  // wait blocks until every loop has ended, closes the sinks (writing --har, finishing -w and
  // --save) and returns "" or the first error a sink had. Call it once.
  std::string wait();

  // ReplayDoneFn learns how a replay ended: "" once the response was read, or what failed. It
  // runs on the replay's own thread.
  using ReplayDoneFn = std::function<void(const std::string& error)>;
  // replay sends |flow|'s request again through this proxy, as mitmproxy's client replay does:
  // over loopback, as a client of the listener (absolute-form, or CONNECT and TLS trusting the
  // CA, for regular and upstream modes; a SOCKS5 CONNECT; or straight to a reverse proxy), with
  // this run's credentials and a secret token that makes the new flow a replay (`_replay`).
  // It returns at once: the request runs on a thread of its own. false with *error when the
  // flow cannot be replayed (not HTTP, still live, a truncated body, a transparent proxy, ...).
  // Thread-safe; replays still running when the loops end are waited for by wait().
  bool replay(const core::FlowSnapshot& flow, std::string* error, ReplayDoneFn done = {});

  // interceptor runs the traffic rules and holds intercepted flows (resume, edit, kill by id);
  // null when the run has neither rules nor the intercept (Options::intercept, intercept_ui).
  core::Interceptor* interceptor();

  // learned_passthrough lists the hosts automatic passthrough learned, with why; valid after
  // wait().
  std::vector<std::pair<std::string, std::string>> learned_passthrough() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightglass::cli
