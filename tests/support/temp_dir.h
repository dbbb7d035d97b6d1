#pragma once

#include <filesystem>

namespace sightglass::test {

// TempDir is a fresh directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// read_file_bytes returns the whole file, or "" when it cannot be read.
std::string read_file_bytes(const std::filesystem::path& path);
// write_file_bytes replaces the file's content; false on failure.
bool write_file_bytes(const std::filesystem::path& path, const std::string& data);

}  // namespace sightglass::test
