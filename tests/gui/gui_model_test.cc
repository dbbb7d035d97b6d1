// The inspector's model without a window: FlowStore (live revisions, finals in the temporary
// session, loaded files), FlowListModel (filter, sorting, selection, the worker) and the cell
// formatting; and the command line of sightglass-gui.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/export/flow_json.h"
#include "core/filter/filter.h"
#include "core/filter/flow_summary.h"
#include "gui/app/gui_options.h"
#include "gui/model/flow_list_model.h"
#include "gui/model/flow_store.h"
#include "gui/model/format.h"
#include "gui/model/gui_state.h"
#include "tests/support/temp_dir.h"

namespace sightglass::gui {
namespace {

using core::FlowSnapshot;
using core::FlowSnapshotConstSharedPtr;
using core::FlowState;

struct FlowSpec {
  core::FlowId id = 1;
  uint64_t revision = 1;
  FlowState state = FlowState::kFinished;
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  int status = 200;  // 0: no response yet.
  std::string body = "hello";
  int64_t duration_us = 1000;
};

FlowSnapshotConstSharedPtr make_flow(const FlowSpec& spec) {
  auto flow = std::make_shared<FlowSnapshot>();
  flow->id = spec.id;
  flow->revision = spec.revision;
  flow->state = spec.state;
  flow->client_address = "127.0.0.1:40000";
  flow->server_address = "93.184.216.34:443";
  flow->client_tls = core::TlsInfo{spec.host, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", {}};
  core::HttpRequestData request;
  request.method = spec.method;
  request.scheme = "https";
  request.host = spec.host;
  request.port = 443;
  request.target = spec.path;
  request.headers = {{"Host", spec.host}, {"User-Agent", "test"}};
  request.body.append("req-" + std::to_string(spec.id), 1 << 20);
  flow->request = std::move(request);
  if (spec.status != 0) {
    core::HttpResponseData response;
    response.status = spec.status;
    response.reason = "Whatever";
    response.headers = {{"Content-Type", "application/json; charset=utf-8"}};
    response.body.append(spec.body, 1 << 20);
    flow->response = std::move(response);
  }
  flow->timings.started_us = 1'700'000'000'000'000 + static_cast<int64_t>(spec.id) * 1000;
  flow->timings.send_us = 0;
  flow->timings.wait_us = spec.duration_us;
  flow->timings.receive_us = 0;
  return flow;
}

std::unique_ptr<FlowStore> new_store() {
  std::string error;
  std::unique_ptr<FlowStore> store = FlowStore::create(&error);
  EXPECT_NE(store, nullptr) << error;
  return store;
}

TEST(FlowStoreTest, LiveRevisionsUpdateTheRowInPlaceAndStaleOnesAreIgnored) {
  auto store = new_store();
  FlowSpec spec{.id = 7, .revision = 1, .state = FlowState::kLive, .status = 0};
  EXPECT_EQ(store->add({make_flow(spec)}), 1u);
  spec.revision = 3;
  spec.status = 404;
  EXPECT_EQ(store->add({make_flow(spec)}), 1u);
  spec.revision = 2;
  spec.status = 500;
  EXPECT_EQ(store->add({make_flow(spec)}), 0u);  // Stale.
  ASSERT_EQ(store->size(), 1u);
  EXPECT_TRUE(store->is_live(0));
  EXPECT_EQ(store->revision(0), 3u);
  {
    auto lock = store->table().read_lock();
    EXPECT_EQ(store->table().view(0).status, 404);
    EXPECT_TRUE(store->table().view(0).has(core::kSummaryLive));
  }
  const FlowSnapshotConstSharedPtr detail = store->detail(0);
  ASSERT_NE(detail, nullptr);
  EXPECT_EQ(detail->revision, 3u);
  EXPECT_EQ(store->live_count(), 1u);
  EXPECT_EQ(store->take_changes(), (std::vector<uint32_t>{0}));
  EXPECT_TRUE(store->take_changes().empty());
}

TEST(FlowStoreTest, FinalReplacesLiveAndDetailComesFromTheSessionByteForByte) {
  auto store = new_store();
  store->add({make_flow({.id = 1, .revision = 1, .state = FlowState::kLive, .status = 0}),
              make_flow({.id = 2, .revision = 1, .state = FlowState::kLive, .status = 0})});
  const FlowSnapshotConstSharedPtr final1 =
      make_flow({.id = 1, .revision = 2, .body = std::string("\x00\xff binary", 9)});
  store->add({final1});
  EXPECT_FALSE(store->is_live(0));
  EXPECT_TRUE(store->is_live(1));
  EXPECT_EQ(store->live_count(), 1u);
  // A stale live snapshot after the final one changes nothing.
  EXPECT_EQ(store->add({make_flow({.id = 1, .revision = 1, .state = FlowState::kLive})}), 0u);
  EXPECT_FALSE(store->is_live(0));
  ASSERT_EQ(store->size(), 2u);

  std::string error;
  ASSERT_TRUE(store->flush(&error)) << error;
  EXPECT_EQ(store->stored_count(), 1u);
  const FlowSnapshotConstSharedPtr loaded = store->detail(0, &error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_NE(loaded.get(), final1.get());  // Read back, not the snapshot in memory.
  EXPECT_EQ(core::to_json_line(*loaded), core::to_json_line(*final1));
  EXPECT_EQ(loaded->response->body.contiguous(), std::string("\x00\xff binary", 9));
  // The live one still comes from memory; the key loader finds both.
  EXPECT_EQ(store->detail(1)->state, FlowState::kLive);
  EXPECT_EQ(core::to_json_line(*store->load_key(1)), core::to_json_line(*final1));
}

TEST(FlowStoreTest, LoadsAJsonLinesFileWhoseDetailsComeFromIt) {
  test::TempDir dir;
  const auto path = dir.path() / "flows.jsonl";
  std::vector<FlowSnapshotConstSharedPtr> flows = {
      make_flow({.id = 1, .path = "/one"}), make_flow({.id = 2, .path = "/two", .status = 500})};
  {
    std::ofstream out(path);
    for (const auto& flow : flows) {
      out << core::to_json_line(*flow) << "\n";
    }
  }
  auto store = new_store();
  store->add({make_flow({.id = 1, .path = "/live"})});  // Same id as the file's first flow.
  std::string error;
  ASSERT_TRUE(store->load_file(path.string(), &error)) << error;
  ASSERT_EQ(store->size(), 3u);
  EXPECT_FALSE(store->load_file((dir.path() / "missing").string(), &error));
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  const FlowSnapshotConstSharedPtr second = store->detail(2, &error);
  ASSERT_NE(second, nullptr) << error;
  EXPECT_EQ(second->request->target, "/two");
  EXPECT_EQ(second->response->status, 500);
  EXPECT_EQ(store->detail(0)->request->target, "/live");

  FlowListModel list(store.get());
  list.refresh();
  ASSERT_TRUE(list.set_filter_text("~c 500"));
  list.refresh();
  EXPECT_EQ(list.visible(), (std::vector<uint32_t>{2}));
  // A detail term reads the file's flow through the key loader.
  ASSERT_TRUE(list.set_filter_text("~bq req-2"));
  EXPECT_EQ(list.visible(), (std::vector<uint32_t>{2}));
}

class FlowListModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = new_store();
    store_->add({make_flow({.id = 1,
                            .method = "GET",
                            .host = "b.example",
                            .path = "/a",
                            .status = 200,
                            .body = "xx",
                            .duration_us = 300}),
                 make_flow({.id = 2,
                            .method = "POST",
                            .host = "a.example",
                            .path = "/c",
                            .status = 404,
                            .body = "xxxxx",
                            .duration_us = 100}),
                 make_flow({.id = 3,
                            .method = "PUT",
                            .host = "c.example",
                            .path = "/b",
                            .status = 302,
                            .body = "",
                            .duration_us = 200})});
    list_ = std::make_unique<FlowListModel>(store_.get());
    list_->refresh();
  }

  std::unique_ptr<FlowStore> store_;
  std::unique_ptr<FlowListModel> list_;
};

TEST_F(FlowListModelTest, FiltersAndReportsTheErrorPosition) {
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 1, 2}));
  ASSERT_TRUE(list_->set_filter_text("~m POST | ~c 302"));
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 2}));
  // While typing: a malformed text keeps the previous rows and says where it is wrong.
  EXPECT_FALSE(list_->set_filter_text("~m POST | (~c"));
  ASSERT_TRUE(list_->filter_error().has_value());
  core::FilterError expected;
  EXPECT_EQ(core::FlowFilter::parse("~m POST | (~c", &expected), nullptr);
  EXPECT_EQ(list_->filter_error()->position, expected.position);
  EXPECT_EQ(list_->filter_error()->describe(), expected.describe());
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 2}));
  ASSERT_TRUE(list_->set_filter_text("a\\.example"));
  EXPECT_FALSE(list_->filter_error().has_value());
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1}));
  ASSERT_TRUE(list_->set_filter_text("  "));
  EXPECT_EQ(list_->active_filter(), nullptr);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 1, 2}));
}

