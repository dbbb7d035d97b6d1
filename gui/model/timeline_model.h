#pragma once

// TimelineModel: the state of the Timeline (a waterfall of the visible flows over wall-clock
// time, as in Chrome DevTools) without ImGui, so it is tested without a window.
//
// Lanes are the visible rows in display order (lane i shows visible row i). The model keeps:
//   - a cache of each store row's extent (start, end, in progress), read from the SummaryTable
//     once per row: a finished row never changes again (SummaryTable::upsert replaces live rows
//     only), so a rebuild re-reads only new rows and the rows that were still in progress (a
//     sample of the rows read before is checked, so a cleared and refilled table is read afresh);
//   - the aggregates of the visible rows, recomputed by rebuild() in one O(n) pass over the
//     cache when the visible rows change: the full range (first start, last end; a flow in
//     progress extends to "now"), the flow counts and a density overview (how many flows are
//     active in each of kDensityBuckets buckets of the range, by a difference array);
//   - the view window [view_begin, view_end] (µs since the epoch) with zoom, pan and fit, and the
//     mapping between time and x for a given pixel width;
//   - hit-testing of a lane at an x.
//
// Times are microseconds since the Unix epoch; the view window is kept in doubles (exact for
// whole microseconds) so zooming in and out around a point does not drift.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store/summary_table.h"

namespace sightglass::gui {

// FlowExtent is a flow's bar: [start_us, end_us]; live: still in progress (its end is at least
// "now").
struct FlowExtent {
  int64_t start_us = 0;
  int64_t end_us = 0;
  bool live = false;
};

class TimelineModel {
 public:
  static constexpr double kMinSpanUs = 1000.0;  // The deepest zoom: 1 ms across the lanes.
  static constexpr size_t kDensityBuckets = 1024;
  static constexpr double kMarginFraction = 0.02;  // Of the range, on each side of "fit".

  // rebuild brings the extents of |table|'s rows up to date (taking its read lock) and
  // recomputes the aggregates of |rows| (store rows in display order) in one pass; |now_us| is
  // where flows in progress end. A fitted view stays fitted; any other is clamped to the new
  // range.
  void rebuild(const core::SummaryTable& table, const std::vector<uint32_t>& rows, int64_t now_us);

  // extent is store row |row|'s bar as of the last rebuild, with flows in progress extended to
  // |now_us|; nullopt for a row the model has not read or a flow without a start time.
  std::optional<FlowExtent> extent(uint32_t row, int64_t now_us) const;

  // The aggregates of the last rebuild.
  bool empty() const { return flow_count_ == 0; }
  size_t flow_count() const { return flow_count_; }  // Visible flows with a start time.
  size_t live_count() const { return live_count_; }  // Of those, in progress.
  int64_t first_start_us() const { return first_start_us_; }
  int64_t last_end_us() const { return last_end_us_; }
  // The overview's range: the full range plus the margins (also the widest view).
  double limit_begin_us() const { return limit_begin_; }
  double limit_end_us() const { return limit_end_; }
  // density[i] is the number of flows active in the i-th of kDensityBuckets equal buckets of
  // [limit_begin, limit_end) (a flow counts in every bucket it touches).
  const std::vector<uint32_t>& density() const { return density_; }
  uint32_t density_max() const { return density_max_; }
  // density_columns resamples the density to |columns| columns (the maximum of the buckets
  // each column covers).
  std::vector<uint32_t> density_columns(size_t columns) const;

  // The view window.
  double view_begin_us() const { return view_begin_; }
  double view_end_us() const { return view_end_; }
  double view_span_us() const { return view_end_ - view_begin_; }
  // fitted says whether the view shows the full range (and keeps doing so as it grows).
  bool fitted() const { return fitted_; }
  // fit shows the full range with its margins.
  void fit();
  // set_view shows [begin, end], clamped: the span to [kMinSpanUs, the limits' span], the
  // window to the limits.
  void set_view(double begin_us, double end_us);
  // zoom scales the span by |factor| (< 1 zooms in) keeping the time at |anchor_us| where it is.
  void zoom(double factor, double anchor_us);
  // pan moves the window by |delta_us| (clamped to the limits).
  void pan(double delta_us);
  // center_on moves the window so that it is centred on |time_us| (clamped).
  void center_on(double time_us);
  // zoom_to shows [begin, end] with a margin of a tenth of its span on each side.
  void zoom_to(int64_t begin_us, int64_t end_us);

  // time_to_x maps a time to x in [0, width] over the view; x_to_time is its inverse.
  double time_to_x(double time_us, double width) const;
  double x_to_time(double x, double width) const;

  // hit_test returns the store row of lane |lane| if x (in [0, width] over the view) is on its
  // bar, or within |slack_px| of it (short bars are drawn at least a few pixels wide).
  std::optional<uint32_t> hit_test(const std::vector<uint32_t>& rows, size_t lane, double x,
                                   double width, int64_t now_us, double slack_px = 3.0) const;

 private:
  void clamp_view();

  // By store row: the bar, as read from the table.
  std::vector<FlowExtent> extents_;
  std::vector<bool> has_start_;
  std::vector<uint32_t> live_rows_;  // Rows read while in progress: read again each rebuild.

  size_t flow_count_ = 0;
  size_t live_count_ = 0;
  int64_t first_start_us_ = 0;
  int64_t last_end_us_ = 0;
  double limit_begin_ = 0.0;
  double limit_end_ = kMinSpanUs;
  std::vector<uint32_t> density_ = std::vector<uint32_t>(kDensityBuckets, 0);
  uint32_t density_max_ = 0;

  double view_begin_ = 0.0;
  double view_end_ = kMinSpanUs;
  bool fitted_ = true;
};

// nice_tick_step_us is the smallest "nice" step (1, 2 or 5 × 10^k µs; from a minute up: 1, 2,
// 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12, 24 hours) that is at least |min_step_us|.
int64_t nice_tick_step_us(double min_step_us);

// format_offset formats a time relative to the first flow as a ruler label for ticks |step_us|
// apart: "+1.250 s" (as many decimals as the step needs), "+0 s", "+2:05" past a minute with
// steps of whole seconds, "+1:02:05" past an hour.
std::string format_offset(int64_t offset_us, int64_t step_us);

// format_span formats a span for the toolbar: "850 µs", "12.5 ms", "3.20 s", "4 min 05 s".
std::string format_span(double span_us);

}  // namespace sightglass::gui
