#include "core/store/session_sink.h"

#include <utility>

namespace sightglass::core {

std::unique_ptr<SessionSink> SessionSink::create(const std::string& path, std::string* error) {
  auto file = SessionFile::open(path, SessionFile::Mode::kWrite, error);
  if (!file) {
    return nullptr;
  }
  return started(std::make_unique<SessionSink>(PrivateTag{}, std::move(file)),
                 "the session writer thread", error);
}

SessionSink::SessionSink(PrivateTag /*unused*/, std::unique_ptr<SessionFile> file)
    : WriterSink(
          [this](const std::vector<FlowSnapshotConstSharedPtr>& batch) {
            std::string error;
            if (file_->append(batch, &error)) {
              written_.fetch_add(batch.size(), std::memory_order_relaxed);
              return;
            }
            failed_.fetch_add(batch.size(), std::memory_order_relaxed);
            keep_error(error);
          },
          {}),
      file_(std::move(file)) {}

SessionSink::~SessionSink() { writer_.stop(); }

void SessionSink::close() {
  WriterSink::close();
  file_.reset();
}

}  // namespace sightglass::core