TEST_F(FlowListModelTest, NewAndUpdatedFlowsFollowTheFilter) {
  ASSERT_TRUE(list_->set_filter_text("~c 200"));
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0}));
  store_->add({make_flow({.id = 9, .revision = 1, .state = FlowState::kLive, .status = 0})});
  list_->refresh();
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0}));  // No response yet.
  store_->add({make_flow({.id = 9, .revision = 2, .state = FlowState::kLive, .status = 200})});
  list_->refresh();
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 3}));
  store_->add({make_flow({.id = 9, .revision = 3, .status = 503})});
  list_->refresh();
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0}));
}

TEST_F(FlowListModelTest, SortsByEachColumn) {
  list_->set_sort(Column::kStatus, true);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 2, 1}));
  list_->set_sort(Column::kStatus, false);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 2, 0}));
  list_->set_sort(Column::kHost, true);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 0, 2}));
  list_->set_sort(Column::kPath, true);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 2, 1}));
  list_->set_sort(Column::kMethod, true);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0, 1, 2}));
  list_->set_sort(Column::kResponseSize, false);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 0, 2}));
  list_->set_sort(Column::kDuration, true);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 2, 0}));
  // A new flow lands in its place.
  store_->add({make_flow({.id = 4, .duration_us = 150})});
  list_->refresh();
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{1, 3, 2, 0}));
  list_->set_sort(Column::kIndex, false);
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{3, 2, 1, 0}));
}

