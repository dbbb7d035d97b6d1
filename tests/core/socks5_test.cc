#include "core/layers/socks5.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/support/playbook.h"

namespace sightglass::core {
namespace {

using Status = Socks5Handshake::Status;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

// request builds a request: VER CMD RSV ATYP |address| PORT.
std::string request(int command, int atyp, const std::string& address, uint16_t port) {
  return bytes({5, command, 0, atyp}) + address + bytes({port >> 8, port & 0xff});
}

std::string domain(const std::string& name) {
  return bytes({static_cast<int>(name.size())}) + name;
}

std::string auth(const std::string& user, const std::string& password) {
  return bytes({1, static_cast<int>(user.size())}) + user +
         bytes({static_cast<int>(password.size())}) + password;
}

ProxyCredentials creds() { return ProxyCredentials{"alice", "s3cret:pw"}; }

// Outcome is everything a handshake produced, for comparing runs.
struct Outcome {
  Status status = Status::kNeedMore;
  std::string reply;
  std::string error;
  std::string host;
  uint16_t port = 0;
  uint8_t atyp = 0;
  std::string remainder;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "status=" << static_cast<int>(o.status) << " reply=";
  for (const char c : o.reply) {
    os << static_cast<int>(static_cast<uint8_t>(c)) << ',';
  }
  return os << " error=" << o.error << " host=" << o.host << " port=" << o.port
            << " atyp=" << static_cast<int>(o.atyp) << " remainder=" << o.remainder;
}

Outcome finish(Socks5Handshake& h, Status status, std::string reply) {
  Outcome o;
  o.status = status;
  o.reply = std::move(reply);
  o.error = h.error();
  if (status == Status::kConnect) {
    o.host = h.host();
    o.port = h.port();
    o.atyp = h.address_type();
    o.remainder = h.take_remainder();
  }
  return o;
}

Outcome run(const std::optional<ProxyCredentials>& credentials, const std::string& input) {
  Socks5Handshake h(credentials);
  std::string reply;
  const Status status = h.feed(input, &reply);
  return finish(h, status, std::move(reply));
}

// run_split feeds |input| in the pieces cut at |cuts| (ascending offsets).
Outcome run_split(const std::optional<ProxyCredentials>& credentials, const std::string& input,
                  const std::vector<size_t>& cuts) {
  Socks5Handshake h(credentials);
  std::string reply;
  Status status = Status::kNeedMore;
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    status = h.feed(std::string_view(input).substr(start, end - start), &reply);
    start = end;
  }
  return finish(h, status, std::move(reply));
}

TEST(Socks5, NoAuthConnectIpv4) {
  const Outcome o =
      run(std::nullopt, bytes({5, 1, 0}) + request(1, 1, bytes({93, 184, 216, 34}), 443));
  EXPECT_EQ(o.status, Status::kConnect) << o.error;
  EXPECT_EQ(o.reply, bytes({5, 0}));
  EXPECT_EQ(o.host, "93.184.216.34");
  EXPECT_EQ(o.port, 443);
  EXPECT_EQ(o.atyp, Socks5Handshake::kAddressIpv4);
  EXPECT_EQ(o.remainder, "");
  EXPECT_EQ(o.error, "");
}

TEST(Socks5, NoAuthConnectIpv6) {
  const std::string loopback = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  Outcome o = run(std::nullopt, bytes({5, 1, 0}) + request(1, 4, loopback, 8080));
  EXPECT_EQ(o.status, Status::kConnect) << o.error;
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.atyp, Socks5Handshake::kAddressIpv6);

  const std::string doc = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34});
  o = run(std::nullopt, bytes({5, 1, 0}) + request(1, 4, doc, 65535));
  EXPECT_EQ(o.status, Status::kConnect) << o.error;
  EXPECT_EQ(o.host, "2001:db8::1234");
  EXPECT_EQ(o.port, 65535);
}

TEST(Socks5, NoAuthConnectDomain) {
  // The client may offer several methods; the no-auth one is chosen.
  const Outcome o =
      run(std::nullopt, bytes({5, 2, 2, 0}) + request(1, 3, domain("example.com"), 80));
  EXPECT_EQ(o.status, Status::kConnect) << o.error;
  EXPECT_EQ(o.reply, bytes({5, 0}));
  EXPECT_EQ(o.host, "example.com");
  EXPECT_EQ(o.port, 80);
  EXPECT_EQ(o.atyp, Socks5Handshake::kAddressDomain);
}

TEST(Socks5, NeedsMoreUntilTheRequestIsComplete) {
  const std::string input = bytes({5, 1, 0}) + request(1, 3, domain("example.com"), 443);
  for (size_t n = 0; n < input.size(); ++n) {
    const Outcome o = run(std::nullopt, input.substr(0, n));
    EXPECT_EQ(o.status, Status::kNeedMore) << n;
    EXPECT_EQ(o.reply, n >= 3 ? bytes({5, 0}) : "") << n;
  }
  EXPECT_EQ(run(std::nullopt, input).status, Status::kConnect);
}

