#include "core/server/proxy_server.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_set>

#include "core/proxy/host_port.h"
#include "core/proxy/session.h"

namespace sightglass::core {
namespace {

// How long a server goes without clients before it gives freed memory back.
constexpr uint64_t kTrimAfterIdleMs = 2000;

// OwnPorts holds the local ports of this process's upstream connections in transparent mode,
// on every loop: a client connection from one of them (and from an address of this host) is the
// proxy's own traffic redirected back to it (a redirect loop). Ports are registered before the
// connect is issued, so no redirected copy can be accepted first.
struct OwnPorts {
  std::mutex mutex;
  std::unordered_multiset<uint16_t> ports;  // Guarded by |mutex|.
};

OwnPorts& own_ports() {
  static OwnPorts own;
  return own;
}

// OwnConnection registers one upstream connection's local port while it lives.
class OwnConnection {
 public:
  explicit OwnConnection(const std::string& address) {
    if (std::optional<HostPort> parsed = parse_host_port(address)) {
      port_ = parsed->port;
      std::lock_guard lock(own_ports().mutex);
      own_ports().ports.insert(port_);
    }
  }
  OwnConnection(const OwnConnection&) = delete;
  OwnConnection& operator=(const OwnConnection&) = delete;
  ~OwnConnection() {
    std::lock_guard lock(own_ports().mutex);
    if (auto it = own_ports().ports.find(port_); port_ != 0 && it != own_ports().ports.end()) {
      own_ports().ports.erase(it);
    }
  }

 private:
  uint16_t port_ = 0;
};

// is_own_connection says whether a client at |peer| is one of this process's upstream
// connections: a registered port, from an address of this host.
bool is_own_connection(const std::string& peer) {
  const std::optional<HostPort> parsed = parse_host_port(peer);
  std::unique_lock lock(own_ports().mutex);
  const bool registered = parsed && own_ports().ports.count(parsed->port) != 0;
  lock.unlock();
  return registered && is_local_ip(parsed->host);
}

// kOpenFailures is the OpenCompleted::Failure of each ConnectResult::Kind, in its order.
constexpr OpenCompleted::Failure kOpenFailures[] = {
    OpenCompleted::Failure::kNone,        OpenCompleted::Failure::kDns,
    OpenCompleted::Failure::kRefused,     OpenCompleted::Failure::kTimeout,
    OpenCompleted::Failure::kUnreachable, OpenCompleted::Failure::kOther};
static_assert(std::size(kOpenFailures) == static_cast<size_t>(ConnectResult::Kind::kOther) + 1);

// client_connection describes an accepted client for its session; in transparent mode with
// the original destination, or why the connection must be refused.
ClientConnection client_connection(const ProxyServer& server, const TcpStream& client,
                                   bool over_capacity) {
  ClientConnection info;
  info.peer_address = client.peer_address();
  info.over_capacity = over_capacity;
  if (server.config()->mode != ProxyConfig::Mode::kTransparent) {
    return info;
  }
  // REDIRECT/DNAT: the connection-tracking entry has it. TPROXY: the local address is it.
  info.original_destination = client.original_destination().value_or(client.local_address());
  if (info.original_destination == client.local_address() &&
      address_port(info.original_destination) == std::to_string(server.port())) {
    info.refuse_reason =
        "transparent mode: redirect loop refused: the original destination " +
        info.original_destination +
        " is this proxy's own listener (the connection was not redirected: connect to the real "
        "server and let iptables/nftables redirect it)";
  } else if (is_own_connection(info.peer_address)) {
    info.refuse_reason =
        "transparent mode: redirect loop refused: the connection from " + info.peer_address +
        " is one of this proxy's own upstream connections, redirected back to it (exclude the "
        "proxy's user or cgroup from the redirect rules)";
  }
  return info;
}

}  // namespace

// ConnectionHandler drives one ProxySession: client socket, server sockets, timers.
class ConnectionHandler {
 public:
  // |open_clients| counts this client among those open (null: it is refused as one too many).
  ConnectionHandler(ProxyServer* server, std::unique_ptr<TcpStream> client,
                    std::atomic<size_t>* open_clients)
      : server_(server),
        session_(server->config(), server->clock(), server->flow_ids(),
                 client_connection(*server, *client, open_clients == nullptr)),
        open_clients_(open_clients) {
    sockets_[kClientConn].stream = std::move(client);
  }
  // A resume posted for a hook of this session finds it gone, also when the server drops it
  // without finish() (the server's own destruction).
  ~ConnectionHandler() {
    *alive_ = false;
    if (open_clients_ != nullptr) {
      open_clients_->fetch_sub(1);
    }
  }
  ConnectionHandler(const ConnectionHandler&) = delete;
  ConnectionHandler& operator=(const ConnectionHandler&) = delete;

