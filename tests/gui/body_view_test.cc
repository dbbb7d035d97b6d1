// The detail pane's body viewers without a window (gui/model/body_view.h): which viewer applies
// to which body, the flattened JSON tree and its visible rows, paging of long hex dumps, image
// decoding, "Save body…" names and files, the query/form/cookie tables, WebSocket rows and the
// gRPC summary.

#include "gui/model/body_view.h"

#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gui/model/format.h"
#include "tests/support/temp_dir.h"

namespace sightglass::gui {
namespace {

using Kind = JsonNode::Kind;

PreparedBody body_of(std::string data, std::string content_type) {
  core::CapturedBody body;
  body.append(data, 1 << 20);
  core::Headers headers;
  if (!content_type.empty()) {
    headers.push_back({"Content-Type", content_type});
  }
  return PreparedBody::prepare(body, headers);
}

// png_of encodes a |width| x |height| RGBA image whose pixel (x, y) is (x, y, 7, 255).
std::string png_of(int width, int height) {
  std::vector<unsigned char> pixels;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      pixels.insert(pixels.end(),
                    {static_cast<unsigned char>(x), static_cast<unsigned char>(y), 7, 255});
    }
  }
  std::string png;
  const auto append = [](void* context, void* data, int size) {
    try {
      static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                                 static_cast<size_t>(size));
    } catch (...) {  // A C callback: nothing may leave it.
    }
  };
  EXPECT_NE(stbi_write_png_to_func(append, &png, width, height, 4, pixels.data(), width * 4), 0);
  return png;
}

TEST(BodyViewerChoiceTest, ContentTypeAndSniffingPickTheViewer) {
  const PreparedBody json = body_of(R"({"a": 1})", "application/json; charset=utf-8");
  EXPECT_EQ(json.automatic, BodyViewer::kJson);
  EXPECT_TRUE(json.applicable(BodyViewer::kText));
  EXPECT_TRUE(json.applicable(BodyViewer::kHex));
  EXPECT_FALSE(json.applicable(BodyViewer::kImage));
  EXPECT_EQ(json.resolve(BodyViewer::kImage), BodyViewer::kJson);  // Not applicable: Auto.
  EXPECT_EQ(json.resolve(BodyViewer::kHex), BodyViewer::kHex);

  // Sniffed: JSON served as text/plain, and +json types.
  EXPECT_EQ(body_of(" \n[1, 2]", "text/plain").automatic, BodyViewer::kJson);
  EXPECT_EQ(body_of(R"({"x": null})", "").automatic, BodyViewer::kJson);
  EXPECT_EQ(body_of(R"({"title": "x"})", "application/problem+json").automatic, BodyViewer::kJson);

  // Says JSON but is not: text, with the parse error kept.
  const PreparedBody broken = body_of(R"({"a": )", "application/json");
  EXPECT_EQ(broken.automatic, BodyViewer::kText);
  EXPECT_FALSE(broken.applicable(BodyViewer::kJson));
  EXPECT_FALSE(broken.json_error.empty());

  // XML and HTML are text; a brace in HTML does not make it JSON.
  EXPECT_EQ(body_of("<?xml version=\"1.0\"?><a/>", "application/xml").automatic, BodyViewer::kText);
  const PreparedBody html = body_of("<html>{}</html>", "text/html");
  EXPECT_EQ(html.automatic, BodyViewer::kText);
  EXPECT_FALSE(html.applicable(BodyViewer::kJson));

  // Images by their magic bytes, whatever the type says.
  EXPECT_EQ(body_of(png_of(2, 2), "application/octet-stream").automatic, BodyViewer::kImage);
  EXPECT_EQ(body_of(std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10), "").image, ImageFormat::kJpeg);
  EXPECT_EQ(body_of("GIF89a\x01\x00", "image/gif").automatic, BodyViewer::kImage);
  const PreparedBody not_png = body_of("<html>404</html>", "image/png");
  EXPECT_EQ(not_png.automatic, BodyViewer::kText);
  EXPECT_FALSE(not_png.applicable(BodyViewer::kImage));

  // Binary: hex only.
  const PreparedBody binary = body_of(std::string("\x00\x01\x02\xff", 4), "");
  EXPECT_EQ(binary.automatic, BodyViewer::kHex);
  EXPECT_FALSE(binary.applicable(BodyViewer::kText));
  EXPECT_FALSE(binary.applicable(BodyViewer::kJson));
  EXPECT_TRUE(binary.applicable(BodyViewer::kHex));
}

