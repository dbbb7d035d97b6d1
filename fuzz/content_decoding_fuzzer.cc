// Content-Encoding decoding (core/export/content_decoding) as the log pipeline uses it: a
// response with a Content-Encoding header serialized as a HAR entry / JSON line (flow_json's
// response_body undoes the coding under its cap, max(kMinDecodedBodyCap, 4 * kept bytes)), and
// decode_content itself, with the log's cap and under a small cap with the body taken as a
// prefix (as for a body past the body limit). Decompression bombs must stay under the cap: the
// target traps when any output is larger than the cap it was decoded under. It also checks that a
// capped decode is a prefix of the uncapped one, that to_json_line and to_har_entry().dump() agree,
// and that a small decoded body encodes and decodes back to itself (encode_content, as
// --modify-body does).
//
// Input: the Content-Encoding header value (e.g. "gzip", "br", "deflate, zstd"), a '\n', then
// the encoded body bytes: "gzip\n" followed by a real gzip-encoded response body is a seed.
// Without a '\n' the whole input is the header value and the body is empty.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/export/content_decoding.h"
#include "core/export/flow_json.h"
#include "core/proxy/flow.h"
#include "fuzz/fuzz_input.h"

namespace {

using sightglass::core::ContentDecodeInfo;
using sightglass::core::decode_content;

// Only small bodies go through encode_content (brotli at its default quality is slow).
constexpr size_t kMaxRoundTrip = 4096;
// Only bodies that decode to at most this go through the whole log pipeline (the JSON writers).
constexpr size_t kMaxLogged = 64 * 1024;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

std::optional<std::string> decode_checked(std::string_view coding, std::string_view body,
                                          size_t cap, bool prefix, ContentDecodeInfo* info) {
  std::optional<std::string> decoded = decode_content(coding, body, cap, info, prefix);
  check(!decoded || decoded->size() <= cap);  // The cap holds, whatever the input.
  return decoded;
}

// log_pipeline serializes a finished response carrying |body| with |coding|, as the JSON Lines
// log and the HAR writer do, and checks the decoded size against flow_json's cap.
void log_pipeline(std::string_view coding, std::string_view body, bool truncated) {
  using namespace sightglass::core;
  FlowSnapshot flow;
  flow.id = 1;
  flow.state = FlowState::kFinished;
  flow.client_address = "127.0.0.1:40000";
  flow.server_address = "127.0.0.1:8000";
  flow.request.emplace();
  flow.request->method = "GET";
  flow.request->scheme = "http";
  flow.request->host = "example.test";
  flow.request->port = 80;
  flow.request->target = "/";
  flow.response.emplace();
  flow.response->status = 200;
  flow.response->reason = "OK";
  flow.response->headers = {{"Content-Type", "text/plain"},
                            {"Content-Encoding", std::string(coding)}};
  CapturedBody& captured = flow.response->body;
  if (!body.empty()) {
    captured.chunks.push_back(std::make_shared<const std::string>(body));
  }
  captured.kept = body.size();
  // A truncated body claims more bytes than were kept, as past the body limit.
  captured.size = body.size() + (truncated ? 1000 : 0);
  captured.truncated = truncated;

  const std::string line = to_json_line(flow);
  const nlohmann::json entry = to_har_entry(flow);
  check(entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) == line);
  const nlohmann::json& content = entry["response"]["content"];
  const uint64_t cap = std::max<uint64_t>(kMinDecodedBodyCap, uint64_t{body.size()} * 4);
  if (content.contains("compression")) {  // Decoded: "size" is the decoded size.
    const nlohmann::json& decoded_size = content["size"];
    check(decoded_size.is_number_integer() && decoded_size.get<int64_t>() >= 0 &&
          static_cast<uint64_t>(decoded_size.get<int64_t>()) <= cap);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = sightglass::fuzz::as_view(data, size);
  const size_t newline = input.find('\n');
  std::string_view coding = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  if (!coding.empty() && coding.back() == '\r') {
    coding.remove_suffix(1);
  }

  // The log's cap (flow_json), the whole body.
  const size_t big_cap =
      std::max<size_t>(sightglass::core::kMinDecodedBodyCap, body.size() * size_t{4});
  ContentDecodeInfo full_info;
  const std::optional<std::string> full =
      decode_checked(coding, body, big_cap, /*prefix=*/false, &full_info);

  // A small cap (from 1 byte up) and the body taken as a prefix of a longer one.
  const size_t small_cap = 1 + size % 8191;
  ContentDecodeInfo small_info;
  const std::optional<std::string> small =
      decode_checked(coding, body, small_cap, /*prefix=*/true, &small_info);
  if (full && small) {
    // Capping only cuts: what decodes under the small cap starts the whole decoded body.
    check(std::string_view(*full).starts_with(*small));
    check(small->size() == std::min(small_cap, full->size()) || small_info.truncated);
  }

  // What decoded completely encodes back (as --modify-body does) and decodes to itself.
  if (full && !full_info.truncated && full->size() <= kMaxRoundTrip) {
    const std::optional<std::string> encoded = sightglass::core::encode_content(coding, *full);
    check(encoded.has_value());
    const std::optional<std::string> again =
        decode_checked(coding, *encoded, big_cap, /*prefix=*/false, nullptr);
    check(again.has_value() && *again == *full);
  }

  // The log pipeline itself, for bodies that decode (whole or as a prefix) to at most
  // kMaxLogged bytes: serializing more costs seconds under the sanitizers, and a body that does
  // not decode may still inflate to the cap before failing, again in each writer; neither adds
  // to the cap check above, which decodes with the log's own arguments.
  std::optional<std::string> prefix_full;
  if (!full) {
    prefix_full = decode_checked(coding, body, big_cap, /*prefix=*/true, nullptr);
  }
  const std::optional<std::string>& logged = full ? full : prefix_full;
  if (logged && logged->size() <= kMaxLogged) {
    log_pipeline(coding, body, /*truncated=*/false);
    log_pipeline(coding, body, /*truncated=*/true);
  }
  return 0;
}
