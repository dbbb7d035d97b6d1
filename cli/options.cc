#include "cli/options.h"

#include <charconv>
#include <sstream>

#include "core/filter/filter.h"
#include "core/filter/regex.h"
#include "core/rules/traffic_rules.h"

namespace sightglass::cli {
namespace {

enum class ArgKind : uint8_t { kFlag, kValue };

using ApplyFn = bool (*)(Options* options, std::string_view value, std::string* out_error);

// OptionSpec declares one command-line option as data.
struct OptionSpec {
  const char* long_name;  // Without the leading "--".
  char short_name;        // 0 when there is none.
  ArgKind kind;
  const char* metavar;
  const char* help;
  ApplyFn apply;
};

bool parse_port(std::string_view text, uint16_t* out) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return false;
  }
  *out = static_cast<uint16_t>(value);
  return true;
}

// valid_regex checks a --ignore-hosts/--allow-hosts pattern the way PassthroughPolicy will
// compile it (PCRE2, Python syntax); the caller prefixes the option's name.
bool valid_regex(std::string_view text, std::string* out_error) {
  core::Regex::Error error;
  if (core::Regex::compile(text, &error) == nullptr) {
    *out_error = "invalid regex '" + std::string(text) + "': " + error.message + " at offset " +
                 std::to_string(error.offset);
    return false;
  }
  return true;
}

// add_rule checks a traffic rule's spec (core/rules) and keeps it.
bool add_rule(core::RuleKind kind, std::string_view spec, std::vector<std::string>* out,
              std::string* out_error) {
  if (!core::parse_rule(kind, spec, out_error)) {
    return false;
  }
  out->emplace_back(spec);
  return true;
}

bool set_seconds(std::string_view text, int64_t* out_ms, std::string* out_error) {
  const std::optional<int64_t> ms = parse_seconds(text);
  if (!ms) {
    *out_error = "'" + std::string(text) + "' is not a positive number of seconds";
    return false;
  }
  *out_ms = *ms;
  return true;
}

