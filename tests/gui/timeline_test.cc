// The Timeline's model without a window: the range of the visible flows (with flows in
// progress), zoom, pan, the x <-> time mapping, hit-testing, the density overview, the ruler's
// ticks and labels, and the aggregates of a million flows.

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <optional>
#include <vector>

#include "core/filter/flow_summary.h"
#include "core/store/summary_table.h"
#include "gui/model/timeline_model.h"

namespace sightglass::gui {
namespace {

constexpr int64_t kBase = 1'700'000'000'000'000;  // µs since the epoch.
constexpr int64_t kMs = 1000;
constexpr int64_t kS = 1'000'000;

// add appends a flow to |table| (key = row) and returns its row.
uint32_t add(core::SummaryTable* table, uint64_t key, int64_t started_us, int64_t duration_us,
             bool live = false, int status = 200) {
  core::FlowSummary summary;
  summary.id = key + 1;
  summary.started_us = started_us;
  summary.duration_us = duration_us;
  summary.method = "GET";
  summary.scheme = "https";
  summary.host = "example.com";
  summary.port = 443;
  summary.path = "/" + std::to_string(key);
  summary.url = "https://example.com" + summary.path;
  summary.status = live ? 0 : status;
  summary.flags = live ? core::kSummaryLive : core::kSummaryHasResponse;
  return static_cast<uint32_t>(table->upsert(key, summary.view()));
}

std::vector<uint32_t> all_rows(size_t n) {
  std::vector<uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  return rows;
}

TEST(TimelineModelTest, RangeCoversTheVisibleFlowsAndFlowsInProgressEndNow) {
  core::SummaryTable table;
  add(&table, 0, kBase, 2 * kS);
  add(&table, 1, kBase + 1 * kS, 1 * kS);
  add(&table, 2, kBase + 3 * kS, -1, /*live=*/true);
  add(&table, 3, 0, -1);  // No start time: not on the timeline.
  const int64_t now = kBase + 10 * kS;

  TimelineModel model;
  model.rebuild(table, all_rows(4), now);
  EXPECT_EQ(model.flow_count(), 3u);
  EXPECT_EQ(model.live_count(), 1u);
  EXPECT_EQ(model.first_start_us(), kBase);
  EXPECT_EQ(model.last_end_us(), now);
  ASSERT_TRUE(model.extent(2, now));
  EXPECT_EQ(model.extent(2, now)->end_us, now);
  EXPECT_TRUE(model.extent(2, now)->live);
  EXPECT_EQ(model.extent(2, now + kS)->end_us, now + kS);  // Still growing.
  EXPECT_FALSE(model.extent(3, now));
  EXPECT_FALSE(model.extent(9, now));
  // A fitted view shows the range and its margins.
  EXPECT_TRUE(model.fitted());
  EXPECT_LT(model.view_begin_us(), static_cast<double>(kBase));
  EXPECT_GT(model.view_end_us(), static_cast<double>(now));
  EXPECT_DOUBLE_EQ(model.view_begin_us(), model.limit_begin_us());
  EXPECT_DOUBLE_EQ(model.view_end_us(), model.limit_end_us());

  // Only the first two visible: the range shrinks to them.
  model.rebuild(table, {1, 0}, now);
  EXPECT_EQ(model.flow_count(), 2u);
  EXPECT_EQ(model.live_count(), 0u);
  EXPECT_EQ(model.first_start_us(), kBase);
  EXPECT_EQ(model.last_end_us(), kBase + 2 * kS);

  // Nothing visible.
  model.rebuild(table, {}, now);
  EXPECT_TRUE(model.empty());
}

TEST(TimelineModelTest, FlowsInProgressAreReadAgainAndAClearedTableIsReadAfresh) {
  core::SummaryTable table;
  add(&table, 0, kBase, 1 * kS);
  add(&table, 1, kBase + kS, -1, /*live=*/true);
  TimelineModel model;
  const int64_t now = kBase + 5 * kS;
  model.rebuild(table, all_rows(2), now);
  EXPECT_EQ(model.last_end_us(), now);
  // The flow finishes: its row is updated in place.
  add(&table, 1, kBase + kS, 2 * kS, /*live=*/false);
  model.rebuild(table, all_rows(2), now);
  EXPECT_EQ(model.live_count(), 0u);
  EXPECT_EQ(model.last_end_us(), kBase + 3 * kS);
  EXPECT_FALSE(model.extent(1, now)->live);

  // Cleared and refilled with other flows (more of them): nothing stale.
  table.clear();
  for (uint64_t i = 0; i < 3; ++i) {
    add(&table, i, kBase + 100 * kS + static_cast<int64_t>(i) * kS, kS);
  }
  model.rebuild(table, all_rows(3), now);
  EXPECT_EQ(model.first_start_us(), kBase + 100 * kS);
  EXPECT_EQ(model.last_end_us(), kBase + 103 * kS);
  EXPECT_EQ(model.extent(0, now)->start_us, kBase + 100 * kS);
}

class TimelineWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Ten flows a second apart, each 500 ms long.
    for (uint64_t i = 0; i < 10; ++i) {
      add(&table_, i, kBase + static_cast<int64_t>(i) * kS, 500 * kMs);
    }
    rows_ = all_rows(10);
    model_.rebuild(table_, rows_, kBase);
  }

