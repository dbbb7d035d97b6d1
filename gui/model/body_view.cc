#include "gui/model/body_view.h"

#include <errno.h>
#include <nlohmann/json.hpp>
#include <stb_image.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "core/export/content_decoding.h"
#include "core/export/grpc_summary.h"
#include "core/export/har_params.h"
#include "core/export/terminal_printer.h"
#include "core/export/text_util.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

constexpr size_t kMaxDecoded = size_t{64} << 20;  // Decoded bytes kept for display.
constexpr size_t kMaxJsonTree = size_t{8} << 20;  // Larger JSON is shown as text only.
constexpr size_t kMaxTreeNodes = 1'000'000;
constexpr size_t kMaxPretty = size_t{4} << 20;  // Larger JSON is not reformatted.

// media_type returns the lowered type/subtype of a Content-Type, without parameters.
std::string media_type(std::string_view content_type) {
  if (const size_t semi = content_type.find(';'); semi != std::string_view::npos) {
    content_type = content_type.substr(0, semi);
  }
  return core::ascii_lower(core::trim_whitespace(content_type));
}

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

bool starts_with(std::string_view text, std::string_view head) {
  return text.substr(0, head.size()) == head;
}

// TreeBuilder is nlohmann's SAX interface building the flattened tree.
class TreeBuilder {
 public:
  using json = nlohmann::json;

  TreeBuilder(JsonTree* tree, size_t max_nodes) : tree_(tree), max_nodes_(max_nodes) {}

