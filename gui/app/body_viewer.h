#pragma once

// BodyViewerPane: one body in the detail pane (a request, a response or a WebSocket message)
// with a row to pick the viewer (Auto / Text / JSON / Hex / Image, only the applicable ones
// enabled), "Save body…", and the viewer itself: text and hex dumps virtualized with
// ImGuiListClipper (a page of kLinesPerPage lines at a time), JSON as a tree of the visible
// nodes, images as an OpenGL texture scaled down to fit. What to show comes from
// gui/model/body_view.h; this file only draws it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gui/model/body_view.h"

struct ImFont;

namespace sightglass::gui {

// GlTexture owns an OpenGL texture holding an RGBA image; the texture is deleted with it.
class GlTexture {
 public:
  GlTexture() = default;
  ~GlTexture() { reset(); }
  GlTexture(const GlTexture&) = delete;
  GlTexture& operator=(const GlTexture&) = delete;
  GlTexture(GlTexture&& other) noexcept { *this = std::move(other); }
  GlTexture& operator=(GlTexture&& other) noexcept;

  // upload replaces the texture with |image|; false when GL refuses it.
  bool upload(const DecodedImage& image);
  void reset();
  unsigned int id() const { return id_; }
  int width() const { return width_; }
  int height() const { return height_; }

  // max_size is GL_MAX_TEXTURE_SIZE (what decode_image may return at most).
  static int max_size();

 private:
  unsigned int id_ = 0;
  int width_ = 0;
  int height_ = 0;
};

class BodyViewerPane {
 public:
  // set shows |body| from now on; |save_name| is the default file name for "Save body…". With
  // |same_source| (a newer revision of the same flow) the viewer choice, page and JSON open
  // state are kept.
  void set(PreparedBody body, std::string save_name, bool same_source);
  // draw shows the viewer row and the body in a child |id|, at least |min_height| pixels high
  // (filling what is left of the window when that is more).
  void draw(const char* id, ImFont* mono, float min_height);
  const PreparedBody& body() const { return body_; }

 private:
  void draw_toolbar(BodyViewer shown);
  void draw_pager(const char* what, uint64_t lines, uint64_t* page);
  void draw_text(ImFont* mono, float min_height);
  void draw_json(ImFont* mono, float min_height);
  void draw_hex(ImFont* mono, float min_height);
  void draw_image(float min_height);
  void draw_save_popup();

  PreparedBody body_;
  BodyViewer chosen_ = BodyViewer::kAuto;
  uint64_t text_page_ = 0;
  uint64_t hex_page_ = 0;
  int64_t hex_scroll_line_ = -1;  // A line of the hex page to scroll to ("Go to offset").
  std::vector<char> goto_offset_ = std::vector<char>(24, '\0');
  std::vector<uint8_t> json_open_;
  std::vector<uint32_t> json_visible_;
  bool json_dirty_ = true;
  GlTexture texture_;
  bool image_tried_ = false;
  std::string image_error_;
  std::string save_name_;
  std::vector<char> save_path_ = std::vector<char>(4096, '\0');
  std::string save_status_;
  bool save_failed_ = false;
};

}  // namespace sightglass::gui
