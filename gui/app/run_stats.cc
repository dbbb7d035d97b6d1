#include "gui/app/run_stats.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace sightglass::gui {

namespace {

void print_percentiles(const char* what, std::vector<double> values, const char* unit) {
  if (values.empty()) {
    return;
  }
  std::sort(values.begin(), values.end());
  auto at = [&values](double q) {
    return values[std::min(values.size() - 1,
                           static_cast<size_t>(q * static_cast<double>(values.size())))];
  };
  std::fprintf(stderr, "sightglass-gui: %s: %zu, p50 %.2f %s, p99 %.2f %s, max %.2f %s\n", what,
               values.size(), at(0.50), unit, at(0.99), unit, values.back(), unit);
}

}  // namespace

void RunStats::frame(double ms, bool shown, bool filtering, double seconds_since_start) {
  all_ms_.push_back(ms);
  if (shown && first_shown_s_ >= 0) {
    after_shown_ms_.push_back(ms);
    if (first_frame_s_ < 0) {
      first_frame_s_ = seconds_since_start;
    }
    last_frame_s_ = seconds_since_start;
  }
  if (filtering && first_shown_s_ >= 0) {
    filtering_ms_.push_back(ms);
  }
}

void RunStats::flow_on_screen(int64_t started_us, int64_t now_us) {
  latency_ms_.push_back(static_cast<double>(now_us - started_us) / 1000.0);
}

void RunStats::print() const {
  if (read_s_ >= 0) {
    std::fprintf(stderr, "sightglass-gui: %zu flows read in %.2f s\n", flows_read_, read_s_);
  }
  if (first_shown_s_ >= 0) {
    std::fprintf(stderr, "sightglass-gui: first frame with the rows at %.2f s\n", first_shown_s_);
  }
  print_percentiles("frames", all_ms_, "ms");
  print_percentiles("frames after the rows were shown", after_shown_ms_, "ms");
  if (after_shown_ms_.size() > 1 && last_frame_s_ > first_frame_s_) {
    std::fprintf(stderr, "sightglass-gui: %.1f frames/s drawn over %.1f s\n",
                 static_cast<double>(after_shown_ms_.size() - 1) / (last_frame_s_ - first_frame_s_),
                 last_frame_s_ - first_frame_s_);
  }
  print_percentiles("frames while a filter ran (after the rows were shown)", filtering_ms_, "ms");
  print_percentiles("flows from start to screen", latency_ms_, "ms");
  std::fprintf(stderr, "sightglass-gui: RSS %.0f MiB\n",
               static_cast<double>(resident_bytes()) / (1 << 20));
}

size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long pages = 0;     // NOLINT(google-runtime-int): fscanf's %lu.
  unsigned long resident = 0;  // NOLINT(google-runtime-int)
  const int n = std::fscanf(f, "%lu %lu", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace sightglass::gui
