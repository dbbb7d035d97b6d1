#include "cli/run.h"

#include <cstdlib>
#include <iostream>
#include <memory>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "core/export/flow_sink.h"
#include "core/export/har_writer.h"
#include "core/export/json_lines_writer.h"
#include "core/export/terminal_printer.h"
#include "core/net/event_loop.h"
#include "core/server/proxy_server.h"
#include "core/tls/tls_contexts.h"

namespace sightglass::cli {
namespace {

constexpr uint64_t kShutdownGraceMs = 5000;
constexpr uint64_t kShutdownPollMs = 20;

int failure(const std::string& message) {
  std::cerr << "sightglass: " << message << "\n";
  return 1;
}

// not_yet names an option that this build accepts on the command line but cannot honour yet.
std::string not_yet(const Options& options) {
  switch (options.mode.kind) {
    case ProxyMode::Kind::kTransparent:
      return "--mode transparent";
    case ProxyMode::Kind::kSocks5:
      return "--mode socks5";
    case ProxyMode::Kind::kUpstream:
      return "--mode upstream";
    default:
      break;
  }
  if (!options.filter.empty()) {
    return "--filter";
  }
  if (!options.ignore_hosts.empty()) {
    return "--ignore-hosts";
  }
  if (!options.allow_hosts.empty()) {
    return "--allow-hosts";
  }
  if (!options.proxyauth.empty()) {
    return "--proxyauth";
  }
  if (!options.keylog_file.empty()) {
    return "--keylog";
  }
  return "";
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

}  // namespace

int run_proxy(const Options& options) {
  if (const std::string missing = not_yet(options); !missing.empty()) {
    return failure(missing + " is not supported by this version yet");
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

  core::ProxyConfig config;
  config.body_limit = options.body_limit;
  config.client_tls_ctx = client_ctx.get();
  config.upstream_tls_ctx = upstream_ctx.get();
  config.verify_upstream = !options.ssl_insecure;
  if (options.mode.kind == ProxyMode::Kind::kReverse) {
    config.mode = core::ProxyConfig::Mode::kReverse;
    config.reverse_scheme = options.mode.scheme;
    config.reverse_host = options.mode.host;
    config.reverse_port = options.mode.port;
  }

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

  auto loop = core::EventLoop::create(&error);
  if (!loop) {
    return failure(error);
  }
  core::ProxyServerOptions server_options;
  server_options.listen_host = options.listen_host;
  server_options.listen_port = options.listen_port;
  server_options.publish = [&bus](core::FlowSnapshotConstSharedPtr flow) {
    bus.publish(std::move(flow));
  };
  const int verbosity = options.verbosity;
  server_options.log = [verbosity](const core::Log& log) {
    if (verbosity >= 2 || log.level >= core::Log::Level::kWarn) {
      std::cerr << "sightglass: " << log.message << "\n";
    }
  };
  auto server = core::ProxyServer::create(*loop, &config, std::move(server_options), &error);
  if (!server) {
    return failure(error);
  }
  GracefulShutdown shutdown;
  shutdown.loop = loop.get();
  shutdown.server = server.get();
  shutdown.timer = std::make_unique<core::Timer>(*loop);
  auto signals = core::SignalWatcher::create(
      *loop, [&shutdown](int /*signum*/) { shutdown.begin(); }, &error);
  if (!signals) {
    return failure(error);
  }

  const std::string mode = config.mode == core::ProxyConfig::Mode::kReverse
                               ? "reverse proxy to " + options.mode.scheme + "://" +
                                     options.mode.host + ":" + std::to_string(options.mode.port)
                               : "regular proxy";
  std::cerr << "sightglass: listening on " << server->local_address() << " (" << mode << ")\n"
            << "sightglass: CA certificate: " << authority->cert_path().string() << std::endl;

  loop->run();
  signals.reset();
  server.reset();
  shutdown.timer.reset();
  loop.reset();
  bus.close();
  if (jsonl && !jsonl->error().empty()) {
    return failure(jsonl->error());
  }
  if (har && !har->error().empty()) {
    return failure(har->error());
  }
  return 0;
}

}  // namespace sightglass::cli
