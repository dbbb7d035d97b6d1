// The HAR reader (core/export/har_reader: from_har_entry, core/store/capture_files:
// import_capture) as `sightglass show FILE.har`, `sightglass har FILE.har` and the GUI's
// open-file read a HAR document (ours or another tool's): the bytes are imported into a
// temporary session (format detected from the content), every flow is read back from it as
// `show` does and written again (JSON line, HAR entry, listing line; capture_checks.h checks
// the writers agree and that what they write reads back). Each entry of log.entries is also
// read on its own with from_har_entry and written back.
//
// Input: the bytes of a HAR 1.2 file ({"log": {"entries": [...]}}, on one line or many), as
// `sightglass --har out.har`, `sightglass har` or a browser's "Save all as HAR" writes it (a
// real HAR file is a seed).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz/capture_checks.h"
#include "fuzz/fuzz_input.h"

namespace {

constexpr size_t kMaxFlows = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sightglass;
  // Each entry alone.
  const nlohmann::json document = nlohmann::json::parse(fuzz::as_view(data, size), nullptr, false);
  if (document.is_object() && document.contains("log") && document["log"].is_object() &&
      document["log"].contains("entries") && document["log"]["entries"].is_array()) {
    const nlohmann::json& entries = document["log"]["entries"];
    for (size_t i = 0; i < entries.size() && i < kMaxFlows; ++i) {
      fuzz::read_entry(entries[i]);
    }
  }
  // The whole file, as open_capture imports it.
  fuzz::import_and_read(data, size, kMaxFlows);
  return 0;
}