  bool null() { return leaf(JsonNode::Kind::kNull, "null"); }
  bool boolean(bool value) { return leaf(JsonNode::Kind::kBool, value ? "true" : "false"); }
  bool number_integer(json::number_integer_t value) {
    return leaf(JsonNode::Kind::kNumber, std::to_string(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return leaf(JsonNode::Kind::kNumber, std::to_string(value));
  }
  bool number_float(json::number_float_t /*value*/, const json::string_t& text) {
    return leaf(JsonNode::Kind::kNumber, text);
  }
  bool string(json::string_t& value) {
    return leaf(JsonNode::Kind::kString, "\"" + sanitize(value, kMaxJsonValueBytes) + "\"");
  }
  bool binary(json::binary_t& /*value*/) { return leaf(JsonNode::Kind::kString, "(binary)"); }
  bool start_object(size_t /*elements*/) { return open(JsonNode::Kind::kObject); }
  bool key(json::string_t& name) {
    key_ = std::move(name);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(size_t /*elements*/) { return open(JsonNode::Kind::kArray); }
  bool end_array() { return close(); }
  bool parse_error(size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& error) {
    if (error_.empty()) {
      error_ = error.what();
    }
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Frame {
    uint32_t index = 0;
    uint32_t count = 0;
    int64_t last_child = -1;
  };

  // add appends a node under the open container (if any).
  bool add(JsonNode::Kind kind, std::string value) {
    std::vector<JsonNode>& nodes = tree_->nodes;
    if (nodes.size() >= max_nodes_) {
      error_ = "more than " + std::to_string(max_nodes_) + " values";
      return false;
    }
    const auto index = static_cast<uint32_t>(nodes.size());
    JsonNode node;
    node.kind = kind;
    node.depth = static_cast<uint32_t>(stack_.size());
    node.value = std::move(value);
    node.subtree_end = index + 1;
    if (!stack_.empty()) {
      Frame& frame = stack_.back();
      node.parent = frame.index;
      node.key = nodes[frame.index].kind == JsonNode::Kind::kArray
                     ? "[" + std::to_string(frame.count) + "]"
                     : std::move(key_);
      key_.clear();
      ++frame.count;
      if (frame.last_child >= 0) {
        nodes[static_cast<size_t>(frame.last_child)].next_sibling = index;
      }
      frame.last_child = index;
    }
    nodes.push_back(std::move(node));
    return true;
  }

  bool leaf(JsonNode::Kind kind, std::string value) { return add(kind, std::move(value)); }

  bool open(JsonNode::Kind kind) {
    if (!add(kind, "")) {
      return false;
    }
    stack_.push_back(Frame{static_cast<uint32_t>(tree_->nodes.size() - 1), 0, -1});
    return true;
  }

  bool close() {
    if (stack_.empty()) {
      return false;
    }
    const Frame frame = stack_.back();
    stack_.pop_back();
    JsonNode& node = tree_->nodes[frame.index];
    node.children = frame.count;
    node.subtree_end = static_cast<uint32_t>(tree_->nodes.size());
    return true;
  }

  JsonTree* tree_;
  size_t max_nodes_;
  std::vector<Frame> stack_;
  std::string key_;
  std::string error_;
};

std::string hex_bytes(std::string_view data, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < data.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (i > 0) {
      out.push_back(' ');
    }
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  if (data.size() > max_bytes) {
    out.append(" \xe2\x80\xa6");
  }
  return out;
}

std::string json_string(const nlohmann::json& item, const char* name) {
  const auto it = item.find(name);
  return it != item.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<NameValue> name_value_rows(const nlohmann::json& array) {
  std::vector<NameValue> rows;
  if (!array.is_array()) {
    return rows;
  }
  for (const nlohmann::json& item : array) {
    if (item.is_object()) {
      rows.push_back(NameValue{json_string(item, "name"), json_string(item, "value"), {}});
    }
  }
  return rows;
}

// classify fills in what the viewers of |body| need.
void classify(PreparedBody* body) {
  body->image = sniff_image(body->data);
  const bool displayable = is_displayable_text(body->data);
  body->text = body->image == ImageFormat::kNone &&
               (displayable || is_text_content_type(body->content_type));
  const bool json_candidate =
      body->image == ImageFormat::kNone && !body->data.empty() &&
      (is_json_content_type(body->content_type) || (displayable && looks_like_json(body->data)));
  if (json_candidate) {
    if (body->data.size() > kMaxJsonTree) {
      body->json_error = "too large for the JSON tree (" + core::format_size(body->data.size()) +
                         "; the limit is " + core::format_size(kMaxJsonTree) + ")";
    } else {
      body->json = build_json_tree(body->data, &body->json_error, kMaxTreeNodes);
    }
  }
  if (body->image != ImageFormat::kNone) {
    body->automatic = BodyViewer::kImage;
  } else if (body->json) {
    body->automatic = BodyViewer::kJson;
  } else if (body->text) {
    body->automatic = BodyViewer::kText;
  } else {
    body->automatic = BodyViewer::kHex;
  }
}

}  // namespace

std::string_view body_viewer_name(BodyViewer viewer) {
  switch (viewer) {
    case BodyViewer::kAuto:
      return "Auto";
    case BodyViewer::kText:
      return "Text";
    case BodyViewer::kJson:
      return "JSON";
    case BodyViewer::kHex:
      return "Hex";
    case BodyViewer::kImage:
      return "Image";
  }
  return "";
}

ImageFormat sniff_image(std::string_view data) {
  if (starts_with(data, "\x89PNG\r\n\x1a\n")) {
    return ImageFormat::kPng;
  }
  if (starts_with(data, "\xff\xd8\xff")) {
    return ImageFormat::kJpeg;
  }
  if (starts_with(data, "GIF87a") || starts_with(data, "GIF89a")) {
    return ImageFormat::kGif;
  }
  return ImageFormat::kNone;
}

std::string_view image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kGif:
      return "GIF";
    case ImageFormat::kNone:
      break;
  }
  return "";
}

bool looks_like_json(std::string_view data) {
  if (starts_with(data, "\xef\xbb\xbf")) {
    data.remove_prefix(3);
  }
  for (const char c : data) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    return c == '{' || c == '[';
  }
  return false;
}

bool is_json_content_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return type == "application/json" || type == "text/json" ||
         (starts_with(type, "application/") && ends_with(type, "+json"));
}

bool is_text_content_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return starts_with(type, "text/") || is_json_content_type(type) || ends_with(type, "/xml") ||
         ends_with(type, "+xml") || type.find("javascript") != std::string::npos ||
         type == "application/x-www-form-urlencoded";
}

std::string_view json_kind_name(JsonNode::Kind kind) {
  switch (kind) {
    case JsonNode::Kind::kObject:
      return "object";
    case JsonNode::Kind::kArray:
      return "array";
    case JsonNode::Kind::kString:
      return "string";
    case JsonNode::Kind::kNumber:
      return "number";
    case JsonNode::Kind::kBool:
      return "boolean";
    case JsonNode::Kind::kNull:
      return "null";
  }
  return "";
}

std::optional<JsonTree> build_json_tree(std::string_view text, std::string* error,
                                        size_t max_nodes) {
  JsonTree tree;
  // About one value per 12 bytes of typical JSON: fewer reallocations of a large tree.
  tree.nodes.reserve(std::min(max_nodes, text.size() / 12 + 1));
  TreeBuilder builder(&tree, max_nodes);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &builder);
  } catch (const std::exception& e) {  // sax_parse reports through parse_error; be safe.
    *error = e.what();
    return std::nullopt;
  }
  if (!ok || tree.nodes.empty()) {
    *error = builder.error().empty() ? "not JSON" : builder.error();
    return std::nullopt;
  }
  error->clear();
  return tree;
}