TEST(Socks5, EverySplitGivesTheSameResult) {
  const std::string no_auth =
      bytes({5, 1, 0}) + request(1, 3, domain("example.com"), 443) + "GET / HTTP/1.1\r\n";
  const std::string with_auth = bytes({5, 2, 0, 2}) + auth("alice", "s3cret:pw") +
                                request(1, 1, bytes({10, 0, 0, 1}), 8443) + "\x16\x03\x01";
  const std::string wrong_password =
      bytes({5, 1, 2}) + auth("alice", "nope") + request(1, 1, bytes({10, 0, 0, 1}), 1);
  struct Case {
    std::optional<ProxyCredentials> credentials;
    std::string input;
    Status expected;
  };
  for (const Case& c :
       {Case{std::nullopt, no_auth, Status::kConnect}, Case{creds(), with_auth, Status::kConnect},
        Case{creds(), wrong_password, Status::kFailed}}) {
    const Outcome whole = run(c.credentials, c.input);
    ASSERT_EQ(whole.status, c.expected) << whole;
    // Byte by byte.
    std::vector<size_t> every;
    for (size_t i = 1; i < c.input.size(); ++i) {
      every.push_back(i);
    }
    EXPECT_EQ(run_split(c.credentials, c.input, every), whole);
    // Every single cut, and every pair of cuts.
    for (size_t i = 0; i <= c.input.size(); ++i) {
      EXPECT_EQ(run_split(c.credentials, c.input, {i}), whole) << i;
      for (size_t j = i; j <= c.input.size(); ++j) {
        EXPECT_EQ(run_split(c.credentials, c.input, {i, j}), whole) << i << "," << j;
      }
    }
  }
}

TEST(Socks5, PipelinedRemainder) {
  Socks5Handshake h(std::nullopt);
  std::string reply;
  EXPECT_EQ(
      h.feed(bytes({5, 1, 0}) + request(1, 1, bytes({127, 0, 0, 1}), 80) + "GET / HT", &reply),
      Status::kConnect);
  EXPECT_EQ(reply, bytes({5, 0}));
  // Bytes fed after kConnect join the remainder; nothing more is replied.
  EXPECT_EQ(h.feed("TP/1.1\r\n", &reply), Status::kConnect);
  EXPECT_EQ(reply, bytes({5, 0}));
  EXPECT_EQ(h.take_remainder(), "GET / HTTP/1.1\r\n");
  EXPECT_EQ(h.take_remainder(), "");
}

TEST(Socks5, UserPassSuccess) {
  Socks5Handshake h(creds());
  std::string reply;
  EXPECT_EQ(h.feed(bytes({5, 1, 2}), &reply), Status::kNeedMore);
  EXPECT_EQ(reply, bytes({5, 2}));
  reply.clear();
  EXPECT_EQ(h.feed(auth("alice", "s3cret:pw"), &reply), Status::kNeedMore);
  EXPECT_EQ(reply, bytes({1, 0}));
  reply.clear();
  EXPECT_EQ(h.feed(request(1, 3, domain("example.org"), 443), &reply), Status::kConnect);
  EXPECT_EQ(reply, "");
  EXPECT_EQ(h.host(), "example.org");
  EXPECT_EQ(h.port(), 443);
}

TEST(Socks5, WrongPasswordGetsAuthFailure) {
  Socks5Handshake h(creds());
  std::string reply;
  EXPECT_EQ(h.feed(bytes({5, 1, 2}), &reply), Status::kNeedMore);
  reply.clear();
  EXPECT_EQ(h.feed(auth("alice", "s3cret:pX"), &reply), Status::kFailed);
  EXPECT_EQ(reply, bytes({1, 1}));
  EXPECT_EQ(h.error(), "SOCKS5: wrong username or password for user \"alice\"");
  // A failed handshake stays failed and says nothing more.
  reply.clear();
  EXPECT_EQ(h.feed(request(1, 1, bytes({1, 2, 3, 4}), 80), &reply), Status::kFailed);
  EXPECT_EQ(reply, "");
  EXPECT_EQ(h.status(), Status::kFailed);
}

TEST(Socks5, WrongUserOrTruncatedSecretsFail) {
  for (const std::string& msg : {auth("bob", "s3cret:pw"), auth("alice", "s3cret"),
                                 auth("alice", ""), auth("", ""), auth("alic", "es3cret:pw")}) {
    const Outcome o = run(creds(), bytes({5, 1, 2}) + msg);
    EXPECT_EQ(o.status, Status::kFailed);
    EXPECT_EQ(o.reply, bytes({5, 2, 1, 1}));
  }
  // Control bytes in the user name do not break the one-line error.
  const Outcome o = run(creds(), bytes({5, 1, 2}) + auth("a\n\"b", "x"));
  EXPECT_EQ(o.error, "SOCKS5: wrong username or password for user \"a\\x0a\\x22b\"");
}

