// sightglass-gui end to end: the real binary on a private X server (Xvfb), flows from real curl
// through it to the Python origin, keys from xdotool, and what the window shows read back by
// OCR (ImageMagick's import + tesseract).

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/gui/x11_close.h"
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

  // start runs Xvfb on a display number it chooses itself (-displayfd): tests running at once
  // never share a server (and its keyboard focus).
  bool start() {
    // Xvfb's stderr goes nowhere: nobody reads it, and its keymap warnings would fill the pipe
    // and stop the server.
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/bin/sh", "-c", "exec Xvfb -displayfd 1 -screen 0 1280x800x24 -nolisten tcp 2>/dev/null"});
    const std::string number = process_->wait_for_line(false, "", std::chrono::seconds(20));
    if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) {
      process_.reset();
      return false;
    }
    display_ = ":" + number;
    return true;
  }
  const std::string& display() const { return display_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string display_;
};

// OcrWord is a word tesseract read, with its centre in screen pixels.
struct OcrWord {
  std::string text;  // Lowercased.
  int x = 0;
  int y = 0;
};

// ocr_words returns the words on the screen below |min_y| with where they are (tesseract's TSV
// output). Reading only the part of the screen that matters keeps tesseract's page layout
// analysis from dropping a region next to a highlighted row.
std::vector<OcrWord> ocr_words(const fs::path& dir, const std::string& name, int min_y = 0) {
  const fs::path shot = dir / (name + ".png");
  const fs::path prepared = dir / (name + "-ocr.png");
  EXPECT_EQ(run_process({"import", "-window", "root", shot.string()}).exit_code, 0);
  EXPECT_EQ(run_process({"convert", shot.string(), "-crop",
                         "100000x100000+0+" + std::to_string(min_y), "+repage", "-colorspace",
                         "Gray", "-negate", "-resize", "200%", prepared.string()})
                .exit_code,
            0);
  const ProcessResult result = run_process({"tesseract", prepared.string(), "-", "tsv"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  std::vector<OcrWord> words;
  std::istringstream lines(result.out);
  std::string line;
  std::getline(lines, line);  // The header.
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, '\t')) {
      fields.push_back(cell);
    }
    if (fields.size() < 12 || fields[11].find_first_not_of(' ') == std::string::npos) {
      continue;
    }
    // left, top, width, height of the enlarged image: halved back to the screen.
    const int left = std::stoi(fields[6]);
    const int top = std::stoi(fields[7]);
    const int width = std::stoi(fields[8]);
    const int height = std::stoi(fields[9]);
    words.push_back(
        OcrWord{lower(fields[11]), (left + width / 2) / 2, (top + height / 2) / 2 + min_y});
  }
  return words;
}

// find_word returns the first word (top to bottom) containing |needle| below |min_y|.
std::optional<OcrWord> find_word(const std::vector<OcrWord>& words, const std::string& needle,
                                 int min_y = 0) {
  std::optional<OcrWord> best;
  for (const OcrWord& word : words) {
    if (word.text.find(needle) != std::string::npos && word.y > min_y &&
        (!best || word.y < best->y)) {
      best = word;
    }
  }
  return best;
}

std::string all_text(const std::vector<OcrWord>& words) {
  std::string out;
  for (const OcrWord& word : words) {
    out += word.text + " ";
  }
  return out;
}

