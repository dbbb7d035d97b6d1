// Http2Layer's hold points without sockets: a held stream waits for its HookResumed while its
// siblings go on; what the resumed flow says is what goes to the server or the client.
#include <gtest/gtest.h>

#include "tests/core/h2_harness.h"

namespace sightglass::core {
namespace {

using h2test::get;
using h2test::H2Peer;
using h2test::Harness;
using h2test::value_of;

using HoldAll = test::HoldAt;

const Hook* hook_for(const Harness& h, const std::string& path) {
  for (const Hook& hook : h.hooks) {
    if (hook.held && hook.held->flow.request && hook.held->flow.request->target == path) {
      return &hook;
    }
  }
  return nullptr;
}

TEST(Http2Hold, AHeldStreamDoesNotHoldBackItsSiblings) {
  Harness h;
  HoldAll hooks(true, false);
  h.config_.hooks = &hooks;
  const int32_t a = h.client.request(get("/a"));
  const int32_t b = h.client.request(get("/b"));
  const int32_t c = h.client.request(get("/c"));
  h.run();
  ASSERT_EQ(h.hooks.size(), 3u);
  EXPECT_TRUE(h.server().completed.empty()) << "a request went on before its hook";
  // /b goes on alone (with an edited header); /a and /c stay held.
  const Hook* hook_b = hook_for(h, "/b");
  ASSERT_NE(hook_b, nullptr);
  hook_b->held->flow.request->headers.push_back({"x-edited", "yes"});
  h.feed(HookResumed{hook_b->id, hook_b->held});
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const int32_t server_b = h.server().completed[0];
  EXPECT_EQ(value_of(h.server().messages[server_b].headers, ":path"), "/b");
  EXPECT_EQ(value_of(h.server().messages[server_b].headers, "x-edited"), "yes");
  h.server().respond(server_b, {{":status", "200"}}, std::string("bee"));
  h.server().completed.clear();
  h.run();
  EXPECT_TRUE(h.client.messages[b].ended);
  EXPECT_EQ(h.client.messages[b].body, "bee");
  EXPECT_FALSE(h.client.messages[a].head_done);
  EXPECT_FALSE(h.client.messages[c].head_done);
  // The others resume later and complete as usual.
  for (const char* path : {"/a", "/c"}) {
    const Hook* hook = hook_for(h, path);
    ASSERT_NE(hook, nullptr);
    h.feed(HookResumed{hook->id, hook->held});
  }
  h.run();
  EXPECT_EQ(h.server().completed.size(), 2u);
  for (int32_t id : h.server().completed) {
    h.server().respond(id, {{":status", "200"}}, std::string("ok"));
  }
  h.run();
  EXPECT_EQ(h.client.messages[a].body, "ok");
  EXPECT_EQ(h.client.messages[c].body, "ok");
  EXPECT_EQ(h.flows.size(), 3u);
}

TEST(Http2Hold, AnEditedRequestBodyIsWhatTheServerGets) {
  Harness h;
  HoldAll hooks(true, false);
  h.config_.hooks = &hooks;
  Headers post = get("/up");
  post[0].value = "POST";
  post.push_back({"content-length", "3"});
  h.client.request(post, std::string("abc"));
  h.run();
  ASSERT_EQ(h.hooks.size(), 1u);
  const Hook& hook = h.hooks[0];
  EXPECT_EQ(hook.held->body, "abc");
  EXPECT_TRUE(hook.held->body_complete);
  hook.held->body = "abcdefgh";
  hook.held->note = "test edit";
  h.feed(HookResumed{hook.id, hook.held});
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  const test::H2Message& got = h.server().messages[h.server().completed[0]];
  EXPECT_EQ(got.body, "abcdefgh");
  EXPECT_EQ(value_of(got.headers, "content-length"), "8");
  h.server().respond(h.server().completed[0], {{":status", "200"}}, std::string("ok"));
  h.run();
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->request->body.contiguous(), "abcdefgh");
  EXPECT_EQ(h.flows[0]->modified, "test edit");
}

TEST(Http2Hold, TheResponseWaitsAndItsEditsReachTheClient) {
  Harness h;
  HoldAll hooks(false, true);
  h.config_.hooks = &hooks;
  const int32_t id = h.client.request(get("/r"));
  h.run();
  ASSERT_EQ(h.server().completed.size(), 1u);
  h.server().respond(h.server().completed[0], {{":status", "200"}, {"x-s", "1"}},
                     std::string("original"));
  h.run();
  EXPECT_FALSE(h.client.messages[id].head_done) << "the response went on before its hook";
  ASSERT_EQ(h.hooks.size(), 1u);
  const Hook& hook = h.hooks[0];
  EXPECT_EQ(hook.held->point, HookPoint::kResponse);
  EXPECT_EQ(hook.held->body, "original");
  hook.held->flow.response->status = 203;
  hook.held->body = "changed!!";
  h.feed(HookResumed{hook.id, hook.held});
  h.run();
  EXPECT_TRUE(h.client.messages[id].ended);
  EXPECT_EQ(value_of(h.client.messages[id].headers, ":status"), "203");
  EXPECT_EQ(value_of(h.client.messages[id].headers, "x-s"), "1");
  EXPECT_EQ(value_of(h.client.messages[id].headers, "content-length"), "9");
  EXPECT_EQ(h.client.messages[id].body, "changed!!");
  ASSERT_EQ(h.flows.size(), 1u);
  EXPECT_EQ(h.flows[0]->response->status, 203);
}

TEST(Http2Hold, KillResetsTheStreamAndAnAnswerNeverAsksTheServer) {
  Harness h;
  HoldAll hooks(true, false);
  h.config_.hooks = &hooks;
  const int32_t killed = h.client.request(get("/kill"));
  const int32_t answered = h.client.request(get("/answer"));
  h.run();
  ASSERT_EQ(h.hooks.size(), 2u);
  const Hook* kill = hook_for(h, "/kill");
  const Hook* answer = hook_for(h, "/answer");
  ASSERT_TRUE(kill != nullptr && answer != nullptr);
  kill->held->kill = true;
  HttpResponseData& response = answer->held->answer.emplace();
  response.status = 403;
  response.headers = {{"Content-Type", "text/plain"}};
  answer->held->answer_body = "blocked";
  h.feed(HookResumed{kill->id, kill->held});
  h.feed(HookResumed{answer->id, answer->held});
  h.run();
  EXPECT_TRUE(h.server().completed.empty()) << "the server was asked";
  EXPECT_EQ(h.client.messages[killed].reset_code, NGHTTP2_CANCEL);
  EXPECT_EQ(value_of(h.client.messages[answered].headers, ":status"), "403");
  EXPECT_EQ(value_of(h.client.messages[answered].headers, "content-type"), "text/plain");
  EXPECT_EQ(h.client.messages[answered].body, "blocked");
  ASSERT_EQ(h.flows.size(), 2u);
  for (const auto& flow : h.flows) {
    if (flow->request->target == "/kill") {
      EXPECT_EQ(flow->error, "killed at the request hold point");
    } else {
      EXPECT_EQ(flow->response->status, 403);
      EXPECT_TRUE(flow->error.empty()) << flow->error;
    }
  }
}

TEST(Http2Hold, HeldStreamsOverAnHttp11ServerToo) {
  Harness h(Http2Layer::UpstreamProtocol::kHttp1);
  HoldAll hooks(true, true);
  h.config_.hooks = &hooks;
  const int32_t id = h.client.request(get("/h1"));
  h.run();
  ASSERT_EQ(h.hooks.size(), 1u);
  EXPECT_TRUE(h.h1_received.empty());
  h.hooks[0].held->flow.request->headers.push_back({"x-edited", "1"});
  h.feed(HookResumed{h.hooks[0].id, h.hooks[0].held});
  h.run();
  ASSERT_EQ(h.h1_received.size(), 1u);
  const ConnId conn = h.h1_received.begin()->first;
  EXPECT_NE(h.h1_received[conn].find("\r\nx-edited: 1\r\n"), std::string::npos)
      << h.h1_received[conn];
  h.feed(DataReceived{conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"});
  h.run();
  ASSERT_EQ(h.hooks.size(), 2u);
  EXPECT_FALSE(h.client.messages[id].head_done);
  h.hooks[1].held->body = "HELLO";
  h.feed(HookResumed{h.hooks[1].id, h.hooks[1].held});
  h.run();
  EXPECT_EQ(h.client.messages[id].body, "HELLO");
  EXPECT_EQ(value_of(h.client.messages[id].headers, "content-length"), "5");
}

TEST(Http2Hold, AStreamSentToAnotherServerGoesThereOverHttp11) {
  // A hook (--map-remote, an edit at the intercept) sends one stream elsewhere: it gets a
  // connection of its own, in HTTP/1.1, while its sibling stays on the layer's HTTP/2 server.
  Harness h;
  HoldAll hooks(true, false);
  h.config_.hooks = &hooks;
  const int32_t moved = h.client.request(get("/moved"));
  const int32_t stays = h.client.request(get("/stays"));
  h.run();
  ASSERT_EQ(h.hooks.size(), 2u);
  const Hook* to_move = hook_for(h, "/moved");
  ASSERT_NE(to_move, nullptr);
  HttpRequestData& request = *to_move->held->flow.request;
  request.scheme = "http";
  request.host = "mirror.test";
  request.port = 8080;
  request.target = "/v2/moved";
  h.feed(HookResumed{to_move->id, to_move->held});
  h.feed(HookResumed{hook_for(h, "/stays")->id, hook_for(h, "/stays")->held});
  h.run();
  ASSERT_EQ(h.opened.size(), 2u);  // The layer's own server, then the other one.
  const OpenConnection& other = h.opened[1];
  EXPECT_EQ(other.host, "mirror.test");
  EXPECT_EQ(other.port, 8080);
  EXPECT_FALSE(other.tls);
  ASSERT_EQ(h.h1_received.count(other.conn), 1u);
  EXPECT_TRUE(
      h.h1_received[other.conn].starts_with("GET /v2/moved HTTP/1.1\r\nhost: mirror.test:8080\r\n"))
      << h.h1_received[other.conn];
  h.feed(DataReceived{other.conn, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmirror"});
  H2Peer& origin = h.server();
  ASSERT_EQ(origin.completed.size(), 1u);
  EXPECT_EQ(value_of(origin.messages[origin.completed[0]].headers, ":path"), "/stays");
  origin.respond(origin.completed[0], {{":status", "200"}}, "origin");
  h.run();
  EXPECT_EQ(h.client.messages[moved].body, "mirror");
  EXPECT_EQ(h.client.messages[stays].body, "origin");
  const FlowSnapshot* flow = h2test::flow_for(h, "/v2/moved");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->request->url(), "http://mirror.test:8080/v2/moved");
  EXPECT_EQ(flow->original_url, "https://origin.test/moved");
}

}  // namespace
}  // namespace sightglass::core
