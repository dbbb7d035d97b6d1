// sightglass-gui: the desktop inspector (CONTRACT.md, "sightglass-gui"). The proxy of
// `sightglass` (a ProxyRuntime on its own threads) beside a Dear ImGui window that shows its
// flows live; the UI thread drains a FlowBus subscription into a FlowStore, and sleeps in
// glfwWaitEventsTimeout while nothing happens.

#include <GLFW/glfw3.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ca/ca_store.h"
#include "cli/runtime.h"
#include "gui/app/gui_options.h"
#include "gui/app/inspector.h"
#include "gui/app/run_stats.h"
#include "gui/app/settings.h"
#include "gui/app/window.h"
#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"

namespace {

using sightglass::cli::ProxyRuntime;
using namespace sightglass::gui;  // NOLINT(google-build-using-namespace)

constexpr double kIdleWaitSeconds = 0.5;
constexpr size_t kSubscriptionCapacity = 65536;

// Set by signals (on a loop thread, or in a handler with --no-server) and read by the UI thread.
std::atomic<bool> g_quit{false};
static_assert(std::atomic<bool>::is_always_lock_free);
// Whether GLFW is initialized, so that other threads may post empty events to wake the UI.
std::atomic<bool> g_glfw_ready{false};

void wake_ui() {
  if (g_glfw_ready.load(std::memory_order_acquire)) {
    glfwPostEmptyEvent();
  }
}

int run(const GuiOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto since_start = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::string error;
  std::unique_ptr<FlowStore> store = FlowStore::create(&error);
  if (!store) {
    std::cerr << "sightglass-gui: " << error << "\n";
    return 1;
  }
  // The files are read while the window opens.
  RunStats stats;
  std::string load_error;
  std::thread loader([&store, &options, &load_error, &stats, &since_start] {
    for (const std::string& file : options.read_files) {
      if (!store->load_file(file, &load_error)) {
        return;
      }
    }
    if (!options.read_files.empty()) {
      stats.files_read(store->size(), since_start());
    }
  });
  // join_loader waits for the files; false (with the reason on stderr) if one was unreadable.
  auto join_loader = [&loader, &load_error] {
    if (loader.joinable()) {
      loader.join();
    }
    if (!load_error.empty()) {
      std::cerr << "sightglass-gui: " << load_error << "\n";
      return false;
    }
    return true;
  };

  InspectorInfo info;
  info.files = options.read_files;
  std::unique_ptr<ProxyRuntime> runtime;
  sightglass::core::FlowSubscriptionSharedPtr subscription;
  if (!options.no_server) {
    runtime = ProxyRuntime::start(options.proxy, &error, [](int /*signum*/) {
      g_quit.store(true);
      wake_ui();
    });
    if (!runtime) {
      std::cerr << "sightglass-gui: " << error << "\n";
      join_loader();
      return 1;
    }
    std::cerr << "sightglass: listening on " << runtime->local_address() << " ("
              << runtime->mode_description() << ")\n"
              << "sightglass: CA certificate: " << runtime->ca_cert_path() << std::endl;
    if (!runtime->exposure_warning().empty()) {
      std::cerr << "sightglass: " << runtime->exposure_warning() << std::endl;
    }
    subscription = runtime->bus().subscribe(kSubscriptionCapacity, wake_ui);
    if (sightglass::core::Interceptor* interceptor = runtime->interceptor()) {
      interceptor->set_on_change(wake_ui);  // A flow held or let go: draw again.
    }
    info.listen_address = runtime->local_address();
    info.mode = runtime->mode_description();
  } else {
    info.mode = "files only (--no-server)";
    // Without a proxy, whose runtime handles them, the signals only set the flag; the loop
    // sees it within kIdleWaitSeconds.
    struct sigaction action {};
    action.sa_handler = [](int /*signum*/) { g_quit.store(true); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
  }

  // end stops the proxy (writing --har, -w, --save) and returns the exit code.
  auto end = [&runtime, &subscription, &join_loader](int code) {
    if (!join_loader()) {
      code = 1;
    }
    if (subscription) {
      subscription->unsubscribe();
    }
    if (runtime) {
      runtime->shutdown();
      if (const std::string wait_error = runtime->wait(); !wait_error.empty()) {
        std::cerr << "sightglass-gui: " << wait_error << "\n";
        return 1;
      }
    }
    return code;
  };

  std::string title = "Sightglass";
  if (!info.listen_address.empty()) {
    title += " \xe2\x80\x94 " + info.listen_address;
  } else if (!options.read_files.empty()) {
    title += " \xe2\x80\x94 " + options.read_files.front();
  }
  std::unique_ptr<Window> window = Window::create(title, 1280, 800, &error);
  if (!window) {
    std::cerr << "sightglass-gui: " << error << "\n";
    return end(1);
  }
  g_glfw_ready.store(true, std::memory_order_release);
  if (!join_loader()) {
    g_glfw_ready.store(false);
    window.reset();
    return end(1);
  }

  FlowListModel list(store.get());
  const bool screenshot = !options.screenshot.empty();
  if (screenshot) {
    window->ignore_pointer();  // Wherever the pointer is, nothing shows as hovered.
  }
  const std::filesystem::path confdir = options.proxy.confdir.empty()
                                            ? sightglass::ca::default_confdir()
                                            : std::filesystem::path(options.proxy.confdir);
  AppHooks hooks;
  hooks.capturing = runtime != nullptr;
  if (runtime) {
    hooks.ca_cert_path = runtime->ca_cert_path();
    hooks.listen_address = runtime->local_address();
    hooks.replay = [&runtime](const sightglass::core::FlowSnapshot& flow, std::string* why) {
      return runtime->replay(flow, why);
    };
    hooks.interceptor = runtime->interceptor();
  } else {
    hooks.ca_cert_path = (confdir / "sightglass-ca.pem").string();
  }
  Inspector inspector(store.get(), &list, info, window->mono(), std::move(hooks));
  // What the last run remembered (window size, filter, split, columns); not for screenshots,
  // which show the defaults.
  GuiSettings settings;
  if (!screenshot) {
    settings.install(confdir);
    if (settings.loaded()) {
      const GuiState& state = settings.state();
      glfwSetWindowSize(window->handle(), state.width, state.height);
      inspector.restore(state);
    }
  }
  if (!options.initial_filter.empty()) {
    inspector.set_filter_text(options.initial_filter);
  }
  if (!options.detail_tab.empty()) {
    inspector.select_tab(options.detail_tab);
  }
  sightglass::core::Interceptor* hooks_interceptor = runtime ? runtime->interceptor() : nullptr;
  uint64_t last_held_generation = 0;
  std::optional<size_t> pending_select = options.select;
  int frames = 0;
  int extra_frames = 2;
  std::vector<sightglass::core::FlowSnapshotConstSharedPtr> batch;
  std::vector<uint32_t> new_rows;  // With --stats: rows added since the last frame.

  while (!g_quit.load() && !window->should_close() && !inspector.quit_requested()) {
    // New flows wait in the subscription while a worker scans the table.
    bool drained = false;
    if (subscription && !list.filtering()) {
      subscription->drain(&batch);
      if (!batch.empty()) {
        const size_t before = store->size();
        store->add(batch, /*new_flows=*/!inspector.paused());
        batch.clear();
        drained = true;
        if (options.stats) {
          for (size_t row = before; row < store->size(); ++row) {
            new_rows.push_back(static_cast<uint32_t>(row));
          }
        }
      }
    }
    const bool rows_changed = list.refresh();
    if (pending_select && list.visible_count() >= *pending_select && !list.filtering()) {
      list.select(*pending_select - 1);
      pending_select.reset();
    }
    // Draw after anything happened, and one frame more for what ImGui applies a frame late
    // (focus, scrolling); an idle window draws nothing.
    const uint64_t held_generation =
        hooks_interceptor != nullptr ? hooks_interceptor->generation() : 0;
    const bool held_changed = held_generation != last_held_generation;
    last_held_generation = held_generation;
    if (window->take_events() || drained || rows_changed || held_changed) {
      extra_frames = 2;
    }
    if (screenshot || list.filtering() || extra_frames > 0) {
      extra_frames = std::max(extra_frames - 1, 0);
      const auto frame_start = std::chrono::steady_clock::now();
      const bool last_frame = screenshot && frames + 1 >= options.frames && !list.filtering();
      window->begin_frame();
      inspector.draw();
      if (last_frame) {
        window->capture_next_frame();
      }
      window->end_frame();
      const bool shown = !list.filtering();
      stats.frame(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - frame_start)
              .count(),
          shown, list.filtering(), since_start());
      if (shown) {
        ++frames;
        stats.first_shown(since_start());
      }
      if (!new_rows.empty() && shown) {
        const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
        auto lock = store->table().read_lock();
        for (uint32_t row : new_rows) {
          stats.flow_on_screen(store->table().view(row).started_us, now_us);
        }
        new_rows.clear();
      }
      if (last_frame) {
        if (!window->write_capture(options.screenshot, &error)) {
          std::cerr << "sightglass-gui: " << error << "\n";
          g_glfw_ready.store(false);
          window.reset();
          return end(1);
        }
        break;
      }
    }
    if (screenshot || list.filtering() || extra_frames > 0 || window->input_pending()) {
      glfwPollEvents();
    } else {
      glfwWaitEventsTimeout(kIdleWaitSeconds);
    }
  }
  if (options.stats) {
    stats.print();
  }
  // The proxy ends first: after wait() no thread posts events any more.
  if (!screenshot) {
    GuiState& state = settings.state();
    glfwGetWindowSize(window->handle(), &state.width, &state.height);
    inspector.remember(&state);
    settings.save();
  }
  const int code = end(0);
  g_glfw_ready.store(false);
  window.reset();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  GuiOptions options;
  std::string error;
  if (!parse_gui_options(args, &options, &error)) {
    std::cerr << "sightglass-gui: " << error << "\n"
              << "Try 'sightglass-gui --help'.\n";
    return 2;
  }
  if (options.proxy.help) {
    std::cout << gui_usage_text();
    return 0;
  }
  if (options.proxy.version) {
    std::cout << "sightglass-gui " << SIGHTGLASS_VERSION << "\n";
    return 0;
  }
  return run(options);
}
