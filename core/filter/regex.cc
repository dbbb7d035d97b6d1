#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/filter/regex.h"

#include <pcre2.h>

#include <array>
#include <utility>

namespace sightglass::core {
namespace {

// Deleter frees a PCRE2 object with |Free|.
template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* object) const {
    Free(object);
  }
};

using CodePtr = std::unique_ptr<pcre2_code, Deleter<pcre2_code_free>>;
using MatchDataPtr = std::unique_ptr<pcre2_match_data, Deleter<pcre2_match_data_free>>;

constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 1024 * 1024;

// ThreadMatchState is what one thread needs to run any pattern: match data with room for the
// whole match only (search() never reads groups), and a match context with a JIT stack larger
// than PCRE2's default. Made once per thread, on its first search.
struct ThreadMatchState {
  MatchDataPtr data{pcre2_match_data_create(1, nullptr)};
  std::unique_ptr<pcre2_match_context, Deleter<pcre2_match_context_free>> context{
      pcre2_match_context_create(nullptr)};
  std::unique_ptr<pcre2_jit_stack, Deleter<pcre2_jit_stack_free>> jit_stack{
      pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr)};

  ThreadMatchState() {
    if (context && jit_stack) {
      pcre2_jit_stack_assign(context.get(), nullptr, jit_stack.get());
    }
  }
};

std::string error_message(int code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  const int n = pcre2_get_error_message(code, buffer.data(), buffer.size());
  if (n < 0) {
    return "error " + std::to_string(code);
  }
  return std::string(reinterpret_cast<const char*>(buffer.data()), static_cast<size_t>(n));
}

// units returns |text| as PCRE2 wants it: a non-null pointer even when empty.
PCRE2_SPTR units(std::string_view text) {
  return reinterpret_cast<PCRE2_SPTR>(text.data() != nullptr ? text.data() : "");
}

CodePtr compile_code(std::string_view pattern, uint32_t options, int* error_code,
                     PCRE2_SIZE* error_offset) {
  return CodePtr(
      pcre2_compile(units(pattern), pattern.size(), options, error_code, error_offset, nullptr));
}

}  // namespace

struct Regex::Impl {
  CodePtr code;
  bool jit = false;
};

std::unique_ptr<Regex> Regex::compile(std::string_view pattern, const Options& options,
                                      Error* error) {
  uint32_t flags = options.case_sensitive ? 0 : PCRE2_CASELESS;
  if (options.dot_all) {
    flags |= PCRE2_DOTALL;
  }
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  CodePtr code = compile_code(pattern, flags | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error_code,
                              &error_offset);
  if (!code && error_code <= PCRE2_ERROR_UTF8_ERR1 && error_code >= PCRE2_ERROR_UTF8_ERR21) {
    // The pattern itself is not UTF-8 (say a byte regex for a binary body): match bytes.
    code = compile_code(pattern, flags, &error_code, &error_offset);
  }
  if (!code) {
    if (error != nullptr) {
      error->offset = static_cast<size_t>(error_offset);
      error->message = error_message(error_code);
    }
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  // Without JIT support (or on failure) the interpreter runs the pattern.
  impl->jit = pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE) == 0;
  impl->code = std::move(code);
  return std::make_unique<Regex>(PrivateTag{}, std::string(pattern), std::move(impl));
}

Regex::Regex(PrivateTag /*unused*/, std::string pattern, std::unique_ptr<Impl> impl)
    : pattern_(std::move(pattern)), impl_(std::move(impl)) {}

Regex::~Regex() = default;

bool Regex::search(std::string_view subject) const {
  thread_local ThreadMatchState state;
  if (!state.data) {
    return false;  // Out of memory making this thread's match data.
  }
  const PCRE2_SPTR text = units(subject);
  int rc = PCRE2_ERROR_NOMATCH;
  if (impl_->jit) {
    rc = pcre2_jit_match(impl_->code.get(), text, subject.size(), 0, 0, state.data.get(),
                         state.context.get());
    if (rc != PCRE2_ERROR_JIT_STACKLIMIT) {
      return rc >= 0;
    }
    // The pattern needs more JIT stack than we allow: let the interpreter try.
  }
  rc = pcre2_match(impl_->code.get(), text, subject.size(), 0, PCRE2_NO_JIT, state.data.get(),
                   nullptr);
  // rc == 0 means the match did not fit the (one-pair) match data: still a match.
  return rc >= 0;
}

