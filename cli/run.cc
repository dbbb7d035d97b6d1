#include "cli/run.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "core/export/flow_sink.h"
#include "core/export/har_writer.h"
#include "core/export/json_lines_writer.h"
#include "core/export/terminal_printer.h"
#include "core/filter/filter.h"
#include "core/net/event_loop.h"
#include "core/server/key_log.h"
#include "core/server/proxy_server.h"
#include "core/store/session_sink.h"
#include "core/tls/tls_contexts.h"

namespace sightglass::cli {
namespace {

constexpr uint64_t kShutdownGraceMs = 5000;
constexpr uint64_t kShutdownPollMs = 20;

int failure(const std::string& message) {
  std::cerr << "sightglass: " << message << "\n";
  return 1;
}

// GracefulShutdown stops the proxy in steps, on the loop thread.
struct GracefulShutdown {
  core::EventLoop* loop = nullptr;
  core::ProxyServer* server = nullptr;
  std::unique_ptr<core::Timer> timer;
  uint64_t waited_ms = 0;
  bool started = false;

  void begin() {
    if (started) {
      // A second signal: stop now.
      server->close_all();
      loop->stop();
      return;
    }
    started = true;
    server->stop_accepting();
    tick();
  }

  void tick() {
    server->close_idle();
    if (server->busy_sessions() == 0 || waited_ms >= kShutdownGraceMs) {
      server->close_all();
      timer.reset();
      loop->stop();
      return;
    }
    waited_ms += kShutdownPollMs;
    timer->start(kShutdownPollMs, [this] { tick(); });
  }
};

// worker_count is the number of loops: one per core (at most 8), or $SIGHTGLASS_WORKERS.
unsigned worker_count() {
  if (const char* env = std::getenv("SIGHTGLASS_WORKERS"); env != nullptr && *env != '\0') {
    const int n = std::atoi(env);
    if (n >= 1 && n <= 64) {
      return static_cast<unsigned>(n);
    }
  }
  return std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
}

// Worker is one event loop with its proxy server.
struct Worker {
  std::unique_ptr<core::EventLoop> loop;
  std::unique_ptr<core::ProxyServer> server;
  GracefulShutdown shutdown;
  std::thread thread;

  // setup creates the loop and the server on the calling thread; returns an error or "".
  std::string setup(const core::ProxyConfig& config, const core::ProxyServerOptions& options) {
    std::string error;
    loop = core::EventLoop::create(&error);
    if (!loop) {
      return error;
    }
    server = core::ProxyServer::create(*loop, &config, options, &error);
    if (!server) {
      return error;
    }
    shutdown.loop = loop.get();
    shutdown.server = server.get();
    shutdown.timer = std::make_unique<core::Timer>(*loop);
    return "";
  }

  // start_thread runs setup() and then the loop on a new thread; returns setup's error.
  std::string start_thread(const core::ProxyConfig& config,
                           const core::ProxyServerOptions& options) {
    std::promise<std::string> ready;
    std::future<std::string> result = ready.get_future();
    thread = std::thread([this, &config, options, &ready] {
      const std::string error = setup(config, options);
      const bool ok = error.empty();
      ready.set_value(error);
      if (ok) {
        loop->run();
      }
      teardown();
    });
    return result.get();
  }

  void teardown() {
    server.reset();
    shutdown.timer.reset();
    loop.reset();
  }

  // stop_thread stops a worker whose shutdown never began (a failed start).
  void stop_thread() {
    if (loop) {
      core::EventLoop* raw = loop.get();
      raw->post([this] {
        if (server) {
          server->close_all();
        }
        loop->stop();
      });
    }
    join();
  }

