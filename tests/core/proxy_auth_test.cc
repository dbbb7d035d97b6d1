#include "core/layers/proxy_auth.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "core/layers/http1.h"

namespace sightglass::core {
namespace {

TEST(ProxyAuth, ParseCredentials) {
  std::optional<ProxyCredentials> c = parse_proxy_credentials("user:pass");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "user");
  EXPECT_EQ(c->password, "pass");

  // Split at the first ':'; the password keeps the rest.
  c = parse_proxy_credentials("user:pa:ss:");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "user");
  EXPECT_EQ(c->password, "pa:ss:");

  c = parse_proxy_credentials("user:");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "user");
  EXPECT_EQ(c->password, "");

  EXPECT_FALSE(parse_proxy_credentials("userpass"));
  EXPECT_FALSE(parse_proxy_credentials(""));
  EXPECT_FALSE(parse_proxy_credentials(":pass"));
  EXPECT_FALSE(parse_proxy_credentials(":"));
}

TEST(ProxyAuth, CheckCredentials) {
  const ProxyCredentials expected{"user", "pass"};
  EXPECT_TRUE(check_credentials("user", "pass", expected));
  EXPECT_FALSE(check_credentials("user", "pasS", expected));
  EXPECT_FALSE(check_credentials("User", "pass", expected));
  EXPECT_FALSE(check_credentials("user", "pass ", expected));
  EXPECT_FALSE(check_credentials("use", "rpass", expected));
  EXPECT_FALSE(check_credentials("", "", expected));
}

TEST(ProxyAuth, BasicHeader) {
  const ProxyCredentials expected{"user", "pass"};
  // base64("user:pass") = dXNlcjpwYXNz.
  EXPECT_TRUE(check_basic_proxy_authorization("Basic dXNlcjpwYXNz", expected));
  EXPECT_TRUE(check_basic_proxy_authorization("basic dXNlcjpwYXNz", expected));
  EXPECT_TRUE(check_basic_proxy_authorization("BASIC dXNlcjpwYXNz", expected));
  EXPECT_TRUE(check_basic_proxy_authorization("  Basic   dXNlcjpwYXNz \t", expected));
  // Wrong password (user:pasx), wrong user (usex:pass).
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYXN4", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNleDpwYXNz", expected));
  // Other schemes, or none.
  EXPECT_FALSE(check_basic_proxy_authorization("Bearer dXNlcjpwYXNz", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basicx dXNlcjpwYXNz", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("dXNlcjpwYXNz", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic ", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("", expected));
  // Malformed base64: bad length, bad characters, inner whitespace, padding in the middle.
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYXN", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYXN*", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpw YXNz", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNl=jpwYXNz", expected));
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYXNz dXNlcjpwYXNz", expected));
  // No ':' in the decoded text (base64("userpass") = dXNlcnBhc3M=).
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcnBhc3M=", expected));
}

TEST(ProxyAuth, BasicHeaderPasswordWithColon) {
  const ProxyCredentials expected{"user", "pa:ss"};
  // base64("user:pa:ss") = dXNlcjpwYTpzcw==.
  EXPECT_TRUE(check_basic_proxy_authorization("Basic dXNlcjpwYTpzcw==", expected));
  // base64("user:pa") = dXNlcjpwYQ==.
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYQ==", expected));
  // Padding may not be dropped.
  EXPECT_FALSE(check_basic_proxy_authorization("Basic dXNlcjpwYTpzcw", expected));
}

TEST(ProxyAuth, RequiredResponseParses) {
  const std::string response = proxy_auth_required_response();
  EXPECT_EQ(response.rfind("HTTP/1.1 407 ", 0), 0U) << response;

  Http1Parser parser(Http1Parser::Kind::kResponse);
  HttpParseEvents events;
  parser.feed(response, events);
  ASSERT_FALSE(parser.failed());
  ASSERT_GE(events.size(), 2U);
  const auto* head = std::get_if<HttpHead>(&events.front());
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->status, 407);
  EXPECT_EQ(head->reason, "Proxy Authentication Required");
  EXPECT_FALSE(head->keep_alive);
  const std::string* challenge = find_header(head->headers, "proxy-authenticate");
  ASSERT_NE(challenge, nullptr);
  EXPECT_EQ(*challenge, "Basic realm=\"sightglass\"");
  const std::string* type = find_header(head->headers, "Content-Type");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->rfind("text/plain", 0), 0U);
  const std::string* connection = find_header(head->headers, "Connection");
  ASSERT_NE(connection, nullptr);
  EXPECT_EQ(*connection, "close");

  std::string body;
  bool ended = false;
  for (const HttpParseEvent& event : events) {
    if (const auto* data = std::get_if<HttpBodyData>(&event)) {
      body += data->data;
    }
    ended = ended || std::holds_alternative<HttpMessageEnd>(event);
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(body, "Proxy authentication required\n");
  ASSERT_TRUE(head->content_length);
  EXPECT_EQ(*head->content_length, body.size());
}

}  // namespace
}  // namespace sightglass::core
