#include "core/store/flow_codec.h"

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <type_traits>

namespace sightglass::core {
namespace {

// Version 2 is version 1 followed by a flags varint; a flow without flags is still written as
// version 1, so older readers read it.
constexpr uint8_t kCodecVersion = 1;
constexpr uint8_t kCodecVersionWithFlags = 2;
constexpr uint64_t kFlagReplay = 1;
// The hooks changed the flow: its original URL and what they did follow the flags.
constexpr uint64_t kFlagModified = 2;
// A TLS side resumed a session (TlsInfo::resumed); set only when that side has TLS.
constexpr uint64_t kFlagClientResumed = 4;
constexpr uint64_t kFlagServerResumed = 8;
// Counts read from a blob are bounded by what the blob could hold, so a corrupt count cannot
// make the reader reserve without bound.
constexpr uint64_t kMaxCount = uint64_t{1} << 32;

// fields hands the fields of a part of a flow to |io|, in their order in the blob: a Writer
// (|part| is const) or a Reader. Both handle each field by its type.
template <class IO, class T>
void fields(IO& io, T& part) {
  using Part = std::remove_const_t<T>;
  if constexpr (std::is_same_v<Part, Header>) {
    io(part.name, part.value);
  } else if constexpr (std::is_same_v<Part, TlsCertificateInfo>) {
    io(part.subject, part.issuer, part.not_after, part.sha256);
  } else if constexpr (std::is_same_v<Part, TlsInfo>) {
    io(part.sni, part.version, part.cipher, part.alpn, part.certificate);
  } else if constexpr (std::is_same_v<Part, HttpRequestData>) {
    io(part.method, part.scheme, part.host, part.port, part.target, part.http_version, part.headers,
       part.trailers, part.body, part.header_bytes);
  } else if constexpr (std::is_same_v<Part, HttpResponseData>) {
    io(part.http_version, part.status, part.reason, part.headers, part.trailers, part.body,
       part.header_bytes);
  } else if constexpr (std::is_same_v<Part, WebSocketMessage>) {
    io(part.from_client, part.time_us, part.opcode, part.data, part.truncated);
  } else {
    // A flow after its version, id, kind and state (which decode_flow checks first).
    static_assert(std::is_same_v<Part, FlowSnapshot>);
    auto& t = part.timings;
    io(part.client_address, part.server_address, part.client_tls, part.server_tls, part.request,
       part.response, part.websocket_messages, part.tcp_host, part.tcp_port, part.bytes_from_client,
       part.bytes_from_server, part.tcp_sni, part.passthrough, part.passthrough_learned,
       t.started_us, t.blocked_us, t.dns_us, t.connect_us, t.ssl_us, t.send_us, t.wait_us,
       t.receive_us, part.error);
  }
}

// Writer appends fields: unsigned integers and bools as varints, signed integers zigzag-encoded
// (timings are -1 where a phase does not apply), strings and lists length-prefixed, optionals
// as a bool and the value when there is one.
class Writer {
 public:
  template <class... T>
  void operator()(const T&... values) {
    (put(values), ...);
  }
  std::string take() { return std::move(out_); }

 private:
  void u(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  template <class T>
  void put(const T& v) {
    if constexpr (std::is_unsigned_v<T>) {  // bool included.
      u(v);
    } else if constexpr (std::is_integral_v<T>) {
      u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(int64_t{v} >> 63));
    } else if constexpr (std::is_same_v<T, std::string>) {
      u(v.size());
      out_.append(v);
    } else if constexpr (requires { v.has_value(); }) {  // An optional.
      put(v.has_value());
      if (v) {
        put(*v);
      }
    } else if constexpr (std::is_same_v<T, CapturedBody>) {
      (*this)(v.contiguous(), v.size, v.truncated, v.grpc);
    } else if constexpr (std::is_same_v<T, GrpcFraming>) {
      (*this)(v.sizes, v.messages, v.prefix_bytes);
      for (uint8_t i = 0; i < v.prefix_bytes && i < sizeof(v.prefix); ++i) {
        put(v.prefix[i]);
      }
      put(v.remaining);
    } else if constexpr (requires { v.size(); }) {
      u(v.size());
      for (const auto& item : v) {
        put(item);
      }
    } else {
      fields(*this, v);
    }
  }

