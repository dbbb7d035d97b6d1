#include "core/rules/traffic_rules.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/export/content_decoding.h"
#include "core/export/text_util.h"
#include "core/layers/http1.h"
#include "core/layers/http_layer.h"
#include "core/proxy/host_port.h"

namespace sightglass::core {
namespace {

// A held body --modify-body decodes grows to this at most (a "zip bomb" is left alone).
constexpr size_t kMaxDecodedHeldBody = size_t{64} << 20;

// split_spec splits "|a|b|c" at its first character into at most |parts| pieces (the last one
// keeps any further separators, as Python's str.split(sep, parts - 1)).
std::vector<std::string> split_spec(std::string_view spec, size_t parts) {
  std::vector<std::string> out;
  const char sep = spec.front();
  std::string_view rest = spec.substr(1);
  while (out.size() + 1 < parts) {
    const size_t at = rest.find(sep);
    if (at == std::string_view::npos) {
      break;
    }
    out.emplace_back(rest.substr(0, at));
    rest.remove_prefix(at + 1);
  }
  out.emplace_back(rest);
  return out;
}

void set_header(Headers& headers, const std::string& name, const std::string& value) {
  std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
  if (!value.empty()) {
    headers.push_back({name, value});
  }
}

void add_note(HeldFlow& held, const std::string& note) {
  held.note += (held.note.empty() ? "" : "; ") + note;
}

// acts_on_responses says whether rules of |kind| run at the response hold point too.
bool acts_on_responses(RuleKind kind) {
  return kind == RuleKind::kModifyHeaders || kind == RuleKind::kModifyBody;
}

void block(const Rule& rule, HeldFlow& held) {
  if (rule.status == 444) {
    held.kill = true;  // nginx's 444: close the connection without an answer.
  } else {
    HttpResponseData& response = held.answer.emplace();
    response.status = rule.status;
    response.reason = std::string(reason_phrase(rule.status));
    response.http_version = held.flow.request->http_version;
    held.answer_body.clear();
  }
  add_note(held, "blocked by --block-list " + rule.spec);
}

// local_file_for resolves a map-local rule for |url|: the file under (or at) the rule's path
// that answers it, or "" when there is none. A suffix that leads outside the path ("../")
// finds nothing.
std::string local_file_for(const Rule& rule, const std::string& url) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path base = fs::canonical(rule.value, ec);
  if (ec) {
    return {};
  }
  if (fs::is_regular_file(base, ec)) {
    return base.string();
  }
  if (!fs::is_directory(base, ec)) {
    return {};
  }
  // The part of the URL after the match (or the regex's first group) names the file, as in
  // mitmproxy's map_local: query left out, slashes trimmed, percent-decoded.
  std::string suffix;
  const std::string marked = rule.regex->substitute(url, "\x01\\1\x01", nullptr);
  const size_t first = marked.find('\x01');
  if (first != std::string::npos) {
    const size_t second = marked.find('\x01', first + 1);
    const std::string group = marked.substr(first + 1, second - first - 1);
    suffix = !group.empty() ? group : marked.substr(second + 1);
  }
  std::erase(suffix, '\x01');  // The markers of later matches.
  suffix = suffix.substr(0, suffix.find_first_of("?#"));
  suffix = percent_decode(suffix, false);
  suffix.erase(0, suffix.find_first_not_of('/'));
  suffix.erase(suffix.find_last_not_of('/') + 1);
  // (With no suffix the first candidate is |base| itself, which is not inside it.)
  const std::string inside = base.string() + "/";
  for (const fs::path& candidate : {base / suffix, base / suffix / "index.html"}) {
    const fs::path real = fs::canonical(candidate, ec);
    // Never a file outside the directory: not through "../", not through a symbolic link.
    if (!ec && real.string().starts_with(inside) && fs::is_regular_file(real, ec)) {
      return real.string();
    }
  }
  return {};
}

void map_local(const Rule& rule, HeldFlow& held) {
  const std::string url = held.flow.request->url();
  if (!rule.regex->search(url)) {
    return;
  }
  HttpResponseData& response = held.answer.emplace();
  response.http_version = held.flow.request->http_version;
  const std::string file = local_file_for(rule, url);
  std::ifstream in(file, std::ios::binary);  // "" does not open.
  if (in.is_open()) {
    held.answer_body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    response.status = 200;
    response.headers.push_back({"Content-Type", content_type_for_path(file)});
    add_note(held, "answered from " + file + " by --map-local " + rule.spec);
  } else {
    response.status = 404;
    response.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    held.answer_body = "no local file for " + url + "\n";
    add_note(held, "no local file for --map-local " + rule.spec + " (404)");
  }
  response.reason = std::string(reason_phrase(response.status));
}

void map_remote(const Rule& rule, HeldFlow& held) {
  HttpRequestData& request = *held.flow.request;
  const std::string url = request.url();
  size_t count = 0;
  const std::string mapped = rule.regex->substitute(url, rule.value, &count);
  if (count == 0 || mapped == url) {
    return;
  }
  if (!set_request_url(request, mapped)) {
    add_note(held, "--map-remote " + rule.spec + " made '" + mapped + "', not a URL: ignored");
    return;
  }
  add_note(held, "mapped by --map-remote " + rule.spec);
}

void modify_body(const Rule& rule, HeldFlow& held) {
  if (!held.body_complete) {
    add_note(held, "--modify-body " + rule.spec + " skipped: the body is past the hold limit");
    return;
  }
  const Headers& headers =
      held.point == HookPoint::kRequest ? held.flow.request->headers : held.flow.response->headers;
  const std::string* encoding = find_header(headers, "Content-Encoding");
  const std::string coding = encoding != nullptr ? *encoding : std::string();
  ContentDecodeInfo info;
  std::optional<std::string> decoded =
      decode_content(coding, held.body, kMaxDecodedHeldBody, &info);
  if (!decoded) {
    add_note(held, "--modify-body " + rule.spec + " skipped: the body does not decode");
    return;
  }
  if (info.truncated) {
    add_note(held, "--modify-body " + rule.spec + " skipped: the body decodes to more than " +
                       std::to_string(kMaxDecodedHeldBody >> 20) + " MiB");
    return;
  }
  size_t count = 0;
  std::string changed = rule.regex->substitute(*decoded, rule.value, &count);
  if (count == 0) {
    return;
  }
  std::optional<std::string> encoded = is_identity_encoding(coding)
                                           ? std::optional<std::string>(std::move(changed))
                                           : encode_content(coding, changed);
  if (!encoded) {
    add_note(held, "--modify-body " + rule.spec + " skipped: cannot encode " + coding);
    return;
  }
  held.body = std::move(*encoded);
  add_note(held, "body changed by --modify-body " + rule.spec);
}

void modify_headers(const Rule& rule, HeldFlow& held) {
  Headers& headers =
      held.point == HookPoint::kRequest ? held.flow.request->headers : held.flow.response->headers;
  set_header(headers, rule.name, rule.value);
  add_note(held, "headers changed by --modify-headers " + rule.spec);
}

}  // namespace