TEST(Socks5, NoAuthOfferedWhenCredentialsRequired) {
  const Outcome o = run(creds(), bytes({5, 1, 0}));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0xff}));
  EXPECT_NE(o.error.find("SOCKS5: the client offered no acceptable authentication method"),
            std::string::npos)
      << o.error;
  // And the other way round: user/pass only, with no credentials configured.
  EXPECT_EQ(run(std::nullopt, bytes({5, 1, 2})).reply, bytes({5, 0xff}));
  // No methods at all.
  EXPECT_EQ(run(std::nullopt, bytes({5, 0})).reply, bytes({5, 0xff}));
}

TEST(Socks5, AuthSubnegotiationVersionMustBeOne) {
  const Outcome o = run(creds(), bytes({5, 1, 2, 5, 1, 'a', 1, 'b'}));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 2, 1, 1}));
  EXPECT_EQ(o.error, "SOCKS5: unsupported username/password subnegotiation version 5");
}

TEST(Socks5, BindAndUdpAssociateAreRefused) {
  Outcome o = run(std::nullopt, bytes({5, 1, 0}) + request(2, 1, bytes({1, 2, 3, 4}), 80));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0}) + bytes({5, 7, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(o.error, "SOCKS5: unsupported command BIND");

  o = run(std::nullopt, bytes({5, 1, 0}) + request(3, 3, domain("a.b"), 53));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0}) + Socks5Handshake::failure_reply(7));
  EXPECT_EQ(o.error, "SOCKS5: unsupported command UDP ASSOCIATE");

  // The refusal waits for the whole request, so the client's bytes are read before closing.
  o = run(std::nullopt, bytes({5, 1, 0}) + request(2, 1, bytes({1, 2, 3, 4}), 80).substr(0, 9));
  EXPECT_EQ(o.status, Status::kNeedMore);
}

TEST(Socks5, UnknownAddressTypeIsRefused) {
  const Outcome o = run(std::nullopt, bytes({5, 1, 0, 5, 1, 0, 2}));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0}) + bytes({5, 8, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(o.error, "SOCKS5: unsupported address type 2");
}

TEST(Socks5, EmptyOrInvalidDomainIsRefused) {
  Outcome o = run(std::nullopt, bytes({5, 1, 0}) + request(1, 3, domain(""), 80));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0}) + Socks5Handshake::failure_reply(1));
  EXPECT_NE(o.error.find("empty domain name"), std::string::npos) << o.error;

  o = run(std::nullopt, bytes({5, 1, 0}) + request(1, 3, domain(std::string("evil\0.com", 9)), 80));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_NE(o.error.find("invalid domain name"), std::string::npos) << o.error;
}

TEST(Socks5, NotASocks5Client) {
  // SOCKS4 CONNECT: nothing is sent back.
  Outcome o = run(std::nullopt, bytes({4, 1, 0, 80, 127, 0, 0, 1, 0}));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, "");
  EXPECT_EQ(o.error, "SOCKS5: not a SOCKS5 client (version 4)");
  // Decided from the first byte alone.
  EXPECT_EQ(run(std::nullopt, bytes({4})).status, Status::kFailed);
  o = run(std::nullopt, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, "");
  // A request with the wrong version after a good greeting.
  o = run(std::nullopt, bytes({5, 1, 0, 4, 1, 0, 1}));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_EQ(o.reply, bytes({5, 0}));
}