  core::SummaryTable table_;
  std::vector<uint32_t> rows_;
  TimelineModel model_;
};

TEST_F(TimelineWindowTest, ZoomAroundAPointKeepsItWhereItIs) {
  const double width = 800.0;
  const double anchor = model_.view_begin_us() + model_.view_span_us() * 0.3;
  const double x = model_.time_to_x(anchor, width);
  model_.zoom(0.5, anchor);
  EXPECT_FALSE(model_.fitted());
  EXPECT_NEAR(model_.time_to_x(anchor, width), x, 1e-6);
  EXPECT_NEAR(model_.view_span_us(), (model_.limit_end_us() - model_.limit_begin_us()) / 2, 1.0);
  model_.zoom(0.1, anchor);
  EXPECT_NEAR(model_.time_to_x(anchor, width), x, 1e-6);

  // Zooming in stops at the minimum span, out at the limits (fitted again).
  for (int i = 0; i < 100; ++i) {
    model_.zoom(0.5, anchor);
  }
  EXPECT_DOUBLE_EQ(model_.view_span_us(), TimelineModel::kMinSpanUs);
  EXPECT_NEAR(model_.time_to_x(anchor, width), x, 1e-3);
  for (int i = 0; i < 100; ++i) {
    model_.zoom(2.0, anchor);
  }
  EXPECT_TRUE(model_.fitted());
  EXPECT_DOUBLE_EQ(model_.view_begin_us(), model_.limit_begin_us());
  EXPECT_DOUBLE_EQ(model_.view_end_us(), model_.limit_end_us());
}

TEST_F(TimelineWindowTest, PanStopsAtTheLimitsAndKeepsTheSpan) {
  model_.zoom(0.1, (model_.view_begin_us() + model_.view_end_us()) / 2);
  const double span = model_.view_span_us();
  model_.pan(1e12);
  EXPECT_DOUBLE_EQ(model_.view_end_us(), model_.limit_end_us());
  EXPECT_NEAR(model_.view_span_us(), span, 1e-3);
  model_.pan(-1e12);
  EXPECT_DOUBLE_EQ(model_.view_begin_us(), model_.limit_begin_us());
  EXPECT_NEAR(model_.view_span_us(), span, 1e-3);
  const double begin = model_.view_begin_us();
  model_.pan(static_cast<double>(kS));
  EXPECT_NEAR(model_.view_begin_us(), begin + static_cast<double>(kS), 1e-3);
  model_.center_on(static_cast<double>(kBase + 5 * kS));
  EXPECT_NEAR((model_.view_begin_us() + model_.view_end_us()) / 2,
              static_cast<double>(kBase + 5 * kS), 1e-3);
  // A fit shows everything again.
  model_.fit();
  EXPECT_TRUE(model_.fitted());
  EXPECT_DOUBLE_EQ(model_.view_begin_us(), model_.limit_begin_us());
}

