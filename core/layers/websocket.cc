#include "core/layers/websocket.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

#include "core/layers/http1.h"

namespace sightglass::core {
namespace {

constexpr uint8_t kContinuation = 0;
constexpr uint8_t kText = 1;
constexpr uint8_t kBinary = 2;
constexpr uint8_t kClose = 8;
constexpr size_t kMaxControlPayload = 125;
// What permessage-deflate leaves off the end of every compressed message (RFC 7692 7.2.2).
constexpr std::string_view kDeflateTail("\x00\x00\xff\xff", 4);

// window_bits parses a max_window_bits value (8..15, maybe quoted); |fallback| otherwise.
int window_bits(std::string_view value, int fallback) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  int bits = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), bits);
  if (ec != std::errc() || end != value.data() + value.size() || bits < 8 || bits > 15) {
    return fallback;
  }
  return bits;
}

// extended_length_bytes is how many bytes of payload length follow a frame's second byte |b1|.
size_t extended_length_bytes(uint8_t b1) {
  return (b1 & 0x7F) == 126 ? 2 : (b1 & 0x7F) == 127 ? 8 : 0;
}

// trim_partial_utf8 drops an incomplete UTF-8 sequence that a cut left at the end of |s|.
void trim_partial_utf8(std::string& s) {
  size_t i = s.size();
  for (size_t back = 1; back <= 4 && i > 0; ++back) {
    --i;
    const auto c = static_cast<uint8_t>(s[i]);
    if ((c & 0xC0) == 0x80) {
      continue;  // A continuation byte: look further back for the lead.
    }
    const size_t length = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (back < length) {
      s.resize(i);
    }
    return;
  }
}

}  // namespace

WebSocketExtensions parse_websocket_extensions(const Headers& response_headers) {
  WebSocketExtensions out;
  for (const Header& header : response_headers) {
    if (!iequals(header.name, "Sec-WebSocket-Extensions")) {
      continue;
    }
    split_list(header.value, ',', [&](std::string_view extension) {
      if (out.permessage_deflate) {
        return;
      }
      bool first = true;
      split_list(extension, ';', [&](std::string_view param) {
        if (first) {
          first = false;
          out.permessage_deflate = iequals(param, "permessage-deflate");
          return;
        }
        if (!out.permessage_deflate) {
          return;
        }
        const size_t eq = param.find('=');
        const std::string_view key = trim_whitespace(param.substr(0, eq));
        const std::string_view value = eq == std::string_view::npos
                                           ? std::string_view()
                                           : trim_whitespace(param.substr(eq + 1));
        if (iequals(key, "client_no_context_takeover")) {
          out.client_no_context_takeover = true;
        } else if (iequals(key, "server_no_context_takeover")) {
          out.server_no_context_takeover = true;
        } else if (iequals(key, "client_max_window_bits")) {
          out.client_max_window_bits = window_bits(value, 15);
        } else if (iequals(key, "server_max_window_bits")) {
          out.server_max_window_bits = window_bits(value, 15);
        }
      });
    });
  }
  return out;
}

bool is_websocket_upgrade(const Headers& response_headers) {
  bool found = false;
  for (const Header& header : response_headers) {
    if (iequals(header.name, "Upgrade")) {
      split_list(header.value, ',',
                 [&](std::string_view token) { found = found || iequals(token, "websocket"); });
    }
  }
  return found;
}

