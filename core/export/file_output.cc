#include "core/export/file_output.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace sightglass::core {

FileOutput::~FileOutput() {
  std::string ignored;
  close(&ignored);
}

FileOutput::FileOutput(FileOutput&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      owned_(std::exchange(other.owned_, false)),
      path_(std::move(other.path_)) {}

bool FileOutput::open(const std::string& path, Mode mode, std::string* out_error) {
  std::string ignored;
  close(&ignored);
  path_ = path;
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    owned_ = false;
    return true;
  }
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == Mode::kAppend ? O_APPEND : 0);
  int fd = -1;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    *out_error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    *out_error = "cannot open " + path + ": Is a directory";
    return false;
  }
  fd_ = fd;
  owned_ = true;
  return true;
}

bool FileOutput::write(std::string_view data, std::string* out_error) {
  if (fd_ < 0) {
    *out_error = "cannot write " + path_ + ": not open";
    return false;
  }
  while (!data.empty()) {
    const ssize_t written = ::write(fd_, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      *out_error = "cannot write " + path_ + ": " + std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

bool FileOutput::truncate(std::string* out_error) {
  if (fd_ < 0 || !owned_) {
    return true;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    return true;  // A pipe or a device: nothing to truncate.
  }
  if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) < 0) {
    *out_error = "cannot truncate " + path_ + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool FileOutput::close(std::string* out_error) {
  if (fd_ < 0) {
    return true;
  }
  const int fd = std::exchange(fd_, -1);
  if (!std::exchange(owned_, false)) {
    return true;
  }
  if (::close(fd) != 0 && errno != EINTR) {
    *out_error = "cannot close " + path_ + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace sightglass::core
