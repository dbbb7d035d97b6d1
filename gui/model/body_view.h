#pragma once

// The detail pane's body viewers without a window: a body decoded and classified (which of the
// Text / JSON / Hex / Image viewers apply and which one Auto picks), the JSON tree flattened into
// nodes with the list of the visible ones for a given open state, paging of very long line
// lists, image decoding (stb_image), default file names and saving for "Save body…", the query,
// form and cookie tables, and the WebSocket and gRPC summaries. No ImGui and no GL here: the
// ImGui side (gui/app/body_viewer.cc, gui/app/detail_view.cc) only draws what these compute.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy/flow.h"

namespace sightglass::gui {

// BodyViewer is a way to show a body; kAuto picks one from the content type and the bytes.
enum class BodyViewer : uint8_t { kAuto, kText, kJson, kHex, kImage };
inline constexpr BodyViewer kBodyViewers[] = {
    BodyViewer::kAuto, BodyViewer::kText, BodyViewer::kJson, BodyViewer::kHex, BodyViewer::kImage};
std::string_view body_viewer_name(BodyViewer viewer);

// ImageFormat is what the first bytes of a body say it is (the formats stb_image decodes and
// browsers show).
enum class ImageFormat : uint8_t { kNone, kPng, kJpeg, kGif };
ImageFormat sniff_image(std::string_view data);
std::string_view image_format_name(ImageFormat format);  // "PNG", "JPEG", "GIF", "".

// looks_like_json says whether the first byte after white space (and a UTF-8 BOM) is '{' or '['.
bool looks_like_json(std::string_view data);
// is_json_content_type: application/json, text/json, application/*+json (parameters ignored).
bool is_json_content_type(std::string_view content_type);
// is_text_content_type: text/*, JSON, XML (+xml), JavaScript, x-www-form-urlencoded.
bool is_text_content_type(std::string_view content_type);

// JsonNode is one value of a JSON document in document order (depth first).
struct JsonNode {
  enum class Kind : uint8_t { kObject, kArray, kString, kNumber, kBool, kNull };
  Kind kind = Kind::kNull;
  uint32_t depth = 0;         // 0 for the root.
  std::string key;            // Member name ("name"), array index ("[3]"), "" for the root.
  std::string value;          // Leaves: the value as JSON text, long strings cut with "…".
  uint32_t children = 0;      // Members or elements of a container.
  int64_t parent = -1;        // Index of the container holding it; -1 for the root.
  int64_t next_sibling = -1;  // Index of the next value in the same container, or -1.
  uint32_t subtree_end = 0;   // One past the index of its last descendant.
  bool container() const { return kind == Kind::kObject || kind == Kind::kArray; }
};
std::string_view json_kind_name(JsonNode::Kind kind);  // "object", "array", "string"...

struct JsonTree {
  std::vector<JsonNode> nodes;  // nodes[0] is the root.
};

inline constexpr size_t kMaxJsonNodes = 2'000'000;
inline constexpr size_t kMaxJsonValueBytes = 200;  // Longer string values are cut with "…".

// build_json_tree parses |text| (one JSON value, nothing but white space after it). It never
// throws; on malformed JSON or more than |max_nodes| values it returns std::nullopt and says why
// in |*error|.
std::optional<JsonTree> build_json_tree(std::string_view text, std::string* error,
                                        size_t max_nodes = kMaxJsonNodes);

// json_open_state returns the initial open state: containers shallower than |open_depth| open.
// |open| has one entry per node (only containers' matter); 0 closed, 1 open.
std::vector<uint8_t> json_open_state(const JsonTree& tree, uint32_t open_depth);

// visible_json_nodes lists, in order, the nodes shown when the containers marked in |open|
// are expanded: a node is visible when every container above it is open.
std::vector<uint32_t> visible_json_nodes(const JsonTree& tree, const std::vector<uint8_t>& open);

// pretty_json reformats JSON |text| with two-space indentation, or returns std::nullopt.
std::optional<std::string> pretty_json(std::string_view text);

// Long line lists are shown a page at a time (ImGui's float coordinates lose whole pixels past
// a few million pixels of scrolling): page |page| of |lines| lines holds lines
// [first, first + count).
inline constexpr size_t kHexBytesPerLine = 16;
inline constexpr uint64_t kLinesPerPage = 65'536;
uint64_t hex_line_count(uint64_t size);
struct LinePage {
  uint64_t first = 0;
  uint64_t count = 0;
};
uint64_t page_count(uint64_t lines, uint64_t per_page = kLinesPerPage);
LinePage line_page(uint64_t lines, uint64_t page, uint64_t per_page = kLinesPerPage);
// split_lines returns where each line of |text| starts (always at least one line).
std::vector<size_t> split_lines(std::string_view text);
// text_line returns line |index| of |text| without its line break.
std::string_view text_line(std::string_view text, const std::vector<size_t>& starts, size_t index);

// PreparedBody is a body ready for the viewers: decoded from its Content-Encoding, classified,
// its JSON tree built when it is JSON, and lines split for the text viewer.
struct PreparedBody {
  std::string data;          // The decoded bytes ("Save body…" writes these).
  std::string content_type;  // The Content-Type header, or "".
  std::string note;          // "decoded from gzip; truncated: 1.0 MiB of 3.0 MiB kept", ...
  std::string encoding;      // The Content-Encoding undone, or "".
  bool truncated = false;    // Only a prefix of the body was kept.
  bool text = false;         // The text viewer applies.
  ImageFormat image = ImageFormat::kNone;
  std::optional<JsonTree> json;  // Set when the body parsed as JSON.
  std::string json_error;        // Why a body that looked like JSON did not parse.
  BodyViewer automatic = BodyViewer::kHex;
  // The text viewer's text: the body, or pretty-printed JSON (made by ensure_text_lines).
  std::string pretty;
  std::vector<size_t> line_starts;