const char* rule_option_name(RuleKind kind) {
  static constexpr const char* kNames[] = {"map-remote", "map-local", "modify-headers",
                                           "modify-body", "block-list"};
  return kNames[static_cast<size_t>(kind)];
}

std::optional<Rule> parse_rule(RuleKind kind, std::string_view spec, std::string* error) {
  const auto fail = [error](std::string why) -> std::optional<Rule> {
    *error = std::move(why);
    return std::nullopt;
  };
  const size_t parts = kind == RuleKind::kBlockList ? 2 : 3;
  if (spec.size() < 2) {
    return fail("needs |FLOW-FILTER|... (the first character is the separator)");
  }
  std::vector<std::string> fields = split_spec(spec, parts);
  if (fields.size() + 1 == parts) {
    fields.insert(fields.begin(), std::string());  // No filter: every flow.
  }
  if (fields.size() != parts) {
    return fail(kind == RuleKind::kBlockList
                    ? "needs |FLOW-FILTER|STATUS"
                    : std::string("needs |FLOW-FILTER|") +
                          (kind == RuleKind::kModifyHeaders ? "NAME|VALUE"
                           : kind == RuleKind::kMapLocal    ? "URL-REGEX|PATH"
                           : kind == RuleKind::kMapRemote   ? "URL-REGEX|REPLACEMENT"
                                                            : "REGEX|REPLACEMENT"));
  }
  Rule rule;
  rule.kind = kind;
  rule.spec = std::string(spec);
  const std::string& filter_text = fields[0];
  if (filter_text.find_first_not_of(" \t") != std::string::npos) {
    FilterError filter_error;
    rule.filter = FlowFilter::parse(filter_text, &filter_error);
    if (rule.filter == nullptr) {
      return fail("invalid filter '" + filter_text + "': " + filter_error.describe());
    }
  }
  if (kind == RuleKind::kBlockList) {
    int status = 0;
    const std::string& text = fields[1];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
    if (ec != std::errc() || end != text.data() + text.size() || status < 100 || status > 999) {
      return fail("'" + text + "' is not a status code (100-999)");
    }
    rule.status = status;
    return rule;
  }
  if (kind == RuleKind::kModifyHeaders) {
    if (fields[1].empty()) {
      return fail("needs a header name");
    }
    rule.name = fields[1];
    rule.value = fields[2];
    return rule;
  }
  Regex::Options options;
  options.case_sensitive = true;  // As mitmproxy's re.compile.
  options.dot_all = kind == RuleKind::kModifyBody;
  Regex::Error regex_error;
  rule.regex = Regex::compile(fields[1], options, &regex_error);
  if (rule.regex == nullptr) {
    return fail("invalid regex '" + fields[1] + "': " + regex_error.message + " at offset " +
                std::to_string(regex_error.offset));
  }
  rule.value = fields[2];
  if (kind == RuleKind::kMapLocal) {
    std::error_code ec;
    if (rule.value.empty() || !std::filesystem::exists(rule.value, ec)) {
      return fail("no such file or directory: '" + rule.value + "'");
    }
  }
  return rule;
}

