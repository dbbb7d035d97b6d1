// Http2Layer's PING relay: the client's PINGs go to the server it talks to, a server's to the
// client, and each ACK back to its sender.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "core/layers/http2_internal.h"

namespace sightglass::core {

namespace {

// At most this many PINGs wait for the other side's ACK, from the client to a server and from
// the servers to the client; past it the proxy answers itself (a flood stays with its sender).
constexpr size_t kMaxForwardedPings = 16;

uint64_t ping_key(const uint8_t* opaque) {
  uint64_t key = 0;
  std::memcpy(&key, opaque, sizeof(key));
  return key;
}

}  // namespace

void Http2Layer::on_client_ping(const nghttp2_ping& ping) {
  const uint64_t key = ping_key(ping.opaque_data);
  if (ping.hd.flags & NGHTTP2_FLAG_ACK) {
    // The client acknowledges a server's PING.
    auto it = server_pings_.find(key);
    if (it == server_pings_.end()) {
      return;
    }
    const ConnId conn = it->second;
    server_pings_.erase(it);
    if (auto up = upstreams_.find(conn); up != upstreams_.end()) {
      nghttp2_submit_ping(up->second->session.get(), NGHTTP2_FLAG_ACK, ping.opaque_data);
    }
    return;
  }
  auto up = upstreams_.find(current_);
  if (upstream_protocol_ == UpstreamProtocol::kHttp2 && up != upstreams_.end() &&
      !up->second->goaway && up->second->client_pings.size() < kMaxForwardedPings) {
    up->second->client_pings.push_back(key);
    nghttp2_submit_ping(up->second->session.get(), NGHTTP2_FLAG_NONE, ping.opaque_data);
    return;
  }
  nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, ping.opaque_data);
}

void Http2Layer::on_server_ping(Upstream& up, const nghttp2_ping& ping) {
  const uint64_t key = ping_key(ping.opaque_data);
  if (ping.hd.flags & NGHTTP2_FLAG_ACK) {
    // The server acknowledges the client's PING.
    auto it = std::find(up.client_pings.begin(), up.client_pings.end(), key);
    if (it != up.client_pings.end()) {
      up.client_pings.erase(it);
      nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, ping.opaque_data);
    }
    return;
  }
  if (!client_closing_ && !client_eof_ && server_pings_.size() < kMaxForwardedPings) {
    server_pings_.emplace(key, up.conn);
    nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_NONE, ping.opaque_data);
    return;
  }
  nghttp2_submit_ping(up.session.get(), NGHTTP2_FLAG_ACK, ping.opaque_data);
}

void Http2Layer::release_pings(Upstream& up) {
  for (const uint64_t key : up.client_pings) {
    uint8_t opaque[8];
    std::memcpy(opaque, &key, sizeof(opaque));
    nghttp2_submit_ping(client_.get(), NGHTTP2_FLAG_ACK, opaque);
  }
  up.client_pings.clear();
  std::erase_if(server_pings_, [&](const auto& entry) { return entry.second == up.conn; });
}

}  // namespace sightglass::core