// Inflater is one direction's raw-deflate decompressor. It always inflates with a 32 KiB
// window: the negotiated max_window_bits only bound the sender's window, and a larger window
// decodes any smaller one (even from a sender that exceeds what it negotiated).
class WebSocketReader::Inflater {
 public:
  Inflater() : ready_(inflateInit2(&z_, -15) == Z_OK) {}
  ~Inflater() {
    if (ready_) {
      inflateEnd(&z_);
    }
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  bool ready() const { return ready_; }

  // run inflates |in| and hands the output to |reader|->keep(). False on corrupt input.
  bool run(std::string_view in, WebSocketReader* reader) {
    while (!in.empty() && !ended_) {
      const size_t piece = std::min<size_t>(in.size(), std::numeric_limits<uInt>::max());
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z_.avail_in = static_cast<uInt>(piece);
      while (true) {
        z_.next_out = reinterpret_cast<Bytef*>(out_.data());
        z_.avail_out = static_cast<uInt>(out_.size());
        const uInt before = z_.avail_in;
        const int rc = inflate(&z_, Z_SYNC_FLUSH);
        const size_t produced = out_.size() - z_.avail_out;
        if (produced > 0) {
          reader->keep(std::string_view(out_.data(), produced));
        }
        if (rc == Z_STREAM_END) {
          // A final block: the rest of this message (the tail) is ignored.
          ended_ = true;
          break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
          return false;
        }
        // No progress (it needs more input), or all input taken with output room to spare.
        if ((produced == 0 && z_.avail_in == before) || (z_.avail_in == 0 && z_.avail_out != 0)) {
          break;
        }
      }
      in.remove_prefix(piece);
    }
    return true;
  }

  // end_message ends a message: the window is dropped when |reset| (no context takeover) or
  // when the sender ended its deflate stream.
  void end_message(bool reset) {
    if (reset || ended_) {
      inflateReset(&z_);
    }
    ended_ = false;
  }

  const char* message() const { return z_.msg; }

 private:
  z_stream z_{};
  bool ready_ = false;
  bool ended_ = false;
  std::array<char, 16 * 1024> out_{};
};

WebSocketReader::WebSocketReader(bool from_client, const WebSocketExtensions& extensions,
                                 uint64_t limit)
    : extensions_(extensions),
      no_context_(from_client ? extensions.client_no_context_takeover
                              : extensions.server_no_context_takeover),
      limit_(limit) {}

WebSocketReader::~WebSocketReader() = default;

bool WebSocketReader::feed(std::string_view data, std::vector<Message>& out) {
  while (!data.empty() && error_.empty()) {
    if (!in_payload_) {
      const size_t take = std::min(header_need_ - header_have_, data.size());
      std::memcpy(header_.data() + header_have_, data.data(), take);
      header_have_ += take;
      data.remove_prefix(take);
      if (header_have_ < header_need_) {
        continue;
      }
      if (header_have_ == 2) {
        const size_t mask = (header_[1] & 0x80) != 0 ? 4 : 0;
        header_need_ = 2 + extended_length_bytes(header_[1]) + mask;
        if (header_need_ > 2) {
          continue;
        }
      }
      begin_frame(out);
    } else {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(payload_length_ - payload_done_, data.size()));
      on_payload(data.substr(0, take));
      payload_done_ += take;
      data.remove_prefix(take);
      if (payload_done_ == payload_length_ && error_.empty()) {
        end_frame(out);
      }
    }
  }
  return error_.empty();
}

void WebSocketReader::begin_frame(std::vector<Message>& out) {
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  fin_ = (b0 & 0x80) != 0;
  const bool rsv1 = (b0 & 0x40) != 0;
  opcode_ = b0 & 0x0F;
  masked_ = (b1 & 0x80) != 0;
  // A 7-bit length, or 126 or 127 and a 16-bit or 64-bit one after it (feed read them all).
  const size_t extended = extended_length_bytes(b1);
  payload_length_ = extended == 0 ? b1 & 0x7Fu : 0u;
  for (size_t i = 2; i < 2 + extended; ++i) {
    payload_length_ = (payload_length_ << 8) | header_[i];
  }
  if (masked_) {
    std::memcpy(mask_.data(), header_.data() + 2 + extended, 4);
  }
  header_have_ = 0;
  header_need_ = 2;
  payload_done_ = 0;

  const bool control = (opcode_ & 0x08) != 0;
  const bool starts_message = opcode_ == kText || opcode_ == kBinary;
  std::string error;
  if ((b0 & 0x30) != 0) {
    error = "RSV2/RSV3 set, but no extension that uses them was negotiated";
  } else if ((payload_length_ >> 63) != 0) {
    error = "frame length with the most significant bit set";
  } else if (control && opcode_ > 10) {
    error = "reserved control opcode " + std::to_string(opcode_);
  } else if (control && !fin_) {
    error = "fragmented control frame (opcode " + std::to_string(opcode_) + ")";
  } else if (control && payload_length_ > kMaxControlPayload) {
    error = "control frame of " + std::to_string(payload_length_) + " bytes (the limit is 125)";
  } else if (control && rsv1) {
    error = "RSV1 set on a control frame";
  } else if (opcode_ == kContinuation && msg_.opcode == 0) {
    error = "continuation frame without a message to continue";
  } else if (opcode_ == kContinuation && rsv1) {
    error = "RSV1 set on a continuation frame";
  } else if (starts_message && msg_.opcode != 0) {
    error = "new message (opcode " + std::to_string(opcode_) + ") before the fragmented one ended";
  } else if (starts_message && rsv1 && !extensions_.permessage_deflate) {
    error = "RSV1 set, but permessage-deflate was not negotiated";
  } else if (!control && !starts_message && opcode_ != kContinuation) {
    error = "reserved opcode " + std::to_string(opcode_);
  } else if (starts_message && rsv1 && !inflater_) {
    inflater_ = std::make_unique<Inflater>();
    if (!inflater_->ready()) {
      error = "permessage-deflate: cannot start zlib";
    }
  }
  if (!error.empty()) {
    fail(std::move(error));
    return;
  }
  if (starts_message) {
    // (end_frame left the rest of the message state empty.)
    msg_.opcode = opcode_;
    msg_.compressed = rsv1;
  }
  in_payload_ = true;
  if (payload_length_ == 0) {
    end_frame(out);
  }
}

