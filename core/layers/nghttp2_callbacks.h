#pragma once

// The nghttp2 callbacks of every session the layers make, each written once: they forward to
// the handlers of the object that is the session's user_data. And the request or response body
// a data provider reads.

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/layers/h2_session.h"

namespace sightglass::core {

// Nghttp2Callbacks<T> is for sessions whose user_data is a T. A T with an |owner| (one of the
// owner's several sessions) is handled by the owner's on_*(T&, ...), any other T by its own
// on_*(...): on_begin_headers, on_header, on_frame, on_data, on_stream_close, read_body (the
// data provider), and on_frame_sent when T has it.
template <class T>
struct Nghttp2Callbacks {
  // new_session makes a server or a client session for |self| that submits |settings|, opens the
  // connection window to kConnectionWindow and leaves WINDOW_UPDATEs to its user
  // (nghttp2_session_consume); with |manual_ping_ack|, the PING ACKs too (nghttp2_submit_ping
  // with NGHTTP2_FLAG_ACK). Null when nghttp2 fails.
  static H2SessionPtr new_session(bool server, T* self,
                                  std::initializer_list<nghttp2_settings_entry> settings,
                                  bool manual_ping_ack = false) {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        c, [](nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
          return call(user_data,
                      [&](auto& h, auto&... side) { return h.on_begin_headers(side..., frame); });
        });
    nghttp2_session_callbacks_set_on_header_callback(
        c, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t /*flags*/, void* user_data) {
          return call(user_data, [&](auto& h, auto&... side) {
            return h.on_header(side..., frame, view(name, namelen), view(value, valuelen));
          });
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        c, [](nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
          return call(user_data,
                      [&](auto& h, auto&... side) { return h.on_frame(side..., frame); });
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        c, [](nghttp2_session*, uint8_t /*flags*/, int32_t stream_id, const uint8_t* data,
              size_t len, void* user_data) {
          return call(user_data, [&](auto& h, auto&... side) {
            return h.on_data(side..., stream_id, view(data, len));
          });
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        c, [](nghttp2_session*, int32_t stream_id, uint32_t code, void* user_data) {
          return call(user_data, [&](auto& h, auto&... side) {
            return h.on_stream_close(side..., stream_id, code);
          });
        });
    if constexpr (requires(T & t, const nghttp2_frame* f) { t.on_frame_sent(f); }) {
      nghttp2_session_callbacks_set_on_frame_send_callback(
          c, [](nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
            return static_cast<T*>(user_data)->on_frame_sent(frame);
          });
    }
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, 1);
    if (manual_ping_ack) {
      nghttp2_option_set_no_auto_ping_ack(option, 1);
    }
    nghttp2_session* session = nullptr;
    const int rv = server ? nghttp2_session_server_new2(&session, c, self, option)
                          : nghttp2_session_client_new2(&session, c, self, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(c);
    if (rv != 0) {
      return nullptr;
    }
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings.begin(), settings.size());
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    return H2SessionPtr(session);
  }

  // body is the data provider of a stream submitted on the session.
  static nghttp2_data_provider body() {
    nghttp2_data_provider provider{};
    provider.read_callback = [](nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                uint32_t* flags, nghttp2_data_source*, void* user_data) {
      return call(user_data, [&](auto& h, auto&... side) {
        return h.read_body(side..., stream_id, buf, length, flags);
      });
    };
    return provider;
  }

 private:
  // call runs |f| with the handler, and for an owned T the T.
  template <class F>
  static auto call(void* user_data, F f) {
    T& t = *static_cast<T*>(user_data);
    if constexpr (requires { t.owner; }) {
      return f(*t.owner, t);
    } else {
      return f(t);
    }
  }
  static std::string_view view(const uint8_t* data, size_t len) {
    return {reinterpret_cast<const char*>(data), len};
  }
};

// ByteQueue is a body in transit: appended at the back, taken from the front without moving
// the rest each time (a frame at a time out of a window's worth).
class ByteQueue {
 public:
  size_t size() const { return data_.size() - offset_; }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return std::string_view(data_).substr(offset_); }
  void append(std::string_view bytes) { data_.append(bytes); }
  void assign(std::string bytes) {
    data_ = std::move(bytes);
    offset_ = 0;
  }
  void consume(size_t n) {
    offset_ += n;
    if (offset_ == data_.size()) {
      data_.clear();
      offset_ = 0;
    } else if (offset_ >= 64 * 1024 && offset_ * 2 >= data_.size()) {
      data_.erase(0, offset_);
      offset_ = 0;
    }
  }
  // take returns everything and empties the queue.
  std::string take() {
    std::string out = offset_ == 0 ? std::move(data_) : data_.substr(offset_);
    data_.clear();
    offset_ = 0;
    return out;
  }

 private:
  std::string data_;
  size_t offset_ = 0;
};

// H2Send is how a body goes out through a data provider: not yet, its bytes as they come, the
// provider waiting for more (deferred: resume it), the trailers to submit, all sent.
enum class H2Send : uint8_t { kNotYet, kBody, kDeferred, kTrailersDue, kDone };

// take_body is a data provider's read: up to |length| bytes of |buf| into |out| (counted in
// |consumed|), the end once |eof|, and |send| moved on.
inline ssize_t take_body(ByteQueue& buf, bool eof, bool has_trailers, H2Send* send,
                         size_t* consumed, uint8_t* out, size_t length, uint32_t* flags) {
  const size_t n = std::min(length, buf.size());
  if (n > 0) {
    std::memcpy(out, buf.view().data(), n);
    buf.consume(n);
    *consumed += n;
  }
  if (buf.empty() && eof) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    *send = H2Send::kDone;
    if (has_trailers) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      *send = H2Send::kTrailersDue;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    *send = H2Send::kDeferred;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

// continue_body moves a body's sending on, in |session| (null: the stream is gone there): the
// trailers once due, a deferred body once |ready| (more bytes, or its end). True if it did.
inline bool continue_body(nghttp2_session* session, int32_t id, H2Send* send,
                          const Headers& trailers, bool ready) {
  if (*send == H2Send::kTrailersDue) {
    *send = H2Send::kDone;
    if (session != nullptr) {
      const std::vector<nghttp2_nv> nv = h2_nv(trailers);
      nghttp2_submit_trailer(session, id, nv.data(), nv.size());
      return true;
    }
  } else if (*send == H2Send::kDeferred && ready && session != nullptr) {
    *send = H2Send::kBody;
    nghttp2_session_resume_data(session, id);
    return true;
  }
  return false;
}

}  // namespace sightglass::core
