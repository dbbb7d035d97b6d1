#include "gui/model/timeline_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

namespace sightglass::gui {

void TimelineModel::rebuild(const core::SummaryTable& table, const std::vector<uint32_t>& rows,
                            int64_t now_us) {
  auto lock = table.read_lock();
  const size_t n = table.size();
  // The table was cleared (and maybe refilled) since: start over. A sample of the finished rows
  // read before must read the same.
  bool same = n >= extents_.size();
  const size_t stride = std::max<size_t>(1, extents_.size() / 32);
  for (size_t row = 0; same && row < extents_.size(); row += stride) {
    const core::SummaryView view = table.view(row);
    const FlowExtent& extent = extents_[row];
    same =
        extent.start_us == view.started_us &&
        (extent.live || extent.end_us == view.started_us + std::max<int64_t>(view.duration_us, 0));
  }
  if (!same) {
    extents_.clear();
    has_start_.clear();
    live_rows_.clear();
  }
  // read (re)reads a row's extent; returns whether the flow is still in progress.
  auto read = [&](size_t row) {
    const core::SummaryView view = table.view(row);
    FlowExtent& extent = extents_[row];
    extent.start_us = view.started_us;
    extent.end_us = view.started_us + std::max<int64_t>(view.duration_us, 0);
    extent.live = view.has(core::kSummaryLive);
    has_start_[row] = view.started_us > 0;
    return extent.live;
  };
  // Finished rows never change; the ones in progress may have, and new rows are read once.
  std::vector<uint32_t> live_rows;
  for (const uint32_t row : live_rows_) {
    if (row < extents_.size() && read(row)) {
      live_rows.push_back(row);
    }
  }
  const size_t known = extents_.size();
  extents_.resize(n);
  has_start_.resize(n);
  for (size_t row = known; row < n; ++row) {
    if (read(row)) {
      live_rows.push_back(static_cast<uint32_t>(row));
    }
  }
  live_rows_ = std::move(live_rows);

  // The range of the visible rows.
  size_t count = 0;
  size_t live = 0;
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t last = std::numeric_limits<int64_t>::min();
  for (const uint32_t row : rows) {
    if (row >= n || !has_start_[row]) {
      continue;
    }
    const FlowExtent& extent = extents_[row];
    const int64_t end = extent.live ? std::max(extent.end_us, now_us) : extent.end_us;
    first = std::min(first, extent.start_us);
    last = std::max(last, end);
    ++count;
    live += extent.live ? 1 : 0;
  }
  flow_count_ = count;
  live_count_ = live;
  std::fill(density_.begin(), density_.end(), 0);
  density_max_ = 0;
  if (count == 0) {
    first_start_us_ = 0;
    last_end_us_ = 0;
    limit_begin_ = 0.0;
    limit_end_ = kMinSpanUs;
    fit();
    return;
  }
  first_start_us_ = first;
  last_end_us_ = last;
  const double span = static_cast<double>(last - first);
  const double margin = std::max(span * kMarginFraction, kMinSpanUs / 2);
  limit_begin_ = static_cast<double>(first) - margin;
  limit_end_ = static_cast<double>(last) + margin;

  // The density: +1 at each flow's first bucket, -1 after its last, then a running sum.
  std::vector<int32_t> diff(kDensityBuckets + 1, 0);
  const double scale = static_cast<double>(kDensityBuckets) / (limit_end_ - limit_begin_);
  const auto bucket = [&](int64_t time_us) {
    const double b = std::floor((static_cast<double>(time_us) - limit_begin_) * scale);
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(kDensityBuckets - 1)));
  };
  for (const uint32_t row : rows) {
    if (row >= n || !has_start_[row]) {
      continue;
    }
    const FlowExtent& extent = extents_[row];
    const int64_t end = extent.live ? std::max(extent.end_us, now_us) : extent.end_us;
    ++diff[bucket(extent.start_us)];
    --diff[bucket(end) + 1];
  }
  int64_t active = 0;
  for (size_t i = 0; i < kDensityBuckets; ++i) {
    active += diff[i];
    density_[i] = static_cast<uint32_t>(active);
    density_max_ = std::max(density_max_, density_[i]);
  }

  if (fitted_) {
    fit();
  } else {
    clamp_view();
  }
}

