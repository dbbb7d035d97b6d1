// The replay token, sans-I/O: the HTTP layer turns X-Sightglass-Replay into a replay mark only
// when it carries the run's token, and removes it before the request goes upstream or is
// logged; any other value is the client's own header and goes through unchanged.
#include "core/layers/replay_mark.h"

#include <gtest/gtest.h>

#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using test::flows;
using test::sent_to;
using test::SessionPlaybook;
using test::single_open;

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

TEST(ReplayMark, OnlyTheTokenMarksAndOnlyItsHeaderIsRemoved) {
  Headers headers = {{"Host", "a"}, {"x-sightglass-replay", kToken}, {"X-Other", "1"}};
  EXPECT_TRUE(take_replay_mark(headers, kToken));
  EXPECT_EQ(headers, (Headers{{"Host", "a"}, {"X-Other", "1"}}));

  Headers wrong = {{"X-Sightglass-Replay", "0123456789abcdef0123456789abcdee"},
                   {"X-Sightglass-Replay", "short"}};
  const Headers before = wrong;
  EXPECT_FALSE(take_replay_mark(wrong, kToken));
  EXPECT_EQ(wrong, before);

  // Without a token (a proxy that never replays) nothing is a replay, not even an empty value.
  Headers empty = {{"X-Sightglass-Replay", ""}};
  EXPECT_FALSE(take_replay_mark(empty, ""));
  EXPECT_EQ(empty.size(), 1u);

  // Surrounding whitespace is not part of a header value.
  Headers spaced = {{"X-Sightglass-Replay", std::string(" ") + kToken + "\t"}};
  EXPECT_TRUE(take_replay_mark(spaced, kToken));
  EXPECT_TRUE(spaced.empty());
}

ProxyConfig with_token() {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kRegular;
  config.replay_token = kToken;
  return config;
}

TEST(ReplayMark, TheLayerStripsTheTokenAndMarksTheFlow) {
  SessionPlaybook pb(with_token());
  const OpenConnection open = single_open(
      pb.client(std::string("POST http://example.test/r HTTP/1.1\r\nHost: example.test\r\n"
                            "X-Sightglass-Replay: ") +
                kToken + "\r\nContent-Length: 2\r\n\r\nhi"));
  const Commands c = pb.open_ok(open);
  EXPECT_EQ(sent_to(c, open.conn),
            "POST /r HTTP/1.1\r\nHost: example.test\r\nContent-Length: 2\r\n\r\nhi")
      << pb.log();
  const Commands r = pb.server(open.conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const auto done = flows(r);
  ASSERT_EQ(done.size(), 1u) << pb.log();
  EXPECT_TRUE(done[0]->replay);
  EXPECT_EQ(find_header(done[0]->request->headers, "X-Sightglass-Replay"), nullptr);
  // Every snapshot of the flow, live ones too, carries the mark.
  const auto published = test::all_of<PublishFlow>(pb.all());
  EXPECT_GE(published.size(), 2u);
  for (const auto& p : published) {
    EXPECT_TRUE(p.flow->replay) << p.flow->revision;
  }
}

TEST(ReplayMark, AWrongTokenIsTheClientsOwnHeader) {
  for (const ProxyConfig& config : {with_token(), ProxyConfig{}}) {
    SessionPlaybook pb(config);
    const std::string head =
        "GET http://example.test/r HTTP/1.1\r\nHost: example.test\r\n"
        "X-Sightglass-Replay: 0123456789abcdef0123456789abcdee\r\n\r\n";
    const OpenConnection open = single_open(pb.client(head));
    const Commands c = pb.open_ok(open);
    EXPECT_EQ(sent_to(c, open.conn),
              "GET /r HTTP/1.1\r\nHost: example.test\r\n"
              "X-Sightglass-Replay: 0123456789abcdef0123456789abcdee\r\n\r\n");
    const Commands r = pb.server(open.conn, "HTTP/1.1 204 No Content\r\n\r\n");
    const auto done = flows(r);
    ASSERT_EQ(done.size(), 1u) << pb.log();
    EXPECT_FALSE(done[0]->replay);
    ASSERT_NE(find_header(done[0]->request->headers, "X-Sightglass-Replay"), nullptr);
  }
}

}  // namespace
}  // namespace sightglass::core
