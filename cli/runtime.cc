#include "cli/runtime.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <system_error>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "cli/replay.h"
#include "core/export/flow_sink.h"
#include "core/export/har_writer.h"
#include "core/export/json_lines_writer.h"
#include "core/export/terminal_printer.h"
#include "core/filter/filter.h"
#include "core/net/event_loop.h"
#include "core/proxy/host_port.h"
#include "core/server/key_log.h"
#include "core/server/proxy_server.h"
#include "core/store/session_sink.h"
#include "core/tls/session_cache.h"
#include "core/tls/tls_contexts.h"

namespace sightglass::cli {
namespace {

constexpr uint64_t kShutdownGraceMs = 5000;
constexpr uint64_t kShutdownPollMs = 20;
// Replays running at once, at most.
constexpr size_t kMaxReplays = 64;

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

// Worker is one event loop with its proxy server, on a thread of its own.
struct Worker {
  std::unique_ptr<core::EventLoop> loop;
  std::unique_ptr<core::ProxyServer> server;
  std::unique_ptr<core::SignalWatcher> signals;  // Worker 0 only.
  GracefulShutdown shutdown;
  std::thread thread;
  std::mutex loop_mutex;  // Guards |loop| against post() while the thread tears it down.

  // setup creates the loop and the server on the calling thread; returns an error or "".
  std::string setup(const core::ProxyConfig& config, const core::ProxyServerOptions& options) {
    std::string error;
    auto created = core::EventLoop::create(&error);
    if (!created) {
      return error;
    }
    {
      std::lock_guard<std::mutex> lock(loop_mutex);
      loop = std::move(created);
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

  // start_thread runs setup(), then |after_setup| (on the loop thread), then the loop on a new
  // thread; returns the first error of the two.
  std::string start_thread(const core::ProxyConfig& config, const core::ProxyServerOptions& options,
                           const std::function<std::string(Worker&)>& after_setup) {
    std::promise<std::string> ready;
    std::future<std::string> result = ready.get_future();
    thread = std::thread([this, &config, options, &ready, &after_setup] {
      std::string error = setup(config, options);
      if (error.empty() && after_setup) {
        error = after_setup(*this);
      }
      const bool ok = error.empty();
      ready.set_value(error);
      if (ok) {
        loop->run();
      }
      teardown();
    });
    return result.get();
  }

  // post runs |fn| on the loop thread, unless the loop is gone.
  void post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(loop_mutex);
    if (loop) {
      loop->post(std::move(fn));
    }
  }

  void teardown() {
    signals.reset();
    server.reset();
    shutdown.timer.reset();
    std::lock_guard<std::mutex> lock(loop_mutex);
    loop.reset();
  }

  // stop_thread stops a worker at once (a failed start, or a runtime dropped without wait()).
  void stop_thread() {
    post([this] {
      if (server) {
        server->close_all();
      }
      loop->stop();
    });
    join();
  }

  void join() {
    if (thread.joinable()) {
      thread.join();
    }
  }
};

}  // namespace

struct ProxyRuntime::Impl {
  std::shared_ptr<const ca::CertificateAuthority> authority;
  std::unique_ptr<ca::LeafMinter> minter;
  // Sessions servers gave, for resuming upstream; outlives the contexts (declared first).
  core::TlsSessionCache upstream_sessions;
  bssl::UniquePtr<SSL_CTX> client_ctx;
  bssl::UniquePtr<SSL_CTX> upstream_ctx;
  std::unique_ptr<core::KeyLog> keylog;
  core::ProxyConfig config;
  core::PassthroughPolicy passthrough;
  core::Http2OnlyServers h2_only_servers;
  std::unique_ptr<core::Interceptor> interceptor;
  core::FlowBus bus;
  std::shared_ptr<core::JsonLinesWriter> jsonl;
  std::shared_ptr<core::HarWriter> har;
  std::shared_ptr<core::SessionSink> session;
  std::string write_file;
  std::string har_file;
  std::string save_file;
  core::FlowFilterConstSharedPtr filter;
  std::atomic<core::FlowId> flow_ids{0};
  std::atomic<size_t> open_clients{0};
  core::ProxyServerOptions server_options;
  std::vector<std::unique_ptr<Worker>> pool;
  SignalFn on_signal;
  std::string mode;
  std::string local_address;
  std::string exposure_warning;
  bool waited = false;

  // Replays in progress, each on a thread of its own.
  struct Replay {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex replay_mutex;
  std::vector<Replay> replays;  // Guarded by replay_mutex.
  bool replays_closed = false;  // Guarded by replay_mutex.