// ocr_until reads the screen until |done| holds for what it read (the window may be a frame or
// two behind the input, and OCR reads a region now and then less well), at most 8 times, and
// returns the last reading.
template <typename Done>
std::vector<OcrWord> ocr_until(const fs::path& dir, const std::string& name, Done done,
                               int min_y = 0) {
  std::vector<OcrWord> words;
  for (int attempt = 0; attempt < 8; ++attempt) {
    words = ocr_words(dir, name, min_y);
    if (done(words)) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  return words;
}

bool has(const std::vector<OcrWord>& words, const std::string& needle) {
  return all_text(words).find(needle) != std::string::npos;
}

void click(const OcrWord& word) {
  ASSERT_EQ(run_process(
                {"xdotool", "mousemove", "--sync", std::to_string(word.x), std::to_string(word.y)})
                .exit_code,
            0);
  // Press and release a few frames apart, after the window has seen the pointer arrive: a slow
  // window (the sanitizer build) must not get the move, press and release in one frame.
  std::this_thread::sleep_for(milliseconds(250));
  ASSERT_EQ(run_process({"xdotool", "mousedown", "1"}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_EQ(run_process({"xdotool", "mouseup", "1"}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(400));
}

// cpu_seconds is the user and system CPU time |pid| has used.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which is in parentheses and may hold spaces).
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> fields;
  std::string field;
  while (rest >> field) {
    fields.push_back(field);
  }
  if (fields.size() < 13) {
    return -1;
  }
  // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
  return static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// GuiTest runs sightglass-gui as a proxy on a private X server, with the Python origin behind
// it, and finds its window.
class GuiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* program : {"Xvfb", "xdotool", "import", "convert", "tesseract", "curl"}) {
      if (find_program(program).empty()) {
        FAIL() << program << " is not installed: run scripts/install-deps";
      }
    }
    ASSERT_TRUE(x_.start()) << "Xvfb did not start";
    ASSERT_EQ(setenv("DISPLAY", x_.display().c_str(), 1), 0);
    origin_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/bin/python3", std::string(SIGHTGLASS_SOURCE_DIR) + "/tests/support/origin.py"});
    const std::string origin_line = origin_->wait_for_line(false, "PORT ");
    ASSERT_FALSE(origin_line.empty()) << "origin did not start";
    origin_port_ = origin_line.substr(origin_line.find(' ') + 1);
  }

  // start_gui starts the window with the proxy on port 0 and |args|, and waits for it.
  void start_gui(const std::vector<std::string>& args) {
    // In the sanitizer build, Mesa's GL driver (loaded and unloaded by libGL) leaves a few
    // allocations LeakSanitizer cannot attribute to any module: leak checking is off for the
    // window process only (the model's code is leak-checked by gui_model_test).
    const char* asan = std::getenv("ASAN_OPTIONS");
    std::vector<std::string> argv = {
        "env",
        "ASAN_OPTIONS=" + std::string(asan != nullptr ? asan : "") + ":detect_leaks=0",
        SIGHTGLASS_GUI_BINARY,
        "--confdir",
        (dir_.path() / "conf").string(),
        "-p",
        "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    gui_ = std::make_unique<ChildProcess>(argv);
    const std::string line = gui_->wait_for_line(true, "listening on");
    ASSERT_FALSE(line.empty()) << "sightglass-gui did not start: " << gui_->wait().err;
    const size_t colon = line.find(':', line.find("listening on"));
    proxy_ = "http://127.0.0.1:" + std::to_string(std::stoi(line.substr(colon + 1)));
    // The window, once it is mapped (focusing an unmapped window fails).
    const ProcessResult window =
        run_process({"xdotool", "search", "--sync", "--onlyvisible", "--name", "Sightglass"}, "",
                    std::chrono::seconds(20));
    ASSERT_EQ(window.exit_code, 0) << "no window titled Sightglass";
    window_ = window.out.substr(0, window.out.find('\n'));
    bool focused = false;
    for (int i = 0; i < 50 && !focused; ++i) {
      focused = run_process({"xdotool", "windowfocus", "--sync", window_}).exit_code == 0;
      if (!focused) {
        std::this_thread::sleep_for(milliseconds(100));
      }
    }
    ASSERT_TRUE(focused) << "cannot focus window " << window_;
  }

  // request sends GET |path| to the origin through the proxy, with an X-Fruit header.
  void request(const std::string& path) {
    const ProcessResult curl =
        run_process({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy_, "-H",
                     "X-Fruit: kiwifruit-basket", "http://127.0.0.1:" + origin_port_ + path});
    ASSERT_EQ(curl.out, "200") << curl.err;
  }

  void key(const std::string& keys) {
    ASSERT_EQ(run_process({"xdotool", "key", keys}).exit_code, 0);
    std::this_thread::sleep_for(milliseconds(300));
  }

  TempDir dir_;
  XServer x_;
  std::unique_ptr<ChildProcess> origin_;
  std::string origin_port_;
  std::unique_ptr<ChildProcess> gui_;
  std::string proxy_;
  std::string window_;
};

TEST_F(GuiTest, ShowsLiveRowsFiltersAsTypedShowsTheClickedResponseAndIdlesWithoutCpu) {
  const fs::path log = dir_.path() / "flows.jsonl";
  ASSERT_NO_FATAL_FAILURE(start_gui({"-w", log.string()}));
  ASSERT_NO_FATAL_FAILURE(request("/echo-full/pineapple-orchard"));
  ASSERT_NO_FATAL_FAILURE(request("/echo-full/strawberry-field"));
  for (int i = 0; i < 100 && count_lines(log) < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(count_lines(log), 2u);
  std::this_thread::sleep_for(milliseconds(500));

  // Both live flows are in the table.
  const std::string before = all_text(ocr_until(dir_.path(), "before", [](const auto& words) {
    return has(words, "pineapple") && has(words, "strawberry");
  }));
  EXPECT_NE(before.find("pineapple"), std::string::npos) << before;
  EXPECT_NE(before.find("strawberry"), std::string::npos) << before;

  // Ctrl+F, then type: the table follows the filter as it is typed.
  key("ctrl+f");
  ASSERT_EQ(run_process({"xdotool", "type", "--delay", "40", "orchard"}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(800));
  key("Return");  // Keeps the filter and leaves the filter bar.
  const std::vector<OcrWord> filtered = ocr_until(dir_.path(), "filtered", [](const auto& words) {
    return has(words, "1 of 2") && has(words, "pineapple") && !has(words, "strawberry");
  });
  const std::string after = all_text(filtered);
  EXPECT_NE(after.find("pineapple"), std::string::npos) << after;
  EXPECT_EQ(after.find("strawberry"), std::string::npos) << after;
  EXPECT_NE(after.find("1 of 2"), std::string::npos) << after;

  // Click the row, then the Response tab under it: the response body (the origin's echo of the
  // request, with its X-Fruit header) is on the screen.
  const std::optional<OcrWord> row = find_word(filtered, "pineapple");
  ASSERT_TRUE(row.has_value()) << after;
  ASSERT_NO_FATAL_FAILURE(click(*row));
  // The detail pane is read below the selected row.
  const int below_row = row->y + 12;
  // The Overview tab shows the URL first; the tab bar is the line above it. Its white-on-blue
  // labels do not always survive OCR: then the Response tab is clicked where it is drawn (the
  // third tab, at the font size the test's X server gives), and the body read below proves it.
  std::vector<OcrWord> selected = ocr_until(
      dir_.path(), "selected",
      [&row](const auto& words) { return find_word(words, "url", row->y).has_value(); }, below_row);
  if (!find_word(selected, "url", row->y)) {
    ASSERT_NO_FATAL_FAILURE(click(*row));  // Once more, should the click have been missed.
    selected = ocr_until(
        dir_.path(), "selected-again",
        [&row](const auto& words) { return find_word(words, "url", row->y).has_value(); },
        below_row);
  }
  const std::optional<OcrWord> url = find_word(selected, "url", row->y);
  ASSERT_TRUE(url.has_value()) << all_text(selected);
  const int tab_y = url->y - 23;
  OcrWord tab{"response", 190, tab_y};
  for (const OcrWord& word : selected) {
    if (word.text.find("response") != std::string::npos && std::abs(word.y - tab_y) < 8) {
      tab = word;
    }
  }
  ASSERT_NO_FATAL_FAILURE(click(tab));
  const std::string body = all_text(ocr_until(
      dir_.path(), "body",
      [](const auto& words) { return has(words, "kiwifruit") && has(words, "pineapple-orchard"); },
      below_row));
  EXPECT_NE(body.find("kiwifruit"), std::string::npos) << body;
  EXPECT_NE(body.find("pineapple-orchard"), std::string::npos) << body;

  // Idle: under 1% of a core over 5 s.
  std::this_thread::sleep_for(milliseconds(1000));
  const double cpu_before = cpu_seconds(gui_->pid());
  std::this_thread::sleep_for(milliseconds(5000));
  const double idle_cpu = cpu_seconds(gui_->pid()) - cpu_before;
  ASSERT_GE(cpu_before, 0);
  EXPECT_LT(idle_cpu, 0.05) << "CPU seconds used in 5 s of idleness";

  gui_->signal(SIGTERM);
  const ProcessResult ended = gui_->wait(std::chrono::seconds(20));
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_EQ(count_lines(log), 2u);
}

TEST_F(GuiTest, ExportsWithTheKeysClearsTheTableAndEndsWhenTheWindowIsClosed) {
  const fs::path session = dir_.path() / "run.sightglass";
  ASSERT_NO_FATAL_FAILURE(start_gui({"--save", session.string()}));
  ASSERT_NO_FATAL_FAILURE(request("/echo-full/pineapple-orchard"));
  ASSERT_NO_FATAL_FAILURE(request("/echo-full/strawberry-field"));
  std::this_thread::sleep_for(milliseconds(800));

  // Ctrl+E exports all flows as HAR: the dialog's path field has the keys.
  const fs::path har = dir_.path() / "export.har";
  key("ctrl+e");
  key("ctrl+a");
  ASSERT_EQ(run_process({"xdotool", "type", "--delay", "20", har.string()}).exit_code, 0);
  key("Return");
  for (int i = 0; i < 50 && !fs::exists(har); ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(fs::exists(har)) << all_text(ocr_words(dir_.path(), "export"));
  const ProcessResult shown = run_process({SIGHTGLASS_BINARY, "show", har.string()});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("pineapple-orchard"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("strawberry-field"), std::string::npos) << shown.out;

  // Ctrl+K clears the table.
  key("ctrl+k");
  const std::string cleared = all_text(
      ocr_until(dir_.path(), "cleared", [](const auto& words) { return has(words, "0 of 0"); }));
  EXPECT_NE(cleared.find("0 of 0"), std::string::npos) << cleared;
  EXPECT_EQ(cleared.find("strawberry"), std::string::npos) << cleared;

  // Closing the window (as a window manager's close button does) ends it with exit 0, and
  // --save has every flow of the run.
  ASSERT_TRUE(close_window(x_.display(), std::stoul(window_)));
  const ProcessResult ended = gui_->wait(std::chrono::seconds(20));
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  const ProcessResult saved = run_process({SIGHTGLASS_BINARY, "show", session.string()});
  EXPECT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_NE(saved.out.find("pineapple-orchard"), std::string::npos) << saved.out;
  // The window's state is remembered in the confdir, with the flow table's columns.
  std::ifstream ini(dir_.path() / "conf" / "sightglass-gui.ini");
  const std::string remembered((std::istreambuf_iterator<char>(ini)),
                               std::istreambuf_iterator<char>());
  EXPECT_NE(remembered.find("[Sightglass][State]\nSize=1280,800"), std::string::npos) << remembered;
  EXPECT_NE(remembered.find("[Table]"), std::string::npos) << remembered;
}

TEST_F(GuiTest, InterceptHoldsARequestThatIsEditedAndResumed) {
  ASSERT_NO_FATAL_FAILURE(start_gui({"--intercept", "~q ~u /echo-full/held"}));
  // A request the filter matches stops before it reaches the origin; curl waits for it.
  ChildProcess client({"curl", "-sS", "--max-time", "60", "-x", proxy_, "-H",
                       "X-Fruit: kiwifruit-basket",
                       "http://127.0.0.1:" + origin_port_ + "/echo-full/held"});
  const std::vector<OcrWord> held = ocr_until(dir_.path(), "held", [](const auto& words) {
    return has(words, "1 held") && has(words, "kiwifruit-basket") && has(words, "held live");
  });
  ASSERT_TRUE(has(held, "1 held")) << all_text(held);     // The status bar.
  ASSERT_TRUE(has(held, "held live")) << all_text(held);  // The row's flags, in sight.
  const std::optional<OcrWord> header = find_word(held, "kiwifruit-basket");
  ASSERT_TRUE(header) << all_text(held);
  // A header added at the end of the header lines (they end with a line break).
  click(*header);
  key("ctrl+End");
  ASSERT_EQ(
      run_process({"xdotool", "type", "--delay", "30", "X-Intercepted: edited-in-gui"}).exit_code,
      0);
  std::this_thread::sleep_for(milliseconds(300));
  key("ctrl+Return");  // Resume.
  const ProcessResult echoed = client.wait(std::chrono::seconds(30));
  ASSERT_EQ(echoed.exit_code, 0) << echoed.err;
  // The origin's echo of the request it got: the edit went on the wire.
  EXPECT_NE(echoed.out.find("\r\nX-Intercepted: edited-in-gui\r\n"), std::string::npos)
      << echoed.out;
  EXPECT_NE(echoed.out.find("\r\nX-Fruit: kiwifruit-basket\r\n"), std::string::npos) << echoed.out;
  const std::vector<OcrWord> after = ocr_until(
      dir_.path(), "after", [](const auto& words) { return has(words, "no flow is held"); });
  EXPECT_TRUE(has(after, "no flow is held")) << all_text(after);
}

}  // namespace
}  // namespace sightglass::test
