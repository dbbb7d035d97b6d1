#include "gui/app/window.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <filesystem>

namespace sightglass::gui {

namespace {

constexpr const char* kSansFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
constexpr const char* kMonoFont = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";
constexpr float kFontPixels = 15.0f;

std::string last_glfw_error() {
  const char* description = nullptr;
  glfwGetError(&description);
  return description != nullptr ? description : "unknown GLFW error";
}

// glyph_ranges: Latin, Latin-1, general punctuation (… — ‘ ’), arrows (↑ ↓) and U+FFFD.
const ImWchar* glyph_ranges() {
  static const ImWchar kRanges[] = {0x0020, 0x00ff, 0x0100, 0x017f, 0x2000, 0x206f, 0x2190,
                                    0x21ff, 0x25a0, 0x25ff, 0xfffd, 0xfffd, 0};
  return kRanges;
}

void apply_style(float scale) {
  ImGui::StyleColorsDark();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 0.0f;
  style.FrameRounding = 2.0f;
  style.TabRounding = 2.0f;
  style.ScrollbarRounding = 2.0f;
  style.WindowPadding = ImVec2(6.0f, 6.0f);
  style.FramePadding = ImVec2(6.0f, 3.0f);
  style.CellPadding = ImVec2(5.0f, 1.0f);
  style.ItemSpacing = ImVec2(6.0f, 4.0f);
  style.WindowBorderSize = 0.0f;
  ImVec4* colors = style.Colors;
  colors[ImGuiCol_WindowBg] = ImVec4(0.11f, 0.12f, 0.13f, 1.0f);
  // Child windows lie on the main window: no fill of their own (llvmpipe pays for every pixel).
  colors[ImGuiCol_ChildBg] = ImVec4(0.0f, 0.0f, 0.0f, 0.0f);
  colors[ImGuiCol_TableRowBgAlt] = ImVec4(1.0f, 1.0f, 1.0f, 0.035f);
  colors[ImGuiCol_Header] = ImVec4(0.20f, 0.38f, 0.62f, 0.85f);
  colors[ImGuiCol_HeaderHovered] = ImVec4(0.25f, 0.42f, 0.66f, 0.60f);
  colors[ImGuiCol_HeaderActive] = ImVec4(0.25f, 0.45f, 0.70f, 1.0f);
  style.ScaleAllSizes(scale);
}

}  // namespace

Window::GlfwSession::~GlfwSession() { glfwTerminate(); }

void Window::DestroyWindow::operator()(GLFWwindow* window) const { glfwDestroyWindow(window); }

Window::ImGuiSession::~ImGuiSession() {
  if (gl_backend) {
    ImGui_ImplOpenGL3_Shutdown();
  }
  if (glfw_backend) {
    ImGui_ImplGlfw_Shutdown();
  }
  if (context) {
    ImGui::DestroyContext();
  }
}

Window::Window(PrivateTag /*unused*/) {}

Window::~Window() = default;

std::unique_ptr<Window> Window::create(const std::string& title, int width, int height,
                                       std::string* error) {
  auto window = std::make_unique<Window>(PrivateTag{});
  if (glfwInit() != GLFW_TRUE) {
    *error = "cannot open a window: " + last_glfw_error();
    return nullptr;
  }
  window->glfw_ = std::make_unique<GlfwSession>();
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);
  window->window_.reset(glfwCreateWindow(width, height, title.c_str(), nullptr, nullptr));
  if (!window->window_) {
    *error = "cannot open a window: " + last_glfw_error();
    return nullptr;
  }
  glfwMakeContextCurrent(window->window_.get());
  glfwSwapInterval(1);

  float xscale = 1.0f;
  float yscale = 1.0f;
  glfwGetWindowContentScale(window->window_.get(), &xscale, &yscale);
  window->scale_ = std::clamp(std::max(xscale, yscale), 1.0f, 4.0f);

  IMGUI_CHECKVERSION();
  window->imgui_ = std::make_unique<ImGuiSession>();
  ImGui::CreateContext();
  window->imgui_->context = true;
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // No imgui.ini in the working directory.
  apply_style(window->scale_);

  const float pixels = kFontPixels * window->scale_;
  std::error_code ignored;
  if (std::filesystem::exists(kSansFont, ignored)) {
    window->sans_ = io.Fonts->AddFontFromFileTTF(kSansFont, pixels, nullptr, glyph_ranges());
  }
  if (std::filesystem::exists(kMonoFont, ignored)) {
    window->mono_ = io.Fonts->AddFontFromFileTTF(kMonoFont, pixels, nullptr, glyph_ranges());
  }
  if (window->sans_ == nullptr) {
    ImFontConfig config;
    config.SizePixels = pixels;
    window->sans_ = io.Fonts->AddFontDefault(&config);
  }
  if (window->mono_ == nullptr) {
    window->mono_ = window->sans_;
  }
  io.FontDefault = window->sans_;