  // end_replays refuses new replays and waits for those in progress (the loops have ended, so
  // their connections are closed or refused).
  void end_replays() {
    std::vector<Replay> running;
    {
      std::lock_guard<std::mutex> lock(replay_mutex);
      replays_closed = true;
      running.swap(replays);
    }
    for (Replay& r : running) {
      r.thread.join();
    }
  }

  // begin_shutdown starts the graceful shutdown of every loop (a second call stops them).
  // Held flows go on as they are: the shutdown waits for exchanges, not for a person.
  void begin_shutdown() {
    if (interceptor) {
      interceptor->set_filter(nullptr);
      interceptor->resume_all();
    }
    for (const auto& worker : pool) {
      Worker* w = worker.get();
      w->post([w] { w->shutdown.begin(); });
    }
  }

  std::string setup(const Options& options);
  std::string setup_rules(const Options& options);
};

std::string ProxyRuntime::Impl::setup_rules(const Options& options) {
  std::vector<core::Rule> rules;
  const std::pair<core::RuleKind, const std::vector<std::string>*> kinds[] = {
      {core::RuleKind::kMapRemote, &options.map_remote},
      {core::RuleKind::kMapLocal, &options.map_local},
      {core::RuleKind::kModifyHeaders, &options.modify_headers},
      {core::RuleKind::kModifyBody, &options.modify_body},
      {core::RuleKind::kBlockList, &options.block_list},
  };
  for (const auto& [kind, specs] : kinds) {
    for (const std::string& spec : *specs) {
      std::string error;
      std::optional<core::Rule> rule = core::parse_rule(kind, spec, &error);
      if (!rule) {
        return std::string("--") + core::rule_option_name(kind) + ": " + error;
      }
      rules.push_back(std::move(*rule));
    }
  }
  if (rules.empty() && options.intercept.empty() && !options.intercept_ui) {
    return {};
  }
  interceptor = std::make_unique<core::Interceptor>(
      rules.empty() ? nullptr : std::make_shared<const core::TrafficRules>(std::move(rules)));
  if (!options.intercept.empty()) {
    core::FilterError error;
    core::FlowFilterConstSharedPtr held_filter = core::FlowFilter::parse(options.intercept, &error);
    if (held_filter == nullptr) {
      return "--intercept: invalid filter: " + error.describe();
    }
    interceptor->set_filter(std::move(held_filter));
  }
  config.hooks = interceptor.get();
  return {};
}

std::string ProxyRuntime::Impl::setup(const Options& options) {
  std::string error;
  const auto confdir =
      options.confdir.empty() ? ca::default_confdir() : std::filesystem::path(options.confdir);
  authority = ca::CertificateAuthority::load_or_create(confdir, &error);
  if (!authority) {
    return error;
  }
  minter = ca::LeafMinter::create(authority, ca::LeafMinterOptions{}, &error);
  if (!minter) {
    return error;
  }
  client_ctx = core::make_client_facing_context(minter.get());
  upstream_ctx = core::make_upstream_context(options.upstream_trust, &error);
  if (!client_ctx || !upstream_ctx ||
      !core::TlsSessionCache::install(upstream_ctx.get(), &upstream_sessions)) {
    return error.empty() ? "cannot create the TLS contexts" : error;
  }

  // TLS secrets of both sides, for Wireshark: --keylog, else $SSLKEYLOGFILE.
  std::string keylog_path = options.keylog_file;
  if (const char* env = std::getenv("SSLKEYLOGFILE"); keylog_path.empty() && env != nullptr) {
    keylog_path = env;
  }
  if (!keylog_path.empty()) {
    keylog = core::KeyLog::open(keylog_path, &error);
    if (!keylog || !keylog->attach(client_ctx.get()) || !keylog->attach(upstream_ctx.get())) {
      return error.empty() ? "cannot log TLS keys" : error;
    }
  }

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
  // The replay token: a secret of this run (128 bits), known to replay() only.
  uint8_t token[16];
  if (!RAND_bytes(token, sizeof(token))) {
    return "cannot draw random bytes";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (const uint8_t byte : token) {
    config.replay_token.push_back(kHex[byte >> 4]);
    config.replay_token.push_back(kHex[byte & 0xf]);
  }
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
      return "--proxyauth needs USER:PASS with a non-empty user";
    }
  }
  config.block_public_clients = !options.allow_remote && !config.proxy_credentials;
  config.max_client_connections = options.max_connections;
  // Passthrough: the regexes, and the hosts learned this run from clients that reject us.
  if (!passthrough.set_ignore_hosts(options.ignore_hosts, &error) ||
      !passthrough.set_allow_hosts(options.allow_hosts, &error)) {
    return error;
  }
  passthrough.set_auto_learn(options.auto_passthrough);
  config.passthrough = &passthrough;
  if (std::string rules_error = setup_rules(options); !rules_error.empty()) {
    return rules_error;
  }
  config.h2_only_servers = &h2_only_servers;
  // Live snapshots go to subscribers only (the publish callback drops them otherwise), so
  // without one the loops do not copy flows in progress at all.
  config.wants_live = [this] { return bus.subscription_count() != 0; };

