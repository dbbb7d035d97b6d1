#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/net/event_loop.h"
#include "core/net/tcp.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"

namespace sightglass::core {

class ConnectionHandler;

// ProxyServerOptions configures the I/O side of a proxy.
struct ProxyServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  uint64_t connect_timeout_ms = 10'000;
  // Reads pause while a connection of the session has more than this queued for writing.
  size_t write_high_watermark = 1 << 20;
  // Called on the loop thread for every flow snapshot; must not block.
  std::function<void(FlowSnapshotConstSharedPtr)> publish;
  // Called on the loop thread for Log commands.
  std::function<void(const Log&)> log;
  // Share the port with the listeners of other loops (SO_REUSEPORT).
  bool reuse_port = false;
  // Flow ids, shared by the servers of all loops; the server's own counter when null.
  std::atomic<FlowId>* flow_ids = nullptr;
  // Client connections open, shared by the servers of all loops (config's
  // max_client_connections bounds it); the server's own counter when null.
  std::atomic<size_t>* open_clients = nullptr;
};

// ProxyServer listens for clients and runs one ProxySession per connection on its loop: it is
// the I/O driver that turns socket activity into events and carries out the commands.
// Everything runs on the loop thread.
class ProxyServer {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // create starts listening; nullptr and *out_error (e.g. "cannot listen on 127.0.0.1:8080:
  // address already in use") on failure. |config| must outlive the server.
  static std::unique_ptr<ProxyServer> create(EventLoop& loop, const ProxyConfig* config,
                                             ProxyServerOptions options, std::string* out_error);

  ProxyServer(PrivateTag /*unused*/, EventLoop& loop, const ProxyConfig* config,
              ProxyServerOptions options);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& local_address() const { return local_address_; }
  // stop_accepting closes the listening socket; sessions go on.
  void stop_accepting();
  // close_idle closes the sessions that are between exchanges.
  void close_idle() { close_sessions(true); }
  // busy_sessions counts the sessions in the middle of an exchange.
  size_t busy_sessions() const;
  // close_all closes every session at once.
  void close_all() { close_sessions(false); }

  // Used by ConnectionHandler.
  void remove(ConnectionHandler* handler);
  EventLoop& loop() { return loop_; }
  const ProxyServerOptions& options() const { return options_; }
  const ProxyConfig* config() const { return config_; }
  const Clock* clock() const { return &clock_; }
  std::atomic<FlowId>* flow_ids() {
    return options_.flow_ids != nullptr ? options_.flow_ids : &own_flow_ids_;
  }

 private:
  void on_connection(std::unique_ptr<TcpStream> stream);
  // close_sessions closes every session, or with |idle_only| those between exchanges.
  void close_sessions(bool idle_only);

  EventLoop& loop_;
  const ProxyConfig* config_;
  ProxyServerOptions options_;
  SystemClock clock_;
  std::atomic<FlowId> own_flow_ids_{0};
  std::atomic<size_t> own_open_clients_{0};
  // Runs once the server has had no client for a while: freed memory goes back to the system.
  std::unique_ptr<Timer> trim_timer_;
  std::unique_ptr<TcpListener> listener_;
  uint16_t port_ = 0;
  std::string local_address_;
  std::unordered_map<ConnectionHandler*, std::unique_ptr<ConnectionHandler>> handlers_;
};

}  // namespace sightglass::core