std::vector<uint8_t> json_open_state(const JsonTree& tree, uint32_t open_depth) {
  std::vector<uint8_t> open(tree.nodes.size(), 0);
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    open[i] = tree.nodes[i].container() && tree.nodes[i].depth < open_depth ? 1 : 0;
  }
  return open;
}

std::vector<uint32_t> visible_json_nodes(const JsonTree& tree, const std::vector<uint8_t>& open) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < tree.nodes.size()) {
    out.push_back(static_cast<uint32_t>(i));
    const JsonNode& node = tree.nodes[i];
    const bool is_open = i < open.size() && open[i] != 0;
    i = node.container() && !is_open ? std::max<size_t>(node.subtree_end, i + 1) : i + 1;
  }
  return out;
}

std::optional<std::string> pretty_json(std::string_view text) {
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(text, nullptr, false);
  if (parsed.is_discarded()) {
    return std::nullopt;
  }
  return parsed.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

uint64_t hex_line_count(uint64_t size) { return (size + kHexBytesPerLine - 1) / kHexBytesPerLine; }

uint64_t page_count(uint64_t lines, uint64_t per_page) {
  return lines == 0 ? 1 : (lines + per_page - 1) / per_page;
}

LinePage line_page(uint64_t lines, uint64_t page, uint64_t per_page) {
  LinePage out;
  out.first = std::min(page, page_count(lines, per_page) - 1) * per_page;
  out.count = std::min(per_page, lines - std::min(lines, out.first));
  return out;
}

std::vector<size_t> split_lines(std::string_view text) {
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && i + 1 < text.size()) {
      starts.push_back(i + 1);
    }
  }
  return starts;
}

std::string_view text_line(std::string_view text, const std::vector<size_t>& starts, size_t index) {
  if (index >= starts.size()) {
    return {};
  }
  const size_t start = std::min(starts[index], text.size());
  size_t end = index + 1 < starts.size() ? starts[index + 1] : text.size();
  while (end > start && (text[end - 1] == '\n' || text[end - 1] == '\r')) {
    --end;
  }
  return text.substr(start, end - start);
}

bool PreparedBody::applicable(BodyViewer viewer) const {
  switch (viewer) {
    case BodyViewer::kAuto:
    case BodyViewer::kHex:
      return true;
    case BodyViewer::kText:
      return text;
    case BodyViewer::kJson:
      return json.has_value();
    case BodyViewer::kImage:
      return image != ImageFormat::kNone;
  }
  return false;
}

BodyViewer PreparedBody::resolve(BodyViewer chosen) const {
  return chosen == BodyViewer::kAuto || !applicable(chosen) ? automatic : chosen;
}

void PreparedBody::ensure_text_lines() {
  if (!line_starts.empty()) {
    return;
  }
  if (json && pretty.empty() && data.size() <= kMaxPretty) {
    if (std::optional<std::string> formatted = pretty_json(data)) {
      pretty = std::move(*formatted);
    }
  }
  line_starts = split_lines(text_view());
}

PreparedBody PreparedBody::prepare(const core::CapturedBody& body, const core::Headers& headers) {
  PreparedBody out;
  out.data = body.contiguous();
  if (const std::string* type = find_header(headers, "Content-Type")) {
    out.content_type = *type;
  }
  const std::string* encoding = find_header(headers, "Content-Encoding");
  if (encoding != nullptr && !core::is_identity_encoding(*encoding)) {
    core::ContentDecodeInfo info;
    if (auto decoded =
            core::decode_content(*encoding, out.data, kMaxDecoded, &info, body.truncated)) {
      out.note =
          "decoded from " + *encoding + " (" + core::format_size(out.data.size()) + " on the wire)";
      out.encoding = *encoding;
      out.data = std::move(*decoded);
      if (info.truncated && !body.truncated) {
        out.note += "; decoded body cut at " + core::format_size(out.data.size());
      }
    } else {
      out.note = "Content-Encoding " + *encoding + " not undone (shown as stored)";
    }
  }
  out.truncated = body.truncated;
  if (body.truncated) {
    out.note += (out.note.empty() ? "" : "; ") + std::string("truncated: ") +
                core::format_size(body.kept) + " of " + core::format_size(body.size) + " kept";
  }
  classify(&out);
  return out;
}

