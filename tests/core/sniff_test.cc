#include "core/layers/sniff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sightglass::core {
namespace {

FirstBytes sniff(const std::string& s) {
  return sniff_first_bytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(Sniff, TlsClientHello) {
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(sniff(hello), FirstBytes::kTls);
  // Every shorter prefix asks for more.
  for (size_t n = 0; n < 6; ++n) {
    EXPECT_EQ(sniff(hello.substr(0, n)), FirstBytes::kNeedMore) << n;
  }
  EXPECT_EQ(sniff(std::string("\x16\x02", 2)), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x16\x03\x01\x00\x10\x02", 6)), FirstBytes::kOther);
}

TEST(Sniff, HttpRequestsAtEveryPrefix) {
  for (const std::string request :
       {"GET / HTTP/1.1\r\n", "CONNECT example.com:443 HTTP/1.1\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "M-SEARCH * HTTP/1.1\r\n"}) {
    const size_t space = request.find(' ');
    for (size_t n = 0; n <= space; ++n) {
      EXPECT_EQ(sniff(request.substr(0, n)), FirstBytes::kNeedMore) << request << n;
    }
    for (size_t n = space + 1; n <= request.size(); ++n) {
      EXPECT_EQ(sniff(request.substr(0, n)), FirstBytes::kHttp) << request << n;
    }
  }
}

TEST(Sniff, AnythingElseIsRelayedRaw) {
  EXPECT_EQ(sniff("SSH-2.0-OpenSSH_9.2\r\n"), FirstBytes::kOther);
  EXPECT_EQ(sniff(" GET"), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x00\x01\x02", 3)), FirstBytes::kOther);
  EXPECT_EQ(sniff("AVERYLONGTOKENWITHOUTANYSPACE"), FirstBytes::kOther);
  EXPECT_EQ(sniff(std::string("\x05\x01\x00", 3)), FirstBytes::kOther);  // SOCKS5.
}

}  // namespace
}  // namespace sightglass::core