  void start() {
    attach(kClientConn);
    dispatch(Start{});
  }

  // busy: an exchange is in progress, or bytes are still queued for a socket (closing now
  // would lose them).
  bool busy() const { return !finished_ && (session_.busy() || queued_above(0)); }

  void close_now() {
    dispatch(ConnectionClosed{kClientConn, "the proxy is shutting down"});
    finish();
  }

 private:
  // Socket is one connection of the session.
  struct Socket {
    std::unique_ptr<TcpStream> stream;
    ConnectHandle connecting;
    bool read_eof = false;
    bool write_shut = false;
    bool closing = false;              // A full close waits for queued writes.
    bool app_paused = false;           // PauseReading from the session.
    bool drain_report = false;         // WriteDrained is due once the queue is empty.
    std::optional<OwnConnection> own;  // Transparent mode: registered against redirect loops.
  };
  SpareCommands spare_commands_;  // dispatch()'s vector between events.

  void attach(ConnId conn) {
    Socket& socket = sockets_[conn];
    TcpStream::Callbacks callbacks;
    callbacks.on_data = [this, conn](std::string_view data) {
      dispatch(DataReceived{conn, std::string(data)});
    };
    callbacks.on_eof = [this, conn] {
      auto it = sockets_.find(conn);
      if (it != sockets_.end()) {
        it->second.read_eof = true;
        if (it->second.closing) {
          drop(conn);
          return;
        }
      }
      dispatch(ConnectionClosed{conn, ""});
    };
    callbacks.on_error = [this, conn](const std::string& error) {
      const bool was_closing = sockets_.count(conn) != 0 && sockets_[conn].closing;
      drop(conn);
      if (!was_closing) {
        dispatch(ConnectionClosed{conn, error});
      }
    };
    callbacks.on_drained = [this, conn] {
      auto it = sockets_.find(conn);
      if (it != sockets_.end() && it->second.closing && it->second.write_shut) {
        // Everything was written and the FIN sent: the close is complete.
        drop(conn);
        return;
      }
      if (it != sockets_.end() && it->second.drain_report) {
        it->second.drain_report = false;
        dispatch(WriteDrained{conn});
        return;
      }
      update_backpressure();
    };
    std::string error;
    if (!socket.stream->start_reading(std::move(callbacks), &error)) {
      drop(conn);
      dispatch(ConnectionClosed{conn, error});
    }
  }

  void dispatch(Event event) {
    if (finished_) {
      return;
    }
    Commands commands = spare_commands_.take();
    session_.handle(std::move(event), commands);
    execute(commands);
    spare_commands_.give_back(std::move(commands));
    // Writes the socket took at once: their WriteDrained follows now; so does the end of a
    // hook that was done at once.
    while (!finished_ && (!drained_due_.empty() || !resumed_due_.empty())) {
      Commands more;
      if (!drained_due_.empty()) {
        session_.handle(WriteDrained{drained_due_.front()}, more);
        drained_due_.erase(drained_due_.begin());
      } else {
        session_.handle(std::move(resumed_due_.front()), more);
        resumed_due_.erase(resumed_due_.begin());
      }
      execute(more);
    }
    update_backpressure();
    check_done();
  }

