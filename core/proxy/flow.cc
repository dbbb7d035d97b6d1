#include "core/proxy/flow.h"

#include <algorithm>
#include <utility>

#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, {}, lower, lower);
}

std::string_view trim_whitespace(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  return text.substr(begin, text.find_last_not_of(" \t") + 1 - begin);
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), lower);
  return out;
}

const std::string* find_header(const Headers& headers, std::string_view name) {
  auto it = std::ranges::find_if(headers, [&](const Header& h) { return iequals(h.name, name); });
  return it == headers.end() ? nullptr : &it->value;
}

void FlowTimings::settle_exchange(int64_t start, int64_t request_end, int64_t response_head,
                                  int64_t now) {
  const int64_t end = request_end != 0 ? request_end : now;
  send_us = std::max<int64_t>(end - start, 0);
  if (response_head != 0) {
    wait_us = std::max<int64_t>(response_head - end, 0);
    receive_us = std::max<int64_t>(now - response_head, 0);
  } else if (request_end != 0) {
    // The request went out and no response head came (a timeout, a server or client that
    // left): the client waited all that time.
    wait_us = std::max<int64_t>(now - end, 0);
    receive_us = 0;
  }
}

bool is_grpc_content_type(const Headers& headers) {
  const std::string* type = find_header(headers, "content-type");
  return type != nullptr && type->size() >= 16 &&
         iequals(std::string_view(*type).substr(0, 16), "application/grpc");
}

void GrpcFraming::feed(std::string_view data) {
  size_t i = 0;
  while (i < data.size()) {
    if (remaining > 0) {
      const uint64_t take = std::min<uint64_t>(remaining, data.size() - i);
      remaining -= take;
      i += static_cast<size_t>(take);
      if (remaining == 0) {
        ++messages;
      }
      continue;
    }
    prefix[prefix_bytes++] = static_cast<uint8_t>(data[i++]);
    if (prefix_bytes < sizeof(prefix)) {
      continue;
    }
    prefix_bytes = 0;
    const uint64_t length = (uint64_t{prefix[1]} << 24) | (uint64_t{prefix[2]} << 16) |
                            (uint64_t{prefix[3]} << 8) | uint64_t{prefix[4]};
    if (sizes.size() < kMaxMessages) {
      sizes.push_back(length);
    }
    remaining = length;
    if (length == 0) {
      ++messages;
    }
  }
}

WebSocketMessageLog::WebSocketMessageLog(std::vector<WebSocketMessage> messages) {
  for (WebSocketMessage& message : messages) {
    push_back(std::move(message));
  }
}

void WebSocketMessageLog::push_back(WebSocketMessage message) {
  if (tail_.capacity() < kBlockSize) {
    tail_.reserve(kBlockSize);
  }
  tail_.push_back(std::move(message));
  if (tail_.size() == kBlockSize) {
    // The block is full: from now on it is immutable, and every copy shares it.
    blocks_.push_back(std::make_shared<const Block>(std::move(tail_)));
    tail_ = Block();
  }
}

void CapturedBody::append(std::string_view data, uint64_t limit) {
  if (grpc) {
    grpc->feed(data);
  }
  size += data.size();
  if (kept < limit && !data.empty()) {
    const uint64_t take = std::min<uint64_t>(data.size(), limit - kept);
    chunks.push_back(std::make_shared<const std::string>(data.substr(0, take)));
    kept += take;
  }
  truncated = size > kept;
}

std::string CapturedBody::contiguous() const {
  std::string out;
  out.reserve(kept);
  for (const BodyChunk& chunk : chunks) {
    out.append(*chunk);
  }
  return out;
}

std::string HttpRequestData::url() const {
  // CONNECT's authority form; an extended CONNECT (RFC 8441, WebSocket over HTTP/2) has a path
  // and reads like the URL it opens.
  if (method == "CONNECT" && !target.starts_with('/')) {
    return host + ":" + std::to_string(port);
  }
  std::string out = scheme + "://";
  out += format_authority(host, port, scheme);
  out += target.empty() ? "/" : target;
  return out;
}

int64_t FlowTimings::total_us() const {
  int64_t total = 0;
  // connect includes ssl (HAR), so ssl is not added again.
  for (int64_t phase : {blocked_us, dns_us, connect_us, send_us, wait_us, receive_us}) {
    if (phase > 0) {
      total += phase;
    }
  }
  return total;
}

}  // namespace sightglass::core
