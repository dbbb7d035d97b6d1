#include "gui/app/body_viewer.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <system_error>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "core/export/terminal_printer.h"
#include "gui/model/format.h"

namespace sightglass::gui {

namespace {

constexpr size_t kMaxLineBytes = 4096;
const ImVec4 kDim(0.62f, 0.64f, 0.68f, 1.0f);
const ImVec4 kRed(0.95f, 0.42f, 0.40f, 1.0f);
const ImVec4 kGreen(0.45f, 0.80f, 0.50f, 1.0f);
const ImVec4 kAmber(0.95f, 0.75f, 0.35f, 1.0f);
const ImVec4 kKey(0.55f, 0.75f, 0.95f, 1.0f);
const ImVec4 kString(0.60f, 0.85f, 0.55f, 1.0f);
const ImVec4 kNumber(0.95f, 0.70f, 0.45f, 1.0f);
const ImVec4 kLiteral(0.80f, 0.60f, 0.95f, 1.0f);

void text(std::string_view s) { ImGui::TextUnformatted(s.data(), s.data() + s.size()); }

void colored(const ImVec4& color, std::string_view s) {
  ImGui::PushStyleColor(ImGuiCol_Text, color);
  text(s);
  ImGui::PopStyleColor();
}

const ImVec4& value_color(JsonNode::Kind kind) {
  switch (kind) {
    case JsonNode::Kind::kString:
      return kString;
    case JsonNode::Kind::kNumber:
      return kNumber;
    default:
      return kLiteral;
  }
}

// fill is the height of a viewer's child: what is left of the window, at least |min_height|.
float fill(float min_height) { return std::max(min_height, ImGui::GetContentRegionAvail().y); }

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

GlTexture& GlTexture::operator=(GlTexture&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    width_ = other.width_;
    height_ = other.height_;
    other.id_ = 0;
    other.width_ = 0;
    other.height_ = 0;
  }
  return *this;
}

bool GlTexture::upload(const DecodedImage& image) {
  reset();
  GLint previous = 0;
  glGetIntegerv(GL_TEXTURE_BINDING_2D, &previous);
  GLuint id = 0;
  glGenTextures(1, &id);
  if (id == 0) {
    return false;
  }
  glBindTexture(GL_TEXTURE_2D, id);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
  glPixelStorei(GL_UNPACK_ROW_LENGTH, 0);
  while (glGetError() != GL_NO_ERROR) {
  }
  glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, image.width, image.height, 0, GL_RGBA, GL_UNSIGNED_BYTE,
               image.rgba.data());
  const bool ok = glGetError() == GL_NO_ERROR;
  glBindTexture(GL_TEXTURE_2D, static_cast<GLuint>(previous));
  id_ = id;
  width_ = image.width;
  height_ = image.height;
  if (!ok) {
    reset();
  }
  return ok;
}

void GlTexture::reset() {
  // Without a current context (the window went first) the texture went with it.
  if (id_ != 0 && glfwGetCurrentContext() != nullptr) {
    const GLuint id = id_;
    glDeleteTextures(1, &id);
  }
  id_ = 0;
  width_ = 0;
  height_ = 0;
}

int GlTexture::max_size() {
  GLint size = 0;
  glGetIntegerv(GL_MAX_TEXTURE_SIZE, &size);
  return size > 0 ? std::min<int>(size, kMaxImageSide) : 4096;
}

void BodyViewerPane::set(PreparedBody body, std::string save_name, bool same_source) {
  const bool same_tree =
      same_source && body.json && body_.json && body.json->nodes.size() == body_.json->nodes.size();
  body_ = std::move(body);
  save_name_ = std::move(save_name);
  if (!same_source) {
    chosen_ = BodyViewer::kAuto;
    text_page_ = 0;
    hex_page_ = 0;
    save_status_.clear();
    save_path_[0] = '\0';
  }
  if (!same_tree) {
    // Two levels open for a small document, only the root for a large one.
    const uint32_t depth = body_.json && body_.json->nodes.size() <= 2000 ? 2 : 1;
    json_open_ = body_.json ? json_open_state(*body_.json, depth) : std::vector<uint8_t>();
  }
  json_dirty_ = true;
  hex_scroll_line_ = -1;
  texture_.reset();
  image_tried_ = false;
  image_error_.clear();
}

