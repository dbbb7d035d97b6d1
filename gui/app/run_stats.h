#pragma once

// RunStats: what `sightglass-gui --stats` prints at exit. Frame times (all frames, frames after
// the rows were first shown, frames drawn while a filter worker ran), how long after a flow
// started it was first on screen (at 2,000 flows/s it must stay under 100 ms), the time to the
// first frame that shows the rows of the files read at start, and the RSS.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sightglass::gui {

class RunStats {
 public:
  // frame records a frame of |ms|; |shown| says the rows were on screen (not waiting for a
  // worker), |filtering| that a filter worker ran meanwhile. The frames before and including
  // the first one that showed the rows (first_shown is called after it) count in the total
  // only: they set up GL and the fonts.
  void frame(double ms, bool shown, bool filtering, double seconds_since_start);
  // first_shown notes the seconds since start of the first frame with the rows.
  void first_shown(double seconds) {
    if (first_shown_s_ < 0) {
      first_shown_s_ = seconds;
    }
  }
  void files_read(size_t flows, double seconds) {
    flows_read_ = flows;
    read_s_ = seconds;
  }
  // flow_on_screen records that a flow that started at |started_us| (wall clock) was first
  // drawn at |now_us|.
  void flow_on_screen(int64_t started_us, int64_t now_us);

  // print writes the figures to stderr, one line each, prefixed "sightglass-gui: ".
  void print() const;

 private:
  std::vector<double> all_ms_;
  std::vector<double> after_shown_ms_;
  double first_frame_s_ = -1;  // Since start: the first and the last frame after the rows showed.
  double last_frame_s_ = -1;
  std::vector<double> filtering_ms_;
  std::vector<double> latency_ms_;
  double first_shown_s_ = -1;
  double read_s_ = -1;
  size_t flows_read_ = 0;
};

// resident_bytes is this process's RSS (0 if /proc cannot be read).
size_t resident_bytes();

}  // namespace sightglass::gui
