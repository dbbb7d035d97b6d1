// sightglass-gui end to end: the real binary on a private X server (Xvfb), flows from real curl
// through it to the Python origin, keys from xdotool, and what the window shows read back by
// OCR (ImageMagick's import + tesseract).

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace sightglass::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

size_t count_lines(const fs::path& path) {
  std::ifstream in(path);
  size_t lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    lines += line.empty() ? 0u : 1u;
  }
  return lines;
}

// XServer is Xvfb on a display number nobody uses; killed on destruction.
class XServer {
 public:
  XServer() = default;
  XServer(const XServer&) = delete;
  XServer& operator=(const XServer&) = delete;
  // ~XServer ends Xvfb with SIGTERM, so that it removes its socket and lock file.
  ~XServer() {
    if (process_) {
      process_->signal(SIGTERM);
      process_->wait(std::chrono::seconds(10));
    }
  }

  bool start() {
    for (int display = 140; display < 400; ++display) {
      const std::string n = std::to_string(display);
      if (fs::exists("/tmp/.X11-unix/X" + n) || fs::exists("/tmp/.X" + n + "-lock")) {
        continue;
      }
      // Xvfb's output goes nowhere: nobody reads the pipe, and its keymap warnings would fill
      // it and stop the server.
      process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
          "/bin/sh", "-c",
          "exec Xvfb :" + n + " -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1"});
      for (int i = 0; i < 100; ++i) {
        if (fs::exists("/tmp/.X11-unix/X" + n)) {
          display_ = ":" + n;
          return true;
        }
        std::this_thread::sleep_for(milliseconds(50));
      }
      process_.reset();  // Lost a race for the number, or Xvfb failed: try the next one.
    }
    return false;
  }
  const std::string& display() const { return display_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string display_;
};

// ocr returns what tesseract reads on the whole screen, lowercased.
std::string ocr_screen(const fs::path& dir, const std::string& name) {
  const fs::path shot = dir / (name + ".png");
  const fs::path prepared = dir / (name + "-ocr.png");
  EXPECT_EQ(run_process({"import", "-window", "root", shot.string()}).exit_code, 0);
  // Dark theme: grey, inverted and enlarged reads best.
  EXPECT_EQ(run_process({"convert", shot.string(), "-colorspace", "Gray", "-negate", "-resize",
                         "200%", prepared.string()})
                .exit_code,
            0);
  const ProcessResult result = run_process({"tesseract", prepared.string(), "-"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return lower(result.out);
}

TEST(GuiTest, FiltersLiveFlowsAsTypedAndEndsCleanlyOnSigterm) {
  for (const char* program : {"Xvfb", "xdotool", "import", "convert", "tesseract"}) {
    if (find_program(program).empty()) {
      FAIL() << program << " is not installed: run scripts/install-deps";
    }
  }
  TempDir dir;
  XServer x;
  ASSERT_TRUE(x.start()) << "Xvfb did not start";
  ASSERT_EQ(setenv("DISPLAY", x.display().c_str(), 1), 0);

  ChildProcess origin(
      {"/usr/bin/python3", std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/origin.py"});
  const std::string origin_line = origin.wait_for_line(false, "PORT ");
  ASSERT_FALSE(origin_line.empty()) << "origin did not start";
  const std::string origin_port = origin_line.substr(origin_line.find(' ') + 1);

  const fs::path log = dir.path() / "flows.jsonl";
  // In the sanitizer build, Mesa's GL driver (loaded and unloaded by libGL) leaves a few
  // allocations LeakSanitizer cannot attribute to any module: leak checking is off for the
  // window process only (the model's code is leak-checked by gui_model_test).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options =
      "ASAN_OPTIONS=" + std::string(asan != nullptr ? asan : "") + ":detect_leaks=0";
  ChildProcess gui({"env", asan_options, SIGHTGLASS_GUI_BINARY, "--confdir",
                    (dir.path() / "conf").string(), "-p", "0", "-w", log.string()});
  const std::string line = gui.wait_for_line(true, "listening on");
  ASSERT_FALSE(line.empty()) << "sightglass-gui did not start: " << gui.wait().err;
  const size_t colon = line.find(':', line.find("listening on"));
  const std::string proxy = "http://127.0.0.1:" + std::to_string(std::stoi(line.substr(colon + 1)));

  for (const char* path : {"/pineapple-orchard", "/strawberry-field"}) {
    const ProcessResult curl = run_process({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                            "-x", proxy, "http://127.0.0.1:" + origin_port + path});
    ASSERT_EQ(curl.out, "200") << curl.err;
  }
  for (int i = 0; i < 100 && count_lines(log) < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(count_lines(log), 2u);

  // The window, once it is mapped (focusing an unmapped window fails).
  const ProcessResult window =
      run_process({"xdotool", "search", "--sync", "--onlyvisible", "--name", "Sightglass"}, "",
                  std::chrono::seconds(20));
  ASSERT_EQ(window.exit_code, 0) << "no window titled Sightglass";
  const std::string id = window.out.substr(0, window.out.find('\n'));
  bool focused = false;
  for (int i = 0; i < 50 && !focused; ++i) {
    focused = run_process({"xdotool", "windowfocus", "--sync", id}).exit_code == 0;
    if (!focused) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  ASSERT_TRUE(focused) << "cannot focus window " << id;
  std::this_thread::sleep_for(milliseconds(500));

  // Both flows are in the table.
  const std::string before = ocr_screen(dir.path(), "before");
  EXPECT_NE(before.find("pineapple"), std::string::npos) << before;
  EXPECT_NE(before.find("strawberry"), std::string::npos) << before;

  // Ctrl+F, then type: the table follows the filter as it is typed.
  ASSERT_EQ(run_process({"xdotool", "key", "ctrl+f"}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(300));
  ASSERT_EQ(run_process({"xdotool", "type", "--delay", "40", "orchard"}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(800));
  const std::string after = ocr_screen(dir.path(), "after");
  EXPECT_NE(after.find("pineapple"), std::string::npos) << after;
  EXPECT_EQ(after.find("strawberry"), std::string::npos) << after;
  EXPECT_NE(after.find("1 of 2"), std::string::npos) << after;

  gui.signal(SIGTERM);
  const ProcessResult ended = gui.wait(std::chrono::seconds(20));
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_EQ(count_lines(log), 2u);
}

}  // namespace
}  // namespace sightglass::test
