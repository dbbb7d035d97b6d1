#pragma once

// HarWriter: the HAR export of CONTRACT.md ("--har FILE"), and the converter behind
// `sightglass har IN.jsonl [OUT.har]`.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/export/file_output.h"
#include "core/export/flow_sink.h"

namespace sightglass::core {

// HarWriter keeps every finished flow of the run, already serialized (a compact HAR entry
// costs less memory than a snapshot with its body chunks), and writes them as one HAR 1.2
// document to its file on close(). Live snapshots are ignored.
class HarWriter : public WriterSink {
 public:
  // create opens |path| (created 0644; its old content stays until close() replaces it), or
  // stdout for "-", and starts the writer thread. Returns nullptr and sets *out_error when the
  // file cannot be opened.
  static std::unique_ptr<HarWriter> create(const std::string& path, std::string* out_error);

  HarWriter(PrivateTag /*unused*/, FileOutput output);
  // ~HarWriter closes the writer (writing the file) if close() was not called.
  ~HarWriter() override;

  // entries_lost counts the finished flows missing from the file: not serializable, published
  // after close(), or all of them when writing the document failed. Read it after close().
  uint64_t entries_lost() const { return entries_lost_ + writer_.lost(); }
  // entry_count is the number of entries written; read it after close().
  size_t entry_count() const { return entries_.size(); }

 private:
  void finish();

  std::vector<std::string> entries_;  // Compact JSON entries, in finishing order.
  FileOutput output_;
  uint64_t entries_lost_ = 0;  // Written by the writer thread; read after close().
};

// har_document_begin returns the text of a HAR document before its first entry. A document is
// written as har_document_begin(), the compact entries separated by kHarDocumentSeparator,
// then kHarDocumentEnd, so that it never has to exist in memory as a whole; parsed, it equals
// har_document() of the same entries.
std::string har_document_begin();
// kHarDocumentSeparator is the text between two entries.
inline constexpr std::string_view kHarDocumentSeparator = ",\n";
// kHarDocumentEnd is the text after the last entry.
inline constexpr std::string_view kHarDocumentEnd = "\n]}}\n";

// convert_jsonl_to_har reads a JSON Lines flow log from |in| and writes one HAR 1.2 document to
// |out| (the same document HarWriter writes for those flows). Blank lines are skipped; a line
// that is not a JSON object is an error naming its line number ("line 3: not valid JSON"). On
// error |out| may hold a partial document. Never throws.
bool convert_jsonl_to_har(std::istream& in, std::ostream& out, std::string* out_error);

}  // namespace sightglass::core
