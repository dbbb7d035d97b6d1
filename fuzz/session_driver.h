#pragma once

// SessionDriver: what core/server/proxy_server.cc does for one client connection, without
// sockets, for the fuzz targets (no gtest). It owns one core::ProxySession on a fixed clock and
// feeds it a client's bytes and a server's bytes in read-sized pieces (fuzz::Reads), answering
// the session's commands as the real driver does:
//  - OpenConnection completes at once, successfully (or with |Options::open_failure|); the
//    server's bytes go to the server connection the session opened last (and still has open);
//  - SendData with report_written is followed by WriteDrained (the "socket" takes everything);
//  - Hook is resumed unchanged right after the event (as with no hooks configured);
//  - PauseReading stops that connection's bytes until resumed; CloseConnection stops them for
//    good (a full close of the client ends the session, as the driver's finish());
//  - RequestWakeup/CancelWakeup keep a deadline-ordered set, fired at the end by moving the
//    clock (fire_wakeups);
//  - PublishFlow, Log and Learn are dropped;
//  - with Options::server_answer, an in-process server (TlsOrigin: a TLS origin from the fuzz
//    CA) answers what the session sends to a server connection.
// HoldAll makes flows stop at the hold points (the driver resumes them). With
// SIGHTGLASS_FUZZ_TRACE set, every event and command is printed (replay_NAME FILE shows how deep
// an input gets). Everything is bounded: a cascade of events the session produces for itself
// (drains, hook resumes, opens) that never ends is a livelock of the session, reported by abort().
//
// tls_config() also gives a ProxyConfig with the proxy's two TLS contexts (a CA created once per
// process, in a temporary directory removed at once), for targets whose session terminates TLS.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "ca/ca_store.h"
#include "ca/leaf_minter.h"
#include "core/proxy/context.h"
#include "core/proxy/events.h"
#include "core/proxy/session.h"
#include "core/tls/tls_contexts.h"
#include "fuzz/fuzz_input.h"

namespace sightglass::fuzz {

// FixedClock stands still unless the driver moves it (to fire a wakeup).
class FixedClock : public core::Clock {
 public:
  int64_t monotonic_us() const override { return now_us; }
  int64_t wall_us() const override { return 1'700'000'000'000'000 + now_us; }
  int64_t now_us = 1'000'000;
};

class SessionDriver {
 public:
  struct Options {
    // How an OpenConnection completes: kNone is success.
    core::OpenCompleted::Failure open_failure = core::OpenCompleted::Failure::kNone;
    // The most wakeups fire_wakeups fires (each may ask for more).
    int max_wakeups = 32;
    // The most events the session may produce for itself after one event from outside.
    size_t max_cascade = 100'000;
    // An in-process server (TlsOrigin, say): when set, the session's bytes to a server
    // connection go to it, and what it answers comes back as that connection's bytes.
    std::function<std::string(core::ConnId, std::string_view)> server_answer;
    // run fires the wakeups due before the servers' EOF too (timeouts while a server is
    // silent in the middle of something), not only after it.
    bool timeouts_first = false;
  };

  SessionDriver(const core::ProxyConfig* config, core::ClientConnection client)
      : SessionDriver(config, std::move(client), Options{}) {}
  SessionDriver(const core::ProxyConfig* config, core::ClientConnection client, Options options)
      : options_(options), session_(config, &clock_, &flow_ids_, with_peer(std::move(client))) {}

  // run is a whole connection: Start, the client's and the server's bytes (the client's first
  // whenever the session reads them), [the wakeups due,] the server connections' EOF, the
  // wakeups due, the client's EOF, and the end of the session. Bytes a paused connection held
  // back are delivered as soon as the session reads again.
  void run(std::string_view client_bytes, std::string_view server_bytes) {
    start();
    pump(client_bytes, server_bytes);
    if (options_.timeouts_first) {
      fire_wakeups();
    }
    close_servers();
    pump();
    fire_wakeups();
    close_client();
    fire_wakeups();
    finish();
  }

  void start() { dispatch(core::Start{}); }

  // pump feeds both streams in read-sized pieces: the client's while the session reads them,
  // else the server's to the last server connection open. Returns once both are delivered or
  // neither can be (paused, closed, no server connection); pump() goes on with what is left.
  void pump(std::string_view client_bytes, std::string_view server_bytes) {
    client_in_ = Reads(client_bytes);
    server_in_ = Reads(server_bytes);
    pump();
  }
  void pump() {
    while (!finished_) {
      if (!client_in_.done() && client_readable()) {
        dispatch(core::DataReceived{core::kClientConn, std::string(client_in_.next())});
        continue;
      }
      const std::optional<core::ConnId> conn = server_conn();
      if (!server_in_.done() && conn) {
        dispatch(core::DataReceived{*conn, std::string(server_in_.next())});
        continue;
      }
      return;
    }
  }