  std::string out_;
};

// Reader reads what Writer wrote; every read fails once the input is exhausted or malformed.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

  template <class... T>
  void operator()(T&... values) {
    (get(values), ...);
  }

 private:
  uint64_t u() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) {
        ok_ = false;
        return 0;
      }
      const auto byte = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return v;
      }
    }
    ok_ = false;
    return 0;
  }
  // count reads a repetition count that the remaining input could hold.
  uint64_t count() {
    const uint64_t n = u();
    if (n > in_.size() || n > kMaxCount) {
      ok_ = false;
      return 0;
    }
    return n;
  }
  template <class T>
  void get(T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      v = u() != 0;
    } else if constexpr (std::is_unsigned_v<T>) {
      v = static_cast<T>(u());
    } else if constexpr (std::is_integral_v<T>) {
      const uint64_t zigzag = u();
      v = static_cast<T>(static_cast<int64_t>((zigzag >> 1) ^ (~(zigzag & 1) + 1)));
    } else if constexpr (std::is_same_v<T, std::string>) {
      const uint64_t n = u();
      if (!ok_ || n > in_.size()) {
        ok_ = false;
        return;
      }
      v = in_.substr(0, n);
      in_.remove_prefix(n);
    } else if constexpr (requires { v.has_value(); }) {  // An optional.
      bool present = false;
      get(present);
      if (present) {
        get(v.emplace());
      }
    } else if constexpr (std::is_same_v<T, CapturedBody>) {
      std::string kept;
      (*this)(kept, v.size, v.truncated, v.grpc);
      v.kept = kept.size();
      if (!kept.empty()) {
        v.chunks.push_back(std::make_shared<const std::string>(std::move(kept)));
      }
    } else if constexpr (std::is_same_v<T, GrpcFraming>) {
      uint64_t prefix_bytes = 0;
      (*this)(v.sizes, v.messages, prefix_bytes);
      if (prefix_bytes > sizeof(v.prefix)) {
        count();  // Poison: a prefix is at most 5 bytes.
        prefix_bytes = 0;
      }
      v.prefix_bytes = static_cast<uint8_t>(prefix_bytes);
      for (uint8_t i = 0; i < v.prefix_bytes; ++i) {
        get(v.prefix[i]);
      }
      get(v.remaining);
    } else if constexpr (requires { v.size(); }) {
      const uint64_t n = count();
      if constexpr (requires { v.reserve(n); }) {
        v.reserve(n);
      }
      for (uint64_t i = 0; i < n && ok_; ++i) {
        typename T::value_type item;
        get(item);
        v.push_back(std::move(item));
      }
    } else {
      fields(*this, v);
    }
  }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::string encode_flow(const FlowSnapshot& flow) {
  Writer w;
  const bool modified = !flow.original_url.empty() || !flow.modified.empty();
  const uint64_t flags = (flow.replay ? kFlagReplay : 0) | (modified ? kFlagModified : 0) |
                         (flow.client_tls && flow.client_tls->resumed ? kFlagClientResumed : 0) |
                         (flow.server_tls && flow.server_tls->resumed ? kFlagServerResumed : 0);
  w(flags != 0 ? kCodecVersionWithFlags : kCodecVersion, flow.id, static_cast<uint64_t>(flow.kind),
    static_cast<uint64_t>(flow.state));
  fields(w, flow);
  if (flags != 0) {
    w(flags);
    if (modified) {
      w(flow.original_url, flow.modified);
    }
  }
  return w.take();
}

