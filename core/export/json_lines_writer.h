#pragma once

// JsonLinesWriter: the flow log of CONTRACT.md ("-w FILE"): one HAR entry per finished flow,
// one line each, flushed line by line.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/export/file_output.h"
#include "core/export/flow_sink.h"

namespace sightglass::core {

// JsonLinesWriter appends every finished snapshot (FlowState::kFinished; live ones are
// ignored) to a file as to_json_line(...) plus '\n', in publish order. Each line is written with
// one write(2) as soon as the writer thread takes it, so `tail -f` sees it at once and a crash
// loses at most the line being written. The loop thread only queues.
class JsonLinesWriter : public WriterSink {
 public:
  // create opens |path| for append (created 0644), or stdout for "-", and starts the writer
  // thread. Returns nullptr and sets *out_error when the file cannot be opened.
  static std::unique_ptr<JsonLinesWriter> create(const std::string& path, std::string* out_error);

  JsonLinesWriter(PrivateTag /*unused*/, FileOutput output);
  // ~JsonLinesWriter closes the writer if close() was not called.
  ~JsonLinesWriter() override;

  // lines_written counts the lines written so far (any thread).
  uint64_t lines_written() const { return lines_written_.load(std::memory_order_relaxed); }
  // lines_lost counts the finished flows that did not make it to the file: a failed write, a
  // flow that could not be serialized, a flow published after close() (any thread; final
  // after close()).
  uint64_t lines_lost() const {
    return lines_lost_.load(std::memory_order_relaxed) + writer_.lost();
  }

 private:
  void write_batch(const std::vector<FlowSnapshotConstSharedPtr>& batch);

  FileOutput output_;  // Used by the writer thread only.
  std::atomic<uint64_t> lines_written_{0};
  std::atomic<uint64_t> lines_lost_{0};
};

}  // namespace sightglass::core
