#pragma once

// Shared by the capture-reader targets (jsonl_reader, har_reader, session_file): read every
// flow of an opened capture as `sightglass show` and `har` do, and write each one back.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/export/flow_json.h"
#include "core/export/har_reader.h"
#include "core/export/terminal_printer.h"
#include "core/proxy/flow.h"
#include "core/store/capture_files.h"
#include "core/store/flow_codec.h"
#include "core/store/session_file.h"
#include "fuzz/fuzz_input.h"

namespace sightglass::fuzz {

inline void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// write_back writes |flow| as the log and `show -w` / `har` do (JSON line, HAR entry, the
// one-line listing) and checks what the writers promise: to_json_line is byte for byte
// to_har_entry().dump(), what is written reads back, and the session store's binary form
// (flow_codec) gives back a flow that writes the same line.
inline void write_back(const core::FlowSnapshot& flow) {
  const std::string line = core::to_json_line(flow);
  const nlohmann::json entry = core::to_har_entry(flow);
  check(entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) == line);
  (void)core::format_flow_line(flow);

  core::FlowSnapshot stored;
  check(core::decode_flow(core::encode_flow(flow), &stored));
  check(core::to_json_line(stored) == line);

  const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
  check(parsed.is_object());
  core::FlowSnapshot again;
  std::string error;
  check(core::from_har_entry(parsed, &again, &error));
  (void)core::to_json_line(again);
}

// read_all reads every flow of |file| as `show` does (the summaries, in row order, then each
// flow by its row number) and writes each back; |max_flows| bounds the work. With |must_read|
// (a session this process wrote itself) every summary and flow must read back. (load_summaries
// also files each summary in a SummaryTable, whose first row costs megabytes of columns: too
// slow per input, and the filter target covers the table.)
inline void read_all(core::SessionFile& file, size_t max_flows, bool must_read) {
  std::vector<int64_t> rows;
  std::string error;
  const bool read = file.for_each_summary(
      [&rows, max_flows](int64_t seq, const core::FlowSummary& summary) {
        (void)summary.view();
        rows.push_back(seq);
        return rows.size() < max_flows;
      },
      &error);
  check(read || !must_read);
  const core::SessionFile::ReadScope scope(&file);
  for (const int64_t seq : rows) {
    const core::FlowSnapshotConstSharedPtr flow = file.load(seq, &error);
    check(flow != nullptr || !must_read);
    if (flow) {
      write_back(*flow);
    }
  }
}

// read_entry reads one HAR entry as the readers do and writes it back when it reads.
inline void read_entry(const nlohmann::json& entry) {
  core::FlowSnapshot flow;
  std::string error;
  if (entry.is_object() && core::from_har_entry(entry, &flow, &error)) {
    write_back(flow);
  }
}

// import_and_read imports the whole file as open_capture does, into a temporary session, and
// reads every flow back.
inline void import_and_read(const uint8_t* data, size_t size, size_t max_flows) {
  std::string error;
  const std::unique_ptr<core::SessionFile> session =
      core::SessionFile::open("", core::SessionFile::Mode::kTemporary, &error);
  check(session != nullptr);
  std::istringstream in(std::string(as_view(data, size)));
  if (core::import_capture(in, *session, &error)) {
    read_all(*session, max_flows, /*must_read=*/true);
  }
}

}  // namespace sightglass::fuzz