  void execute(Commands& commands) {
    for (Command& command : commands) {
      if (finished_) {
        return;
      }
      if (auto* send = std::get_if<SendData>(&command)) {
        auto it = sockets_.find(send->conn);
        if (it != sockets_.end() && it->second.stream && !it->second.write_shut) {
          it->second.stream->write(std::move(send->data));
          if (send->report_written) {
            if (it->second.stream->write_queue_bytes() == 0) {
              drained_due_.push_back(send->conn);
            } else {
              it->second.drain_report = true;
            }
          }
        }
      } else if (auto* open = std::get_if<OpenConnection>(&command)) {
        open_connection(*open);
      } else if (auto* close = std::get_if<CloseConnection>(&command)) {
        close_connection(close->conn, close->half_close);
      } else if (auto* wakeup = std::get_if<RequestWakeup>(&command)) {
        schedule_wakeup(wakeup->id, wakeup->delay_ms);
      } else if (auto* cancel = std::get_if<CancelWakeup>(&command)) {
        if (auto it = wakeup_index_.find(cancel->id); it != wakeup_index_.end()) {
          wakeups_.erase(it->second);
          wakeup_index_.erase(it);
        }
      } else if (auto* pause = std::get_if<PauseReading>(&command)) {
        if (auto it = sockets_.find(pause->conn); it != sockets_.end()) {
          it->second.app_paused = pause->paused;
        }
      } else if (auto* log = std::get_if<Log>(&command)) {
        if (server_->options().log) {
          server_->options().log(*log);
        }
      } else if (auto* publish = std::get_if<PublishFlow>(&command)) {
        if (server_->options().publish) {
          server_->options().publish(std::move(publish->flow));
        }
      } else if (auto* hook = std::get_if<Hook>(&command)) {
        run_hook(std::move(*hook));
      } else if (auto* learn = std::get_if<Learn>(&command)) {
        apply(*learn);
      }
    }
  }

  // apply records what a session learned in the state every session shares.
  void apply(const Learn& learn) {
    const ProxyConfig* config = server_->config();
    if (learn.what == Learn::What::kH2Only) {
      if (config->h2_only_servers != nullptr) {
        config->h2_only_servers->add(learn.host_port);
      }
      return;
    }
    if (config->passthrough != nullptr && config->passthrough->learn(learn.host_port, learn.why) &&
        server_->options().log) {
      server_->options().log(
          Log{Log::Level::kWarn,
              "auto-passthrough: " + learn.host_port +
                  " is passed through untouched from now on (this run): " + learn.why});
    }
  }

  // run_hook runs the proxy's hooks on a held flow: done at once, its HookResumed follows the
  // current event; kept (the intercept), it comes through the loop's queue when resumed.
  void run_hook(Hook hook) {
    FlowHooks* hooks = server_->config()->hooks;
    if (hooks == nullptr) {
      resumed_due_.push_back(HookResumed{hook.id, std::move(hook.held)});
      return;
    }
    EventLoop* loop = &server_->loop();
    FlowHooks::Resume resume = [loop, alive = alive_, self = this, id = hook.id, held = hook.held] {
      loop->post([alive, self, id, held] {
        if (*alive && self->hooks_out_.erase(id) != 0) {
          self->dispatch(HookResumed{id, held});
        }
      });
    };
    hooks_out_[hook.id] = hook.held;
    if (hooks->run(hook.held, std::move(resume))) {
      hooks_out_.erase(hook.id);
      resumed_due_.push_back(HookResumed{hook.id, std::move(hook.held)});
    }
  }

  // schedule_wakeup keeps the wakeups in a deadline-ordered map served by one timer: a
  // request's response timeout costs a map insertion, not a libuv handle.
  void schedule_wakeup(CommandId id, int64_t delay_ms) {
    const int64_t deadline =
        server_->clock()->monotonic_us() + std::max<int64_t>(delay_ms, 0) * 1000;
    wakeup_index_[id] = wakeups_.emplace(deadline, id);
    arm_timer();
  }

  void arm_timer() {
    if (wakeups_.empty()) {
      return;
    }
    const int64_t first = wakeups_.begin()->first;
    if (timer_armed_for_ != 0 && timer_armed_for_ <= first) {
      return;  // The timer fires early enough already.
    }
    if (!timer_) {
      timer_ = std::make_unique<Timer>(server_->loop());
    }
    const int64_t now = server_->clock()->monotonic_us();
    timer_armed_for_ = first;
    timer_->start(static_cast<uint64_t>(std::max<int64_t>(first - now, 0) / 1000 + 1),
                  [this] { on_timer(); });
  }

  void on_timer() {
    timer_armed_for_ = 0;
    const int64_t now = server_->clock()->monotonic_us();
    while (!finished_ && !wakeups_.empty() && wakeups_.begin()->first <= now) {
      const CommandId id = wakeups_.begin()->second;
      wakeups_.erase(wakeups_.begin());
      wakeup_index_.erase(id);
      dispatch(Wakeup{id});
    }
    if (!finished_) {
      arm_timer();
    }
  }