PreparedBody PreparedBody::from_bytes(std::string data, std::string content_type, bool truncated) {
  PreparedBody out;
  out.data = std::move(data);
  out.content_type = std::move(content_type);
  out.truncated = truncated;
  if (truncated) {
    out.note = "truncated: the first " + core::format_size(out.data.size()) + " kept";
  }
  classify(&out);
  return out;
}

std::optional<DecodedImage> decode_image(std::string_view data, std::string* error, int max_side) {
  if (data.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    *error = "image too large";
    return std::nullopt;
  }
  const auto* bytes = reinterpret_cast<const stbi_uc*>(data.data());
  const int length = static_cast<int>(data.size());
  int width = 0;
  int height = 0;
  int channels = 0;
  if (sniff_image(data) == ImageFormat::kNone) {
    *error = "cannot decode the image: not PNG, JPEG or GIF";
    return std::nullopt;
  }
  if (stbi_info_from_memory(bytes, length, &width, &height, &channels) == 0) {
    const char* reason = stbi_failure_reason();
    *error = std::string("cannot decode the image: ") + (reason != nullptr ? reason : "?");
    return std::nullopt;
  }
  if (width <= 0 || height <= 0 || width > max_side || height > max_side) {
    *error = "image too large to show: " + std::to_string(width) + " × " + std::to_string(height) +
             " (at most " + std::to_string(max_side) + " a side)";
    return std::nullopt;
  }
  struct StbFree {
    void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
  };
  const std::unique_ptr<stbi_uc, StbFree> pixels(
      stbi_load_from_memory(bytes, length, &width, &height, &channels, 4));
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    *error = std::string("cannot decode the image: ") + (reason != nullptr ? reason : "?");
    return std::nullopt;
  }
  DecodedImage image;
  image.width = width;
  image.height = height;
  const size_t size = static_cast<size_t>(width) * static_cast<size_t>(height) * 4;
  image.rgba.assign(pixels.get(), pixels.get() + size);
  error->clear();
  return image;
}

std::string extension_for(std::string_view content_type, std::string_view data) {
  switch (sniff_image(data)) {
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kJpeg:
      return "jpg";
    case ImageFormat::kGif:
      return "gif";
    case ImageFormat::kNone:
      break;
  }
  const std::string type = media_type(content_type);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"text/html", "html"},
      {"application/xhtml+xml", "xhtml"},
      {"image/svg+xml", "svg"},
      {"text/css", "css"},
      {"text/csv", "csv"},
      {"text/plain", "txt"},
      {"text/markdown", "md"},
      {"application/pdf", "pdf"},
      {"application/zip", "zip"},
      {"application/wasm", "wasm"},
      {"image/webp", "webp"},
      {"image/avif", "avif"},
      {"image/x-icon", "ico"},
      {"image/vnd.microsoft.icon", "ico"},
      {"font/woff2", "woff2"},
      {"font/woff", "woff"},
      {"application/x-www-form-urlencoded", "txt"},
  };
  for (const auto& [name, extension] : kTypes) {
    if (type == name) {
      return std::string(extension);
    }
  }
  if (is_json_content_type(type)) {
    return "json";
  }
  if (type.find("javascript") != std::string::npos) {
    return "js";
  }
  if (ends_with(type, "/xml") || ends_with(type, "+xml")) {
    return "xml";
  }
  if (starts_with(type, "text/")) {
    return "txt";
  }
  if (type.empty() || type == "application/octet-stream") {
    if (is_displayable_text(data)) {
      return looks_like_json(data) ? "json" : "txt";
    }
  }
  return "bin";
}

std::string default_save_name(std::string_view target, std::string_view content_type,
                              std::string_view data, std::string_view role, uint64_t id) {
  std::string_view path = target;
  if (const size_t end = path.find_first_of("?#"); end != std::string_view::npos) {
    path = path.substr(0, end);
  }
  if (const size_t slash = path.rfind('/'); slash != std::string_view::npos) {
    path = path.substr(slash + 1);
  }
  std::string name;
  for (const char c : core::percent_decode(path, false)) {
    const auto u = static_cast<unsigned char>(c);
    const bool safe = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                      c == '.' || c == '-' || c == '_';
    name.push_back(safe ? c : '_');
    if (name.size() >= 96) {
      break;
    }
  }
  while (!name.empty() && name.front() == '.') {
    name.erase(name.begin());
  }
  const bool usable =
      std::any_of(name.begin(), name.end(), [](char c) { return c != '_' && c != '.'; });
  const std::string extension = extension_for(content_type, data);
  if (!usable) {
    return std::string(role) + "-" + std::to_string(id) + "." + extension;
  }
  const size_t dot = name.rfind('.');
  const bool has_extension =
      dot != std::string::npos && dot + 1 < name.size() && name.size() - dot - 1 <= 5 &&
      std::all_of(name.begin() + static_cast<std::ptrdiff_t>(dot) + 1, name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
      });
  return has_extension ? name : name + "." + extension;
}

