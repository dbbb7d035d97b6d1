#pragma once

// Helpers for the fuzz targets: the input as the reads a peer's bytes arrive in.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace sightglass::fuzz {

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads splits bytes into the pieces successive reads could deliver: sizes from 1 byte to a few
// KiB, from a fixed sequence seeded by the length, so that one input always splits the same way
// and a captured stream (a seed) is still parsed as the stream it was.
class Reads {
 public:
  explicit Reads(std::string_view bytes) : rest_(bytes), state_(bytes.size() * 2654435761u + 1) {}

  bool done() const { return rest_.empty(); }

  // next returns the next piece (empty once done()).
  std::string_view next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    // Mostly larger reads, sometimes a byte at a time.
    const size_t limit = (state_ & 7) == 0 ? 1 : (state_ >> 8) % 4096 + 1;
    const size_t n = limit < rest_.size() ? limit : rest_.size();
    const std::string_view piece = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return piece;
  }

 private:
  std::string_view rest_;
  uint64_t state_;
};

// kSplit separates two streams in one input (a client's and a server's): seeds join captures
// with it, and the fuzzer finds it in them.
inline constexpr std::string_view kSplit = "\n==sightglass-fuzz-split==\n";

// split_at cuts |bytes| at the first occurrence of |separator| (which is dropped): a target that
// takes two streams (a client's and a server's) reads them from one input this way. Without the
// separator everything is the first part.
inline std::pair<std::string_view, std::string_view> split_at(std::string_view bytes,
                                                              std::string_view separator) {
  const size_t at = bytes.find(separator);
  if (at == std::string_view::npos) {
    return {bytes, {}};
  }
  return {bytes.substr(0, at), bytes.substr(at + separator.size())};
}

}  // namespace sightglass::fuzz
