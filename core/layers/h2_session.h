#pragma once

// What the nghttp2 users of the layers share: an owning session pointer, a session made with
// its callbacks and manual window updates, and header lists handed to nghttp2.

#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {

struct H2SessionDeleter {
  void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
};
using H2SessionPtr = std::unique_ptr<nghttp2_session, H2SessionDeleter>;

// H2Callbacks are the nghttp2 callbacks a session is made with; a null one is not set.
struct H2Callbacks {
  nghttp2_on_begin_headers_callback begin_headers = nullptr;
  nghttp2_on_header_callback header = nullptr;
  nghttp2_on_frame_recv_callback frame_recv = nullptr;
  nghttp2_on_data_chunk_recv_callback data_chunk_recv = nullptr;
  nghttp2_on_stream_close_callback stream_close = nullptr;
  nghttp2_on_frame_send_callback frame_send = nullptr;
};

// new_h2_session makes a server or a client session that calls |callbacks| with |user_data|
// and leaves WINDOW_UPDATEs to its user (nghttp2_session_consume); with |manual_ping_ack|, the
// PING ACKs too (nghttp2_submit_ping with NGHTTP2_FLAG_ACK). Null when nghttp2 fails.
H2SessionPtr new_h2_session(bool server, const H2Callbacks& callbacks, void* user_data,
                            bool manual_ping_ack = false);

// take_response_header files one header of a received response: into |trailers| once the
// trailers began, else :status into |status| and regular headers into |headers| (other
// pseudo-headers are dropped).
void take_response_header(std::string_view name, std::string_view value, bool in_trailers,
                          int* status, Headers* headers, Headers* trailers);

// H2NvList is a header list for nghttp2 that points into strings which outlive it.
struct H2NvList {
  std::vector<nghttp2_nv> nv;
  void add(const std::string& name, const std::string& value) {
    nv.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                            reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                            name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
};

}  // namespace sightglass::core
