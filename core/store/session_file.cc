#include "core/store/session_file.h"

#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "core/store/flow_codec.h"

namespace sightglass::core {
namespace {

// A stored flow never decompresses beyond this (bodies are capped by --body-limit anyway).
constexpr size_t kMaxFlowBytes = size_t{1} << 31;

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flows(
  seq INTEGER PRIMARY KEY,
  flow_id INTEGER NOT NULL,
  started_us INTEGER NOT NULL,
  duration_us INTEGER NOT NULL,
  client TEXT NOT NULL,
  server TEXT NOT NULL,
  method TEXT NOT NULL,
  scheme TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  path TEXT NOT NULL,
  url TEXT NOT NULL,
  status INTEGER NOT NULL,
  request_type TEXT NOT NULL,
  response_type TEXT NOT NULL,
  request_size INTEGER NOT NULL,
  response_size INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  flags INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS details(seq INTEGER PRIMARY KEY, detail BLOB NOT NULL);
)sql";

// A detail blob is one format byte and the encoded flow: kStored as it is (small flows, where
// compressing costs more than it saves) or kZstd compressed.
constexpr char kStored = 0;
constexpr char kZstd = 1;
constexpr size_t kCompressFrom = 1024;

std::string pack_detail(std::string encoded) {
  if (encoded.size() >= kCompressFrom) {
    std::string packed = compress_zstd(encoded);
    if (!packed.empty() && packed.size() < encoded.size()) {
      packed.insert(packed.begin(), kZstd);
      return packed;
    }
  }
  encoded.insert(encoded.begin(), kStored);
  return encoded;
}

std::optional<std::string> unpack_detail(std::string_view blob) {
  if (blob.empty()) {
    return std::nullopt;
  }
  const char format = blob.front();
  blob.remove_prefix(1);
  if (format == kStored) {
    return std::string(blob);
  }
  if (format == kZstd) {
    return decompress_zstd(blob, kMaxFlowBytes);
  }
  return std::nullopt;
}

std::string_view column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  const int size = sqlite3_column_bytes(statement, column);
  return text == nullptr
             ? std::string_view()
             : std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

// bind binds |values| (strings, or anything that converts to an integer) to the parameters of
// |statement|, from the first on.
template <class... T>
void bind(sqlite3_stmt* statement, const T&... values) {
  int index = 0;
  const auto bind_one = [&](const auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string>) {
      sqlite3_bind_text(statement, ++index, value.data(), static_cast<int>(value.size()),
                        SQLITE_STATIC);
    } else {
      sqlite3_bind_int64(statement, ++index, static_cast<sqlite3_int64>(value));
    }
  };
  (bind_one(values), ...);
}

// read reads the columns of |statement|'s current row, from the first on, into |values|
// (strings, or integers of any width).
template <class... T>
void read(sqlite3_stmt* statement, T&... values) {
  int column = 0;
  const auto read_one = [&](auto& value) {
    using Value = std::remove_reference_t<decltype(value)>;
    if constexpr (std::is_same_v<Value, std::string>) {
      value = column_text(statement, column++);
    } else {
      value = static_cast<Value>(sqlite3_column_int64(statement, column++));
    }
  };
  (read_one(values), ...);
}

}  // namespace

bool looks_like_sqlite(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[16] = {};
  return in.read(header, sizeof(header)) && std::memcmp(header, "SQLite format 3", 16) == 0;
}

void SessionFile::CloseDb::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SessionFile::Finalize::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SessionFile::~SessionFile() = default;  // The statements go first, then db_.

std::string SessionFile::describe_error(const std::string& what) {
  const int code = db_ ? sqlite3_errcode(db_.get()) : SQLITE_ERROR;
  const char* message = db_ ? sqlite3_errmsg(db_.get()) : "out of memory";
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    return path_ + ": damaged session file (" + message + ")";
  }
  return path_ + ": " + what + ": " + message;
}

bool SessionFile::exec(const char* sql, std::string* error) {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    *error = describe_error("cannot write");
    return false;
  }
  return true;
}

bool SessionFile::prepare(const char* sql, Statement* out, std::string* error) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(statement);
    *error = describe_error("cannot read the flows");
    return false;
  }
  out->reset(statement);
  return true;
}

