#include "core/export/content_decoding.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <utility>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::core {
namespace {

// Each decoder writes through this scratch buffer and appends what fits under the cap, so a
// byte beyond the cap proves that the output was cut.
constexpr size_t kScratchSize = 64 * 1024;

enum class Coding { kIdentity, kGzip, kDeflate, kBrotli, kZstd };

// StageResult is how one decoding stage ended.
enum class StageResult {
  kComplete,    // The whole stream decoded.
  kCapped,      // The output reached the cap with more to come.
  kIncomplete,  // The input ended inside the stream.
  kError,       // Corrupt data (or out of memory in the codec).
};

// append_capped appends |data| to |*out| up to |cap| bytes in all; false (keeping what fits)
// when the cap is exceeded.
bool append_capped(std::string* out, size_t cap, const void* data, size_t size) {
  const size_t room = cap - out->size();
  out->append(static_cast<const char*>(data), std::min(size, room));
  return size <= room;
}

bool parse_codings(std::string_view header, std::vector<Coding>* out_codings) {
  static constexpr std::pair<std::string_view, Coding> kNames[] = {
      {"identity", Coding::kIdentity}, {"gzip", Coding::kGzip}, {"x-gzip", Coding::kGzip},
      {"deflate", Coding::kDeflate},   {"br", Coding::kBrotli}, {"zstd", Coding::kZstd}};
  bool known = true;
  split_list(header, ',', [&](std::string_view token) {
    const auto* name =
        std::ranges::find(kNames, ascii_lower(token), &std::pair<std::string_view, Coding>::first);
    if (name == std::end(kNames)) {
      known = false;
    } else if (name->second != Coding::kIdentity) {  // Nothing to undo for identity.
      out_codings->push_back(name->second);
    }
  });
  return known;
}

// inflate_stream inflates |input| with |window_bits| (31: gzip, 15: zlib, -15: raw). For gzip it
// continues through concatenated members; bytes after the last member are ignored, as browsers
// do.
StageResult inflate_stream(std::string_view input, int window_bits, std::string* out, size_t cap) {
  z_stream stream{};
  if (inflateInit2(&stream, window_bits) != Z_OK) {
    return StageResult::kError;
  }
  const std::unique_ptr<z_stream, decltype(&inflateEnd)> end(&stream, &inflateEnd);
  std::vector<unsigned char> scratch(kScratchSize);
  // zlib takes a non-const pointer but never writes through next_in.
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  size_t remaining = input.size();
  while (true) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(remaining, UINT_MAX / 2));
    stream.avail_in = chunk;
    stream.next_out = scratch.data();
    stream.avail_out = static_cast<uInt>(scratch.size());
    const int rc = inflate(&stream, Z_NO_FLUSH);
    const size_t consumed = chunk - stream.avail_in;
    remaining -= consumed;
    const size_t produced = scratch.size() - stream.avail_out;
    if (!append_capped(out, cap, scratch.data(), produced)) {
      return StageResult::kCapped;
    }
    if (rc == Z_STREAM_END) {
      const bool another_gzip_member = window_bits > 15 && remaining >= 2 &&
                                       static_cast<uint8_t>(stream.next_in[0]) == 0x1F &&
                                       static_cast<uint8_t>(stream.next_in[1]) == 0x8B;
      if (!another_gzip_member) {
        return StageResult::kComplete;
      }
      if (inflateReset(&stream) != Z_OK) {
        return StageResult::kError;
      }
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      // No progress was possible: the input is used up before the end of the stream.
      if (produced == 0 && consumed == 0) {
        return remaining == 0 ? StageResult::kIncomplete : StageResult::kError;
      }
      continue;
    }
    if (rc != Z_OK) {
      return StageResult::kError;
    }
    if (remaining == 0 && produced == 0 && stream.avail_out != 0) {
      return StageResult::kIncomplete;
    }
  }
}

