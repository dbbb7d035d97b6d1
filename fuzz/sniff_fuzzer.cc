// Placeholder: the first-bytes sniffer alone (replaced by the session-level target).
#include "core/layers/sniff.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)sightglass::core::sniff_first_bytes(std::span<const uint8_t>(data, size));
  return 0;
}