const OptionSpec kOptions[] = {
    {"listen-host", 0, ArgKind::kValue, "HOST", "address to listen on (default 127.0.0.1)",
     [](Options* o, std::string_view v, std::string* err) {
       if (v.empty()) {
         *err = "needs an address";
         return false;
       }
       o->listen_host = v;
       return true;
     }},
    {"listen-port", 'p', ArgKind::kValue, "PORT", "port to listen on (default 8080; 0 = any)",
     [](Options* o, std::string_view v, std::string* err) {
       if (!parse_port(v, &o->listen_port)) {
         *err = "'" + std::string(v) + "' is not a port number (0-65535)";
         return false;
       }
       return true;
     }},
    {"mode", 0, ArgKind::kValue, "MODE",
     "regular | transparent | socks5 | reverse:SCHEME://HOST[:PORT] | upstream:http://HOST:PORT",
     [](Options* o, std::string_view v, std::string* err) { return parse_mode(v, &o->mode, err); }},
    {"confdir", 0, ArgKind::kValue, "DIR",
     "where the CA lives (default $SIGHTGLASS_CONFDIR, $XDG_CONFIG_HOME/sightglass or "
     "~/.config/sightglass)",
     [](Options* o, std::string_view v, std::string* err) {
       if (v.empty()) {
         *err = "needs a directory";
         return false;
       }
       o->confdir = v;
       return true;
     }},
    {"ssl-insecure", 0, ArgKind::kFlag, nullptr, "do not verify upstream server certificates",
     [](Options* o, std::string_view, std::string*) {
       o->ssl_insecure = true;
       return true;
     }},
    {"upstream-trust", 0, ArgKind::kValue, "FILE",
     "extra PEM CA certificates trusted for upstream servers (repeatable)",
     [](Options* o, std::string_view v, std::string*) {
       o->upstream_trust.emplace_back(v);
       return true;
     }},
    {"write", 'w', ArgKind::kValue, "FILE",
     "append every finished flow as one JSON line (- = stdout)",
     [](Options* o, std::string_view v, std::string*) {
       o->write_file = v;
       return true;
     }},
    {"har", 0, ArgKind::kValue, "FILE", "on exit, write all flows of the run as one HAR 1.2 file",
     [](Options* o, std::string_view v, std::string*) {
       o->har_file = v;
       return true;
     }},
    {"ignore-hosts", 0, ArgKind::kValue, "REGEX",
     "pass TLS to matching host:port through untouched (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       if (!valid_regex(v, err)) {
         return false;
       }
       o->ignore_hosts.emplace_back(v);
       return true;
     }},
    {"allow-hosts", 0, ArgKind::kValue, "REGEX",
     "intercept only matching host:port, pass the rest through (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       if (!valid_regex(v, err)) {
         return false;
       }
       o->allow_hosts.emplace_back(v);
       return true;
     }},
    {"filter", 0, ArgKind::kValue, "EXPR", "record and print only flows matching EXPR",
     [](Options* o, std::string_view v, std::string* err) {
       core::FilterError error;
       if (core::FlowFilter::parse(v, &error) == nullptr) {
         *err = "invalid filter: " + error.describe();
         return false;
       }
       o->filter = v;
       return true;
     }},
    {"save", 0, ArgKind::kValue, "FILE",
     "record every flow into a session file (SQLite; appended to if it is one)",
     [](Options* o, std::string_view v, std::string*) {
       o->save_file = v;
       return true;
     }},
    {"body-limit", 0, ArgKind::kValue, "BYTES",
     "bytes of each body kept in the log, K/M/G suffixes allowed (default 1M)",
     [](Options* o, std::string_view v, std::string* err) {
       const auto size = parse_size(v);
       if (!size) {
         *err = "'" + std::string(v) + "' is not a byte count";
         return false;
       }
       o->body_limit = *size;
       return true;
     }},
    {"max-connections", 0, ArgKind::kValue, "N",
     "client connections open at once; one more is answered 503 and closed (default 10000, "
     "0: no limit)",
     [](Options* o, std::string_view v, std::string* err) {
       size_t n = 0;
       const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
       if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
         *err = "'" + std::string(v) + "' is not a number of connections";
         return false;
       }
       o->max_connections = n;
       return true;
     }},
    {"client-handshake-timeout", 0, ArgKind::kValue, "SECONDS",
     "a client's first byte, its TLS handshake and each request head must come within this "
     "(default 30)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->client_handshake_timeout_ms, err);
     }},
    {"client-idle-timeout", 0, ArgKind::kValue, "SECONDS",
     "close a client connection idle this long between exchanges (default 60)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->client_idle_timeout_ms, err);
     }},
    {"server-idle-timeout", 0, ArgKind::kValue, "SECONDS",
     "close a server connection idle this long between exchanges (default 60)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->server_idle_timeout_ms, err);
     }},
    {"server-connect-timeout", 0, ArgKind::kValue, "SECONDS",
     "give up connecting to a server after this, 504 (default 10)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->server_connect_timeout_ms, err);
     }},
    {"server-handshake-timeout", 0, ArgKind::kValue, "SECONDS",
     "give up a server's TLS handshake (or an upstream proxy's CONNECT) after this, 504 "
     "(default 15)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->server_handshake_timeout_ms, err);
     }},
    {"server-response-timeout", 0, ArgKind::kValue, "SECONDS",
     "give up waiting for a response head after this, 504 (default 120)",
     [](Options* o, std::string_view v, std::string* err) {
       return set_seconds(v, &o->server_response_timeout_ms, err);
     }},
    {"proxyauth", 0, ArgKind::kValue, "USER:PASS", "require these proxy credentials",
     [](Options* o, std::string_view v, std::string* err) {
       if (v.find(':') == std::string_view::npos) {
         *err = "needs USER:PASS";
         return false;
       }
       o->proxyauth = v;
       return true;
     }},
    {"allow-remote", 0, ArgKind::kFlag, nullptr,
     "serve clients from public addresses even without --proxyauth (refused by default)",
     [](Options* o, std::string_view, std::string*) {
       o->allow_remote = true;
       return true;
     }},
    {"no-auto-passthrough", 0, ArgKind::kFlag, nullptr,
     "never learn passthrough hosts from clients that reject our certificate",
     [](Options* o, std::string_view, std::string*) {
       o->auto_passthrough = false;
       return true;
     }},
    {"map-remote", 0, ArgKind::kValue, "|FILTER|URL-REGEX|REPLACEMENT",
     "send matching requests to the URL the regex substitution makes (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       return add_rule(core::RuleKind::kMapRemote, v, &o->map_remote, err);
     }},
    {"map-local", 0, ArgKind::kValue, "|FILTER|URL-REGEX|PATH",
     "answer matching requests from a local file or directory (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       return add_rule(core::RuleKind::kMapLocal, v, &o->map_local, err);
     }},
    {"modify-headers", 0, ArgKind::kValue, "|FILTER|NAME|VALUE",
     "set header NAME of matching requests (~q) or responses (~s); empty VALUE removes it "
     "(repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       return add_rule(core::RuleKind::kModifyHeaders, v, &o->modify_headers, err);
     }},
    {"modify-body", 0, ArgKind::kValue, "|FILTER|REGEX|REPLACEMENT",
     "replace REGEX in matching bodies (decoded, then encoded again) (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       return add_rule(core::RuleKind::kModifyBody, v, &o->modify_body, err);
     }},
    {"block-list", 0, ArgKind::kValue, "|FILTER|STATUS",
     "answer matching requests with STATUS, without asking the server; 444 closes the "
     "connection (repeatable)",
     [](Options* o, std::string_view v, std::string* err) {
       return add_rule(core::RuleKind::kBlockList, v, &o->block_list, err);
     }},
    {"keylog", 0, ArgKind::kValue, "FILE",
     "append TLS secrets of both sides in NSS key log format (default $SSLKEYLOGFILE)",
     [](Options* o, std::string_view v, std::string*) {
       o->keylog_file = v;
       return true;
     }},
    {"quiet", 'q', ArgKind::kFlag, nullptr, "print nothing per flow",
     [](Options* o, std::string_view, std::string*) {
       o->verbosity = 0;
       return true;
     }},
    {"verbose", 'v', ArgKind::kFlag, nullptr, "print more on stderr",
     [](Options* o, std::string_view, std::string*) {
       o->verbosity = 2;
       return true;
     }},
    {"help", 'h', ArgKind::kFlag, nullptr, "show this help",
     [](Options* o, std::string_view, std::string*) {
       o->help = true;
       return true;
     }},
    {"version", 0, ArgKind::kFlag, nullptr, "show the version",
     [](Options* o, std::string_view, std::string*) {
       o->version = true;
       return true;
     }},
};