void WebSocketReader::on_payload(std::string_view masked) {
  if (masked.empty()) {
    return;
  }
  const auto unmask = [&](std::string_view in) -> std::string_view {
    if (!masked_) {
      return in;
    }
    scratch_.resize(in.size());
    const uint64_t offset = payload_done_;
    for (size_t i = 0; i < in.size(); ++i) {
      scratch_[i] = static_cast<char>(in[i] ^ mask_[(offset + i) & 3]);
    }
    return scratch_;
  };
  if ((opcode_ & 0x08) != 0) {
    control_.append(unmask(masked));
    return;
  }
  if (!msg_.compressed) {
    // Only the part that is kept needs unmasking; the rest is counted.
    const size_t wanted = room_for(masked.size());
    if (wanted > 0) {
      keep(unmask(masked.substr(0, wanted)));
    }
    msg_.size += masked.size() - wanted;
    return;
  }
  if (msg_skip_inflate_) {
    return;
  }
  if (!inflater_->run(unmask(masked), this)) {
    const char* why = inflater_->message();
    fail(std::string("permessage-deflate: invalid compressed data") +
         (why != nullptr ? std::string(" (") + why + ")" : std::string()));
    return;
  }
  if (no_context_ && msg_.size > limit_) {
    // Nothing more of this message is kept, and the next one starts afresh: stop inflating.
    msg_skip_inflate_ = true;
  }
}

size_t WebSocketReader::room_for(size_t n) const {
  return static_cast<size_t>(
      std::min<uint64_t>(n, limit_ - std::min<uint64_t>(limit_, msg_.data.size())));
}

void WebSocketReader::keep(std::string_view plain) {
  msg_.size += plain.size();
  msg_.data.append(plain.substr(0, room_for(plain.size())));
}

void WebSocketReader::end_frame(std::vector<Message>& out) {
  in_payload_ = false;
  if ((opcode_ & 0x08) != 0) {
    Message message;
    message.opcode = opcode_;
    message.size = control_.size();
    message.truncated = control_.size() > limit_;
    message.data = control_.substr(0, static_cast<size_t>(std::min<uint64_t>(limit_, 125)));
    const bool bad_close = opcode_ == kClose && control_.size() == 1;
    if (opcode_ == kClose) {
      saw_close_ = true;
      if (control_.size() >= 2) {
        message.close_code = static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                                   static_cast<uint8_t>(control_[1]));
        message.close_reason = control_.substr(2);
      }
    }
    control_.clear();
    out.push_back(std::move(message));
    if (bad_close) {
      fail("close frame with a 1-byte payload");
    }
    return;
  }
  if (!fin_) {
    return;  // More fragments follow.
  }
  if (msg_.compressed) {
    if (!msg_skip_inflate_ && !inflater_->run(kDeflateTail, this)) {
      fail("permessage-deflate: invalid compressed data at the end of a message");
      return;
    }
    inflater_->end_message(no_context_);
  }
  msg_.truncated = msg_.size > msg_.data.size();
  if (msg_.opcode == kText && msg_.truncated) {
    trim_partial_utf8(msg_.data);
  }
  out.push_back(std::exchange(msg_, {}));
  msg_skip_inflate_ = false;
}

void WebSocketReader::fail(std::string reason) {
  if (error_.empty()) {
    error_ = std::move(reason);
  }
  msg_.data.clear();
  msg_.data.shrink_to_fit();
  control_.clear();
  scratch_.clear();
  scratch_.shrink_to_fit();
  inflater_.reset();
}

}  // namespace sightglass::core