namespace {

// append_group appends group |n| of the match in |ovector| (nothing for an unset group).
void append_group(std::string& out, std::string_view subject, const PCRE2_SIZE* ovector,
                  uint32_t pairs, uint32_t n) {
  if (n >= pairs || ovector[2 * n] == PCRE2_UNSET) {
    return;
  }
  out.append(subject.substr(ovector[2 * n], ovector[2 * n + 1] - ovector[2 * n]));
}

// expand appends |replacement| for one match, Python's way.
void expand(std::string& out, std::string_view replacement, std::string_view subject,
            const pcre2_code* code, const PCRE2_SIZE* ovector, uint32_t pairs) {
  for (size_t i = 0; i < replacement.size(); ++i) {
    const char c = replacement[i];
    if (c != '\\' || i + 1 == replacement.size()) {
      out.push_back(c);
      continue;
    }
    const char next = replacement[i + 1];
    if (next >= '0' && next <= '9') {
      uint32_t n = static_cast<uint32_t>(next - '0');
      ++i;
      if (i + 1 < replacement.size() && replacement[i + 1] >= '0' && replacement[i + 1] <= '9') {
        n = n * 10 + static_cast<uint32_t>(replacement[i + 1] - '0');
        ++i;
      }
      append_group(out, subject, ovector, pairs, n);
    } else if (next == 'g' && i + 2 < replacement.size() && replacement[i + 2] == '<') {
      const size_t close = replacement.find('>', i + 3);
      if (close == std::string_view::npos) {
        out.push_back(c);
        continue;
      }
      const std::string name(replacement.substr(i + 3, close - i - 3));
      const int n = !name.empty() && name.find_first_not_of("0123456789") == std::string::npos
                        ? std::stoi(name.substr(0, 6))
                        : pcre2_substring_number_from_name(code, units(name));
      if (n >= 0) {
        append_group(out, subject, ovector, pairs, static_cast<uint32_t>(n));
      }
      i = close;
    } else if (next == '\\') {
      out.push_back('\\');
      ++i;
    } else if (next == 'n' || next == 'r' || next == 't') {
      out.push_back(next == 'n' ? '\n' : next == 'r' ? '\r' : '\t');
      ++i;
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

std::string Regex::substitute(std::string_view subject, std::string_view replacement,
                              size_t* count) const {
  size_t matches = 0;
  MatchDataPtr data(pcre2_match_data_create_from_pattern(impl_->code.get(), nullptr));
  std::string out;
  if (data) {
    const PCRE2_SPTR text = units(subject);
    const uint32_t pairs = pcre2_get_ovector_count(data.get());
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    size_t copied = 0;  // Subject bytes already in |out|.
    size_t start = 0;
    while (start <= subject.size()) {
      const int rc =
          pcre2_match(impl_->code.get(), text, subject.size(), start, 0, data.get(), nullptr);
      if (rc < 0) {
        break;
      }
      const size_t begin = ovector[0];
      const size_t end = ovector[1];
      out.append(subject.substr(copied, begin - copied));
      expand(out, replacement, subject, impl_->code.get(), ovector, pairs);
      copied = end;
      ++matches;
      if (end == begin) {
        // An empty match: the next search starts one byte on (that byte is kept as it is).
        if (end == subject.size()) {
          break;
        }
        start = end + 1;
      } else {
        start = end;
      }
    }
    if (matches != 0) {
      out.append(subject.substr(copied));
    }
  }
  if (count != nullptr) {
    *count = matches;
  }
  return matches != 0 ? out : std::string(subject);
}

}  // namespace sightglass::core