  // close_servers is the EOF of every server connection still open.
  void close_servers() {
    std::set<core::ConnId> open;
    for (const auto& [conn, state] : servers_) {
      if (!state.closed) {
        open.insert(conn);
      }
    }
    for (const core::ConnId conn : open) {
      if (!finished_ && !servers_[conn].closed) {
        servers_[conn].closed = true;
        dispatch(core::ConnectionClosed{conn, ""});
      }
    }
  }

  // close_client is the client's EOF.
  void close_client() {
    if (!finished_ && !client_.closed) {
      client_.closed = true;
      dispatch(core::ConnectionClosed{core::kClientConn, ""});
    }
  }

  // fire_wakeups fires the wakeups due, in deadline order, the clock moved to each.
  void fire_wakeups() {
    for (int i = 0; i < options_.max_wakeups && !finished_ && !wakeups_.empty(); ++i) {
      const auto [deadline, id] = *wakeups_.begin();
      wakeups_.erase(wakeups_.begin());
      clock_.now_us = std::max(clock_.now_us, deadline);
      dispatch(core::Wakeup{id});
      pump();
    }
  }

  // finish ends the session as the driver does once the client is gone.
  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    core::Commands last;
    session_.abandon("the client connection ended", last);
  }

  bool finished() const { return finished_; }
  FixedClock& clock() { return clock_; }
  core::ProxySession& session() { return session_; }
  // The bytes the session sent to the client so far.
  const std::string& to_client() const { return to_client_; }

 private:
  struct Peer {
    bool paused = false;
    bool closed = false;  // By the session (or its EOF was delivered).
  };

  static core::ClientConnection with_peer(core::ClientConnection client) {
    if (client.peer_address.empty()) {
      client.peer_address = "127.0.0.1:50000";
    }
    return client;
  }

  // trace: with SIGHTGLASS_FUZZ_TRACE set, every event and command goes to stderr (to see how
  // deep an input gets: replay_NAME FILE).
  static bool trace() {
    static const bool on = std::getenv("SIGHTGLASS_FUZZ_TRACE") != nullptr;
    return on;
  }

  bool client_readable() const { return !client_.paused && !client_.closed; }

  std::optional<core::ConnId> server_conn() const {
    for (auto it = opened_.rbegin(); it != opened_.rend(); ++it) {
      const auto state = servers_.find(*it);
      if (state != servers_.end() && !state->second.closed) {
        return state->second.paused ? std::nullopt : std::optional<core::ConnId>(*it);
      }
    }
    return std::nullopt;
  }

  // dispatch hands one event to the session, then the events it causes at once.
  void dispatch(core::Event event) {
    std::deque<core::Event> due;
    due.push_back(std::move(event));
    for (size_t n = 0; !due.empty() && !finished_; ++n) {
      if (n > options_.max_cascade) {
        std::fprintf(stderr, "session livelock: %zu events without end, last %s\n", n,
                     core::describe(due.front()).c_str());
        std::abort();
      }
      core::Commands out;
      if (trace()) {
        std::fprintf(stderr, ">> %s\n", core::describe(due.front()).c_str());
      }
      session_.handle(std::move(due.front()), out);
      due.pop_front();
      if (trace()) {
        for (const core::Command& command : out) {
          std::fprintf(stderr, "  << %s\n", core::describe(command).c_str());
        }
      }
      execute(out, due);
    }
  }