  bool empty() const { return data.empty(); }
  bool applicable(BodyViewer viewer) const;
  // resolve turns kAuto (or a viewer that does not apply) into the one to draw.
  BodyViewer resolve(BodyViewer chosen) const;
  std::string_view text_view() const { return pretty.empty() ? std::string_view(data) : pretty; }
  // ensure_text_lines splits the text viewer's lines (pretty-printing JSON first) once.
  void ensure_text_lines();

  // prepare builds it from a captured body and its headers.
  static PreparedBody prepare(const core::CapturedBody& body, const core::Headers& headers);
  // from_bytes builds it from bytes already decoded (a WebSocket message).
  static PreparedBody from_bytes(std::string data, std::string content_type, bool truncated);
};

// DecodedImage is an image as 8-bit RGBA rows, top row first.
struct DecodedImage {
  int width = 0;
  int height = 0;
  std::vector<unsigned char> rgba;
};
inline constexpr int kMaxImageSide = 16384;
// decode_image decodes PNG, JPEG or GIF (its first frame); std::nullopt with |*error| set for
// anything else or images wider or taller than |max_side|.
std::optional<DecodedImage> decode_image(std::string_view data, std::string* error,
                                         int max_side = kMaxImageSide);

// extension_for returns a file extension ("json", "png", "txt", "bin"...) for a body of
// |content_type| whose first bytes are |data|.
std::string extension_for(std::string_view content_type, std::string_view data);
// default_save_name derives a file name from the request target's last path segment (made safe
// for a file name) and the body's type: "/img/logo.png" -> "logo.png", "/api/users" ->
// "users.json"; without a usable segment "<role>-<id>.<ext>" ("response-42.json").
std::string default_save_name(std::string_view target, std::string_view content_type,
                              std::string_view data, std::string_view role, uint64_t id);
// write_body_file writes |data| to |path| (replacing it); false with |*error| on failure.
bool write_body_file(const std::string& path, std::string_view data, std::string* error);

// NameValue is a row of the query, form and cookie tables.
struct NameValue {
  std::string name;
  std::string value;
  std::string attributes;  // Set-Cookie only: "Path=/; HttpOnly; Secure; ...".
};
std::vector<NameValue> query_rows(std::string_view target);
// form_rows parses an application/x-www-form-urlencoded body ({} for any other type).
std::vector<NameValue> form_rows(std::string_view content_type, std::string_view body);
std::vector<NameValue> cookie_rows(const core::Headers& request_headers);
std::vector<NameValue> set_cookie_rows(const core::Headers& response_headers, int64_t now_us);

// WebSocket messages.
std::string_view websocket_opcode_name(uint8_t opcode);  // "text", "binary", "close"...
std::string_view websocket_direction(bool from_client);  // "→ send", "← receive".
// format_relative_ms formats |us| microseconds as milliseconds: "0.000", "1234.567".
std::string format_relative_ms(int64_t us);
// websocket_preview is one line of a message: text (sanitized), close code and reason, or the
// first bytes in hex.
std::string websocket_preview(const core::WebSocketMessage& message, size_t max_bytes = 200);

// GrpcInfo is what the detail pane shows of a gRPC exchange.
struct GrpcInfo {
  std::optional<int64_t> status;  // grpc-status from the trailers (or a trailers-only head).
  std::string message;            // grpc-message, percent-decoded.
  std::vector<uint64_t> request_sizes;
  std::vector<uint64_t> response_sizes;
  uint64_t request_messages = 0;  // Also counts messages past GrpcFraming::kMaxMessages.
  uint64_t response_messages = 0;
};
// grpc_info returns the gRPC summary of a flow whose request or response is application/grpc.
std::optional<GrpcInfo> grpc_info(const core::FlowSnapshot& flow);
std::string_view grpc_status_name(int64_t code);  // "OK", "NOT_FOUND"..., "" when unknown.

}  // namespace sightglass::gui
