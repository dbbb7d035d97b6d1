// The intercept editor's model: a held flow as text fields and back.
#include "gui/model/intercept_edit.h"

#include <gtest/gtest.h>

namespace sightglass::gui {
namespace {

core::HeldFlow held_request() {
  core::HeldFlow held;
  held.point = core::HookPoint::kRequest;
  core::HttpRequestData& request = held.flow.request.emplace();
  request.method = "POST";
  request.scheme = "http";
  request.host = "example.test";
  request.port = 80;
  request.target = "/form?a=1";
  request.headers = {{"Host", "example.test"}, {"Content-Type", "text/plain"}};
  held.body = "name=value";
  return held;
}

TEST(InterceptEdit, FieldsRoundTripAndEditsGoIntoTheFlow) {
  core::HeldFlow held = held_request();
  InterceptEdit edit = make_edit(7, held);
  EXPECT_EQ(edit.id, 7u);
  EXPECT_EQ(edit.method, "POST");
  EXPECT_EQ(edit.url, "http://example.test/form?a=1");
  EXPECT_EQ(edit.headers, "Host: example.test\nContent-Type: text/plain\n");
  EXPECT_TRUE(edit.body_editable);
  EXPECT_EQ(edit.body, "name=value");

  edit.method = "PUT";
  edit.headers += "X-Added:  spaced value \r\n\n";
  edit.body = "changed";
  std::string error;
  ASSERT_TRUE(apply_edit(edit, &held, &error)) << error;
  EXPECT_EQ(held.flow.request->method, "PUT");
  ASSERT_EQ(held.flow.request->headers.size(), 3u);
  EXPECT_EQ(held.flow.request->headers[2], (core::Header{"X-Added", "spaced value"}));
  EXPECT_EQ(held.body, "changed");
}

TEST(InterceptEdit, ANewUrlMovesHostUnlessTheHostLineWasEdited) {
  core::HeldFlow held = held_request();
  InterceptEdit edit = make_edit(1, held);
  edit.url = "https://other.test:8443/x";
  std::string error;
  ASSERT_TRUE(apply_edit(edit, &held, &error)) << error;
  EXPECT_EQ(held.flow.request->url(), "https://other.test:8443/x");
  EXPECT_EQ(*core::find_header(held.flow.request->headers, "Host"), "other.test:8443");

  core::HeldFlow typed = held_request();
  edit = make_edit(1, typed);
  edit.url = "http://third.test/";
  edit.headers = "Host: chosen.test\n";
  ASSERT_TRUE(apply_edit(edit, &typed, &error)) << error;
  EXPECT_EQ(typed.flow.request->host, "third.test");
  EXPECT_EQ(*core::find_header(typed.flow.request->headers, "Host"), "chosen.test");
}

TEST(InterceptEdit, BadFieldsAreRefusedAndChangeNothing) {
  core::HeldFlow held = held_request();
  std::string error;
  InterceptEdit edit = make_edit(1, held);
  edit.headers = "Host: x\nno colon here\n";
  EXPECT_FALSE(apply_edit(edit, &held, &error));
  EXPECT_EQ(error, "header line 2 is not \"Name: value\"");
  edit = make_edit(1, held);
  edit.url = "ftp://example.test/";
  EXPECT_FALSE(apply_edit(edit, &held, &error));
  edit = make_edit(1, held);
  edit.method = "TWO WORDS";
  EXPECT_FALSE(apply_edit(edit, &held, &error));
  EXPECT_EQ(held.flow.request->method, "POST");
  EXPECT_EQ(held.flow.request->headers.size(), 2u);
}

TEST(InterceptEdit, ResponsesEditStatusAndOnlyPlainCompleteBodiesAreEditable) {
  core::HeldFlow held = held_request();
  held.point = core::HookPoint::kResponse;
  core::HttpResponseData& response = held.flow.response.emplace();
  response.status = 200;
  response.reason = "OK";
  response.headers = {{"Content-Encoding", "gzip"}};
  held.body = std::string("\x1f\x8b", 2);
  InterceptEdit edit = make_edit(1, held);
  EXPECT_FALSE(edit.body_editable);
  EXPECT_EQ(edit.body_note, "the body is gzip-encoded: it goes on unchanged");
  edit.status = 404;
  edit.body = "ignored";
  std::string error;
  ASSERT_TRUE(apply_edit(edit, &held, &error)) << error;
  EXPECT_EQ(held.flow.response->status, 404);
  EXPECT_EQ(held.flow.response->reason, "Not Found");
  EXPECT_EQ(held.body, std::string("\x1f\x8b", 2));
  held.body_complete = false;
  EXPECT_FALSE(make_edit(1, held).body_editable);
  edit = make_edit(1, held);
  edit.status = 1000;
  EXPECT_FALSE(apply_edit(edit, &held, &error));
}

}  // namespace
}  // namespace sightglass::gui