std::optional<FlowExtent> TimelineModel::extent(uint32_t row, int64_t now_us) const {
  if (row >= extents_.size() || !has_start_[row]) {
    return std::nullopt;
  }
  FlowExtent extent = extents_[row];
  if (extent.live) {
    extent.end_us = std::max(extent.end_us, now_us);
  }
  return extent;
}

std::vector<uint32_t> TimelineModel::density_columns(size_t columns) const {
  std::vector<uint32_t> out(columns, 0);
  for (size_t c = 0; c < columns; ++c) {
    const size_t begin = c * kDensityBuckets / columns;
    const size_t end = std::max(begin + 1, (c + 1) * kDensityBuckets / columns);
    for (size_t b = begin; b < end && b < kDensityBuckets; ++b) {
      out[c] = std::max(out[c], density_[b]);
    }
  }
  return out;
}

void TimelineModel::fit() {
  view_begin_ = limit_begin_;
  view_end_ = limit_end_;
  fitted_ = true;
}

void TimelineModel::clamp_view() {
  const double max_span = limit_end_ - limit_begin_;
  double span = view_end_ - view_begin_;
  double begin = view_begin_;
  if (!std::isfinite(span) || !std::isfinite(begin)) {
    fit();
    return;
  }
  // A span out of bounds shrinks or grows around its centre; then the window moves inside the
  // limits.
  const double clamped = std::clamp(span, std::min(kMinSpanUs, max_span), max_span);
  begin += (span - clamped) / 2;
  span = clamped;
  begin = std::clamp(begin, limit_begin_, limit_end_ - span);
  view_begin_ = begin;
  view_end_ = begin + span;
  fitted_ = span >= max_span;
}

void TimelineModel::set_view(double begin_us, double end_us) {
  if (!(end_us > begin_us)) {
    end_us = begin_us + kMinSpanUs;
  }
  view_begin_ = begin_us;
  view_end_ = end_us;
  clamp_view();
}

void TimelineModel::zoom(double factor, double anchor_us) {
  const double span = view_span_us();
  const double new_span = std::clamp(span * factor, std::min(kMinSpanUs, limit_end_ - limit_begin_),
                                     limit_end_ - limit_begin_);
  const double fraction = (anchor_us - view_begin_) / span;
  const double begin = anchor_us - fraction * new_span;
  set_view(begin, begin + new_span);
}

void TimelineModel::pan(double delta_us) { set_view(view_begin_ + delta_us, view_end_ + delta_us); }

void TimelineModel::center_on(double time_us) {
  const double span = view_span_us();
  set_view(time_us - span / 2, time_us + span / 2);
}

void TimelineModel::zoom_to(int64_t begin_us, int64_t end_us) {
  const double span = std::max(static_cast<double>(end_us - begin_us), kMinSpanUs / 2);
  set_view(static_cast<double>(begin_us) - span / 10, static_cast<double>(end_us) + span / 10);
}

double TimelineModel::time_to_x(double time_us, double width) const {
  return (time_us - view_begin_) / view_span_us() * width;
}

double TimelineModel::x_to_time(double x, double width) const {
  return width <= 0 ? view_begin_ : view_begin_ + x / width * view_span_us();
}

std::optional<uint32_t> TimelineModel::hit_test(const std::vector<uint32_t>& rows, size_t lane,
                                                double x, double width, int64_t now_us,
                                                double slack_px) const {
  if (lane >= rows.size()) {
    return std::nullopt;
  }
  const std::optional<FlowExtent> bar = extent(rows[lane], now_us);
  if (!bar) {
    return std::nullopt;
  }
  const double x0 = time_to_x(static_cast<double>(bar->start_us), width);
  const double x1 = time_to_x(static_cast<double>(bar->end_us), width);
  if (x >= x0 - slack_px && x <= x1 + slack_px) {
    return rows[lane];
  }
  return std::nullopt;
}