TEST_F(TimelineWindowTest, XAndTimeRoundTrip) {
  model_.zoom_to(kBase + 2 * kS, kBase + 3 * kS);
  EXPECT_NEAR(model_.view_begin_us(), static_cast<double>(kBase + 2 * kS - kS / 10), 1e-3);
  EXPECT_NEAR(model_.view_end_us(), static_cast<double>(kBase + 3 * kS + kS / 10), 1e-3);
  const double width = 1234.0;
  for (const double x : {0.0, 1.0, 333.5, 1234.0}) {
    EXPECT_NEAR(model_.time_to_x(model_.x_to_time(x, width), width), x, 1e-3);
  }
  const double t = static_cast<double>(kBase + 2 * kS + 123'456);
  EXPECT_NEAR(model_.x_to_time(model_.time_to_x(t, width), width), t, 1e-3);
  EXPECT_DOUBLE_EQ(model_.time_to_x(model_.view_begin_us(), width), 0.0);
  EXPECT_DOUBLE_EQ(model_.time_to_x(model_.view_end_us(), width), width);
}

TEST_F(TimelineWindowTest, HitTestingFindsTheBarOfALane) {
  // Lanes in reverse order: lane 0 is row 9.
  const std::vector<uint32_t> lanes(rows_.rbegin(), rows_.rend());
  model_.rebuild(table_, lanes, kBase);
  model_.set_view(static_cast<double>(kBase), static_cast<double>(kBase + 5 * kS));
  EXPECT_DOUBLE_EQ(model_.view_begin_us(), static_cast<double>(kBase));
  const double width = 500.0;  // 10 ms a pixel: each bar is 50 px wide.
  EXPECT_EQ(model_.hit_test(lanes, 5, 425.0, width, kBase), std::optional<uint32_t>(4));
  EXPECT_EQ(model_.hit_test(lanes, 9, 10.0, width, kBase), std::optional<uint32_t>(0));
  EXPECT_EQ(model_.hit_test(lanes, 9, 48.0, width, kBase), std::optional<uint32_t>(0));
  EXPECT_EQ(model_.hit_test(lanes, 9, 52.0, width, kBase, 3.0), std::optional<uint32_t>(0));
  EXPECT_FALSE(model_.hit_test(lanes, 9, 60.0, width, kBase));   // Past the bar.
  EXPECT_FALSE(model_.hit_test(lanes, 5, 10.0, width, kBase));   // Another lane's time.
  EXPECT_FALSE(model_.hit_test(lanes, 10, 10.0, width, kBase));  // No such lane.
}

TEST_F(TimelineWindowTest, DensityCountsEachFlowInTheBucketsItTouches) {
  const std::vector<uint32_t>& density = model_.density();
  ASSERT_EQ(density.size(), TimelineModel::kDensityBuckets);
  // Buckets are ~10 ms wide: each 500 ms flow touches ~50 of them, never two at once.
  const uint64_t sum = std::accumulate(density.begin(), density.end(), uint64_t{0});
  const double bucket_us =
      (model_.limit_end_us() - model_.limit_begin_us()) / TimelineModel::kDensityBuckets;
  const double per_flow = 500.0 * kMs / bucket_us;
  EXPECT_GE(static_cast<double>(sum), 10 * per_flow);
  EXPECT_LE(static_cast<double>(sum), 10 * (per_flow + 2));
  EXPECT_EQ(model_.density_max(), 1u);

  // Zero-length flows count once each; overlapping ones add up.
  core::SummaryTable table;
  for (uint64_t i = 0; i < 100; ++i) {
    add(&table, i, kBase + static_cast<int64_t>(i % 4) * kS, 0);
  }
  add(&table, 100, kBase, 3 * kS);  // Spans everything.
  TimelineModel model;
  model.rebuild(table, all_rows(101), kBase);
  const std::vector<uint32_t>& d = model.density();
  const uint64_t total = std::accumulate(d.begin(), d.end(), uint64_t{0});
  size_t touched = 0;  // Buckets the long flow touches.
  for (const uint32_t count : d) {
    touched += count > 0 ? 1 : 0;
  }
  EXPECT_EQ(total, 100 + touched);
  EXPECT_EQ(model.density_max(), 26u);  // 25 flows at one instant, plus the long one.
  // Resampled to fewer columns, the peak stays.
  const std::vector<uint32_t> columns = model.density_columns(100);
  ASSERT_EQ(columns.size(), 100u);
  EXPECT_EQ(*std::max_element(columns.begin(), columns.end()), 26u);
}

TEST(TimelineTicksTest, StepsAreNiceAndLabelsNeedNoMoreDecimalsThanTheStep) {
  EXPECT_EQ(nice_tick_step_us(0.2), 1);
  EXPECT_EQ(nice_tick_step_us(3), 5);
  EXPECT_EQ(nice_tick_step_us(7), 10);
  EXPECT_EQ(nice_tick_step_us(1500), 2000);
  EXPECT_EQ(nice_tick_step_us(2000), 2000);
  EXPECT_EQ(nice_tick_step_us(2001), 5000);
  EXPECT_EQ(nice_tick_step_us(0.9e6), 1'000'000);
  EXPECT_EQ(nice_tick_step_us(1.1e6), 2'000'000);
  EXPECT_EQ(nice_tick_step_us(6e6), 10'000'000);
  EXPECT_EQ(nice_tick_step_us(11e6), 15'000'000);
  EXPECT_EQ(nice_tick_step_us(40e6), 60'000'000);
  EXPECT_EQ(nice_tick_step_us(61e6), 120'000'000);
  EXPECT_EQ(nice_tick_step_us(4000e6), 7'200'000'000);
  EXPECT_EQ(nice_tick_step_us(30.0 * 3600e6), 2 * 24 * 3'600'000'000LL);

  EXPECT_EQ(format_offset(1'250'000, 250 * kMs), "+1.2 s");  // Rounded to the step's digits.
  EXPECT_EQ(format_offset(1'250'000, 50 * kMs), "+1.25 s");
  EXPECT_EQ(format_offset(1'250'000, 1 * kMs), "+1.250 s");
  EXPECT_EQ(format_offset(1'250'500, 500), "+1.2505 s");
  EXPECT_EQ(format_offset(0, kS), "+0 s");
  EXPECT_EQ(format_offset(-2 * kS, kS), "-2 s");
  EXPECT_EQ(format_offset(125 * kS, 5 * kS), "+2:05");
  EXPECT_EQ(format_offset(3725 * kS, 60 * kS), "+1:02:05");

  EXPECT_EQ(format_span(850), "850 \xc2\xb5s");
  EXPECT_EQ(format_span(12'500), "12.5 ms");
  EXPECT_EQ(format_span(3'200'000), "3.20 s");
  EXPECT_EQ(format_span(245e6), "4 min 05 s");
}

TEST(TimelineScaleTest, AMillionFlowsAggregateInOnePass) {
  constexpr size_t kFlows = 1'000'000;
  core::SummaryTable table;
  // One flow a millisecond for 1000 s, each 500 µs long; the last one still in progress.
  for (size_t i = 0; i < kFlows; ++i) {
    add(&table, i, kBase + static_cast<int64_t>(i) * kMs, 500, /*live=*/i + 1 == kFlows);
  }
  // Display order: newest first.
  std::vector<uint32_t> rows(kFlows);
  for (size_t i = 0; i < kFlows; ++i) {
    rows[i] = static_cast<uint32_t>(kFlows - 1 - i);
  }
  const int64_t now = kBase + 1000 * kS + 7 * kS;
  TimelineModel model;
  model.rebuild(table, rows, now);
  EXPECT_EQ(model.flow_count(), kFlows);
  EXPECT_EQ(model.live_count(), 1u);
  EXPECT_EQ(model.first_start_us(), kBase);
  EXPECT_EQ(model.last_end_us(), now);
  // Each bucket (~1.02 s) holds about a thousand flows; none touches more than two buckets.
  const std::vector<uint32_t>& density = model.density();
  const uint64_t sum = std::accumulate(density.begin(), density.end(), uint64_t{0});
  size_t touched = 0;
  for (const uint32_t count : density) {
    touched += count > 0 ? 1 : 0;
  }
  // The live flow spans from its start to now (~7 s, a handful of buckets).
  EXPECT_GE(sum, kFlows);
  EXPECT_LE(sum, 2 * kFlows);
  const double bucket_us =
      (model.limit_end_us() - model.limit_begin_us()) / TimelineModel::kDensityBuckets;
  EXPECT_NEAR(model.density_max(), bucket_us / kMs, 3.0);
  EXPECT_GT(touched, TimelineModel::kDensityBuckets * 9 / 10);
  // Hit-testing the first lane (the newest flow) at its start.
  model.zoom_to(kBase + 999'999 * kMs, now);
  const double x = model.time_to_x(static_cast<double>(kBase + 999'999 * kMs), 1000.0);
  EXPECT_EQ(model.hit_test(rows, 0, x + 1.0, 1000.0, now),
            std::optional<uint32_t>(static_cast<uint32_t>(kFlows - 1)));

  // A second rebuild with the same rows gives the same aggregates.
  model.rebuild(table, rows, now);
  EXPECT_EQ(model.flow_count(), kFlows);
  EXPECT_EQ(std::accumulate(model.density().begin(), model.density().end(), uint64_t{0}), sum);
}

}  // namespace
}  // namespace sightglass::gui