  // Every callback counts as an event (take_events). ImGui's backend calls the ones set before
  // it is initialized; the rest it does not install.
  GLFWwindow* handle = window->window_.get();
  glfwSetWindowUserPointer(handle, window.get());
  glfwSetMouseButtonCallback(handle, [](GLFWwindow* w, int, int, int) { count_event(w); });
  glfwSetScrollCallback(handle, [](GLFWwindow* w, double, double) { count_event(w); });
  glfwSetWindowFocusCallback(handle, [](GLFWwindow* w, int) { count_event(w); });
  glfwSetCursorEnterCallback(handle, [](GLFWwindow* w, int) { count_event(w); });
  glfwSetCursorPosCallback(handle, [](GLFWwindow* w, double, double) { count_event(w); });
  glfwSetWindowRefreshCallback(handle, [](GLFWwindow* w) { count_event(w); });
  glfwSetFramebufferSizeCallback(handle, [](GLFWwindow* w, int, int) { count_event(w); });
  if (!ImGui_ImplGlfw_InitForOpenGL(window->window_.get(), true)) {
    *error = "cannot set up the GLFW backend of Dear ImGui";
    return nullptr;
  }
  window->imgui_->glfw_backend = true;
  // Keys and characters go through our queue (input_pending()); ImGui's backend restores the
  // callbacks it found on shutdown.
  glfwSetKeyCallback(window->window_.get(), &Window::on_key);
  glfwSetCharCallback(window->window_.get(), &Window::on_char);
  if (!ImGui_ImplOpenGL3_Init("#version 130")) {
    *error = "cannot set up OpenGL 3 for Dear ImGui";
    return nullptr;
  }
  window->imgui_->gl_backend = true;
  return window;
}

bool Window::should_close() const { return glfwWindowShouldClose(window_.get()) == GLFW_TRUE; }

void Window::count_event(GLFWwindow* handle) {
  ++static_cast<Window*>(glfwGetWindowUserPointer(handle))->events_;
}

void Window::on_key(GLFWwindow* handle, int key, int scancode, int action, int mods) {
  auto* window = static_cast<Window*>(glfwGetWindowUserPointer(handle));
  try {
    window->key_events_.push_back(KeyEvent{false, key, scancode, action, mods, 0});
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may leave a C callback.
  }
}

void Window::on_char(GLFWwindow* handle, unsigned int codepoint) {
  auto* window = static_cast<Window*>(glfwGetWindowUserPointer(handle));
  try {
    window->key_events_.push_back(KeyEvent{true, 0, 0, 0, 0, codepoint});
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing may leave a C callback.
  }
}

void Window::dispatch_input() {
  // Hand events to ImGui in order, up to the first release after a press in this frame (a
  // chord's modifier may be released before its key: ctrl down, f down, ctrl up, f up).
  bool pressed = false;
  while (!key_events_.empty()) {
    const KeyEvent& event = key_events_.front();
    if (event.is_char) {
      ImGui_ImplGlfw_CharCallback(window_.get(), event.codepoint);
    } else {
      if (event.action == GLFW_RELEASE && pressed) {
        break;
      }
      ImGui_ImplGlfw_KeyCallback(window_.get(), event.key, event.scancode, event.action,
                                 event.mods);
      pressed = pressed || event.action == GLFW_PRESS;
    }
    key_events_.pop_front();
  }
}

void Window::begin_frame() {
  dispatch_input();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  if (ignore_pointer_) {
    ImGui::GetIO().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);  // Nothing hovered.
  }
  ImGui::NewFrame();
}

void Window::end_frame() {
  ImGui::Render();
  int width = 0;
  int height = 0;
  glfwGetFramebufferSize(window_.get(), &width, &height);
  glViewport(0, 0, width, height);
  glClearColor(0.11f, 0.12f, 0.13f, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  if (capture_ && width > 0 && height > 0) {
    capture_ = false;
    const auto row = static_cast<size_t>(width) * 4;
    std::string pixels(row * static_cast<size_t>(height), '\0');
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    // OpenGL's first row is the bottom one.
    capture_pixels_.assign(pixels.size(), '\0');
    for (size_t y = 0; y < static_cast<size_t>(height); ++y) {
      std::memcpy(capture_pixels_.data() + y * row,
                  pixels.data() + (static_cast<size_t>(height) - 1 - y) * row, row);
    }
    for (size_t i = 3; i < capture_pixels_.size(); i += 4) {
      capture_pixels_[i] = static_cast<char>(0xff);  // Opaque, whatever the framebuffer has.
    }
    capture_width_ = width;
    capture_height_ = height;
  }
  glfwSwapBuffers(window_.get());
}

bool Window::write_capture(const std::string& path, std::string* error) const {
  if (capture_pixels_.empty()) {
    *error = "nothing was rendered to capture";
    return false;
  }
  if (stbi_write_png(path.c_str(), capture_width_, capture_height_, 4, capture_pixels_.data(),
                     capture_width_ * 4) == 0) {
    *error = "cannot write " + path;
    return false;
  }
  return true;
}

}  // namespace sightglass::gui