const OptionSpec* find_long(std::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.long_name) {
      return &spec;
    }
  }
  return nullptr;
}

const OptionSpec* find_short(char name) {
  for (const OptionSpec& spec : kOptions) {
    if (spec.short_name != 0 && spec.short_name == name) {
      return &spec;
    }
  }
  return nullptr;
}

std::string display_name(const OptionSpec& spec) { return std::string("--") + spec.long_name; }

}  // namespace

bool parse_mode(std::string_view text, ProxyMode* out, std::string* out_error) {
  ProxyMode mode;
  if (text == "regular") {
    mode.kind = ProxyMode::Kind::kRegular;
  } else if (text == "transparent") {
    mode.kind = ProxyMode::Kind::kTransparent;
  } else if (text == "socks5") {
    mode.kind = ProxyMode::Kind::kSocks5;
  } else if (text.starts_with("reverse:") || text.starts_with("upstream:")) {
    const bool reverse = text.starts_with("reverse:");
    mode.kind = reverse ? ProxyMode::Kind::kReverse : ProxyMode::Kind::kUpstream;
    std::string_view url = text.substr(text.find(':') + 1);
    const size_t sep = url.find("://");
    if (sep == std::string_view::npos) {
      *out_error = "'" + std::string(text) + "' needs a URL: SCHEME://HOST[:PORT]";
      return false;
    }
    mode.scheme = url.substr(0, sep);
    if (mode.scheme != "http" && (!reverse || mode.scheme != "https")) {
      *out_error =
          "'" + std::string(text) + "': the scheme must be " + (reverse ? "http or https" : "http");
      return false;
    }
    std::string_view authority = url.substr(sep + 3);
    if (!authority.empty() && authority.back() == '/') {
      authority.remove_suffix(1);
    }
    std::string_view port_text;
    if (authority.starts_with("[")) {
      const size_t close = authority.find(']');
      if (close == std::string_view::npos) {
        *out_error = "'" + std::string(text) + "': unterminated IPv6 address";
        return false;
      }
      mode.host = authority.substr(1, close - 1);
      std::string_view rest = authority.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') {
          *out_error = "'" + std::string(text) + "': junk after the host";
          return false;
        }
        port_text = rest.substr(1);
      }
    } else {
      const size_t colon = authority.rfind(':');
      mode.host = authority.substr(0, colon);
      if (colon != std::string_view::npos) {
        port_text = authority.substr(colon + 1);
      }
    }
    if (mode.host.empty() || mode.host.find_first_of("/?#@ ") != std::string::npos) {
      *out_error = "'" + std::string(text) + "': bad host";
      return false;
    }
    if (port_text.empty()) {
      mode.port = mode.scheme == "https" ? 443 : 80;
    } else if (!parse_port(port_text, &mode.port) || mode.port == 0) {
      *out_error = "'" + std::string(text) + "': bad port";
      return false;
    }
  } else {
    *out_error = "unknown mode '" + std::string(text) +
                 "' (regular, transparent, socks5, reverse:URL, upstream:URL)";
    return false;
  }
  *out = std::move(mode);
  return true;
}

