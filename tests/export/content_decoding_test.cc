// Content-Encoding decoding against real encoders (zlib, brotli, zstd).
#include "core/export/content_decoding.h"

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>
#include <random>
#include <string>

#include "core/export/text_util.h"

namespace sightglass::core {
namespace {

// The window bits of deflateInit2 for each zlib format.
constexpr int kGzipFormat = 15 + 16;
constexpr int kZlibFormat = 15;
constexpr int kRawDeflateFormat = -15;

// deflate_repeated compresses |copies| copies of |chunk| in |window_bits| format, streaming, so
// a large body never has to exist uncompressed.
std::string deflate_repeated(const std::string& chunk, size_t copies, int window_bits) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  std::string buffer(64 * 1024, '\0');
  for (size_t i = 0; i <= copies; ++i) {
    const bool last = i == copies;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
    stream.avail_in = last ? 0 : static_cast<uInt>(chunk.size());
    int rc = Z_OK;
    do {
      stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
      stream.avail_out = static_cast<uInt>(buffer.size());
      rc = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH);
      out.append(buffer.data(), buffer.size() - stream.avail_out);
    } while (stream.avail_out == 0 || (last && rc != Z_STREAM_END));
  }
  deflateEnd(&stream);
  return out;
}

std::string zlib_compress(const std::string& data, int window_bits) {
  return deflate_repeated(data, 1, window_bits);
}

std::string brotli_repeated(const std::string& chunk, size_t copies) {
  std::unique_ptr<BrotliEncoderState, decltype(&BrotliEncoderDestroyInstance)> state(
      BrotliEncoderCreateInstance(nullptr, nullptr, nullptr), &BrotliEncoderDestroyInstance);
  BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_QUALITY, 5);
  std::string out;
  std::string buffer(64 * 1024, '\0');
  for (size_t i = 0; i <= copies; ++i) {
    const bool last = i == copies;
    size_t available_in = last ? 0 : chunk.size();
    const auto* next_in = reinterpret_cast<const uint8_t*>(chunk.data());
    while (true) {
      size_t available_out = buffer.size();
      auto* next_out = reinterpret_cast<uint8_t*>(buffer.data());
      EXPECT_TRUE(BrotliEncoderCompressStream(
          state.get(), last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS, &available_in,
          &next_in, &available_out, &next_out, nullptr));
      out.append(buffer.data(), buffer.size() - available_out);
      if (last ? BrotliEncoderIsFinished(state.get())
               : (available_in == 0 && !BrotliEncoderHasMoreOutput(state.get()))) {
        break;
      }
    }
  }
  return out;
}

std::string brotli_compress(const std::string& data) { return brotli_repeated(data, 1); }

std::string zstd_repeated(const std::string& chunk, size_t copies) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), &ZSTD_freeCCtx);
  std::string out;
  std::string buffer(ZSTD_CStreamOutSize(), '\0');
  for (size_t i = 0; i <= copies; ++i) {
    const bool last = i == copies;
    ZSTD_inBuffer in{chunk.data(), last ? 0 : chunk.size(), 0};
    while (true) {
      ZSTD_outBuffer out_buffer{buffer.data(), buffer.size(), 0};
      const size_t remaining =
          ZSTD_compressStream2(cctx.get(), &out_buffer, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      EXPECT_FALSE(ZSTD_isError(remaining));
      out.append(buffer.data(), out_buffer.pos);
      if (last ? remaining == 0 : in.pos == in.size) {
        break;
      }
    }
  }
  return out;
}

std::string zstd_compress(const std::string& data) { return zstd_repeated(data, 1); }

// sample_text is compressible text of about |size| bytes that differs along its length.
std::string sample_text(size_t size) {
  std::string out;
  for (size_t i = 0; out.size() < size; ++i) {
    out += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
  }
  out.resize(size);
  return out;
}

std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) {
    c = static_cast<char>(rng() & 0xFF);
  }
  return out;
}

constexpr size_t kBig = size_t{16} << 20;

TEST(DecodeContent, IdentityAndEmptyHeaderReturnTheBody) {
  const std::string body = "plain \x01\xff bytes";
  for (const char* header : {"", "identity", " Identity ", "identity, identity"}) {
    ContentDecodeInfo info;
    info.identity = false;
    const auto decoded = decode_content(header, body, kBig, &info);
    ASSERT_TRUE(decoded.has_value()) << header;
    EXPECT_EQ(*decoded, body);
    EXPECT_TRUE(info.identity);
    EXPECT_FALSE(info.truncated);
  }
  EXPECT_TRUE(is_identity_encoding(""));
  EXPECT_TRUE(is_identity_encoding("identity"));
  EXPECT_FALSE(is_identity_encoding("gzip"));
  EXPECT_FALSE(is_identity_encoding("bogus"));
}