TEST_F(FlowListModelTest, TheWorkerComputesTheSameRows) {
  FlowListModel async(store_.get(), /*sync_limit=*/1);
  async.refresh();
  async.wait_idle();
  EXPECT_EQ(async.visible(), (std::vector<uint32_t>{0, 1, 2}));
  ASSERT_TRUE(async.set_filter_text("~m P"));
  EXPECT_TRUE(async.filtering() || async.visible().size() == 2);
  ASSERT_TRUE(async.set_filter_text("~m PO"));  // Queued behind the first one.
  async.wait_idle();
  EXPECT_FALSE(async.filtering());
  EXPECT_EQ(async.visible(), (std::vector<uint32_t>{1}));
  async.set_sort(Column::kHost, false);
  async.wait_idle();
  ASSERT_TRUE(async.set_filter_text("~c 200 | ~c 302"));
  async.wait_idle();
  EXPECT_EQ(async.visible(), (std::vector<uint32_t>{2, 0}));
}

TEST_F(FlowListModelTest, SelectionMovesAsTheKeysDoAndStaysOnItsFlow) {
  EXPECT_FALSE(list_->selected_index().has_value());
  list_->move_selection(SelectionMove::kDown, 10);
  EXPECT_EQ(list_->selected_index(), 0u);
  EXPECT_TRUE(list_->take_selection_moved());
  EXPECT_FALSE(list_->take_selection_moved());
  list_->move_selection(SelectionMove::kDown, 10);
  EXPECT_EQ(list_->selected_index(), 1u);
  list_->move_selection(SelectionMove::kPageDown, 10);
  EXPECT_EQ(list_->selected_index(), 2u);
  EXPECT_TRUE(list_->follow_tail());
  list_->move_selection(SelectionMove::kUp, 10);
  EXPECT_EQ(list_->selected_index(), 1u);
  EXPECT_FALSE(list_->follow_tail());
  list_->move_selection(SelectionMove::kHome, 10);
  EXPECT_EQ(list_->selected_index(), 0u);
  list_->move_selection(SelectionMove::kUp, 10);
  EXPECT_EQ(list_->selected_index(), 0u);
  list_->move_selection(SelectionMove::kEnd, 10);
  EXPECT_EQ(list_->selected_index(), 2u);
  EXPECT_TRUE(list_->follow_tail());
  list_->move_selection(SelectionMove::kPageUp, 1);
  EXPECT_EQ(list_->selected_index(), 1u);
  list_->select(99);
  EXPECT_EQ(list_->selected_index(), 2u);
  // The selection follows its flow when the order changes, and is hidden when filtered out.
  list_->select(1);
  EXPECT_EQ(list_->selected_row(), 1u);
  list_->set_sort(Column::kIndex, false);
  EXPECT_EQ(list_->selected_index(), 1u);
  list_->set_sort(Column::kHost, true);
  EXPECT_EQ(list_->selected_index(), 0u);
  ASSERT_TRUE(list_->set_filter_text("~c 200"));
  EXPECT_FALSE(list_->selected_index().has_value());
  EXPECT_EQ(list_->selected_row(), 1u);
  list_->move_selection(SelectionMove::kDown, 10);
  EXPECT_EQ(list_->selected_row(), 0u);
}