std::unique_ptr<SessionFile> SessionFile::open(const std::string& path, Mode mode,
                                               std::string* error) {
  auto file = std::make_unique<SessionFile>(PrivateTag{});
  const auto fail = [&path, error](const std::string& why) {
    *error = path + ": " + why;
    return nullptr;
  };
  file->path_ = mode == Mode::kTemporary ? std::string("(temporary session)") : path;
  std::error_code ec;
  bool fresh = true;
  if (mode != Mode::kTemporary) {
    const bool exists = std::filesystem::exists(path, ec);
    if (exists && std::filesystem::is_directory(path, ec)) {
      return fail("is a directory");
    }
    const auto size = exists ? std::filesystem::file_size(path, ec) : 0;
    if (mode == Mode::kRead && !exists) {
      return fail("no such file");
    }
    if (exists && size > 0) {
      fresh = false;
      if (!looks_like_sqlite(path)) {
        return fail("not a Sightglass session file");
      }
    } else if (mode == Mode::kRead) {
      return fail("not a Sightglass session file (empty)");
    }
  }
  sqlite3* db = nullptr;
  const int flags =
      mode == Mode::kRead ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(mode == Mode::kTemporary ? "" : path.c_str(), &db,
                                 flags | SQLITE_OPEN_NOMUTEX, nullptr);
  file->db_.reset(db);
  if (rc != SQLITE_OK) {
    *error = file->describe_error("cannot open");
    return nullptr;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 2000);

  if (!fresh) {
    // Someone else's SQLite database, or ours from a newer version: refuse before writing.
    sqlite3_stmt* raw = nullptr;
    int app_id = 0;
    int version = 0;
    for (const auto& [pragma, out] : {std::pair{"PRAGMA application_id", &app_id},
                                      std::pair{"PRAGMA user_version", &version}}) {
      if (sqlite3_prepare_v2(db, pragma, -1, &raw, nullptr) != SQLITE_OK ||
          sqlite3_step(raw) != SQLITE_ROW) {
        sqlite3_finalize(raw);
        *error = file->describe_error("cannot read");
        return nullptr;
      }
      *out = sqlite3_column_int(raw, 0);
      sqlite3_finalize(raw);
      raw = nullptr;
    }
    if (app_id != kSessionApplicationId) {
      return fail("not a Sightglass session file (another application's SQLite database)");
    }
    if (version > kSessionSchemaVersion) {
      return fail("written by a newer Sightglass (session schema " + std::to_string(version) +
                  "; this version reads up to " + std::to_string(kSessionSchemaVersion) + ")");
    }
    if (version < 1) {
      return fail("not a Sightglass session file (no schema version)");
    }
  }
  if (mode != Mode::kRead) {
    // Larger pages for a new file: fewer WAL frames and B-tree splits per flow. The WAL is
    // checkpointed every 32 MB rather than 4 MB, which copies the hot pages less often.
    if ((fresh && !file->exec("PRAGMA page_size=16384;", error)) ||
        !file->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                    " PRAGMA wal_autocheckpoint=2048;",
                    error)) {
      return nullptr;
    }
    if (fresh) {
      const std::string setup =
          "BEGIN;" + std::string(kCreateSchema) +
          "PRAGMA application_id=" + std::to_string(kSessionApplicationId) +
          "; PRAGMA user_version=" + std::to_string(kSessionSchemaVersion) +
          "; INSERT OR REPLACE INTO meta VALUES('format','sightglass-session');"
          "INSERT OR REPLACE INTO meta VALUES('creator','sightglass " SIGHTGLASS_VERSION
          "');"
          "COMMIT;";
      if (!file->exec(setup.c_str(), error)) {
        return nullptr;
      }
    }
    if (!file->prepare(
            "INSERT INTO flows(flow_id, started_us, duration_us, client, server, method, scheme,"
            " host, port, path, url, status, request_type, response_type, request_size,"
            " response_size, protocol, flags)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &file->insert_, error) ||
        !file->prepare("INSERT INTO details(seq, detail) VALUES(?,?)", &file->insert_detail_,
                       error)) {
      return nullptr;
    }
  }
  if (!file->prepare("SELECT detail FROM details WHERE seq = ?", &file->load_, error)) {
    return nullptr;
  }
  // A cut file shows itself here rather than halfway through a listing.
  if (file->count(error) < 0) {
    return nullptr;
  }
  return file;
}