TEST(DecodeContent, GzipAndXGzipInAnyCase) {
  const std::string body = sample_text(100'000);
  const std::string gz = zlib_compress(body, kGzipFormat);
  ASSERT_LT(gz.size(), body.size() / 4);
  for (const char* header : {"gzip", "x-gzip", "GZIP", " gzip "}) {
    ContentDecodeInfo info;
    const auto decoded = decode_content(header, gz, kBig, &info);
    ASSERT_TRUE(decoded.has_value()) << header;
    EXPECT_EQ(*decoded, body);
    EXPECT_FALSE(info.truncated);
    EXPECT_FALSE(info.identity);
  }
}

TEST(DecodeContent, GzipWithConcatenatedMembers) {
  const std::string gz =
      zlib_compress("first;", kGzipFormat) + zlib_compress("second", kGzipFormat);
  EXPECT_EQ(decode_content("gzip", gz, kBig), "first;second");
}

TEST(DecodeContent, DeflateZlibWrappedAndRaw) {
  const std::string body = sample_text(50'000);
  const std::string zlib_wrapped = zlib_compress(body, kZlibFormat);
  const std::string raw = zlib_compress(body, kRawDeflateFormat);
  ASSERT_NE(zlib_wrapped, raw);
  EXPECT_EQ(decode_content("deflate", zlib_wrapped, kBig), body);
  EXPECT_EQ(decode_content("deflate", raw, kBig), body);
  // A short raw stream of random data (stored blocks) still decodes.
  const std::string noise = random_bytes(300, 7);
  EXPECT_EQ(decode_content("deflate", zlib_compress(noise, kRawDeflateFormat), kBig), noise);
}

TEST(DecodeContent, BrotliAndZstd) {
  const std::string body = sample_text(200'000);
  const std::string br = brotli_compress(body);
  const std::string zst = zstd_compress(body);
  ASSERT_LT(br.size(), body.size() / 4);
  EXPECT_EQ(decode_content("br", br, kBig), body);
  EXPECT_EQ(decode_content("zstd", zst, kBig), body);
  // Two zstd frames back to back form one body.
  EXPECT_EQ(decode_content("zstd", zstd_compress("ab") + zstd_compress("cd"), kBig), "abcd");
}

TEST(DecodeContent, ChainsAreUndoneLastToFirst) {
  const std::string body = sample_text(30'000);
  // "gzip, br": gzip was applied first, then br.
  const std::string gzip_then_br = brotli_compress(zlib_compress(body, kGzipFormat));
  EXPECT_EQ(decode_content("gzip, br", gzip_then_br, kBig), body);
  EXPECT_FALSE(decode_content("br, gzip", gzip_then_br, kBig).has_value());
  const std::string three = zstd_compress(zlib_compress(brotli_compress(body), kZlibFormat));
  EXPECT_EQ(decode_content("br,deflate ,  zstd", three, kBig), body);
  EXPECT_EQ(decode_content("identity, gzip, identity", zlib_compress(body, kGzipFormat), kBig),
            body);
}

TEST(DecodeContent, UnknownCodingIsAnError) {
  const std::string gz = zlib_compress("x", kGzipFormat);
  EXPECT_FALSE(decode_content("compress", gz, kBig).has_value());
  EXPECT_FALSE(decode_content("gzip, sdch", gz, kBig).has_value());
  EXPECT_FALSE(decode_content("gzip;q=1", gz, kBig).has_value());
}

TEST(DecodeContent, EmptyBodyDecodesToEmpty) {
  for (const char* header : {"gzip", "deflate", "br", "zstd", "gzip, br"}) {
    EXPECT_EQ(decode_content(header, "", kBig), "") << header;
  }
}

TEST(DecodeContent, CorruptDataIsAnError) {
  const std::string garbage = random_bytes(4096, 42);
  for (const char* header : {"gzip", "deflate", "br", "zstd"}) {
    EXPECT_FALSE(decode_content(header, garbage, kBig).has_value()) << header;
  }
  // Plain text is not gzip, and a flipped byte breaks the CRC.
  EXPECT_FALSE(decode_content("gzip", "hello world, not compressed", kBig).has_value());
  std::string gz = zlib_compress(sample_text(10'000), kGzipFormat);
  gz[gz.size() - 6] = static_cast<char>(gz[gz.size() - 6] ^ 0x5A);
  EXPECT_FALSE(decode_content("gzip", gz, kBig).has_value());
  std::string zst = zstd_compress(sample_text(10'000));
  zst[zst.size() / 2] = static_cast<char>(zst[zst.size() / 2] ^ 0xFF);
  EXPECT_FALSE(decode_content("zstd", zst, kBig).has_value());
}

TEST(DecodeContent, CutStreamIsAnErrorUnlessTheInputIsAPrefix) {
  const std::string body = sample_text(300'000);
  const std::pair<const char*, std::string> cases[] = {
      {"gzip", zlib_compress(body, kGzipFormat)},
      {"deflate", zlib_compress(body, kZlibFormat)},
      {"br", brotli_compress(body)},
      {"zstd", zstd_compress(body)},
  };
  for (const auto& [header, encoded] : cases) {
    const std::string prefix = encoded.substr(0, encoded.size() / 2);
    EXPECT_FALSE(decode_content(header, prefix, kBig).has_value()) << header;
    ContentDecodeInfo info;
    const auto partial = decode_content(header, prefix, kBig, &info, /*input_is_prefix=*/true);
    ASSERT_TRUE(partial.has_value()) << header;
    EXPECT_TRUE(info.truncated) << header;
    EXPECT_GT(partial->size(), 0u) << header;
    EXPECT_LT(partial->size(), body.size()) << header;
    EXPECT_EQ(*partial, body.substr(0, partial->size())) << header;
    // The whole stream, even when flagged as a prefix, is complete.
    ContentDecodeInfo whole_info;
    EXPECT_EQ(decode_content(header, encoded, kBig, &whole_info, true), body) << header;
    EXPECT_FALSE(whole_info.truncated) << header;
  }
}

TEST(DecodeContent, BombsAreCappedAndReportTruncation) {
  // 64 MiB of zeros compress to well under 1 MiB; the cap keeps the output at 1 MiB.
  const std::string zeros(1 << 20, '\0');
  constexpr size_t kCopies = 64;
  constexpr size_t kCap = 1 << 20;
  const std::pair<const char*, std::string> cases[] = {
      {"gzip", deflate_repeated(zeros, kCopies, kGzipFormat)},
      {"deflate", deflate_repeated(zeros, kCopies, kZlibFormat)},
      {"br", brotli_repeated(zeros, kCopies)},
      {"zstd", zstd_repeated(zeros, kCopies)},
  };
  for (const auto& [header, bomb] : cases) {
    ASSERT_LT(bomb.size(), size_t{1} << 20) << header;
    ContentDecodeInfo info;
    const auto decoded = decode_content(header, bomb, kCap, &info);
    ASSERT_TRUE(decoded.has_value()) << header;
    EXPECT_EQ(decoded->size(), kCap) << header;
    EXPECT_TRUE(info.truncated) << header;
    EXPECT_EQ(decoded->find_first_not_of('\0'), std::string::npos) << header;
  }
  // A chain is capped at every stage.
  ContentDecodeInfo info;
  const auto chained = decode_content("gzip, br", brotli_compress(cases[0].second), kCap, &info);
  ASSERT_TRUE(chained.has_value());
  EXPECT_EQ(chained->size(), kCap);
  EXPECT_TRUE(info.truncated);
}

TEST(DecodeContent, OutputOfExactlyTheCapIsNotTruncated) {
  const std::string body = sample_text(5000);
  for (const auto& [header, encoded] :
       {std::pair<const char*, std::string>{"gzip", zlib_compress(body, kGzipFormat)},
        {"br", brotli_compress(body)},
        {"zstd", zstd_compress(body)},
        {"identity", body}}) {
    ContentDecodeInfo info;
    EXPECT_EQ(decode_content(header, encoded, body.size(), &info), body) << header;
    EXPECT_FALSE(info.truncated) << header;
    const auto shorter = decode_content(header, encoded, body.size() - 1, &info);
    ASSERT_TRUE(shorter.has_value()) << header;
    EXPECT_EQ(*shorter, body.substr(0, body.size() - 1)) << header;
    EXPECT_TRUE(info.truncated) << header;
  }
}

TEST(TextUtil, Base64RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
  const std::string bytes = random_bytes(1000, 3);
  EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  EXPECT_EQ(base64_decode("Zm9v\nYmFy"), "foobar");
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Z").has_value());
  EXPECT_FALSE(base64_decode("Zg==Zg").has_value());
}

TEST(TextUtil, Utf8ValidationAndRepair) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("J\xC3\xBCrgen \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // Cut short.
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // Overlong.
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // A surrogate.
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // Above U+10FFFF.
  EXPECT_FALSE(is_valid_utf8("caf\xE9"));           // Latin-1.
  EXPECT_EQ(to_valid_utf8("caf\xE9!"), "caf\xEF\xBF\xBD!");
  EXPECT_EQ(percent_decode("a%20b+c%zz%4", false), "a b+c%zz%4");
  EXPECT_EQ(percent_decode("a%20b+c", true), "a b c");
}

}  // namespace
}  // namespace sightglass::core