TEST_F(FlowListModelTest, MultiSelectionTogglesExtendsAndSelectsAll) {
  list_->select(0);
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{0}));
  list_->toggle(2);  // Ctrl+click.
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(list_->selected_row(), 2u);
  list_->extend_to(0);  // Shift+click: from the anchor (the last toggled row) to here.
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(list_->marked_count(), 3u);
  list_->toggle(0);
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{1, 2}));
  list_->select(1);  // A plain click selects that row alone.
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{1}));
  list_->move_selection(SelectionMove::kDown, 10, /*extend=*/true);  // Shift+Down.
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(list_->selected_row(), 2u);
  // Marks survive a new order and hide with their rows.
  list_->set_sort(Column::kIndex, false);
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{2, 1}));
  ASSERT_TRUE(list_->set_filter_text("~m POST"));
  EXPECT_EQ(list_->marked_rows(), (std::vector<uint32_t>{1}));
  ASSERT_TRUE(list_->set_filter_text(""));
  list_->select_all();
  EXPECT_EQ(list_->marked_count(), 3u);
  list_->clear_selection();
  EXPECT_TRUE(list_->marked_rows().empty());
  EXPECT_FALSE(list_->selected_row().has_value());
}

TEST_F(FlowListModelTest, TheWorkerReportsProgressAndANewFilterStopsTheOldScan) {
  for (core::FlowId id = 10; id < 3010; ++id) {
    store_->add({make_flow({.id = id, .status = id % 2 == 0 ? 200 : 404})});
  }
  FlowListModel async(store_.get(), /*sync_limit=*/1);
  async.wait_idle();
  EXPECT_EQ(async.progress(), 0.0f);  // No worker.
  // ~bs loads every flow from the temporary session: slow enough to be stopped.
  ASSERT_TRUE(async.set_filter_text("~bs nothing-has-this"));
  ASSERT_TRUE(async.filtering());
  EXPECT_GE(async.progress(), 0.0f);
  EXPECT_LE(async.progress(), 1.0f);
  ASSERT_TRUE(async.set_filter_text("~c 404"));
  async.wait_idle();
  EXPECT_EQ(async.visible().size(), 1501u);  // Row 1 (404) and the 1500 odd ids.
  EXPECT_EQ(async.active_filter()->text(), "~c 404");
}

TEST_F(FlowListModelTest, PausedCaptureUpdatesKnownFlowsOnlyAndClearEmptiesEverything) {
  store_->add({make_flow({.id = 7, .revision = 1, .state = FlowState::kLive, .status = 0})});
  list_->refresh();
  ASSERT_EQ(list_->visible_count(), 4u);
  // Paused: a new flow is dropped, the one in progress still finishes in its row.
  EXPECT_EQ(store_->add({make_flow({.id = 8})}, /*new_flows=*/false), 0u);
  EXPECT_EQ(store_->add({make_flow({.id = 7, .revision = 2, .status = 201})}, false), 1u);
  list_->refresh();
  EXPECT_EQ(list_->visible_count(), 4u);
  EXPECT_FALSE(store_->is_live(3));
  list_->select(1);
  store_->clear();
  list_->clear_rows();
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_EQ(list_->visible_count(), 0u);
  EXPECT_FALSE(list_->selected_row().has_value());
  EXPECT_EQ(store_->live_count(), 0u);
  // And it fills again as before, with the filter still applied.
  ASSERT_TRUE(list_->set_filter_text("~c 200"));
  store_->add({make_flow({.id = 20}), make_flow({.id = 21, .status = 500})});
  list_->refresh();
  EXPECT_EQ(list_->visible(), (std::vector<uint32_t>{0}));
  auto detail = store_->detail(0);
  ASSERT_NE(detail, nullptr);
  EXPECT_EQ(detail->id, 20u);
}

