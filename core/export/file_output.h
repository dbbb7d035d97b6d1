#pragma once

// FileOutput: a file descriptor opened for the writers, with whole-buffer writes.

#include <string>
#include <string_view>

namespace sightglass::core {

// FileOutput owns a file descriptor (or borrows stdout for the path "-") and writes whole
// buffers to it, retrying short writes and EINTR.
class FileOutput {
 public:
  enum class Mode { kAppend, kTruncateOnFinish };

  FileOutput() = default;
  ~FileOutput();
  FileOutput(FileOutput&& other) noexcept;
  FileOutput(const FileOutput&) = delete;
  FileOutput& operator=(const FileOutput&) = delete;

  // open opens |path| for writing (created with mode 0644 less the umask): kAppend opens it
  // for append; kTruncateOnFinish keeps its content until truncate() (so a failed run leaves
  // the old file alone). "-" means stdout. Returns false and sets *out_error on failure.
  bool open(const std::string& path, Mode mode, std::string* out_error);

  // write writes all of |data|; false (with *out_error) on failure.
  bool write(std::string_view data, std::string* out_error);

  // truncate empties the file (a no-op for stdout or a pipe).
  bool truncate(std::string* out_error);

  // close closes the descriptor (not stdout); false when close reports an error.
  bool close(std::string* out_error);

 private:
  int fd_ = -1;
  bool owned_ = false;
  std::string path_;
};

}  // namespace sightglass::core