  void join() {
    if (thread.joinable()) {
      thread.join();
    }
  }
};

}  // namespace

int run_proxy(const Options& options) {
  // A proxy holds two descriptors a connection: take all the system allows.
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::string error;
  const auto confdir =
      options.confdir.empty() ? ca::default_confdir() : std::filesystem::path(options.confdir);
  std::shared_ptr<const ca::CertificateAuthority> authority =
      ca::CertificateAuthority::load_or_create(confdir, &error);
  if (!authority) {
    return failure(error);
  }
  auto minter = ca::LeafMinter::create(authority, ca::LeafMinterOptions{}, &error);
  if (!minter) {
    return failure(error);
  }
  bssl::UniquePtr<SSL_CTX> client_ctx = core::make_client_facing_context(minter.get());
  bssl::UniquePtr<SSL_CTX> upstream_ctx =
      core::make_upstream_context(options.upstream_trust, &error);
  if (!client_ctx || !upstream_ctx) {
    return failure(error.empty() ? "cannot create the TLS contexts" : error);
  }

  // TLS secrets of both sides, for Wireshark: --keylog, else $SSLKEYLOGFILE.
  std::string keylog_path = options.keylog_file;
  if (const char* env = std::getenv("SSLKEYLOGFILE"); keylog_path.empty() && env != nullptr) {
    keylog_path = env;
  }
  std::unique_ptr<core::KeyLog> keylog;
  if (!keylog_path.empty()) {
    keylog = core::KeyLog::open(keylog_path, &error);
    if (!keylog || !keylog->attach(client_ctx.get()) || !keylog->attach(upstream_ctx.get())) {
      return failure(error.empty() ? "cannot log TLS keys" : error);
    }
  }

  core::ProxyConfig config;
  config.body_limit = options.body_limit;
  config.client_handshake_timeout_ms = options.client_handshake_timeout_ms;
  config.client_idle_timeout_ms = options.client_idle_timeout_ms;
  config.server_idle_timeout_ms = options.server_idle_timeout_ms;
  config.server_handshake_timeout_ms = options.server_handshake_timeout_ms;
  config.response_timeout_ms = options.server_response_timeout_ms;
  config.client_tls_ctx = client_ctx.get();
  config.upstream_tls_ctx = upstream_ctx.get();
  config.verify_upstream = !options.ssl_insecure;
  config.ca_cert_pem = authority->cert_pem();
  config.ca_cert_der.assign(authority->cert_der().begin(), authority->cert_der().end());
  std::string mode;
  switch (options.mode.kind) {
    case ProxyMode::Kind::kRegular:
      mode = "regular proxy";
      break;
    case ProxyMode::Kind::kReverse:
      config.mode = core::ProxyConfig::Mode::kReverse;
      config.reverse_scheme = options.mode.scheme;
      config.reverse_host = options.mode.host;
      config.reverse_port = options.mode.port;
      mode = "reverse proxy to " + options.mode.scheme + "://" + options.mode.host + ":" +
             std::to_string(options.mode.port);
      break;
    case ProxyMode::Kind::kTransparent:
      config.mode = core::ProxyConfig::Mode::kTransparent;
      mode = "transparent proxy";
      break;
    case ProxyMode::Kind::kSocks5:
      config.mode = core::ProxyConfig::Mode::kSocks5;
      mode = "SOCKS5 proxy";
      break;
    case ProxyMode::Kind::kUpstream:
      config.mode = core::ProxyConfig::Mode::kUpstream;
      config.upstream_proxy_host = options.mode.host;
      config.upstream_proxy_port = options.mode.port;
      mode = "regular proxy, chained through http://" + options.mode.host + ":" +
             std::to_string(options.mode.port);
      break;
  }
  if (!options.proxyauth.empty()) {
    config.proxy_credentials = core::parse_proxy_credentials(options.proxyauth);
    if (!config.proxy_credentials) {
      return failure("--proxyauth needs USER:PASS with a non-empty user");
    }
  }
  // Passthrough: the regexes, and the hosts learned this run from clients that reject us.
  core::PassthroughPolicy passthrough;
  if (!passthrough.set_ignore_hosts(options.ignore_hosts, &error) ||
      !passthrough.set_allow_hosts(options.allow_hosts, &error)) {
    return failure(error);
  }
  passthrough.set_auto_learn(options.auto_passthrough);
  config.passthrough = &passthrough;
  core::Http2OnlyServers h2_only_servers;
  config.h2_only_servers = &h2_only_servers;

  // Sinks, each with its own thread: the loop never writes to a file.
  core::FlowBus bus;
  std::shared_ptr<core::JsonLinesWriter> jsonl;
  std::shared_ptr<core::HarWriter> har;
  if (options.verbosity > 0) {
    auto printer = core::TerminalPrinter::create(stderr, &error);
    if (!printer) {
      return failure(error);
    }
    bus.add_sink(std::move(printer));
  }
  if (!options.write_file.empty()) {
    jsonl = core::JsonLinesWriter::create(options.write_file, &error);
    if (!jsonl) {
      return failure(error);
    }
    bus.add_sink(jsonl);
  }
  if (!options.har_file.empty()) {
    har = core::HarWriter::create(options.har_file, &error);
    if (!har) {
      return failure(error);
    }
    bus.add_sink(har);
  }
  std::shared_ptr<core::SessionSink> session;
  if (!options.save_file.empty()) {
    session = core::SessionSink::create(options.save_file, &error);
    if (!session) {
      return failure(error);
    }
    bus.add_sink(session);
  }
  // --filter selects what every sink sees (parsed already by parse_options).
  core::FlowFilterConstSharedPtr filter;
  if (!options.filter.empty()) {
    core::FilterError filter_error;
    filter = core::FlowFilter::parse(options.filter, &filter_error);
    if (!filter) {
      return failure("invalid filter: " + filter_error.describe());
    }
  }

  // One loop per core, each with its own listener on the shared port (SO_REUSEPORT): a
  // connection stays on its loop for life, so the hot path takes no locks.
  const unsigned workers = worker_count();
  uint16_t port = options.listen_port;
  if (workers > 1) {
    const auto probed = core::probe_listen_port(options.listen_host, port, &error);
    if (!probed) {
      return failure(error);
    }
    port = *probed;
  }
  std::atomic<core::FlowId> flow_ids{0};
  core::ProxyServerOptions server_options;
  server_options.listen_host = options.listen_host;
  server_options.listen_port = port;
  server_options.reuse_port = workers > 1;
  server_options.connect_timeout_ms = static_cast<uint64_t>(options.server_connect_timeout_ms);
  server_options.flow_ids = &flow_ids;
  server_options.publish = [&bus, &filter](core::FlowSnapshotConstSharedPtr flow) {
    if (!filter || filter->matches(*flow)) {
      bus.publish(std::move(flow));
    }
  };
  const int verbosity = options.verbosity;
  server_options.log = [verbosity](const core::Log& log) {
    if (verbosity >= 2 || log.level >= core::Log::Level::kWarn) {
      std::cerr << "sightglass: " << log.message << "\n";
    }
  };

  std::vector<std::unique_ptr<Worker>> pool;
  for (unsigned i = 0; i < workers; ++i) {
    pool.push_back(std::make_unique<Worker>());
  }
  // Worker 0 runs on this thread (with the signal watcher); the others on their own.
  error = pool[0]->setup(config, server_options);
  for (unsigned i = 1; i < workers && error.empty(); ++i) {
    error = pool[i]->start_thread(config, server_options);
  }
  std::unique_ptr<core::SignalWatcher> signals;
  if (error.empty()) {
    signals = core::SignalWatcher::create(
        *pool[0]->loop,
        [&pool](int /*signum*/) {
          for (size_t i = 1; i < pool.size(); ++i) {
            Worker* worker = pool[i].get();
            if (worker->loop) {
              worker->loop->post([worker] { worker->shutdown.begin(); });
            }
          }
          pool[0]->shutdown.begin();
        },
        &error);
  }
  if (!error.empty()) {
    for (size_t i = 1; i < pool.size(); ++i) {
      pool[i]->stop_thread();
    }
    return failure(error);
  }

  std::cerr << "sightglass: listening on " << pool[0]->server->local_address() << " (" << mode
            << ")\n"
            << "sightglass: CA certificate: " << authority->cert_path().string() << std::endl;

  pool[0]->loop->run();
  signals.reset();
  pool[0]->teardown();
  for (size_t i = 1; i < pool.size(); ++i) {
    pool[i]->join();
  }
  bus.close();
  if (const auto learned = passthrough.learned(); !learned.empty()) {
    std::cerr << "sightglass: auto-passthrough learned " << learned.size()
              << (learned.size() == 1 ? " host" : " hosts") << " this run:\n";
    for (const auto& [host, why] : learned) {
      std::cerr << "  " << host << "  (" << why << ")\n";
    }
  }
  if (jsonl && !jsonl->error().empty()) {
    return failure(jsonl->error());
  }
  if (har && !har->error().empty()) {
    return failure(har->error());
  }
  if (session && session->flows_failed() > 0) {
    return failure(std::to_string(session->flows_failed()) + " flows could not be saved to " +
                   options.save_file + ": " + session->error());
  }
  return 0;
}

}  // namespace sightglass::cli