TEST(Socks5, Replies) {
  EXPECT_EQ(Socks5Handshake::success_reply(), bytes({5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Socks5Handshake::failure_reply(Socks5Handshake::kConnectionRefused),
            bytes({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Socks5Handshake::kGeneralFailure, 1);
  EXPECT_EQ(Socks5Handshake::kNotAllowed, 2);
  EXPECT_EQ(Socks5Handshake::kNetworkUnreachable, 3);
  EXPECT_EQ(Socks5Handshake::kHostUnreachable, 4);
  EXPECT_EQ(Socks5Handshake::kConnectionRefused, 5);
  EXPECT_EQ(Socks5Handshake::kTtlExpired, 6);
  EXPECT_EQ(Socks5Handshake::kCommandNotSupported, 7);
  EXPECT_EQ(Socks5Handshake::kAddressTypeNotSupported, 8);
}

// --- The SOCKS5 layer of ProxySession ----------------------------------------------------------

// socks5_config is a SOCKS5 proxy (with |credentials| when given).
ProxyConfig socks5_config(std::optional<ProxyCredentials> credentials = std::nullopt) {
  ProxyConfig config;
  config.mode = ProxyConfig::Mode::kSocks5;
  config.body_limit = 1024;
  config.proxy_credentials = std::move(credentials);
  return config;
}

// finished is the PublishFlow of a finished flow with |error| (compared by its description).
PublishFlow finished(std::string error) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->state = FlowState::kFinished;
  flow->error = std::move(error);
  return PublishFlow{flow};
}

TEST(Socks5Session, EachFailureToConnectGetsItsReplyCode) {
  struct Case {
    OpenCompleted::Failure failure;
    uint8_t code;
  };
  for (const Case& c :
       {Case{OpenCompleted::Failure::kDns, Socks5Handshake::kHostUnreachable},
        Case{OpenCompleted::Failure::kRefused, Socks5Handshake::kConnectionRefused},
        Case{OpenCompleted::Failure::kTimeout, Socks5Handshake::kTtlExpired},
        Case{OpenCompleted::Failure::kUnreachable, Socks5Handshake::kNetworkUnreachable},
        Case{OpenCompleted::Failure::kOther, Socks5Handshake::kGeneralFailure}}) {
    SCOPED_TRACE(static_cast<int>(c.failure));
    test::SessionPlaybook session(socks5_config());
    OpenConnection open;
    const std::string error = "cannot open the tunnel to 192.0.2.7:25: it failed";
    test::Playbook pb(session.handler());
    pb >> Start{} << RequestWakeup{0, 30'000}  // The first byte's limit.
        >> DataReceived{kClientConn, bytes({5, 1, 0})}
               << CancelWakeup{0} << RequestWakeup{0, 30'000}  // Now the handshake's.
               << SendData{kClientConn, bytes({5, 0})} >>
        DataReceived{kClientConn, request(1, 1, bytes({192, 0, 2, 7}), 25)}
            << CancelWakeup{0} << test::open_to(1, "192.0.2.7", 25, false, &open) >>
        [&] {
          OpenCompleted failed;
          failed.id = open.id;
          failed.conn = open.conn;
          failed.error = "it failed";
          failed.failure = c.failure;
          return Event(failed);
        } << SendData{kClientConn, Socks5Handshake::failure_reply(c.code)}
          << Log{Log::Level::kInfo, error} << finished(error) << CloseConnection{kClientConn};
    ASSERT_TRUE(pb.check());
  }
}

TEST(Socks5Session, ConnectedTunnelAnswersOnceOpenThenRelaysWhatIsNotHttp) {
  test::SessionPlaybook session(socks5_config(creds()));
  OpenConnection open;
  test::Playbook pb(session.handler());
  pb.ignore<RequestWakeup>().ignore<CancelWakeup>();  // The client's limits: tested above.
  pb >> DataReceived{kClientConn, bytes({5, 1, 2})} << SendData{kClientConn, bytes({5, 2})} >>
      DataReceived{kClientConn, auth("alice", "s3cret:pw")} << SendData{kClientConn, bytes({1, 0})}
      // The request and the client's first bytes (not TLS, not HTTP) in one read: they wait for
      // the tunnel.
      >> DataReceived{kClientConn,
                      request(1, 3, domain("db.test"), 5432) + bytes({0, 0, 0, 8, 4, 210, 22, 47})}
             << test::open_to(1, "db.test", 5432, false, &open) >>
      [&] { return Event(test::completed(open)); }
          << SendData{kClientConn, Socks5Handshake::success_reply()}
          << test::expect<PublishFlow>()                       // The relay's live flow.
          << SendData{1, bytes({0, 0, 0, 8, 4, 210, 22, 47})}  // PostgreSQL's SSLRequest.
          << test::expect<PublishFlow>()                       // Connected.
      >> DataReceived{1, "N"} << SendData{kClientConn, "N"};
  ASSERT_TRUE(pb.check());
}

TEST(Socks5Session, WrongPasswordIsAnsweredRefusedAndLogged) {
  test::SessionPlaybook session(socks5_config(ProxyCredentials{"u", "p"}));
  const std::string error = "SOCKS5: wrong username or password for user \"u\"";
  test::Playbook pb(session.handler());
  pb >> DataReceived{kClientConn, bytes({5, 1, 2})} << SendData{kClientConn, bytes({5, 2})} >>
      DataReceived{kClientConn, auth("u", "x")}
          << SendData{kClientConn, bytes({1, 1})} << Log{Log::Level::kWarn, error}
          << finished(error)
          << CloseConnection{kClientConn}  // Nothing the client sends afterwards is read.
      >> DataReceived{kClientConn, request(1, 1, bytes({1, 2, 3, 4}), 80)};
  ASSERT_TRUE(pb.check());
}

}  // namespace
}  // namespace sightglass::core