  // Sinks, each with its own thread: the loop never writes to a file.
  if (options.verbosity > 0) {
    auto printer = core::TerminalPrinter::create(stderr, &error);
    if (!printer) {
      return error;
    }
    bus.add_sink(std::move(printer));
  }
  if (!options.write_file.empty()) {
    jsonl = core::JsonLinesWriter::create(options.write_file, &error);
    if (!jsonl) {
      return error;
    }
    write_file = options.write_file;
    bus.add_sink(jsonl);
  }
  if (!options.har_file.empty()) {
    har = core::HarWriter::create(options.har_file, &error);
    if (!har) {
      return error;
    }
    har_file = options.har_file;
    bus.add_sink(har);
  }
  if (!options.save_file.empty()) {
    session = core::SessionSink::create(options.save_file, &error);
    if (!session) {
      return error;
    }
    save_file = options.save_file;
    bus.add_sink(session);
  }
  // --filter selects what every sink sees (parse_options checked it already).
  if (!options.filter.empty()) {
    core::FilterError filter_error;
    filter = core::FlowFilter::parse(options.filter, &filter_error);
    if (!filter) {
      return "invalid filter: " + filter_error.describe();
    }
  }

  // One loop per core, each with its own listener on the shared port (SO_REUSEPORT): a
  // connection stays on its loop for life, so the hot path takes no locks.
  const unsigned workers = worker_count();
  uint16_t port = options.listen_port;
  if (workers > 1) {
    const auto probed = core::probe_listen_port(options.listen_host, port, &error);
    if (!probed) {
      return error;
    }
    port = *probed;
  }
  server_options.listen_host = options.listen_host;
  server_options.listen_port = port;
  server_options.reuse_port = workers > 1;
  server_options.connect_timeout_ms = static_cast<uint64_t>(options.server_connect_timeout_ms);
  server_options.flow_ids = &flow_ids;
  server_options.open_clients = &open_clients;
  server_options.publish = [this](core::FlowSnapshotConstSharedPtr flow) {
    // The sinks keep finished flows only: a live snapshot is filtered only when a
    // subscriber (the GUI) will see it.
    const bool live = flow->state == core::FlowState::kLive;
    if (live && bus.subscription_count() == 0) {
      return;
    }
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

  for (unsigned i = 0; i < workers; ++i) {
    pool.push_back(std::make_unique<Worker>());
  }
  // Worker 0 also watches for signals; it starts first, so its address is the one to print.
  const std::function<std::string(Worker&)> first = [this](Worker& worker) {
    local_address = worker.server->local_address();
    std::string watch_error;
    worker.signals = core::SignalWatcher::create(
        *worker.loop,
        [this](int signum) {
          begin_shutdown();
          if (on_signal) {
            on_signal(signum);
          }
        },
        &watch_error);
    return worker.signals ? std::string() : watch_error;
  };
  error = pool[0]->start_thread(config, server_options, first);
  for (unsigned i = 1; i < workers && error.empty(); ++i) {
    error = pool[i]->start_thread(config, server_options, {});
  }
  const std::string_view host = core::address_host(local_address);
  if (error.empty() && !host.starts_with("127.") && host != "::1" && !config.proxy_credentials) {
    exposure_warning =
        options.allow_remote
            ? "warning: listening on " + local_address +
                  " without --proxyauth, and --allow-remote serves clients from public "
                  "addresses: anyone who can reach this port can use the proxy"
            : "warning: listening on " + local_address +
                  " without --proxyauth: clients from loopback and private addresses are "
                  "served, clients from public addresses are refused (--allow-remote serves "
                  "them)";
  }
  return error;
}

ProxyRuntime::ProxyRuntime(PrivateTag /*unused*/) : impl_(std::make_unique<Impl>()) {}

ProxyRuntime::~ProxyRuntime() {
  if (impl_->interceptor) {
    impl_->interceptor->shutdown();  // No resume may reach a loop that is going away.
  }
  if (!impl_->waited) {
    for (const auto& worker : impl_->pool) {
      worker->stop_thread();
    }
    impl_->end_replays();
    impl_->bus.close();
  }
}

std::unique_ptr<ProxyRuntime> ProxyRuntime::start(const Options& options, std::string* error,
                                                  SignalFn on_signal) {
  // A proxy holds two descriptors a connection: take all the system allows.
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  auto runtime = std::make_unique<ProxyRuntime>(PrivateTag{});
  runtime->impl_->on_signal = std::move(on_signal);
  *error = runtime->impl_->setup(options);
  if (!error->empty()) {
    return nullptr;  // The destructor stops whatever started.
  }
  return runtime;
}

core::FlowBus& ProxyRuntime::bus() { return impl_->bus; }
const std::string& ProxyRuntime::local_address() const { return impl_->local_address; }
const std::string& ProxyRuntime::mode_description() const { return impl_->mode; }
const std::string& ProxyRuntime::exposure_warning() const { return impl_->exposure_warning; }
std::string ProxyRuntime::ca_cert_path() const { return impl_->authority->cert_path().string(); }

void ProxyRuntime::shutdown() { impl_->begin_shutdown(); }

core::Interceptor* ProxyRuntime::interceptor() { return impl_->interceptor.get(); }

std::string ProxyRuntime::wait() {
  Impl& t = *impl_;
  for (const auto& worker : t.pool) {
    worker->join();
  }
  if (t.interceptor) {
    t.interceptor->shutdown();
  }
  t.end_replays();
  t.waited = true;
  t.bus.close();
  // Every flow a sink lost is reported; the first failure is the exit's reason.
  std::string failed;
  const auto report = [&failed](uint64_t lost, const std::string& error, const std::string& path) {
    if (lost == 0 && error.empty()) {
      return;
    }
    const std::string line = std::to_string(lost) + (lost == 1 ? " flow was" : " flows were") +
                             " not written to " + path + (error.empty() ? "" : ": " + error);
    if (failed.empty()) {
      failed = line;
    } else {
      std::cerr << "sightglass: " << line << "\n";
    }
  };
  if (t.jsonl) {
    report(t.jsonl->lines_lost(), t.jsonl->error(), t.write_file);
  }
  if (t.har) {
    report(t.har->entries_lost(), t.har->error(), t.har_file);
  }
  if (t.session) {
    report(t.session->flows_failed() + t.session->flows_lost(), t.session->error(), t.save_file);
  }
  return failed;
}

bool ProxyRuntime::replay(const core::FlowSnapshot& flow, std::string* error, ReplayDoneFn done) {
  Impl& t = *impl_;
  if (std::string refusal = replay_refusal(flow, t.config.mode); !refusal.empty()) {
    *error = std::move(refusal);
    return false;
  }
  ReplayEndpoint endpoint;
  endpoint.mode = t.config.mode;
  endpoint.address = t.local_address;
  endpoint.ca_cert_pem = t.config.ca_cert_pem;
  endpoint.credentials = t.config.proxy_credentials;
  endpoint.token = t.config.replay_token;
  endpoint.timeout_ms =
      std::max(t.config.response_timeout_ms, t.config.server_handshake_timeout_ms) + 10'000;
  auto copy = std::make_shared<const core::FlowSnapshot>(flow);
  std::lock_guard<std::mutex> lock(t.replay_mutex);
  if (t.replays_closed) {
    *error = "the proxy has stopped";
    return false;
  }
  // Threads of replays that ended are joined here, so that they never pile up.
  std::erase_if(t.replays, [](Impl::Replay& r) {
    if (!r.done->load()) {
      return false;
    }
    r.thread.join();
    return true;
  });
  if (t.replays.size() >= kMaxReplays) {
    *error = "too many replays in progress";
    return false;
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  try {
    std::thread thread([endpoint = std::move(endpoint), copy, done = std::move(done), finished] {
      // A TLS write to a connection the proxy closed must fail, not kill the process: the
      // signal stays pending on this thread, which never unblocks it.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      const std::string result = run_replay(endpoint, *copy);
      if (!result.empty()) {
        std::cerr << "sightglass: replay of " << copy->request->url() << " failed: " << result
                  << "\n";
      }
      if (done) {
        done(result);
      }
      finished->store(true);
    });
    t.replays.push_back({std::move(thread), std::move(finished)});
  } catch (const std::system_error& e) {
    *error = std::string("cannot start the replay: ") + e.what();
    return false;
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> ProxyRuntime::learned_passthrough() const {
  return impl_->passthrough.learned();
}

}  // namespace sightglass::cli
