#include "core/export/har_writer.h"

#include <nlohmann/json.hpp>

#include <exception>
#include <istream>
#include <ostream>
#include <utility>

#include "core/export/flow_json.h"

namespace sightglass::core {
namespace {

// kWriteChunk is how much HarWriter gathers before each write(2).
constexpr size_t kWriteChunk = size_t{1} << 20;

}  // namespace

std::string har_document_begin() {
  return R"({"log":{"version":"1.2","creator":)" + har_creator().dump() +
         R"(,"pages":[],"entries":[)" + "\n";
}

std::unique_ptr<HarWriter> HarWriter::create(const std::string& path, std::string* out_error) {
  FileOutput output;
  if (!output.open(path, FileOutput::Mode::kTruncateOnFinish, out_error)) {
    return nullptr;
  }
  return started(std::make_unique<HarWriter>(PrivateTag(), std::move(output)),
                 "the writer thread for " + path, out_error);
}

HarWriter::HarWriter(PrivateTag /*unused*/, FileOutput output)
    : WriterSink(
          [this](const std::vector<FlowSnapshotConstSharedPtr>& batch) {
            for (const FlowSnapshotConstSharedPtr& snapshot : batch) {
              try {
                entries_.push_back(to_json_line(*snapshot));
              } catch (const std::exception& e) {
                ++entries_lost_;
                keep_error("cannot serialize flow " + std::to_string(snapshot->id) + ": " +
                           e.what());
              }
            }
          },
          [this] { finish(); }),
      output_(std::move(output)) {}

HarWriter::~HarWriter() { close(); }

void HarWriter::finish() {
  std::string error;
  bool ok = output_.truncate(&error);
  std::string buffer = har_document_begin();
  for (size_t i = 0; ok && i < entries_.size(); ++i) {
    if (i > 0) {
      buffer += kHarDocumentSeparator;
    }
    buffer += entries_[i];
    if (buffer.size() >= kWriteChunk) {
      ok = output_.write(buffer, &error);
      buffer.clear();
    }
  }
  if (ok) {
    buffer += kHarDocumentEnd;
    ok = output_.write(buffer, &error);
  }
  ok = output_.close(&error) && ok;  // Closed in any case.
  if (!ok) {
    entries_lost_ += entries_.size();  // The document is incomplete: none of it counts.
    keep_error(error);
  }
}

bool convert_jsonl_to_har(std::istream& in, std::ostream& out, std::string* out_error) {
  std::string error;
  try {
    out << har_document_begin();
    std::string line;
    size_t line_number = 0;
    size_t entries = 0;
    while (std::getline(in, line)) {
      ++line_number;
      if (line.find_first_not_of(" \t\r\n") == std::string::npos) {
        continue;  // A blank line.
      }
      const size_t first = line.find_first_not_of(" \t");
      if (line[first] != '{' || !nlohmann::json::accept(line)) {
        error = "line " + std::to_string(line_number) +
                (line[first] != '{' && nlohmann::json::accept(line) ? ": not a JSON object"
                                                                    : ": not valid JSON");
        break;
      }
      // Keep the line as it is, without the '\r' of a CRLF file.
      if (line.back() == '\r') {
        line.pop_back();
      }
      if (entries++ > 0) {
        out << kHarDocumentSeparator;
      }
      out << line;
    }
    if (error.empty() && in.bad()) {
      error = "read error after line " + std::to_string(line_number);
    }
    if (error.empty()) {
      out << kHarDocumentEnd;
      out.flush();
      if (!out) {
        error = "write error";
      }
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!error.empty() && out_error != nullptr) {
    *out_error = error;
  }
  return error.empty();
}

}  // namespace sightglass::core
