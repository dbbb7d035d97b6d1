#pragma once

// What the nghttp2 users of the layers share: an owning session pointer, and the conversions
// between header lists and nghttp2's.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

struct H2SessionDeleter {
  void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
};
using H2SessionPtr = std::unique_ptr<nghttp2_session, H2SessionDeleter>;

// The connection window the proxy advertises to every peer.
inline constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;

// Room made for a message's header fields when its first arrives (more simply grows the list).
inline constexpr size_t kHeadersReserved = 16;

// kMaxHeaderListBytes bounds the header fields a peer sends for one message (its head, any 1xx
// heads and its trailers), counted decoded as RFC 7541 sizes a header list (name + value + 32
// per field): HPACK lets one byte stand for a large indexed field, so a few KiB of frames
// could otherwise make hundreds of MiB. 64 KiB, as an HTTP/1 head.
inline constexpr size_t kMaxHeaderListBytes = 64 * 1024;

// header_list_full counts one field into |*bytes|; true once they are past kMaxHeaderListBytes.
inline bool header_list_full(size_t* bytes, std::string_view name, std::string_view value) {
  *bytes += name.size() + value.size() + 32;
  return *bytes > kMaxHeaderListBytes;
}

// take_response_header files one header of a received response: into |trailers| once the
// trailers began, else :status into |status| and regular headers into |headers| (other
// pseudo-headers are dropped).
void take_response_header(std::string_view name, std::string_view value, bool in_trailers,
                          int* status, Headers* headers, Headers* trailers);

// h2_nv is the header list for nghttp2 of |fields|, pointing into them (they must outlive it).
std::vector<nghttp2_nv> h2_nv(const Headers& fields);
// add_nv appends one field to |nv|, pointing into |name| and |value| (nghttp2 copies the list
// when a message is submitted, so they need to live until then only).
void add_nv(std::vector<nghttp2_nv>* nv, std::string_view name, std::string_view value);
// add_nv appends |fields|, pointing into them.
void add_nv(std::vector<nghttp2_nv>* nv, const Headers& fields);

// is_connection_specific says whether a (lowercase) header name is one of the HTTP/1.1 headers
// HTTP/2 forbids (RFC 9113 8.2.2).
bool is_connection_specific(std::string_view name);

// h1_to_h2_headers lowercases the names of HTTP/1.1 headers and drops the connection-specific
// ones.
Headers h1_to_h2_headers(const Headers& headers);

}  // namespace sightglass::core