void BodyViewerPane::draw(const char* id, ImFont* mono, float min_height) {
  ImGui::PushID(id);
  if (body_.empty()) {
    if (!body_.note.empty()) {
      ImGui::TextDisabled("%s", body_.note.c_str());
    }
    ImGui::TextDisabled("(empty body)");
    ImGui::PopID();
    return;
  }
  const BodyViewer shown = body_.resolve(chosen_);
  draw_toolbar(shown);
  if (!body_.note.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, body_.truncated ? kAmber : kDim);
    ImGui::TextWrapped("%s", body_.note.c_str());
    ImGui::PopStyleColor();
  }
  if (!body_.json && !body_.json_error.empty()) {
    colored(kDim, body_.truncated ? std::string("not shown as JSON: the kept part ends mid-value")
                                  : "not shown as JSON: " + sanitize(body_.json_error, 300));
  }
  switch (shown) {
    case BodyViewer::kText:
      draw_text(mono, min_height);
      break;
    case BodyViewer::kJson:
      draw_json(mono, min_height);
      break;
    case BodyViewer::kImage:
      draw_image(min_height);
      break;
    case BodyViewer::kAuto:
    case BodyViewer::kHex:
      draw_hex(mono, min_height);
      break;
  }
  ImGui::PopID();
}

void BodyViewerPane::draw_toolbar(BodyViewer shown) {
  for (const BodyViewer viewer : kBodyViewers) {
    const bool applicable = body_.applicable(viewer);
    std::string label(body_viewer_name(viewer));
    if (viewer == BodyViewer::kAuto) {
      label += " (" + std::string(body_viewer_name(body_.automatic)) + ")";
    }
    ImGui::BeginDisabled(!applicable);
    if (ImGui::RadioButton(label.c_str(), chosen_ == viewer)) {
      chosen_ = viewer;
    }
    ImGui::EndDisabled();
    ImGui::SameLine();
  }
  ImGui::TextDisabled("|");
  ImGui::SameLine();
  if (ImGui::SmallButton("Save body\xe2\x80\xa6")) {
    if (save_path_[0] == '\0') {
      std::error_code error;
      const std::filesystem::path cwd = std::filesystem::current_path(error);
      const std::string path = error ? save_name_ : (cwd / save_name_).string();
      std::snprintf(save_path_.data(), save_path_.size(), "%s", path.c_str());
    }
    save_status_.clear();
    ImGui::OpenPopup("save-body");
  }
  draw_save_popup();
  ImGui::SameLine();
  std::string info = core::format_size(body_.data.size());
  if (!body_.content_type.empty()) {
    info += "  " + sanitize(body_.content_type, 80);
  }
  ImGui::TextDisabled("%s", info.c_str());
  if (shown == BodyViewer::kJson) {
    if (ImGui::SmallButton("Expand all")) {
      json_open_ = json_open_state(*body_.json, UINT32_MAX);
      json_dirty_ = true;
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("Collapse all")) {
      json_open_ = json_open_state(*body_.json, 1);  // The root stays open.
      json_dirty_ = true;
    }
    ImGui::SameLine();
    ImGui::TextDisabled("%s", plural(body_.json->nodes.size(), "value", "values").c_str());
  }
}

void BodyViewerPane::draw_save_popup() {
  if (!ImGui::BeginPopup("save-body")) {
    return;
  }
  const std::string what = core::format_size(body_.data.size()) +
                           (body_.encoding.empty() ? "" : ", decoded from " + body_.encoding);
  ImGui::Text("Save the body (%s) to:", sanitize(what, 200).c_str());
  ImGui::SetNextItemWidth(std::max(420.0f, ImGui::GetFontSize() * 36));
  if (ImGui::IsWindowAppearing()) {
    ImGui::SetKeyboardFocusHere();
  }
  bool save = ImGui::InputText("##path", save_path_.data(), save_path_.size(),
                               ImGuiInputTextFlags_EnterReturnsTrue);
  save = ImGui::Button("Save") || save;
  ImGui::SameLine();
  if (ImGui::Button("Close")) {
    ImGui::CloseCurrentPopup();
  }
  if (save) {
    std::string error;
    const std::string path = save_path_.data();
    save_failed_ = !write_body_file(path, body_.data, &error);
    save_status_ =
        save_failed_ ? error : "saved " + core::format_size(body_.data.size()) + " to " + path;
  }
  if (body_.truncated) {
    colored(kAmber, "Only the kept part of the body is saved (it was truncated).");
  }
  // Always a status line, so that the popup does not grow (a frame late) when it appears.
  colored(save_failed_ ? kRed : kGreen, save_status_.empty() ? " " : sanitize(save_status_, 1024));
  ImGui::EndPopup();
}