  void execute(core::Commands& commands, std::deque<core::Event>& due) {
    for (core::Command& command : commands) {
      if (finished_) {
        return;
      }
      if (auto* send = std::get_if<core::SendData>(&command)) {
        if (send->conn == core::kClientConn && to_client_.size() < kKeptToClient) {
          to_client_.append(send->data, 0, kKeptToClient - to_client_.size());
        }
        if (send->report_written) {
          due.push_back(core::WriteDrained{send->conn});
        }
        if (send->conn != core::kClientConn && options_.server_answer) {
          const auto it = servers_.find(send->conn);
          if (it != servers_.end() && !it->second.closed) {
            std::string answer = options_.server_answer(send->conn, send->data);
            if (!answer.empty()) {
              due.push_back(core::DataReceived{send->conn, std::move(answer)});
            }
          }
        }
      } else if (auto* open = std::get_if<core::OpenConnection>(&command)) {
        core::OpenCompleted done;
        done.id = open->id;
        done.conn = open->conn;
        done.failure = options_.open_failure;
        if (options_.open_failure == core::OpenCompleted::Failure::kNone) {
          done.peer_address = "192.0.2.1:" + std::to_string(open->port);
          done.dns_us = 100;
          done.connect_us = 200;
          servers_[open->conn] = Peer{};
          opened_.push_back(open->conn);
        } else {
          done.error = "connection refused";
          done.timed_out = options_.open_failure == core::OpenCompleted::Failure::kTimeout;
        }
        due.push_back(std::move(done));
      } else if (auto* close = std::get_if<core::CloseConnection>(&command)) {
        if (close->conn == core::kClientConn) {
          if (!close->half_close) {
            finish();  // The client connection is gone (after a linger the driver ends).
          }
        } else if (!close->half_close) {
          servers_[close->conn].closed = true;
        }
      } else if (auto* wakeup = std::get_if<core::RequestWakeup>(&command)) {
        const int64_t deadline = clock_.now_us + std::max<int64_t>(wakeup->delay_ms, 0) * 1000;
        wakeups_.emplace(deadline, wakeup->id);
      } else if (auto* cancel = std::get_if<core::CancelWakeup>(&command)) {
        std::erase_if(wakeups_, [id = cancel->id](const auto& w) { return w.second == id; });
      } else if (auto* pause = std::get_if<core::PauseReading>(&command)) {
        if (pause->conn == core::kClientConn) {
          client_.paused = pause->paused;
        } else if (auto it = servers_.find(pause->conn); it != servers_.end()) {
          it->second.paused = pause->paused;
        }
      } else if (auto* hook = std::get_if<core::Hook>(&command)) {
        due.push_back(core::HookResumed{hook->id, std::move(hook->held)});
      }
    }
  }

  static constexpr size_t kKeptToClient = 64 * 1024;

  Options options_;
  FixedClock clock_;
  std::atomic<core::FlowId> flow_ids_{0};
  core::ProxySession session_;
  bool finished_ = false;
  Peer client_;
  std::map<core::ConnId, Peer> servers_;
  std::deque<core::ConnId> opened_;  // Server connections in the order they were opened.
  std::set<std::pair<int64_t, core::CommandId>> wakeups_;
  std::string to_client_;
  Reads client_in_{{}};  // What is left of the bytes pump() delivers.
  Reads server_in_{{}};
};

// HoldAll stops every flow at both hold points; the driver resumes each unchanged at once.
class HoldAll : public core::FlowHooks {
 public:
  bool holds(core::HookPoint /*point*/) const override { return true; }
  bool run(const core::HeldFlowPtr& /*held*/, Resume /*resume*/) override { return true; }
  void dropped(const core::HeldFlowPtr& /*held*/) override {}
};

// TlsWorld is the proxy's CA, leaf minter and two TLS contexts, built once per process.
struct TlsWorld {
  std::shared_ptr<ca::CertificateAuthority> ca;
  std::unique_ptr<ca::LeafMinter> minter;
  bssl::UniquePtr<SSL_CTX> client_facing;
  bssl::UniquePtr<SSL_CTX> upstream;
  // A TLS server for "origin.test" (a leaf from the fuzz CA) choosing http/1.1 ([0]) or h2 first
  // ([1]) from the ALPN offered.
  bssl::UniquePtr<SSL_CTX> origin[2];

