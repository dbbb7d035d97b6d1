#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sightglass::cli {

// ProxyMode is the --mode of CONTRACT.md.
struct ProxyMode {
  enum class Kind : uint8_t { kRegular, kTransparent, kSocks5, kReverse, kUpstream };
  Kind kind = Kind::kRegular;
  // For reverse and upstream: the target.
  std::string scheme;  // "http" or "https".
  std::string host;    // Without brackets for IPv6.
  uint16_t port = 0;
};

// parse_mode parses a --mode value; false and *out_error on failure.
bool parse_mode(std::string_view text, ProxyMode* out, std::string* out_error);

// Options holds the run command's options, with CONTRACT.md's defaults.
struct Options {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  ProxyMode mode;
  std::string confdir;  // Empty: ca::default_confdir().
  bool ssl_insecure = false;
  std::vector<std::string> upstream_trust;
  std::string write_file;
  std::string har_file;
  std::string save_file;  // --save: a session file.
  std::vector<std::string> ignore_hosts;
  std::vector<std::string> allow_hosts;
  std::string filter;
  uint64_t body_limit = 1024 * 1024;
  // Time limits, in milliseconds (the options take seconds). See --help and the README.
  int64_t client_handshake_timeout_ms = 30'000;  // First byte, TLS handshake, request head.
  int64_t client_idle_timeout_ms = 60'000;       // A client connection between exchanges.
  int64_t server_idle_timeout_ms = 60'000;       // A server connection between exchanges.
  int64_t server_connect_timeout_ms = 10'000;
  int64_t server_handshake_timeout_ms = 15'000;  // TLS, and an upstream proxy's CONNECT.
  int64_t server_response_timeout_ms = 120'000;  // Request sent, response head due.
  std::string proxyauth;
  bool auto_passthrough = true;
  bool allow_remote = false;        // Serve clients from public addresses without --proxyauth.
  size_t max_connections = 10'000;  // Client connections open at once; 0: no limit.
  std::string keylog_file;          // Empty: $SSLKEYLOGFILE, if set.
  // Traffic rules, mitmproxy's options and "|FLOW-FILTER|A|B" syntax (core/rules).
  std::vector<std::string> map_remote;
  std::vector<std::string> map_local;
  std::vector<std::string> modify_headers;
  std::vector<std::string> modify_body;
  std::vector<std::string> block_list;
  // sightglass-gui: flows matching |intercept| stop at the hold points; |intercept_ui| keeps
  // the intercept ready for the inspector's toggle.
  std::string intercept;
  bool intercept_ui = false;
  int verbosity = 1;  // 0 quiet, 1 one line per flow, 2 verbose.
  bool help = false;
  bool version = false;
};

// parse_seconds parses a positive number of seconds ("30", "0.5") into milliseconds.
std::optional<int64_t> parse_seconds(std::string_view text);

// parse_size parses a byte count with an optional K, M or G suffix (powers of 1024).
std::optional<uint64_t> parse_size(std::string_view text);

// parse_options parses |args| (without the program name) into |out|. Positional arguments
// go to |out_positional| when it is non-null, and are an error otherwise. On failure returns
// false and sets *out_error to a message that names the bad option.
bool parse_options(const std::vector<std::string>& args, Options* out,
                   std::vector<std::string>* out_positional, std::string* out_error);

// usage_text is the --help text.
std::string usage_text();

}  // namespace sightglass::cli
