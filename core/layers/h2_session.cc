#include "core/layers/h2_session.h"

#include <charconv>

namespace sightglass::core {
namespace {

struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};
struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};

}  // namespace

H2SessionPtr new_h2_session(bool server, const H2Callbacks& set, void* user_data,
                            bool manual_ping_ack) {
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  nghttp2_session_callbacks_new(&raw_callbacks);
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks(raw_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks.get(), set.begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks.get(), set.header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(), set.frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks.get(), set.data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks.get(), set.stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks.get(), set.frame_send);
  nghttp2_option* raw_option = nullptr;
  nghttp2_option_new(&raw_option);
  std::unique_ptr<nghttp2_option, OptionDeleter> option(raw_option);
  nghttp2_option_set_no_auto_window_update(option.get(), 1);
  if (manual_ping_ack) {
    nghttp2_option_set_no_auto_ping_ack(option.get(), 1);
  }
  nghttp2_session* session = nullptr;
  const int rv =
      server ? nghttp2_session_server_new2(&session, callbacks.get(), user_data, option.get())
             : nghttp2_session_client_new2(&session, callbacks.get(), user_data, option.get());
  return H2SessionPtr(rv == 0 ? session : nullptr);
}

void take_response_header(std::string_view name, std::string_view value, bool in_trailers,
                          int* status, Headers* headers, Headers* trailers) {
  if (in_trailers) {
    trailers->push_back({std::string(name), std::string(value)});
  } else if (name == ":status") {
    int parsed = 0;
    std::from_chars(value.data(), value.data() + value.size(), parsed);
    *status = parsed;
  } else if (!name.starts_with(":")) {
    headers->push_back({std::string(name), std::string(value)});
  }
}

}  // namespace sightglass::core