bool write_body_file(const std::string& path, std::string_view data, std::string* error) {
  if (path.empty()) {
    *error = "no file name";
    return false;
  }
  struct Close {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, Close> file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file.get()) != data.size()) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  if (std::fclose(file.release()) != 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  error->clear();
  return true;
}

std::vector<NameValue> query_rows(std::string_view target) {
  return name_value_rows(core::query_string_json(target));
}

std::vector<NameValue> form_rows(std::string_view content_type, std::string_view body) {
  if (media_type(content_type) != "application/x-www-form-urlencoded") {
    return {};
  }
  return name_value_rows(core::urlencoded_params_json(body));
}

std::vector<NameValue> cookie_rows(const core::Headers& request_headers) {
  return name_value_rows(core::request_cookies_json(request_headers));
}

std::vector<NameValue> set_cookie_rows(const core::Headers& response_headers, int64_t now_us) {
  const nlohmann::json cookies = core::response_cookies_json(response_headers, now_us);
  std::vector<NameValue> rows = name_value_rows(cookies);
  for (size_t i = 0; i < rows.size() && i < cookies.size(); ++i) {
    const nlohmann::json& cookie = cookies[i];
    std::string attributes;
    const auto add = [&attributes](std::string_view text) {
      if (!attributes.empty()) {
        attributes.append("; ");
      }
      attributes.append(text);
    };
    for (const auto& [key, label] : {std::pair<const char*, const char*>{"path", "Path"},
                                     {"domain", "Domain"},
                                     {"expires", "Expires"},
                                     {"sameSite", "SameSite"}}) {
      if (const std::string value = json_string(cookie, key); !value.empty()) {
        add(std::string(label) + "=" + value);
      }
    }
    if (cookie.contains("httpOnly")) {
      add("HttpOnly");
    }
    if (cookie.contains("secure")) {
      add("Secure");
    }
    rows[i].attributes = std::move(attributes);
  }
  return rows;
}

std::string_view websocket_opcode_name(uint8_t opcode) {
  switch (opcode) {
    case 0:
      return "continuation";
    case 1:
      return "text";
    case 2:
      return "binary";
    case 8:
      return "close";
    case 9:
      return "ping";
    case 10:
      return "pong";
    default:
      return "reserved";
  }
}

std::string_view websocket_direction(bool from_client) {
  return from_client ? "\xe2\x86\x92 send" : "\xe2\x86\x90 receive";
}

std::string format_relative_ms(int64_t us) {
  std::array<char, 48> text{};
  std::snprintf(text.data(), text.size(), "%.3f", static_cast<double>(us) / 1000.0);
  return text.data();
}

std::string websocket_preview(const core::WebSocketMessage& message, size_t max_bytes) {
  const std::string_view data = message.data;
  if (message.opcode == 8) {
    if (data.size() < 2) {
      return "(no status code)";
    }
    const unsigned code = (static_cast<unsigned>(static_cast<unsigned char>(data[0])) << 8) |
                          static_cast<unsigned char>(data[1]);
    const std::string reason = sanitize(data.substr(2), max_bytes);
    return std::to_string(code) + (reason.empty() ? "" : " " + reason);
  }
  if (message.opcode == 1 || (message.opcode != 2 && is_displayable_text(data))) {
    return sanitize(data.substr(0, max_bytes * 2), max_bytes);
  }
  return hex_bytes(data, std::max<size_t>(max_bytes / 8, 8));
}

std::optional<GrpcInfo> grpc_info(const core::FlowSnapshot& flow) {
  std::optional<core::GrpcSummary> summary = core::grpc_summary(flow);
  if (!summary) {
    return std::nullopt;
  }
  GrpcInfo info;
  info.status = summary->status;
  if (summary->message) {
    info.message = core::percent_decode(*summary->message, false);
  }
  info.request_sizes = std::move(summary->request_sizes);
  info.response_sizes = std::move(summary->response_sizes);
  info.request_messages = summary->request_messages;
  info.response_messages = summary->response_messages;
  return info;
}

std::string_view grpc_status_name(int64_t code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  return code >= 0 && static_cast<size_t>(code) < std::size(kNames)
             ? kNames[static_cast<size_t>(code)]
             : std::string_view();
}

}  // namespace sightglass::gui