  static bssl::UniquePtr<SSL_CTX> make_origin_context(ca::LeafMinter& minter, bool h2) {
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    std::string error;
    const ca::LeafConstSharedPtr leaf =
        minter.leaf_for(std::array<std::string, 1>{"origin.test"}, ca::KeyType::kEcdsaP256, &error);
    if (ctx == nullptr || leaf == nullptr) {
      std::fprintf(stderr, "origin: %s\n", error.c_str());
      std::abort();
    }
    CRYPTO_BUFFER* chain[] = {leaf->cert.get()};
    SSL_CTX_set_chain_and_key(ctx.get(), chain, 1, leaf->key.get(), nullptr);
    static const uint8_t kH1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    static const uint8_t kH2[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_select_cb(
        ctx.get(),
        [](SSL* /*ssl*/, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
           void* arg) {
          const bool prefers_h2 = arg != nullptr;
          uint8_t* selected = nullptr;
          if (SSL_select_next_proto(&selected, out_len, prefers_h2 ? kH2 : kH1,
                                    prefers_h2 ? sizeof(kH2) : sizeof(kH1), in,
                                    in_len) != OPENSSL_NPN_NEGOTIATED) {
            return SSL_TLSEXT_ERR_NOACK;
          }
          *out = selected;
          return SSL_TLSEXT_ERR_OK;
        },
        h2 ? ctx.get() : nullptr);
    return ctx;
  }
};

inline const TlsWorld& tls_world() {
  static const TlsWorld* world = [] {
    static TlsWorld w;
    std::string error;
    std::string dir = (std::filesystem::temp_directory_path() / "sightglass-fuzz-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) {
      std::fprintf(stderr, "mkdtemp failed\n");
      std::abort();
    }
    w.ca = ca::CertificateAuthority::load_or_create(dir, &error);
    std::filesystem::remove_all(dir);
    if (w.ca == nullptr) {
      std::fprintf(stderr, "CA: %s\n", error.c_str());
      std::abort();
    }
    ca::LeafMinterOptions options;
    options.cache_capacity = 64;  // Fuzzed names would fill a large cache.
    w.minter = ca::LeafMinter::create(w.ca, options, &error);
    if (w.minter == nullptr) {
      std::fprintf(stderr, "minter: %s\n", error.c_str());
      std::abort();
    }
    w.client_facing = core::make_client_facing_context(w.minter.get());
    w.upstream = core::make_upstream_context({}, &error);
    if (w.client_facing == nullptr || w.upstream == nullptr) {
      std::fprintf(stderr, "TLS contexts: %s\n", error.c_str());
      std::abort();
    }
    // The upstream side trusts the fuzz CA: a TlsOrigin's certificate verifies (for its name).
    X509_STORE_add_cert(SSL_CTX_get_cert_store(w.upstream.get()), w.ca->cert());
    for (const bool h2 : {false, true}) {
      w.origin[h2 ? 1 : 0] = TlsWorld::make_origin_context(*w.minter, h2);
    }
    return &w;
  }();
  return *world;
}

// TlsOrigin is an in-process TLS server for every server connection of a session (for
// SessionDriver::Options::server_answer): it completes the handshake the session starts, as
// "origin.test" with a certificate from the fuzz CA (http/1.1 or h2 first), and answers the
// first plaintext of each connection with |response|. Nothing in it is fuzzed.
class TlsOrigin {
 public:
  TlsOrigin(bool h2, std::string response) : h2_(h2), response_(std::move(response)) {}

  std::string answer(core::ConnId conn, std::string_view cipher) {
    Conn& c = conns_[conn];
    if (c.ssl == nullptr) {
      c.ssl.reset(SSL_new(tls_world().origin[h2_ ? 1 : 0].get()));
      c.rbio = BIO_new(BIO_s_mem());
      c.wbio = BIO_new(BIO_s_mem());
      BIO_set_mem_eof_return(c.rbio, -1);
      SSL_set_bio(c.ssl.get(), c.rbio, c.wbio);
      SSL_set_accept_state(c.ssl.get());
    }
    BIO_write(c.rbio, cipher.data(), static_cast<int>(cipher.size()));
    if (!SSL_is_init_finished(c.ssl.get())) {
      SSL_do_handshake(c.ssl.get());
    }
    if (SSL_is_init_finished(c.ssl.get())) {
      char buf[4096];
      bool plaintext = false;
      while (SSL_read(c.ssl.get(), buf, sizeof(buf)) > 0) {
        plaintext = true;
      }
      if (plaintext && !c.answered && !response_.empty()) {
        c.answered = true;
        SSL_write(c.ssl.get(), response_.data(), static_cast<int>(response_.size()));
      }
    }
    ERR_clear_error();
    const uint8_t* out = nullptr;
    size_t n = 0;
    BIO_mem_contents(c.wbio, &out, &n);
    std::string bytes(reinterpret_cast<const char*>(out), n);
    BIO_reset(c.wbio);
    return bytes;
  }

 private:
  struct Conn {
    bssl::UniquePtr<SSL> ssl;
    BIO* rbio = nullptr;  // Owned by |ssl|.
    BIO* wbio = nullptr;
    bool answered = false;
  };
  bool h2_;
  std::string response_;
  std::map<core::ConnId, Conn> conns_;
};

// tls_config is a ProxyConfig of |mode| with the proxy's TLS contexts and its CA.
inline core::ProxyConfig tls_config(core::ProxyConfig::Mode mode) {
  const TlsWorld& world = tls_world();
  core::ProxyConfig config;
  config.mode = mode;
  config.client_tls_ctx = world.client_facing.get();
  config.upstream_tls_ctx = world.upstream.get();
  config.ca_cert_pem = world.ca->cert_pem();
  const std::vector<uint8_t>& der = world.ca->cert_der();
  config.ca_cert_der.assign(der.begin(), der.end());
  return config;
}

}  // namespace sightglass::fuzz