bool SessionFile::append(const std::vector<FlowSnapshotConstSharedPtr>& flows, std::string* error,
                         int64_t* first_seq) {
  // Encoding and compression happen outside the lock.
  std::vector<std::pair<FlowSummary, std::string>> rows;
  rows.reserve(flows.size());
  for (const FlowSnapshotConstSharedPtr& flow : flows) {
    if (flow) {
      rows.emplace_back(summarize(*flow), pack_detail(encode_flow(*flow)));
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!insert_) {
    *error = path_ + ": opened read-only";
    return false;
  }
  if (!exec("BEGIN", error)) {
    return false;
  }
  const auto fail = [&](sqlite3_stmt* st) {
    *error = describe_error("cannot store a flow");
    sqlite3_reset(st);
    std::string ignored;
    exec("ROLLBACK", &ignored);
    return false;
  };
  bool first = true;
  for (const auto& [s, detail] : rows) {
    sqlite3_stmt* st = insert_.get();
    sqlite3_reset(st);
    bind(st, s.id, s.started_us, s.duration_us, s.client, s.server, s.method, s.scheme, s.host,
         s.port, s.path, s.url, s.status, s.request_content_type, s.response_content_type,
         s.request_size, s.response_size, s.protocol, s.flags);
    if (sqlite3_step(st) != SQLITE_DONE) {
      return fail(st);
    }
    const int64_t seq = sqlite3_last_insert_rowid(db_.get());
    sqlite3_stmt* dt = insert_detail_.get();
    sqlite3_reset(dt);
    sqlite3_bind_int64(dt, 1, seq);
    sqlite3_bind_blob(dt, 2, detail.data(), static_cast<int>(detail.size()), SQLITE_STATIC);
    if (sqlite3_step(dt) != SQLITE_DONE) {
      return fail(dt);
    }
    sqlite3_reset(dt);
    if (first && first_seq != nullptr) {
      *first_seq = seq;
    }
    first = false;
  }
  sqlite3_reset(insert_.get());
  sqlite3_clear_bindings(insert_.get());
  sqlite3_clear_bindings(insert_detail_.get());
  if (!exec("COMMIT", error)) {
    std::string ignored;
    exec("ROLLBACK", &ignored);
    return false;
  }
  return true;
}

bool SessionFile::for_each_summary(const SummaryFn& fn, std::string* error, int64_t after_seq) {
  // Read in batches under the lock, handed to |fn| after it is released: a caller that holds a
  // lock of its own while loading (a filter scan over the summary table) and |fn| taking that
  // lock (filing the summary) would otherwise wait for each other.
  constexpr int kBatch = 1024;
  std::vector<std::pair<int64_t, FlowSummary>> batch;
  bool failed = false;  // The rows read before a failure are still handed on.
  for (;;) {
    batch.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Statement st;
      if (!prepare("SELECT seq, flow_id, started_us, duration_us, client, server, method, scheme,"
                   " host, port, path, url, status, request_type, response_type, request_size,"
                   " response_size, protocol, flags FROM flows WHERE seq > ? ORDER BY seq"
                   " LIMIT ?",
                   &st, error)) {
        return false;
      }
      sqlite3_bind_int64(st.get(), 1, after_seq);
      sqlite3_bind_int(st.get(), 2, kBatch);
      int protocol = 0;
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        auto& [seq, s] = batch.emplace_back();
        read(st.get(), seq, s.id, s.started_us, s.duration_us, s.client, s.server, s.method,
             s.scheme, s.host, s.port, s.path, s.url, s.status, s.request_content_type,
             s.response_content_type, s.request_size, s.response_size, protocol, s.flags);
        s.protocol = protocol >= 0 && protocol <= static_cast<int>(FlowProtocol::kTcp)
                         ? static_cast<FlowProtocol>(protocol)
                         : FlowProtocol::kHttp1;
      }
      if (rc != SQLITE_DONE) {
        *error = describe_error("cannot read the flows");
        failed = true;
      }
    }
    for (const auto& [seq, summary] : batch) {
      if (!fn(seq, summary)) {
        return true;
      }
    }
    if (failed || batch.size() < static_cast<size_t>(kBatch)) {
      return !failed;
    }
    after_seq = batch.back().first;
  }
}

FlowSnapshotConstSharedPtr SessionFile::load(int64_t seq, std::string* error) {
  std::string blob;
  {
    // Only the read holds the connection; decompressing and decoding run in parallel when
    // several threads load.
    std::lock_guard<std::mutex> lock(mutex_);
    sqlite3_stmt* st = load_.get();
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, seq);
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
      *error = rc == SQLITE_DONE ? path_ + ": no flow " + std::to_string(seq)
                                 : describe_error("cannot read flow " + std::to_string(seq));
      sqlite3_reset(st);
      return nullptr;
    }
    const void* data = sqlite3_column_blob(st, 0);
    const int size = sqlite3_column_bytes(st, 0);
    blob.assign(static_cast<const char*>(data), static_cast<size_t>(size));
    sqlite3_reset(st);
  }
  std::optional<std::string> raw = unpack_detail(blob);
  auto flow = std::make_shared<FlowSnapshot>();
  if (!raw || !decode_flow(*raw, flow.get())) {
    *error = path_ + ": damaged session file (flow " + std::to_string(seq) + " cannot be read)";
    return nullptr;
  }
  return flow;
}

SessionFile::ReadScope::ReadScope(SessionFile* file) : file_(file) {
  std::lock_guard<std::mutex> lock(file_->mutex_);
  open_ = sqlite3_get_autocommit(file_->db_.get()) != 0 &&
          sqlite3_exec(file_->db_.get(), "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
}

SessionFile::ReadScope::~ReadScope() {
  if (open_) {
    std::lock_guard<std::mutex> lock(file_->mutex_);
    sqlite3_exec(file_->db_.get(), "COMMIT", nullptr, nullptr, nullptr);
  }
}

int64_t SessionFile::count(std::string* error) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement st;
  if (!prepare("SELECT count(*) FROM flows", &st, error)) {
    return -1;
  }
  if (sqlite3_step(st.get()) != SQLITE_ROW) {
    *error = describe_error("cannot count the flows");
    return -1;
  }
  return sqlite3_column_int64(st.get(), 0);
}

}  // namespace sightglass::core