void BodyViewerPane::draw_pager(const char* what, uint64_t lines, uint64_t* page) {
  const uint64_t pages = page_count(lines);
  if (pages <= 1) {
    return;
  }
  *page = std::min(*page, pages - 1);
  if (ImGui::ArrowButton("prev", ImGuiDir_Left) && *page > 0) {
    --*page;
  }
  ImGui::SameLine();
  if (ImGui::ArrowButton("next", ImGuiDir_Right) && *page + 1 < pages) {
    ++*page;
  }
  ImGui::SameLine();
  uint64_t shown = *page + 1;
  const uint64_t first = 1;
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 14);
  if (ImGui::SliderScalar("##page", ImGuiDataType_U64, &shown, &first, &pages, "page %llu")) {
    *page = std::clamp<uint64_t>(shown, 1, pages) - 1;
  }
  ImGui::SameLine();
  const LinePage range = line_page(lines, *page);
  ImGui::TextDisabled("%s %" PRIu64 "\xe2\x80\x93%" PRIu64 " of %" PRIu64, what, range.first + 1,
                      range.first + range.count, lines);
}

void BodyViewerPane::draw_text(ImFont* mono, float min_height) {
  body_.ensure_text_lines();
  if (!body_.pretty.empty()) {
    ImGui::TextDisabled("JSON reformatted for reading; Save writes the bytes as received.");
  }
  const std::string_view all = body_.text_view();
  const uint64_t lines = body_.line_starts.size();
  draw_pager("lines", lines, &text_page_);
  const LinePage page = line_page(lines, text_page_);
  ImGui::BeginChild("text", ImVec2(0, fill(min_height)), true,
                    ImGuiWindowFlags_HorizontalScrollbar);
  ImGui::PushFont(mono);
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(page.count));
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const auto index = static_cast<size_t>(page.first) + static_cast<size_t>(i);
      text(sanitize(text_line(all, body_.line_starts, index), kMaxLineBytes));
    }
  }
  ImGui::PopFont();
  ImGui::EndChild();
}

void BodyViewerPane::draw_hex(ImFont* mono, float min_height) {
  const uint64_t lines = hex_line_count(body_.data.size());
  draw_pager("lines", lines, &hex_page_);
  if (page_count(lines) > 1 || lines > 64) {
    if (page_count(lines) > 1) {
      ImGui::SameLine();
    }
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8);
    if (ImGui::InputTextWithHint(
            "##goto", "go to 0x\xe2\x80\xa6", goto_offset_.data(), goto_offset_.size(),
            ImGuiInputTextFlags_EnterReturnsTrue | ImGuiInputTextFlags_CharsHexadecimal)) {
      const uint64_t offset = std::strtoull(goto_offset_.data(), nullptr, 16);
      const uint64_t line = std::min<uint64_t>(offset / kHexBytesPerLine, lines - 1);
      hex_page_ = line / kLinesPerPage;
      hex_scroll_line_ = static_cast<int64_t>(line % kLinesPerPage);
    }
  }
  const LinePage page = line_page(lines, hex_page_);
  ImGui::BeginChild("hex", ImVec2(0, fill(min_height)), true, ImGuiWindowFlags_HorizontalScrollbar);
  ImGui::PushFont(mono);
  if (hex_scroll_line_ >= 0) {
    ImGui::SetScrollY(static_cast<float>(hex_scroll_line_) * ImGui::GetTextLineHeightWithSpacing());
    hex_scroll_line_ = -1;
  }
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(page.count));
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const uint64_t line = page.first + static_cast<uint64_t>(i);
      text(hex_dump_line(body_.data, static_cast<size_t>(line * kHexBytesPerLine)));
    }
  }
  ImGui::PopFont();
  ImGui::EndChild();
}