TEST(BodyViewerChoiceTest, TruncatedBodiesSaySo) {
  core::CapturedBody captured;
  captured.append(std::string(3000, 'a'), 1000);
  const PreparedBody body = PreparedBody::prepare(captured, {{"Content-Type", "text/plain"}});
  EXPECT_TRUE(body.truncated);
  EXPECT_EQ(body.data.size(), 1000u);
  EXPECT_NE(body.note.find("truncated"), std::string::npos) << body.note;

  const PreparedBody message = PreparedBody::from_bytes("hello", "", true);
  EXPECT_NE(message.note.find("truncated"), std::string::npos);
  EXPECT_EQ(message.automatic, BodyViewer::kText);
}

std::string gzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, data.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

TEST(BodyViewerChoiceTest, GzipBodiesAreDecodedAndSaySo) {
  const std::string json = R"({"compressed": true, "items": [1, 2, 3]})";
  core::CapturedBody captured;
  captured.append(gzip(json), 1 << 20);
  const PreparedBody body = PreparedBody::prepare(
      captured, {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(body.data, json);  // What "Save body…" writes.
  EXPECT_EQ(body.encoding, "gzip");
  EXPECT_NE(body.note.find("decoded from gzip"), std::string::npos) << body.note;
  EXPECT_EQ(body.automatic, BodyViewer::kJson);
  ASSERT_TRUE(body.json);
  EXPECT_EQ(body.json->nodes.size(), 6u);
}

TEST(BodyViewerChoiceTest, UnknownContentEncodingIsShownAsStored) {
  core::CapturedBody captured;
  captured.append("plain", 100);
  const PreparedBody body = PreparedBody::prepare(
      captured, {{"Content-Type", "text/plain"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(body.data, "plain");
  EXPECT_TRUE(body.encoding.empty());
  EXPECT_NE(body.note.find("not undone"), std::string::npos) << body.note;
}

TEST(JsonTreeTest, NodesAreFlattenedInDocumentOrder) {
  std::string error;
  const auto tree = build_json_tree(R"({"a": 1.50, "b": [true, null, "x"], "c": {}})", &error);
  ASSERT_TRUE(tree) << error;
  const std::vector<JsonNode>& n = tree->nodes;
  ASSERT_EQ(n.size(), 7u);
  EXPECT_EQ(n[0].kind, Kind::kObject);
  EXPECT_EQ(n[0].children, 3u);
  EXPECT_EQ(n[0].subtree_end, 7u);
  EXPECT_EQ(n[0].parent, -1);
  EXPECT_EQ(n[1].key, "a");
  EXPECT_EQ(n[1].value, "1.50");  // Numbers as written.
  EXPECT_EQ(n[1].next_sibling, 2);
  EXPECT_EQ(n[2].key, "b");
  EXPECT_EQ(n[2].kind, Kind::kArray);
  EXPECT_EQ(n[2].children, 3u);
  EXPECT_EQ(n[2].subtree_end, 6u);
  EXPECT_EQ(n[2].next_sibling, 6);
  EXPECT_EQ(n[3].key, "[0]");
  EXPECT_EQ(n[3].value, "true");
  EXPECT_EQ(n[3].depth, 2u);
  EXPECT_EQ(n[3].parent, 2);
  EXPECT_EQ(n[4].kind, Kind::kNull);
  EXPECT_EQ(n[5].key, "[2]");
  EXPECT_EQ(n[5].value, "\"x\"");
  EXPECT_EQ(n[5].next_sibling, -1);
  EXPECT_EQ(n[6].key, "c");
  EXPECT_EQ(n[6].children, 0u);
  EXPECT_EQ(n[6].next_sibling, -1);
  EXPECT_EQ(json_kind_name(n[2].kind), "array");
}

TEST(JsonTreeTest, VisibleNodesFollowTheOpenState) {
  std::string error;
  const auto tree = build_json_tree(R"({"a": 1, "b": [true, null, "x"], "c": {"d": 2}})", &error);
  ASSERT_TRUE(tree) << error;
  std::vector<uint8_t> open = json_open_state(*tree, 100);  // Expand all.
  EXPECT_EQ(visible_json_nodes(*tree, open), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  open[2] = 0;  // Collapse "b".
  EXPECT_EQ(visible_json_nodes(*tree, open), (std::vector<uint32_t>{0, 1, 2, 6, 7}));
  open[6] = 0;  // And "c".
  EXPECT_EQ(visible_json_nodes(*tree, open), (std::vector<uint32_t>{0, 1, 2, 6}));
  open[2] = 1;  // "b" again, "c" stays closed.
  EXPECT_EQ(visible_json_nodes(*tree, open), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6}));
  open[0] = 0;  // Collapse the root: only it.
  EXPECT_EQ(visible_json_nodes(*tree, open), (std::vector<uint32_t>{0}));
  // The initial state: the root open, its children closed.
  EXPECT_EQ(visible_json_nodes(*tree, json_open_state(*tree, 1)),
            (std::vector<uint32_t>{0, 1, 2, 6}));
  EXPECT_EQ(visible_json_nodes(*tree, json_open_state(*tree, 0)), (std::vector<uint32_t>{0}));
}

TEST(JsonTreeTest, LongStringsAreCutAndBadJsonIsRefused) {
  std::string error;
  const auto tree = build_json_tree("[\"" + std::string(5000, 'z') + "\"]", &error);
  ASSERT_TRUE(tree) << error;
  const std::string& value = tree->nodes[1].value;
  EXPECT_LT(value.size(), 300u);
  EXPECT_NE(value.find("\xe2\x80\xa6"), std::string::npos);

  EXPECT_FALSE(build_json_tree(R"({"a": })", &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(build_json_tree("{} trailing", &error));
  EXPECT_FALSE(build_json_tree("", &error));
  EXPECT_FALSE(build_json_tree("[1, 2, 3, 4, 5]", &error, 3));
  EXPECT_NE(error.find("more than 3"), std::string::npos) << error;
}

TEST(JsonTreeTest, DeepNestingNeedsNoRecursion) {
  constexpr size_t kDepth = 200'000;
  const std::string text = std::string(kDepth, '[') + std::string(kDepth, ']');
  std::string error;
  const auto tree = build_json_tree(text, &error);
  ASSERT_TRUE(tree) << error;
  ASSERT_EQ(tree->nodes.size(), kDepth);
  EXPECT_EQ(tree->nodes.back().depth, kDepth - 1);
  EXPECT_EQ(tree->nodes[0].subtree_end, kDepth);
  EXPECT_EQ(visible_json_nodes(*tree, json_open_state(*tree, 10)).size(), 11u);
}

TEST(HexViewTest, A100MiBBodyIsPagedWithoutFormattingIt) {
  constexpr uint64_t kSize = uint64_t{100} << 20;
  EXPECT_EQ(hex_line_count(kSize), 6'553'600u);
  EXPECT_EQ(hex_line_count(kSize + 1), 6'553'601u);
  EXPECT_EQ(hex_line_count(0), 0u);
  EXPECT_EQ(page_count(hex_line_count(kSize)), 100u);
  EXPECT_EQ(page_count(hex_line_count(kSize + 1)), 101u);
  const LinePage last = line_page(hex_line_count(kSize + 1), 100);
  EXPECT_EQ(last.first, 6'553'600u);
  EXPECT_EQ(last.count, 1u);
  const LinePage middle = line_page(hex_line_count(kSize), 42);
  EXPECT_EQ(middle.first, 42u * kLinesPerPage);
  EXPECT_EQ(middle.count, kLinesPerPage);
  EXPECT_EQ(line_page(hex_line_count(kSize), 1000).first, 99u * kLinesPerPage);  // Clamped.
  EXPECT_EQ(line_page(0, 0).count, 0u);

  // Any line formats from its offset alone, including a short last line.
  const std::string data = "0123456789abcdefXYZ";
  EXPECT_EQ(hex_dump_line(data, 16).substr(0, 18), "00000010  58 59 5a");
  EXPECT_NE(hex_dump_line(data, 16).find("|XYZ|"), std::string::npos);
}

TEST(HexViewTest, TextLinesSplitWithoutTheirBreaks) {
  const std::string text = "one\r\ntwo\n\nfour";
  const std::vector<size_t> starts = split_lines(text);
  ASSERT_EQ(starts.size(), 4u);
  EXPECT_EQ(text_line(text, starts, 0), "one");
  EXPECT_EQ(text_line(text, starts, 1), "two");
  EXPECT_EQ(text_line(text, starts, 2), "");
  EXPECT_EQ(text_line(text, starts, 3), "four");
  EXPECT_EQ(text_line(text, starts, 4), "");

  PreparedBody json = body_of(R"({"a":[1,2]})", "application/json");
  json.ensure_text_lines();
  EXPECT_EQ(json.line_starts.size(), 6u);  // Pretty-printed for the text viewer...
  EXPECT_EQ(json.data, R"({"a":[1,2]})");  // ...but the bytes stay as received.
}

TEST(ImageTest, DecodesAPngMadeHere) {
  const std::string png = png_of(5, 3);
  ASSERT_EQ(sniff_image(png), ImageFormat::kPng);
  std::string error;
  const auto image = decode_image(png, &error);
  ASSERT_TRUE(image) << error;
  EXPECT_EQ(image->width, 5);
  EXPECT_EQ(image->height, 3);
  ASSERT_EQ(image->rgba.size(), 5u * 3u * 4u);
  const size_t pixel = (2 * 5 + 4) * 4;  // (4, 2).
  EXPECT_EQ(image->rgba[pixel], 4);
  EXPECT_EQ(image->rgba[pixel + 1], 2);
  EXPECT_EQ(image->rgba[pixel + 2], 7);

  EXPECT_FALSE(decode_image(png, &error, 4));  // Wider than allowed.
  EXPECT_NE(error.find("too large"), std::string::npos) << error;
  EXPECT_FALSE(decode_image(png.substr(0, 20), &error));  // Cut short.
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(decode_image("not an image", &error));
}

TEST(SaveBodyTest, DefaultNamesComeFromThePathAndTheType) {
  EXPECT_EQ(default_save_name("/", "application/json", "{}", "response", 42), "response-42.json");
  EXPECT_EQ(default_save_name("/api/users?page=2", "application/json", "[]", "response", 1),
            "users.json");
  EXPECT_EQ(default_save_name("/img/logo.png", "image/png", "", "response", 1), "logo.png");
  EXPECT_EQ(default_save_name("/a/My%20File", "text/html; charset=utf-8", "", "response", 1),
            "My_File.html");
  EXPECT_EQ(default_save_name("/../..", "", std::string("\x00", 1), "request", 7), "request-7.bin");
  EXPECT_EQ(default_save_name("/x/", "", "plain words", "message", 3), "message-3.txt");
  EXPECT_EQ(default_save_name("/feed", "application/rss+xml", "", "response", 1), "feed.xml");
  EXPECT_EQ(extension_for("", png_of(1, 1)), "png");
}

TEST(SaveBodyTest, WritesTheBytesAndReportsErrors) {
  test::TempDir dir;
  const std::string data("a\0b\xff", 4);
  const std::string path = (dir.path() / "body.bin").string();
  std::string error;
  ASSERT_TRUE(write_body_file(path, data, &error)) << error;
  EXPECT_EQ(test::read_file_bytes(path), data);
  ASSERT_TRUE(write_body_file(path, "second", &error)) << error;  // Replaced.
  EXPECT_EQ(test::read_file_bytes(path), "second");

  const std::string missing = (dir.path() / "no-such-dir" / "body.bin").string();
  EXPECT_FALSE(write_body_file(missing, data, &error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  EXPECT_FALSE(write_body_file(dir.path().string(), data, &error));  // A directory.
  EXPECT_FALSE(write_body_file("", data, &error));
}

TEST(ParameterTablesTest, QueryFormAndCookies) {
  const std::vector<NameValue> query = query_rows("/p?a=1&b=x+y%21&a=2");
  ASSERT_EQ(query.size(), 3u);
  EXPECT_EQ(query[1].name, "b");
  EXPECT_EQ(query[1].value, "x y!");
  EXPECT_EQ(query[2].value, "2");
  EXPECT_TRUE(query_rows("/no-query").empty());

  const std::vector<NameValue> form =
      form_rows("application/x-www-form-urlencoded; charset=UTF-8", "user=al%20b&pw=");
  ASSERT_EQ(form.size(), 2u);
  EXPECT_EQ(form[0].value, "al b");
  EXPECT_EQ(form[1].name, "pw");
  EXPECT_TRUE(form_rows("text/plain", "user=x").empty());

  const std::vector<NameValue> cookies = cookie_rows({{"Cookie", "sid=abc; theme=dark"}});
  ASSERT_EQ(cookies.size(), 2u);
  EXPECT_EQ(cookies[1].name, "theme");
  EXPECT_EQ(cookies[1].value, "dark");

  const std::vector<NameValue> set =
      set_cookie_rows({{"Set-Cookie", "sid=xyz; Path=/; HttpOnly; Secure; SameSite=Lax"},
                       {"Content-Type", "text/html"},
                       {"set-cookie", "b=2"}},
                      1'700'000'000'000'000);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set[0].name, "sid");
  EXPECT_EQ(set[0].value, "xyz");
  EXPECT_EQ(set[0].attributes, "Path=/; SameSite=Lax; HttpOnly; Secure");
  EXPECT_EQ(set[1].attributes, "");
}

TEST(WebSocketRowsTest, NamesTimesAndPreviews) {
  EXPECT_EQ(websocket_opcode_name(1), "text");
  EXPECT_EQ(websocket_opcode_name(2), "binary");
  EXPECT_EQ(websocket_opcode_name(8), "close");
  EXPECT_EQ(websocket_opcode_name(9), "ping");
  EXPECT_EQ(websocket_opcode_name(10), "pong");
  EXPECT_EQ(websocket_direction(true), "\xe2\x86\x92 send");
  EXPECT_EQ(websocket_direction(false), "\xe2\x86\x90 receive");
  EXPECT_EQ(format_relative_ms(0), "0.000");
  EXPECT_EQ(format_relative_ms(1'234'567), "1234.567");

  core::WebSocketMessage close;
  close.opcode = 8;
  close.data = std::string("\x03\xe8") + "bye";
  EXPECT_EQ(websocket_preview(close), "1000 bye");
  core::WebSocketMessage binary;
  binary.opcode = 2;
  binary.data = std::string("\x00\x01\xff", 3);
  EXPECT_EQ(websocket_preview(binary), "00 01 ff");
  core::WebSocketMessage text;
  text.data = "line\nnext";
  EXPECT_EQ(websocket_preview(text), "line\\x0anext");
}

TEST(GrpcInfoTest, StatusMessageAndMessageSizes) {
  core::FlowSnapshot flow;
  flow.request.emplace();
  flow.request->headers = {{"content-type", "application/grpc+proto"}};
  // Two messages in the kept bytes, split across chunks: 3 bytes and 0 bytes.
  flow.request->body.append(std::string("\x00\x00\x00\x00\x03", 5) + "ab", 1 << 20);
  flow.request->body.append(std::string("c\x00\x00\x00\x00\x00", 6), 1 << 20);
  flow.response.emplace();
  flow.response->headers = {{"content-type", "application/grpc"}};
  flow.response->trailers = {{"grpc-status", "5"}, {"grpc-message", "no%20such%20user"}};
  core::GrpcFraming framing;
  framing.sizes = {10, 20, 30};
  framing.messages = 3;
  flow.response->body.grpc = framing;

  const std::optional<GrpcInfo> info = grpc_info(flow);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->request_sizes, (std::vector<uint64_t>{3, 0}));
  EXPECT_EQ(info->request_messages, 2u);
  EXPECT_EQ(info->response_sizes, (std::vector<uint64_t>{10, 20, 30}));
  ASSERT_TRUE(info->status);
  EXPECT_EQ(*info->status, 5);
  EXPECT_EQ(grpc_status_name(*info->status), "NOT_FOUND");
  EXPECT_EQ(info->message, "no such user");
  EXPECT_EQ(grpc_status_name(0), "OK");
  EXPECT_EQ(grpc_status_name(99), "");

  flow.request->headers = {{"content-type", "application/json"}};
  flow.response->headers = {{"content-type", "application/json"}};
  EXPECT_FALSE(grpc_info(flow));
}

}  // namespace
}  // namespace sightglass::gui