bool TrafficRules::acts_at(HookPoint point) const {
  return std::ranges::any_of(rules_, [point](const Rule& rule) {
    return point == HookPoint::kRequest || acts_on_responses(rule.kind);
  });
}

void TrafficRules::apply(HeldFlow& held) const {
  if (!held.flow.request || (held.point == HookPoint::kResponse && !held.flow.response)) {
    return;
  }
  constexpr std::pair<RuleKind, void (*)(const Rule&, HeldFlow&)> kOrder[] = {
      {RuleKind::kBlockList, block},
      {RuleKind::kMapLocal, map_local},
      {RuleKind::kMapRemote, map_remote},
      {RuleKind::kModifyBody, modify_body},
      {RuleKind::kModifyHeaders, modify_headers},
  };
  for (const auto& [kind, action] : kOrder) {
    if (held.point == HookPoint::kResponse && !acts_on_responses(kind)) {
      continue;
    }
    for (const Rule& rule : rules_) {
      if (rule.kind == kind && !held.kill && !held.answer &&
          (rule.filter == nullptr || rule.filter->matches(held.flow))) {
        action(rule, held);
      }
    }
  }
}

bool set_request_url(HttpRequestData& request, std::string_view url) {
  HttpTarget target;
  std::string path;
  if (!parse_absolute_form(url.substr(0, url.find('#')), &target, &path)) {
    return false;
  }
  const bool new_authority =
      target.host != request.host || target.port != request.port || target.scheme != request.scheme;
  request.scheme = std::move(target.scheme);
  request.host = std::move(target.host);
  request.port = target.port;
  request.target = std::move(path);
  if (new_authority && find_header(request.headers, "Host") != nullptr) {
    set_header(request.headers, "Host",
               format_authority(request.host, request.port, request.scheme));
  }
  return true;
}

std::string content_type_for_path(std::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  const std::string ext = ascii_lower(path.substr(dot + 1));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"mp4", "video/mp4"},
      {"webm", "video/webm"},
      {"mp3", "audio/mpeg"},
      {"map", "application/json"},
  };
  for (const auto& [name, type] : kTypes) {
    if (ext == name) {
      return type;
    }
  }
  return "application/octet-stream";
}

}  // namespace sightglass::core