  void open_connection(const OpenConnection& open) {
    Socket& socket = sockets_[open.conn];
    AttemptCallback on_attempt;
    if (server_->config()->mode == ProxyConfig::Mode::kTransparent) {
      // Registered before the peer answers: a redirected copy of this connection can reach a
      // listener (of any loop) as soon as the handshake is done.
      on_attempt = [this, conn = open.conn](const std::string& local_address) {
        if (auto it = sockets_.find(conn); it != sockets_.end()) {
          it->second.own.emplace(local_address);
        }
      };
    }
    socket.connecting = connect_tcp(
        server_->loop(), open.host, open.port, server_->options().connect_timeout_ms,
        [this, conn = open.conn, id = open.id](ConnectResult result) {
          on_connected(conn, id, std::move(result));
        },
        std::move(on_attempt));
  }

  void on_connected(ConnId conn, CommandId id, ConnectResult result) {
    auto it = sockets_.find(conn);
    if (it == sockets_.end()) {
      return;
    }
    OpenCompleted done;
    done.id = id;
    done.conn = conn;
    done.dns_us = result.dns_us;
    if (result.kind != ConnectResult::Kind::kOk) {
      sockets_.erase(it);
      done.error = result.error;
      done.timed_out = result.kind == ConnectResult::Kind::kTimeout;
      done.failure = kOpenFailures[static_cast<size_t>(result.kind)];
      dispatch(std::move(done));
      return;
    }
    it->second.stream = std::move(result.stream);
    done.peer_address = it->second.stream->peer_address();
    done.connect_us = result.connect_us;
    attach(conn);
    dispatch(std::move(done));
  }

  void close_connection(ConnId conn, bool half) {
    auto it = sockets_.find(conn);
    if (it == sockets_.end()) {
      return;
    }
    Socket& socket = it->second;
    if (!socket.stream) {
      sockets_.erase(it);  // Still connecting: cancel.
      return;
    }
    if (!socket.write_shut) {
      socket.write_shut = true;
      socket.stream->shutdown();
    }
    if (half) {
      return;
    }
    socket.closing = true;
    if (socket.stream->write_queue_bytes() == 0 && (socket.read_eof || conn != kClientConn)) {
      drop(conn);
      return;
    }
    if (conn == kClientConn) {
      // Give the client a moment to read what is queued and close its side.
      linger_ = std::make_unique<Timer>(server_->loop());
      linger_->start(kLingerMs, [this] {
        drop(kClientConn);
        check_done();
      });
    }
  }

  // drop forgets a connection; its socket closes.
  void drop(ConnId conn) {
    if (sockets_.erase(conn) != 0 && conn == kClientConn) {
      client_gone_ = true;
    }
  }

  // queued_above: a socket has more than |bytes| queued for writing.
  bool queued_above(size_t bytes) const {
    return std::any_of(sockets_.begin(), sockets_.end(), [bytes](const auto& entry) {
      return entry.second.stream && entry.second.stream->write_queue_bytes() > bytes;
    });
  }

  // update_backpressure stops every read of the session while any socket has more than the
  // high watermark queued, and the reads of a socket the session paused.
  void update_backpressure() {
    const bool congested = queued_above(server_->options().write_high_watermark);
    // Both calls are no-ops when the socket already does what is asked (or is at EOF).
    for (auto& [conn, socket] : sockets_) {
      if (!socket.stream) {
        continue;
      }
      if (congested || socket.app_paused) {
        socket.stream->pause_reading();
      } else {
        socket.stream->resume_reading();
      }
    }
  }

  void check_done() {
    auto it = sockets_.find(kClientConn);
    if (client_gone_ || it == sockets_.end() || (it->second.read_eof && it->second.write_shut)) {
      finish();  // Nothing once finished.
    }
  }

  void finish() {
    if (finished_) {
      return;
    }
    // Whatever the session still has open is logged before it goes.
    Commands last;
    session_.abandon(client_gone_ ? "the client connection ended" : "the proxy closed the session",
                     last);
    std::erase_if(last, [](const Command& command) {
      return !std::holds_alternative<PublishFlow>(command) &&
             !std::holds_alternative<Log>(command) && !std::holds_alternative<Learn>(command);
    });
    execute(last);
    finished_ = true;
    *alive_ = false;
    if (FlowHooks* hooks = server_->config()->hooks; hooks != nullptr) {
      for (auto& [id, held] : hooks_out_) {
        hooks->dropped(held);
      }
    }
    hooks_out_.clear();
    // Lingering client sockets with queued writes keep flushing until their close completes;
    // everything else closes now.
    timer_.reset();
    wakeups_.clear();
    wakeup_index_.clear();
    linger_.reset();
    sockets_.clear();
    server_->remove(this);
  }

