#pragma once

// Window: the GLFW window with its OpenGL 3 context and Dear ImGui (context, GLFW and OpenGL3
// backends, DejaVu fonts scaled to the monitor's content scale). RAII: destroying it shuts
// ImGui down, destroys the window and terminates GLFW.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

struct GLFWwindow;
struct ImFont;

namespace sightglass::gui {

class Window {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // create initializes GLFW, opens a |width| x |height| window titled |title| and sets ImGui
  // up; nullptr with a one-line *error (no display, no OpenGL 3).
  static std::unique_ptr<Window> create(const std::string& title, int width, int height,
                                        std::string* error);

  explicit Window(PrivateTag /*unused*/);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  GLFWwindow* handle() const { return window_.get(); }
  bool should_close() const;
  // The proportional font (the default) and the monospaced one (bodies, hex dumps).
  ImFont* sans() const { return sans_; }
  ImFont* mono() const { return mono_; }
  float scale() const { return scale_; }

  // input_pending says whether key events wait for the next frame: Dear ImGui 1.86 samples
  // key state once a frame, so a press and its release within one frame would be lost; they
  // are handed over one transition a frame (as ImGui 1.87's input queue does).
  bool input_pending() const { return !key_events_.empty(); }
  // take_events says whether anything happened to the window (input, focus, resize, expose)
  // since the last call: when nothing did, there is nothing new to draw.
  bool take_events() {
    const bool any = events_ != 0 || !key_events_.empty();
    events_ = 0;
    return any;
  }

  // begin_frame starts an ImGui frame; end_frame renders it and swaps the buffers.
  void begin_frame();
  void end_frame();

  // screenshot writes what the last end_frame() rendered (the back buffer before the swap is
  // gone, so end_frame keeps a copy when asked) as a PNG.
  void capture_next_frame() { capture_ = true; }
  // ignore_pointer makes every frame see no mouse (screenshots show nothing hovered).
  void ignore_pointer() { ignore_pointer_ = true; }
  bool write_capture(const std::string& path, std::string* error) const;

 private:
  struct KeyEvent {
    bool is_char = false;
    int key = 0;
    int scancode = 0;
    int action = 0;
    int mods = 0;
    unsigned int codepoint = 0;
  };
  static void on_key(GLFWwindow* window, int key, int scancode, int action, int mods);
  static void on_char(GLFWwindow* window, unsigned int codepoint);
  static void count_event(GLFWwindow* window);
  void dispatch_input();

  struct GlfwSession {
    ~GlfwSession();
  };
  struct DestroyWindow {
    void operator()(GLFWwindow* window) const;
  };
  struct ImGuiSession {
    bool context = false;
    bool glfw_backend = false;
    bool gl_backend = false;
    ~ImGuiSession();
  };

  // Declaration order is teardown order, reversed: ImGui first, then the window, then GLFW.
  std::unique_ptr<GlfwSession> glfw_;
  std::unique_ptr<GLFWwindow, DestroyWindow> window_;
  std::unique_ptr<ImGuiSession> imgui_;
  ImFont* sans_ = nullptr;
  ImFont* mono_ = nullptr;
  float scale_ = 1.0f;
  std::deque<KeyEvent> key_events_;
  uint64_t events_ = 0;
  bool capture_ = false;
  bool ignore_pointer_ = false;
  int capture_width_ = 0;
  int capture_height_ = 0;
  std::string capture_pixels_;  // RGBA, top row first.
};

}  // namespace sightglass::gui
