#include "core/store/flow_codec.h"

#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace sightglass::core {
namespace {

// Version 2 is version 1 followed by a flags varint (bit 0: replay, bit 1: two strings follow,
// the original URL and what the hooks did); a flow without flags is
// still written as version 1, so older readers read it.
constexpr uint8_t kCodecVersion = 1;
constexpr uint8_t kCodecVersionWithFlags = 2;
constexpr uint64_t kFlagReplay = 1;
// Bit 1: the hooks changed the flow; its original URL and what they did follow the flags.
constexpr uint64_t kFlagModified = 2;
// Counts read from a blob are bounded by what the blob could hold, so a corrupt count cannot
// make the reader reserve without bound.
constexpr uint64_t kMaxCount = uint64_t{1} << 32;

// Writer appends varints and length-prefixed strings.
class Writer {
 public:
  void u(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  // s writes a signed value zigzag-encoded (timings are -1 where a phase does not apply).
  void s(int64_t v) { u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void b(bool v) { u(v ? 1 : 0); }
  void str(std::string_view v) {
    u(v.size());
    out_.append(v);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reader reads what Writer wrote; every read fails once the input is exhausted or malformed.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

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
  int64_t s() {
    const uint64_t v = u();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  bool b() { return u() != 0; }
  std::string str() {
    const uint64_t n = u();
    if (!ok_ || n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string v(in_.substr(0, n));
    in_.remove_prefix(n);
    return v;
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

 private:
  std::string_view in_;
  bool ok_ = true;
};

void put_headers(Writer& w, const Headers& headers) {
  w.u(headers.size());
  for (const Header& h : headers) {
    w.str(h.name);
    w.str(h.value);
  }
}

void get_headers(Reader& r, Headers* out) {
  const uint64_t n = r.count();
  out->reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Header h;
    h.name = r.str();
    h.value = r.str();
    out->push_back(std::move(h));
  }
}

void put_body(Writer& w, const CapturedBody& body) {
  w.str(body.contiguous());
  w.u(body.size);
  w.b(body.truncated);
  w.b(body.grpc.has_value());
  if (body.grpc) {
    const GrpcFraming& g = *body.grpc;
    w.u(g.sizes.size());
    for (uint64_t size : g.sizes) {
      w.u(size);
    }
    w.u(g.messages);
    w.u(g.prefix_bytes);
    for (uint8_t i = 0; i < g.prefix_bytes && i < sizeof(g.prefix); ++i) {
      w.u(g.prefix[i]);
    }
    w.u(g.remaining);
  }
}

void get_body(Reader& r, CapturedBody* out) {
  std::string kept = r.str();
  out->kept = kept.size();
  if (!kept.empty()) {
    out->chunks.push_back(std::make_shared<const std::string>(std::move(kept)));
  }
  out->size = r.u();
  out->truncated = r.b();
  if (r.b()) {
    GrpcFraming g;
    const uint64_t n = r.count();
    g.sizes.reserve(n);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      g.sizes.push_back(r.u());
    }
    g.messages = r.u();
    const uint64_t prefix_bytes = r.u();
    if (prefix_bytes > sizeof(g.prefix)) {
      r.count();  // Poison: a prefix is at most 5 bytes.
      g.prefix_bytes = 0;
    } else {
      g.prefix_bytes = static_cast<uint8_t>(prefix_bytes);
    }
    for (uint8_t i = 0; i < g.prefix_bytes; ++i) {
      g.prefix[i] = static_cast<uint8_t>(r.u());
    }
    g.remaining = r.u();
    out->grpc = std::move(g);
  }
}

void put_tls(Writer& w, const std::optional<TlsInfo>& tls) {
  w.b(tls.has_value());
  if (!tls) {
    return;
  }
  w.str(tls->sni);
  w.str(tls->version);
  w.str(tls->cipher);
  w.str(tls->alpn);
  w.b(tls->certificate.has_value());
  if (tls->certificate) {
    w.str(tls->certificate->subject);
    w.str(tls->certificate->issuer);
    w.str(tls->certificate->not_after);
    w.str(tls->certificate->sha256);
  }
}

void get_tls(Reader& r, std::optional<TlsInfo>* out) {
  if (!r.b()) {
    return;
  }
  TlsInfo tls;
  tls.sni = r.str();
  tls.version = r.str();
  tls.cipher = r.str();
  tls.alpn = r.str();
  if (r.b()) {
    TlsCertificateInfo cert;
    cert.subject = r.str();
    cert.issuer = r.str();
    cert.not_after = r.str();
    cert.sha256 = r.str();
    tls.certificate = std::move(cert);
  }
  *out = std::move(tls);
}

}  // namespace

std::string encode_flow(const FlowSnapshot& flow) {
  Writer w;
  const bool modified = !flow.original_url.empty() || !flow.modified.empty();
  const uint64_t flags = (flow.replay ? kFlagReplay : 0) | (modified ? kFlagModified : 0);
  w.u(flags != 0 ? kCodecVersionWithFlags : kCodecVersion);
  w.u(flow.id);
  w.u(static_cast<uint64_t>(flow.kind));
  w.u(static_cast<uint64_t>(flow.state));
  w.str(flow.client_address);
  w.str(flow.server_address);
  put_tls(w, flow.client_tls);
  put_tls(w, flow.server_tls);
  w.b(flow.request.has_value());
  if (flow.request) {
    const HttpRequestData& q = *flow.request;
    w.str(q.method);
    w.str(q.scheme);
    w.str(q.host);
    w.u(q.port);
    w.str(q.target);
    w.str(q.http_version);
    put_headers(w, q.headers);
    put_headers(w, q.trailers);
    put_body(w, q.body);
    w.u(q.header_bytes);
  }
  w.b(flow.response.has_value());
  if (flow.response) {
    const HttpResponseData& p = *flow.response;
    w.str(p.http_version);
    w.s(p.status);
    w.str(p.reason);
    put_headers(w, p.headers);
    put_headers(w, p.trailers);
    put_body(w, p.body);
    w.u(p.header_bytes);
  }
  w.u(flow.websocket_messages.size());
  for (const WebSocketMessage& m : flow.websocket_messages) {
    w.b(m.from_client);
    w.s(m.time_us);
    w.u(m.opcode);
    w.str(m.data);
    w.b(m.truncated);
  }
  w.str(flow.tcp_host);
  w.u(flow.tcp_port);
  w.u(flow.bytes_from_client);
  w.u(flow.bytes_from_server);
  w.str(flow.tcp_sni);
  w.str(flow.passthrough);
  w.b(flow.passthrough_learned);
  const FlowTimings& t = flow.timings;
  for (int64_t v : {t.started_us, t.blocked_us, t.dns_us, t.connect_us, t.ssl_us, t.send_us,
                    t.wait_us, t.receive_us}) {
    w.s(v);
  }
  w.str(flow.error);
  if (flags != 0) {
    w.u(flags);
    if (modified) {
      w.str(flow.original_url);
      w.str(flow.modified);
    }
  }
  return w.take();
}

bool decode_flow(std::string_view data, FlowSnapshot* out) {
  Reader r(data);
  const uint64_t version = r.u();
  if ((version != kCodecVersion && version != kCodecVersionWithFlags) || !r.ok()) {
    return false;
  }
  FlowSnapshot flow;
  flow.id = r.u();
  const uint64_t kind = r.u();
  const uint64_t state = r.u();
  if (kind > static_cast<uint64_t>(FlowKind::kTcp) ||
      state > static_cast<uint64_t>(FlowState::kFinished)) {
    return false;
  }
  flow.kind = static_cast<FlowKind>(kind);
  flow.state = static_cast<FlowState>(state);
  flow.client_address = r.str();
  flow.server_address = r.str();
  get_tls(r, &flow.client_tls);
  get_tls(r, &flow.server_tls);
  if (r.b()) {
    HttpRequestData q;
    q.method = r.str();
    q.scheme = r.str();
    q.host = r.str();
    q.port = static_cast<uint16_t>(r.u());
    q.target = r.str();
    q.http_version = r.str();
    get_headers(r, &q.headers);
    get_headers(r, &q.trailers);
    get_body(r, &q.body);
    q.header_bytes = r.u();
    flow.request = std::move(q);
  }
  if (r.b()) {
    HttpResponseData p;
    p.http_version = r.str();
    p.status = static_cast<int>(r.s());
    p.reason = r.str();
    get_headers(r, &p.headers);
    get_headers(r, &p.trailers);
    get_body(r, &p.body);
    p.header_bytes = r.u();
    flow.response = std::move(p);
  }
  const uint64_t messages = r.count();
  for (uint64_t i = 0; i < messages && r.ok(); ++i) {
    WebSocketMessage m;
    m.from_client = r.b();
    m.time_us = r.s();
    m.opcode = static_cast<uint8_t>(r.u());
    m.data = r.str();
    m.truncated = r.b();
    flow.websocket_messages.push_back(std::move(m));
  }
  flow.tcp_host = r.str();
  flow.tcp_port = static_cast<uint16_t>(r.u());
  flow.bytes_from_client = r.u();
  flow.bytes_from_server = r.u();
  flow.tcp_sni = r.str();
  flow.passthrough = r.str();
  flow.passthrough_learned = r.b();
  FlowTimings& t = flow.timings;
  for (int64_t* v : {&t.started_us, &t.blocked_us, &t.dns_us, &t.connect_us, &t.ssl_us, &t.send_us,
                     &t.wait_us, &t.receive_us}) {
    *v = r.s();
  }
  flow.error = r.str();
  if (version == kCodecVersionWithFlags) {
    const uint64_t flags = r.u();
    flow.replay = (flags & kFlagReplay) != 0;
    if ((flags & kFlagModified) != 0) {
      flow.original_url = r.str();
      flow.modified = r.str();
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

std::optional<std::string> decompress_zstd(std::string_view data, size_t max_size) {
  const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > max_size) {
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
