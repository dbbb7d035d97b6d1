#include "core/export/json_lines_writer.h"

#include <exception>
#include <utility>

#include "core/export/flow_json.h"

namespace sightglass::core {

std::unique_ptr<JsonLinesWriter> JsonLinesWriter::create(const std::string& path,
                                                         std::string* out_error) {
  FileOutput output;
  if (!output.open(path, FileOutput::Mode::kAppend, out_error)) {
    return nullptr;
  }
  return started(std::make_unique<JsonLinesWriter>(PrivateTag(), std::move(output)),
                 "the writer thread for " + path, out_error);
}

JsonLinesWriter::JsonLinesWriter(PrivateTag /*unused*/, FileOutput output)
    : WriterSink(
          [this](const std::vector<FlowSnapshotConstSharedPtr>& batch) { write_batch(batch); },
          [this] {
            std::string error;
            if (!output_.close(&error)) {
              keep_error(error);
            }
          }),
      output_(std::move(output)) {}

JsonLinesWriter::~JsonLinesWriter() { close(); }

void JsonLinesWriter::write_batch(const std::vector<FlowSnapshotConstSharedPtr>& batch) {
  // Whole lines only, many per write(): a reader never sees half a line.
  constexpr size_t kFlushBytes = 1 << 20;
  std::string buffer;
  uint64_t lines = 0;
  auto flush = [&] {
    std::string error;
    if (output_.write(buffer, &error)) {
      lines_written_.fetch_add(lines, std::memory_order_relaxed);
    } else {
      lines_lost_.fetch_add(lines, std::memory_order_relaxed);
      keep_error(error);
    }
    buffer.clear();
    lines = 0;
  };
  for (const FlowSnapshotConstSharedPtr& snapshot : batch) {
    try {
      buffer += to_json_line(*snapshot);
    } catch (const std::exception& e) {
      lines_lost_.fetch_add(1, std::memory_order_relaxed);
      keep_error("cannot serialize flow " + std::to_string(snapshot->id) + ": " + e.what());
      continue;
    }
    buffer.push_back('\n');
    ++lines;
    if (buffer.size() >= kFlushBytes) {
      flush();
    }
  }
  if (!buffer.empty()) {
    flush();
  }
}

}  // namespace sightglass::core