std::optional<int64_t> parse_seconds(std::string_view text) {
  // Whole seconds, optionally with up to three decimals ("0.25").
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || fraction.size() > 3 || (dot != std::string_view::npos && fraction.empty())) {
    return std::nullopt;
  }
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
  if (ec != std::errc() || end != whole.data() + whole.size() || seconds < 0 ||
      seconds > 365 * 86400) {
    return std::nullopt;
  }
  int64_t ms = seconds * 1000;
  int64_t scale = 100;
  for (char c : fraction) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    ms += (c - '0') * scale;
    scale /= 10;
  }
  if (ms <= 0) {
    return std::nullopt;
  }
  return ms;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        multiplier = uint64_t{1} << 10;
        break;
      case 'm':
      case 'M':
        multiplier = uint64_t{1} << 20;
        break;
      case 'g':
      case 'G':
        multiplier = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) {
      text.remove_suffix(1);
    }
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value > UINT64_MAX / multiplier) {
    return std::nullopt;
  }
  return value * multiplier;
}

bool parse_options(const std::vector<std::string>& args, Options* out,
                   std::vector<std::string>* out_positional, std::string* out_error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (arg.starts_with("--") && arg.size() > 2) {
      std::string name = arg.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      spec = find_long(name);
      shown = "--" + name;
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      spec = find_short(arg[1]);
      shown = arg.substr(0, 2);
      if (arg.size() > 2) {
        inline_value = arg.substr(2);
      }
    } else {
      if (out_positional == nullptr) {
        *out_error = "unexpected argument '" + arg + "'";
        return false;
      }
      out_positional->push_back(arg);
      continue;
    }
    if (spec == nullptr) {
      *out_error = "unknown option " + shown;
      return false;
    }
    std::string value;
    if (spec->kind == ArgKind::kValue) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        *out_error = "option " + display_name(*spec) + " needs a value (" + spec->metavar + ")";
        return false;
      }
    } else if (inline_value) {
      *out_error = "option " + display_name(*spec) + " takes no value";
      return false;
    }
    std::string reason;
    if (!spec->apply(out, value, &reason)) {
      *out_error = "option " + display_name(*spec) + ": " + reason;
      return false;
    }
  }
  return true;
}

std::string usage_text() {
  std::ostringstream out;
  out << "Usage:\n"
         "  sightglass [OPTIONS]                 run the proxy and capture flows until "
         "SIGINT/SIGTERM\n"
         "  sightglass ca export [--der]         print the CA certificate (PEM, or DER bytes)\n"
         "  sightglass ca path                   print the CA certificate's file path\n"
         "  sightglass har IN [OUT.har]          convert a session, JSON Lines or HAR file to one "
         "HAR 1.2 file\n"
         "  sightglass show IN [FILTER] [-w OUT|-]\n"
         "                                       list the flows of a session, JSON Lines or HAR "
         "file that\n"
         "                                       match FILTER; -w writes them as JSON Lines\n"
         "  sightglass --help | --version\n\n"
         "Options:\n";
  for (const OptionSpec& spec : kOptions) {
    std::string left = "  ";
    left += spec.short_name != 0 ? std::string("-") + spec.short_name + ", " : "    ";
    left += std::string("--") + spec.long_name;
    if (spec.metavar != nullptr) {
      left += std::string(" ") + spec.metavar;
    }
    if (left.size() < 30) {
      left.resize(30, ' ');
    } else {
      left += "\n" + std::string(30, ' ');
    }
    out << left << spec.help << "\n";
  }
  out << "\nExit status: 0 clean shutdown, 1 runtime failure, 2 bad command line.\n";
  return out.str();
}

}  // namespace sightglass::cli