// looks_like_zlib_header checks the two-byte zlib header (RFC 1950): deflate, a window of at
// most 32 KiB and a valid check value.
bool looks_like_zlib_header(std::string_view input) {
  if (input.size() < 2) {
    return false;
  }
  const auto cmf = static_cast<uint8_t>(input[0]);
  const auto flg = static_cast<uint8_t>(input[1]);
  return (cmf & 0x0F) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

StageResult decode_deflate(std::string_view input, std::string* out, size_t cap) {
  // HTTP's "deflate" is zlib-wrapped, but servers often send raw deflate and browsers accept
  // both: try the zlib form when the header says so, and raw deflate otherwise (or when the
  // zlib form fails before producing anything; |out| starts empty).
  if (looks_like_zlib_header(input)) {
    const StageResult result = inflate_stream(input, 15, out, cap);
    if (result != StageResult::kError || !out->empty()) {
      return result;
    }
  }
  return inflate_stream(input, -15, out, cap);
}

StageResult decode_brotli(std::string_view input, std::string* out, size_t cap) {
  const std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
  if (!state) {
    return StageResult::kError;
  }
  std::vector<uint8_t> scratch(kScratchSize);
  const auto* next_in = reinterpret_cast<const uint8_t*>(input.data());
  size_t available_in = input.size();
  while (true) {
    uint8_t* next_out = scratch.data();
    size_t available_out = scratch.size();
    const BrotliDecoderResult rc = BrotliDecoderDecompressStream(
        state.get(), &available_in, &next_in, &available_out, &next_out, nullptr);
    const size_t produced = scratch.size() - available_out;
    if (!append_capped(out, cap, scratch.data(), produced)) {
      return StageResult::kCapped;
    }
    switch (rc) {
      case BROTLI_DECODER_RESULT_SUCCESS:
        return StageResult::kComplete;
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        break;
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        return StageResult::kIncomplete;  // All input was consumed.
      case BROTLI_DECODER_RESULT_ERROR:
      default:
        return StageResult::kError;
    }
  }
}

StageResult decode_zstd(std::string_view input, std::string* out, size_t cap) {
  const std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> stream(ZSTD_createDStream(),
                                                                          &ZSTD_freeDStream);
  if (!stream || ZSTD_isError(ZSTD_initDStream(stream.get()))) {
    return StageResult::kError;
  }
  // Bound the window, and so the decoder's memory, to 128 MiB (RFC 8878 asks HTTP senders
  // for at most 8 MiB).
  if (ZSTD_isError(ZSTD_DCtx_setParameter(stream.get(), ZSTD_d_windowLogMax, 27))) {
    return StageResult::kError;
  }
  std::vector<char> scratch(kScratchSize);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t last_rc = 1;
  while (true) {
    ZSTD_outBuffer out_buffer{scratch.data(), scratch.size(), 0};
    const size_t rc = ZSTD_decompressStream(stream.get(), &out_buffer, &in);
    if (ZSTD_isError(rc)) {
      return StageResult::kError;
    }
    last_rc = rc;
    if (!append_capped(out, cap, scratch.data(), out_buffer.pos)) {
      return StageResult::kCapped;
    }
    const bool output_full = out_buffer.pos == out_buffer.size;
    if (in.pos == in.size && !output_full) {
      // All input consumed and the decoder flushed what it could. rc == 0 means the last
      // frame ended cleanly.
      return last_rc == 0 ? StageResult::kComplete : StageResult::kIncomplete;
    }
  }
}

StageResult decode_stage(Coding coding, std::string_view input, std::string* out, size_t cap) {
  switch (coding) {
    case Coding::kGzip:
      return inflate_stream(input, 15 + 16, out, cap);
    case Coding::kDeflate:
      return decode_deflate(input, out, cap);
    case Coding::kBrotli:
      return decode_brotli(input, out, cap);
    case Coding::kZstd:
      return decode_zstd(input, out, cap);
    case Coding::kIdentity:
      break;
  }
  const size_t take = std::min(input.size(), cap);
  out->assign(input.substr(0, take));
  return take < input.size() ? StageResult::kCapped : StageResult::kComplete;
}

std::optional<std::string> zlib_encode(std::string_view input, int window_bits) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(input.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  const size_t written = out.size() - stream.avail_out;
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) {
    return std::nullopt;
  }
  out.resize(written);
  return out;
}

std::optional<std::string> encode_stage(Coding coding, std::string_view input) {
  switch (coding) {
    case Coding::kGzip:
      return zlib_encode(input, 16 + MAX_WBITS);
    case Coding::kDeflate:
      return zlib_encode(input, MAX_WBITS);
    case Coding::kBrotli: {
      size_t size = BrotliEncoderMaxCompressedSize(input.size());
      std::string out(size == 0 ? input.size() + 1024 : size, '\0');
      size = out.size();
      if (BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                                input.size(), reinterpret_cast<const uint8_t*>(input.data()), &size,
                                reinterpret_cast<uint8_t*>(out.data())) == BROTLI_FALSE) {
        return std::nullopt;
      }
      out.resize(size);
      return out;
    }
    case Coding::kZstd: {
      std::string out(ZSTD_compressBound(input.size()), '\0');
      const size_t size = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), 3);
      if (ZSTD_isError(size) != 0U) {
        return std::nullopt;
      }
      out.resize(size);
      return out;
    }
    case Coding::kIdentity:
      break;
  }
  return std::string(input);
}

}  // namespace

bool is_identity_encoding(std::string_view content_encoding_header) {
  std::vector<Coding> codings;
  return parse_codings(content_encoding_header, &codings) && codings.empty();
}

std::optional<std::string> decode_content(std::string_view content_encoding_header,
                                          std::string_view body, size_t max_output,
                                          ContentDecodeInfo* out_info, bool input_is_prefix) {
  std::vector<Coding> codings;
  if (!parse_codings(content_encoding_header, &codings)) {
    return std::nullopt;
  }
  ContentDecodeInfo info;
  info.identity = codings.empty();
  std::string current;
  if (codings.empty() || body.empty()) {
    const StageResult result = decode_stage(Coding::kIdentity, body, &current, max_output);
    info.truncated = result == StageResult::kCapped;
  } else {
    current.assign(body);
    bool prefix = input_is_prefix;
    // The last coding listed was applied last, so it is undone first.
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
      std::string next;
      const StageResult result = decode_stage(*it, current, &next, max_output);
      if (result == StageResult::kError || (result == StageResult::kIncomplete && !prefix)) {
        return std::nullopt;
      }
      if (result != StageResult::kComplete) {
        // What follows decodes only a prefix of its stream.
        prefix = true;
        info.truncated = true;
      }
      current = std::move(next);
    }
  }
  if (out_info != nullptr) {
    *out_info = info;
  }
  return current;
}

std::optional<std::string> encode_content(std::string_view content_encoding_header,
                                          std::string_view body) {
  std::vector<Coding> codings;
  if (!parse_codings(content_encoding_header, &codings)) {
    return std::nullopt;
  }
  std::string current(body);
  for (Coding coding : codings) {
    std::optional<std::string> next = encode_stage(coding, current);
    if (!next) {
      return std::nullopt;
    }
    current = std::move(*next);
  }
  return current;
}

}  // namespace sightglass::core