void BodyViewerPane::draw_json(ImFont* mono, float min_height) {
  const JsonTree& tree = *body_.json;
  if (json_dirty_) {
    json_visible_ = visible_json_nodes(tree, json_open_);
    json_dirty_ = false;
  }
  ImGui::BeginChild("json", ImVec2(0, fill(min_height)), true,
                    ImGuiWindowFlags_HorizontalScrollbar);
  ImGui::PushFont(mono);
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(ImGui::GetStyle().ItemSpacing.x, 2));
  const float indent = ImGui::GetFontSize();
  const float left = ImGui::GetCursorPosX();
  const float to_label = ImGui::GetTreeNodeToLabelSpacing();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(json_visible_.size()));
  while (clipper.Step()) {
    for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
      const uint32_t index = json_visible_[static_cast<size_t>(row)];
      const JsonNode& node = tree.nodes[index];
      ImGui::SetCursorPosX(left + static_cast<float>(std::min<uint32_t>(node.depth, 64)) * indent);
      const bool array_item =
          node.parent >= 0 &&
          tree.nodes[static_cast<size_t>(node.parent)].kind == JsonNode::Kind::kArray;
      const std::string key = node.parent < 0 ? std::string("(root)")
                              : array_item    ? node.key
                                              : sanitize(node.key, 256);
      if (node.container()) {
        const bool open = index < json_open_.size() && json_open_[index] != 0;
        ImGui::SetNextItemOpen(open);
        ImGui::PushStyleColor(ImGuiCol_Text, array_item || node.parent < 0 ? kDim : kKey);
        const bool now = ImGui::TreeNodeEx(reinterpret_cast<void*>(static_cast<intptr_t>(index)),
                                           ImGuiTreeNodeFlags_NoTreePushOnOpen, "%s", key.c_str());
        ImGui::PopStyleColor();
        if (now != open && index < json_open_.size()) {
          json_open_[index] = now ? 1 : 0;
          json_dirty_ = true;
        }
        ImGui::SameLine();
        const bool object = node.kind == JsonNode::Kind::kObject;
        ImGui::TextDisabled(
            "%s %s%s", object ? "{}" : "[]",
            plural(node.children, object ? "key" : "item", object ? "keys" : "items").c_str(),
            now || node.children == 0 ? "" : "  \xe2\x80\xa6");
      } else {
        ImGui::SetCursorPosX(ImGui::GetCursorPosX() + to_label);
        colored(array_item ? kDim : kKey, key);
        ImGui::SameLine(0, 0);
        colored(kDim, ": ");
        ImGui::SameLine(0, 0);
        colored(value_color(node.kind), node.value);
        if (ImGui::IsItemHovered() && ImGui::IsMouseReleased(ImGuiMouseButton_Right)) {
          ImGui::SetClipboardText(node.value.c_str());
        }
      }
    }
  }
  ImGui::PopStyleVar();
  ImGui::PopFont();
  ImGui::EndChild();
}

void BodyViewerPane::draw_image(float min_height) {
  if (!image_tried_) {
    image_tried_ = true;
    if (std::optional<DecodedImage> image =
            decode_image(body_.data, &image_error_, GlTexture::max_size())) {
      if (!texture_.upload(*image)) {
        image_error_ = "the GPU refused a texture of " + std::to_string(image->width) + " × " +
                       std::to_string(image->height);
      }
    }
  }
  if (texture_.id() == 0) {
    colored(kRed, image_error_.empty() ? "cannot show the image" : image_error_);
    return;
  }
  const float caption = ImGui::GetTextLineHeightWithSpacing();
  ImGui::BeginChild("image", ImVec2(0, fill(min_height)), true);
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const auto w = static_cast<float>(texture_.width());
  const auto h = static_cast<float>(texture_.height());
  const float scale =
      std::max(0.01f, std::min({1.0f, avail.x / w, std::max(1.0f, avail.y - caption) / h}));
  char line[160];
  std::snprintf(line, sizeof(line), "%.*s  %d \xc3\x97 %d  %s  shown at %d%%",
                static_cast<int>(image_format_name(body_.image).size()),
                image_format_name(body_.image).data(), texture_.width(), texture_.height(),
                core::format_size(body_.data.size()).c_str(), static_cast<int>(scale * 100.0f));
  ImGui::TextDisabled("%s", line);
  const ImVec2 size(w * scale, h * scale);
  const ImVec2 at = ImGui::GetCursorScreenPos();
  // A checkerboard under the image shows its transparency.
  ImDrawList* draw = ImGui::GetWindowDrawList();
  const float cell = 8.0f;
  draw->AddRectFilled(at, ImVec2(at.x + size.x, at.y + size.y), IM_COL32(70, 70, 70, 255));
  for (float y = 0; y < size.y; y += cell) {
    for (float x = static_cast<float>(static_cast<int>(y / cell) % 2) * cell; x < size.x;
         x += 2 * cell) {
      draw->AddRectFilled(
          ImVec2(at.x + x, at.y + y),
          ImVec2(at.x + std::min(x + cell, size.x), at.y + std::min(y + cell, size.y)),
          IM_COL32(100, 100, 100, 255));
    }
  }
  ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture_.id())), size);
  ImGui::EndChild();
}

}  // namespace sightglass::gui
