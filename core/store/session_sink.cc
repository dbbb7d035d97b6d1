#include "core/store/session_sink.h"

#include <utility>

namespace sightglass::core {

std::unique_ptr<SessionSink> SessionSink::create(const std::string& path, std::string* error) {
  auto file = SessionFile::open(path, SessionFile::Mode::kWrite, error);
  if (!file) {
    return nullptr;
  }
  auto sink = std::make_unique<SessionSink>(PrivateTag{}, std::move(file));
  if (!sink->writer_.start()) {
    *error = "cannot start the session writer thread";
    return nullptr;
  }
  return sink;
}

SessionSink::SessionSink(PrivateTag /*unused*/, std::unique_ptr<SessionFile> file)
    : file_(std::move(file)),
      writer_([this](const std::vector<FlowSnapshotConstSharedPtr>& batch) { write_batch(batch); },
              [] {}) {}

SessionSink::~SessionSink() { writer_.stop(); }

void SessionSink::publish(FlowSnapshotConstSharedPtr snapshot) {
  if (snapshot && snapshot->state == FlowState::kFinished) {
    writer_.push(std::move(snapshot));
  }
}

void SessionSink::close() {
  writer_.stop();
  file_.reset();  // Checkpoints the WAL into the file.
}

void SessionSink::write_batch(const std::vector<FlowSnapshotConstSharedPtr>& batch) {
  std::string error;
  if (file_->append(batch, &error)) {
    written_.fetch_add(batch.size(), std::memory_order_relaxed);
    return;
  }
  failed_.fetch_add(batch.size(), std::memory_order_relaxed);
  if (error_.empty()) {
    error_ = error;
  }
}

}  // namespace sightglass::core