TEST(FormatTest, CellsOfAFlow) {
  const core::FlowSummary finished = core::summarize(*make_flow({.id = 5,
                                                                 .method = "POST",
                                                                 .path = "/x?y=1",
                                                                 .status = 404,
                                                                 .body = std::string(2048, 'a'),
                                                                 .duration_us = 34'000}));
  const core::SummaryView v = finished.view();
  EXPECT_EQ(cell_text(v, Column::kIndex, 41), "42");
  EXPECT_EQ(cell_text(v, Column::kMethod, 0), "POST");
  EXPECT_EQ(cell_text(v, Column::kHost, 0), "example.com");
  EXPECT_EQ(cell_text(v, Column::kPath, 0), "/x?y=1");
  EXPECT_EQ(cell_text(v, Column::kStatus, 0), "404");
  EXPECT_EQ(status_class(v), StatusClass::kClientError);
  EXPECT_EQ(cell_text(v, Column::kType, 0), "json");
  EXPECT_EQ(cell_text(v, Column::kResponseSize, 0), "2.0 KiB");
  EXPECT_EQ(cell_text(v, Column::kRequestSize, 0), "5 B");
  EXPECT_EQ(cell_text(v, Column::kDuration, 0), "34 ms");
  EXPECT_EQ(cell_text(v, Column::kProtocol, 0), "h1");
  EXPECT_EQ(cell_text(v, Column::kFlags, 0), "TLS");
  EXPECT_EQ(cell_text(v, Column::kTime, 0).size(), 12u);  // HH:MM:SS.mmm

  const core::FlowSummary live =
      core::summarize(*make_flow({.id = 6, .state = FlowState::kLive, .status = 0}));
  EXPECT_EQ(status_text(live.view()), "live");
  EXPECT_EQ(status_class(live.view()), StatusClass::kNone);
  EXPECT_EQ(flags_text(live.view()), "TLS LIVE");

  auto failed = std::make_shared<FlowSnapshot>(*make_flow({.id = 7, .status = 0}));
  failed->error = "connection refused";
  const core::FlowSummary failed_summary = core::summarize(*failed);
  EXPECT_EQ(status_text(failed_summary.view()), "ERR");
  EXPECT_EQ(status_class(failed_summary.view()), StatusClass::kFailed);
  EXPECT_EQ(flags_text(failed_summary.view()), "TLS ERR");

  auto tcp = std::make_shared<FlowSnapshot>();
  tcp->kind = core::FlowKind::kTcp;
  tcp->state = FlowState::kFinished;
  tcp->tcp_host = "db.internal";
  tcp->tcp_port = 5432;
  tcp->passthrough = "ignored host";
  tcp->bytes_from_client = 10;
  const core::FlowSummary tcp_summary = core::summarize(*tcp);
  EXPECT_EQ(cell_text(tcp_summary.view(), Column::kMethod, 0), "TCP");
  EXPECT_EQ(cell_text(tcp_summary.view(), Column::kHost, 0), "db.internal:5432");
  EXPECT_EQ(cell_text(tcp_summary.view(), Column::kProtocol, 0), "tcp");
  EXPECT_EQ(cell_text(tcp_summary.view(), Column::kFlags, 0), "PT");
  EXPECT_EQ(cell_text(tcp_summary.view(), Column::kStatus, 0), "");

  EXPECT_EQ(short_content_type("text/html; charset=utf-8"), "html");
  EXPECT_EQ(short_content_type("Application/JSON"), "json");
  EXPECT_EQ(short_content_type(""), "");
  EXPECT_EQ(sanitize("a\x01"
                     "b\xff"),
            "a\\x01b\xef\xbf\xbd");
  EXPECT_EQ(sanitize("abcdef", 3), "abc\xe2\x80\xa6");
  EXPECT_TRUE(is_displayable_text("{\"a\": 1}\r\n\tü"));
  EXPECT_FALSE(is_displayable_text(std::string("a\0b", 3)));
  EXPECT_FALSE(is_displayable_text("\xff\xfe"));
  const std::string full = hex_dump_line("ABCDEFGHIJKLMNOPQ", 0);
  EXPECT_EQ(full, "00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|");
  const std::string partial = hex_dump_line("ABCDEFGHIJKLMNOPQ", 16);
  EXPECT_EQ(partial.substr(0, 13), "00000010  51 ");
  EXPECT_EQ(partial.find("|Q|"), full.find('|'));  // The text column stays aligned.
  EXPECT_EQ(hex_dump_line("AB\n", 0).substr(0, 18), "00000000  41 42 0a");
  EXPECT_NE(hex_dump_line("AB\n", 0).find("|AB.|"), std::string::npos);
}

TEST(GuiStateTest, TheRememberedStateRoundTripsAndBadLinesAreIgnored) {
  GuiState state;
  state.width = 1600;
  state.height = 900;
  state.filter = "~d example.com\n& ~c 500";  // A pasted newline stays on one line.
  state.split = 0.3f;
  state.timeline = true;
  GuiState back;
  std::istringstream lines(format_state(state));
  std::string line;
  while (std::getline(lines, line)) {
    parse_state_line(line, &back);
  }
  EXPECT_EQ(back.width, 1600);
  EXPECT_EQ(back.height, 900);
  EXPECT_EQ(back.filter, "~d example.com & ~c 500");
  EXPECT_NEAR(back.split, 0.3f, 0.001f);
  EXPECT_TRUE(back.timeline);
  GuiState defaults;
  for (const char* bad : {"Size=10,10", "Size=x", "Split=2", "Split=", "Nonsense=1", "no equals"}) {
    parse_state_line(bad, &defaults);
  }
  EXPECT_EQ(defaults.width, 1280);
  EXPECT_EQ(defaults.height, 800);
  EXPECT_NEAR(defaults.split, 0.52f, 0.001f);
}

TEST(GuiOptionsTest, TakesItsOwnOptionsAndPassesTheRestOn) {
  GuiOptions options;
  std::string error;
  ASSERT_TRUE(parse_gui_options(
      {"-p", "0", "-r", "a.jsonl", "--rfile=b.har", "-n", "--screenshot", "s.png", "--frames=3",
       "--select", "2", "--stats", "--confdir", "/tmp/x", "-w", "out.jsonl"},
      &options, &error))
      << error;
  EXPECT_EQ(options.proxy.listen_port, 0);
  EXPECT_EQ(options.proxy.confdir, "/tmp/x");
  EXPECT_EQ(options.proxy.write_file, "out.jsonl");
  EXPECT_EQ(options.read_files, (std::vector<std::string>{"a.jsonl", "b.har"}));
  EXPECT_TRUE(options.no_server);
  EXPECT_EQ(options.screenshot, "s.png");
  EXPECT_EQ(options.frames, 3);
  EXPECT_EQ(options.select, 2u);
  EXPECT_TRUE(options.stats);

  GuiOptions defaults;
  ASSERT_TRUE(parse_gui_options({}, &defaults, &error)) << error;
  EXPECT_EQ(defaults.frames, 5);
  EXPECT_FALSE(defaults.no_server);
  EXPECT_EQ(defaults.proxy.listen_port, 8080);

  GuiOptions bad;
  EXPECT_FALSE(parse_gui_options({"--frames", "zero"}, &bad, &error));
  EXPECT_NE(error.find("--frames"), std::string::npos) << error;
  EXPECT_FALSE(parse_gui_options({"--bogus"}, &bad, &error));
  EXPECT_NE(error.find("--bogus"), std::string::npos) << error;
  EXPECT_FALSE(parse_gui_options({"-r"}, &bad, &error));
  EXPECT_NE(error.find("-r"), std::string::npos) << error;
}

}  // namespace
}  // namespace sightglass::gui