bool decode_flow(std::string_view data, FlowSnapshot* out) {
  Reader r(data);
  uint64_t version = 0;
  uint64_t kind = 0;
  uint64_t state = 0;
  FlowSnapshot flow;
  r(version, flow.id, kind, state);
  if ((version != kCodecVersion && version != kCodecVersionWithFlags) || !r.ok() ||
      kind > static_cast<uint64_t>(FlowKind::kTcp) ||
      state > static_cast<uint64_t>(FlowState::kFinished)) {
    return false;
  }
  flow.kind = static_cast<FlowKind>(kind);
  flow.state = static_cast<FlowState>(state);
  fields(r, flow);
  if (version == kCodecVersionWithFlags) {
    uint64_t flags = 0;
    r(flags);
    flow.replay = (flags & kFlagReplay) != 0;
    if (flow.client_tls) {
      flow.client_tls->resumed = (flags & kFlagClientResumed) != 0;
    }
    if (flow.server_tls) {
      flow.server_tls->resumed = (flags & kFlagServerResumed) != 0;
    }
    if ((flags & kFlagModified) != 0) {
      r(flow.original_url, flow.modified);
    }
  }
  if (!r.ok() || !r.at_end()) {
    return false;
  }
  *out = std::move(flow);
  return true;
}

std::string compress_zstd(std::string_view data) {
  // One context per thread: creating one per call costs more than compressing a small flow.
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(),
                                                                        &ZSTD_freeCCtx);
  if (!ctx) {
    return {};
  }
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n =
      ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), data.data(), data.size(), 1);
  if (ZSTD_isError(n)) {
    return {};
  }
  out.resize(n);
  return out;
}

namespace {

// frame_output_bound returns the most the first zstd frame of |data| can decompress to, from
// its block headers (RFC 8878, 3.1.1): a raw or RLE block makes its stated size, a compressed
// block at most 128 KiB. nullopt when the frame's blocks are cut short or malformed.
std::optional<uint64_t> frame_output_bound(std::string_view data) {
  constexpr size_t kMagicSize = 4;
  constexpr uint64_t kMaxBlockSize = 128 * 1024;
  if (data.size() <= kMagicSize) {
    return std::nullopt;
  }
  const auto byte = [&data](size_t at) { return uint32_t{static_cast<uint8_t>(data[at])}; };
  const uint32_t descriptor = byte(kMagicSize);
  const bool single_segment = (descriptor & 0x20) != 0;
  constexpr size_t kDictionaryIdSizes[] = {0, 1, 2, 4};
  const size_t content_size_sizes[] = {single_segment ? size_t{1} : size_t{0}, 2, 4, 8};
  size_t at = kMagicSize + 1 + (single_segment ? 0 : 1) + kDictionaryIdSizes[descriptor & 3] +
              content_size_sizes[descriptor >> 6];
  uint64_t bound = 0;
  while (true) {
    if (data.size() < 3 || at > data.size() - 3) {
      return std::nullopt;
    }
    const uint32_t header = byte(at) | (byte(at + 1) << 8) | (byte(at + 2) << 16);
    at += 3;
    const size_t block_size = header >> 3;
    switch ((header >> 1) & 3) {
      case 0:  // Raw.
        bound += block_size;
        at += block_size;
        break;
      case 1:  // RLE: one byte, repeated.
        bound += block_size;
        at += 1;
        break;
      case 2:  // Compressed.
        bound += kMaxBlockSize;
        at += block_size;
        break;
      default:  // Reserved.
        return std::nullopt;
    }
    if (at > data.size()) {
      return std::nullopt;
    }
    if ((header & 1) != 0) {  // The last block.
      return bound;
    }
  }
}

}  // namespace

std::optional<std::string> decompress_zstd(std::string_view data, size_t max_size) {
  const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > max_size) {
    return std::nullopt;
  }
  // The content size is only what the frame header claims: refuse it, before allocating, when
  // the frame's blocks could not produce that much (a damaged or crafted session file could
  // otherwise make every load allocate and zero max_size bytes).
  const std::optional<uint64_t> bound = frame_output_bound(data);
  if (!bound || size > *bound) {
    return std::nullopt;
  }
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(),
                                                                        &ZSTD_freeDCtx);
  if (!ctx) {
    return std::nullopt;
  }
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != out.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace sightglass::core