  ProxyServer* server_;
  ProxySession session_;
  std::map<ConnId, Socket> sockets_;
  std::vector<ConnId> drained_due_;       // WriteDrained to send once the current event is done.
  std::vector<HookResumed> resumed_due_;  // Hooks done at once, to answer after the event.
  std::map<CommandId, HeldFlowPtr> hooks_out_;  // Hooks kept by FlowHooks, not resumed yet.
  // Read and cleared on the loop thread only: a resume posted after the session ended finds
  // it false.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::multimap<int64_t, CommandId> wakeups_;  // By deadline (monotonic µs).
  std::unordered_map<CommandId, std::multimap<int64_t, CommandId>::iterator> wakeup_index_;
  std::unique_ptr<Timer> timer_;
  int64_t timer_armed_for_ = 0;
  static constexpr uint64_t kLingerMs = 2000;

  std::unique_ptr<Timer> linger_;
  bool client_gone_ = false;
  bool finished_ = false;
  std::atomic<size_t>* open_clients_;
};

std::unique_ptr<ProxyServer> ProxyServer::create(EventLoop& loop, const ProxyConfig* config,
                                                 ProxyServerOptions options,
                                                 std::string* out_error) {
  auto server = std::make_unique<ProxyServer>(PrivateTag{}, loop, config, std::move(options));
  ProxyServer* raw = server.get();
  server->listener_ = TcpListener::create(
      loop, server->options_.listen_host, server->options_.listen_port,
      [raw](std::unique_ptr<TcpStream> stream) { raw->on_connection(std::move(stream)); },
      out_error, server->options_.reuse_port, config->mode == ProxyConfig::Mode::kTransparent);
  if (!server->listener_) {
    return nullptr;
  }
  server->listener_->set_on_error([raw](const std::string& error) {
    if (raw->options_.log) {
      raw->options_.log(Log{Log::Level::kWarn, error});
    }
  });
  server->port_ = server->listener_->port();
  server->local_address_ = server->listener_->local_address();
  return server;
}

ProxyServer::ProxyServer(PrivateTag /*unused*/, EventLoop& loop, const ProxyConfig* config,
                         ProxyServerOptions options)
    : loop_(loop), config_(config), options_(std::move(options)) {}

ProxyServer::~ProxyServer() = default;

void ProxyServer::stop_accepting() { listener_.reset(); }

void ProxyServer::on_connection(std::unique_ptr<TcpStream> stream) {
  std::atomic<size_t>* open = options_.open_clients ? options_.open_clients : &own_open_clients_;
  const size_t limit = config_->max_client_connections;
  if (open->fetch_add(1) >= limit && limit != 0) {
    open->fetch_sub(1);
    open = nullptr;
  }
  if (trim_timer_) {
    trim_timer_->stop();
  }
  auto handler = std::make_unique<ConnectionHandler>(this, std::move(stream), open);
  ConnectionHandler* raw = handler.get();
  handlers_.emplace(raw, std::move(handler));
  raw->start();
}

void ProxyServer::remove(ConnectionHandler* handler) {
  // Called from inside the handler: destroy it once the current callback has returned.
  auto it = handlers_.find(handler);
  if (it == handlers_.end()) {
    return;
  }
  std::shared_ptr<ConnectionHandler> doomed(std::move(it->second));
  handlers_.erase(it);
  loop_.post([doomed] {});
#ifdef __GLIBC__
  // glibc keeps what a burst of connections freed; once no client has been here for a while,
  // it goes back to the system (RSS returns to where it was before the burst).
  if (handlers_.empty()) {
    if (!trim_timer_) {
      trim_timer_ = std::make_unique<Timer>(loop_);
    }
    trim_timer_->start(kTrimAfterIdleMs, [this] {
      if (handlers_.empty()) {
        malloc_trim(0);
      }
    });
  }
#endif
}

size_t ProxyServer::busy_sessions() const {
  return static_cast<size_t>(std::count_if(handlers_.begin(), handlers_.end(),
                                           [](const auto& entry) { return entry.second->busy(); }));
}

void ProxyServer::close_sessions(bool idle_only) {
  // Collected first: closing a session removes it from |handlers_|.
  std::vector<ConnectionHandler*> doomed;
  for (const auto& [raw, handler] : handlers_) {
    if (!idle_only || !handler->busy()) {
      doomed.push_back(raw);
    }
  }
  for (ConnectionHandler* handler : doomed) {
    handler->close_now();
  }
}

}  // namespace sightglass::core