int64_t nice_tick_step_us(double min_step_us) {
  if (!(min_step_us > 1.0)) {
    return 1;
  }
  constexpr int64_t kSecond = 1'000'000;
  constexpr int64_t kMinute = 60 * kSecond;
  constexpr int64_t kHour = 60 * kMinute;
  constexpr int64_t kDay = 24 * kHour;
  if (min_step_us <= 10.0 * kSecond) {
    double power = std::pow(10.0, std::floor(std::log10(min_step_us)));
    for (;;) {
      for (const double m : {1.0, 2.0, 5.0}) {
        if (m * power >= min_step_us) {
          return static_cast<int64_t>(std::llround(m * power));
        }
      }
      power *= 10;
    }
  }
  static constexpr std::array<int64_t, 14> kLong = {
      15 * kSecond, 30 * kSecond, kMinute,   2 * kMinute, 5 * kMinute, 10 * kMinute, 15 * kMinute,
      30 * kMinute, kHour,        2 * kHour, 3 * kHour,   6 * kHour,   12 * kHour,   kDay};
  for (const int64_t step : kLong) {
    if (static_cast<double>(step) >= min_step_us) {
      return step;
    }
  }
  const double days = min_step_us / static_cast<double>(kDay);
  return kDay * nice_tick_step_us(days);
}

std::string format_offset(int64_t offset_us, int64_t step_us) {
  const char* sign = offset_us < 0 ? "-" : "+";
  const uint64_t magnitude = offset_us < 0 ? uint64_t{0} - static_cast<uint64_t>(offset_us)
                                           : static_cast<uint64_t>(offset_us);
  std::array<char, 48> text{};
  if (step_us >= 1'000'000 && magnitude >= 60'000'000) {
    const uint64_t seconds = (magnitude + 500'000) / 1'000'000;
    const uint64_t hours = seconds / 3600;
    if (hours > 0) {
      std::snprintf(text.data(), text.size(), "%s%llu:%02llu:%02llu", sign,
                    static_cast<unsigned long long>(hours),
                    static_cast<unsigned long long>(seconds / 60 % 60),
                    static_cast<unsigned long long>(seconds % 60));
    } else {
      std::snprintf(text.data(), text.size(), "%s%llu:%02llu", sign,
                    static_cast<unsigned long long>(seconds / 60),
                    static_cast<unsigned long long>(seconds % 60));
    }
    return text.data();
  }
  int decimals = 0;  // As many as the step needs: 1 s: 0, 500 ms: 1, 20 ms: 2, 1 ms: 3...
  for (int64_t unit = 1'000'000; unit > 1 && step_us < unit; unit /= 10) {
    ++decimals;
  }
  if (magnitude == 0) {
    sign = "+";
  }
  std::snprintf(text.data(), text.size(), "%s%.*f s", sign, decimals,
                static_cast<double>(magnitude) / 1e6);
  return text.data();
}

std::string format_span(double span_us) {
  std::array<char, 48> text{};
  if (span_us < 1000.0) {
    std::snprintf(text.data(), text.size(), "%.0f \xc2\xb5s", span_us);
  } else if (span_us < 10'000.0) {
    std::snprintf(text.data(), text.size(), "%.2f ms", span_us / 1e3);
  } else if (span_us < 100'000.0) {
    std::snprintf(text.data(), text.size(), "%.1f ms", span_us / 1e3);
  } else if (span_us < 1e6) {
    std::snprintf(text.data(), text.size(), "%.0f ms", span_us / 1e3);
  } else if (span_us < 60e6) {
    std::snprintf(text.data(), text.size(), "%.2f s", span_us / 1e6);
  } else if (span_us < 3600e6) {
    const auto seconds = static_cast<long long>(span_us / 1e6 + 0.5);
    std::snprintf(text.data(), text.size(), "%lld min %02lld s", seconds / 60, seconds % 60);
  } else {
    const auto minutes = static_cast<long long>(span_us / 60e6 + 0.5);
    std::snprintf(text.data(), text.size(), "%lld h %02lld min", minutes / 60, minutes % 60);
  }
  return text.data();
}

}  // namespace sightglass::gui
