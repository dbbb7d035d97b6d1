// The parser of the filter language: recursive descent over the grammar documented in
// filter.h, with the position of the first problem in FilterError.

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <string>
#include <utility>

#include "core/filter/filter_internal.h"

namespace sightglass::core::filter_internal {
namespace {

// Deeper nesting of '(' and '!' is refused rather than risking the stack.
constexpr int kMaxDepth = 256;

enum class ArgKind : uint8_t { kNone, kInteger, kRegex };

struct TermSpec {
  std::string_view name;  // Without the '~'.
  Op op;
  ArgKind arg;
  bool detail;   // Reads the full flow.
  bool dot_all;  // Body regexes: '.' matches newlines, as mitmproxy's re.DOTALL.
};

constexpr std::array kTerms = {
    TermSpec{"a", Op::kAsset, ArgKind::kNone, false, false},
    TermSpec{"all", Op::kAll, ArgKind::kNone, false, false},
    TermSpec{"b", Op::kBody, ArgKind::kRegex, true, true},
    TermSpec{"bq", Op::kRequestBody, ArgKind::kRegex, true, true},
    TermSpec{"bs", Op::kResponseBody, ArgKind::kRegex, true, true},
    TermSpec{"c", Op::kCode, ArgKind::kInteger, false, false},
    TermSpec{"d", Op::kDomain, ArgKind::kRegex, false, false},
    TermSpec{"dst", Op::kDestination, ArgKind::kRegex, false, false},
    TermSpec{"e", Op::kError, ArgKind::kNone, false, false},
    TermSpec{"h", Op::kHeader, ArgKind::kRegex, true, false},
    TermSpec{"hq", Op::kRequestHeader, ArgKind::kRegex, true, false},
    TermSpec{"hs", Op::kResponseHeader, ArgKind::kRegex, true, false},
    TermSpec{"m", Op::kMethod, ArgKind::kRegex, false, false},
    TermSpec{"q", Op::kNoResponse, ArgKind::kNone, false, false},
    TermSpec{"s", Op::kResponse, ArgKind::kNone, false, false},
    TermSpec{"src", Op::kSource, ArgKind::kRegex, false, false},
    TermSpec{"t", Op::kContentType, ArgKind::kRegex, false, false},
    TermSpec{"tcp", Op::kTcp, ArgKind::kNone, false, false},
    TermSpec{"u", Op::kUrl, ArgKind::kRegex, false, false},
    TermSpec{"websocket", Op::kWebSocket, ArgKind::kNone, false, false},
};

constexpr TermSpec kBareUrl{"u", Op::kUrl, ArgKind::kRegex, false, false};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// ends_word says whether |c| ends a bare word (and a term name, and an integer).
bool ends_word(char c) { return is_space(c) || c == '(' || c == ')' || c == '&' || c == '|'; }

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Argument is an unquoted argument and, for each of its bytes (plus one past the end), the
// offset in the expression it came from, to place regex errors.
struct Argument {
  std::string text;
  std::vector<size_t> positions;
};

class Parser {
 public:
  Parser(std::string_view text, FilterError* error) : text_(text), error_(error) {}

  std::unique_ptr<Node> parse() {
    skip_space();
    if (at_end()) {
      return fail(pos_, "expected a filter expression");
    }
    std::unique_ptr<Node> root = parse_list(Op::kOr);
    if (!root) {
      return nullptr;
    }
    skip_space();
    if (!at_end()) {
      // parse_and takes every token that can start an operand, so only ')' is left.
      return fail(pos_, text_[pos_] == ')' ? std::string("unexpected ')'")
                                           : "unexpected '" + std::string(1, text_[pos_]) + "'");
    }
    return root;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  // word_end returns where the word at pos_ ends.
  size_t word_end() const {
    size_t end = pos_;
    while (end < text_.size() && !ends_word(text_[end])) {
      ++end;
    }
    return end;
  }
  void skip_space() {
    while (!at_end() && is_space(text_[pos_])) {
      ++pos_;
    }
  }

  std::unique_ptr<Node> fail(size_t position, std::string message) {
    if (error_ != nullptr) {
      error_->position = position;
      error_->message = std::move(message);
    }
    return nullptr;
  }

  // join makes a kAnd/kOr node of |operands| (or returns the only one), summary terms first.
  static std::unique_ptr<Node> join(Op op, std::vector<std::unique_ptr<Node>> operands) {
    if (operands.size() == 1) {
      return std::move(operands.front());
    }
    const auto detail = [](const std::unique_ptr<Node>& n) { return n->detail; };
    std::stable_partition(operands.begin(), operands.end(), std::not_fn(detail));
    const bool any_detail = std::ranges::any_of(operands, detail);
    return std::make_unique<Node>(
        Node{.op = op, .children = std::move(operands), .detail = any_detail});
  }

  // or := and ('|' and)*, and := not (['&'] not)*: |op| is kOr or kAnd.
  std::unique_ptr<Node> parse_list(Op op) {
    std::vector<std::unique_ptr<Node>> operands;
    for (;;) {
      std::unique_ptr<Node> operand = op == Op::kOr ? parse_list(Op::kAnd) : parse_not();
      if (!operand) {
        return nullptr;
      }
      operands.push_back(std::move(operand));
      skip_space();
      const char c = peek();
      if (c == (op == Op::kOr ? '|' : '&')) {
        ++pos_;
      } else if (op == Op::kOr || at_end() || c == '|' || c == ')') {
        break;
      }
      // Anything else starts an operand of kAnd: an implicit '&'.
    }
    return join(op, std::move(operands));
  }

  // nested parses, one level deeper, what follows the '(' or '!' at pos_.
  template <class Fn>
  std::unique_ptr<Node> nested(Fn parse) {
    if (depth_ >= kMaxDepth) {
      return fail(pos_, "expression nested too deeply");
    }
    ++pos_;
    ++depth_;
    std::unique_ptr<Node> node = parse();
    --depth_;
    return node;
  }

  // not := '!' not | atom
  std::unique_ptr<Node> parse_not() {
    skip_space();
    if (peek() != '!') {
      return parse_atom();
    }
    std::unique_ptr<Node> operand = nested([this] { return parse_not(); });
    if (!operand) {
      return nullptr;
    }
    auto node = std::make_unique<Node>(Node{.op = Op::kNot, .detail = operand->detail});
    node->children.push_back(std::move(operand));
    return node;
  }

  // atom := '(' or ')' | '~' NAME [ARG] | ARG
  std::unique_ptr<Node> parse_atom() {
    skip_space();
    const char c = peek();
    if (at_end() || c == ')' || c == '|' || c == '&') {
      return fail(pos_, "expected a filter expression");
    }
    if (c == '(') {
      std::unique_ptr<Node> inner = nested([this] { return parse_list(Op::kOr); });
      if (!inner) {
        return nullptr;
      }
      skip_space();
      if (peek() != ')') {
        return fail(pos_, "expected ')'");
      }
      ++pos_;
      return inner;
    }
    if (c == '~') {
      return parse_term();
    }
    return parse_argument_term(kBareUrl, "a regex");
  }

  std::unique_ptr<Node> parse_term() {
    const size_t start = pos_;
    ++pos_;  // '~'
    while (!at_end() && is_name_char(text_[pos_])) {
      ++pos_;
    }
    const std::string_view name = text_.substr(start + 1, pos_ - start - 1);
    const auto spec = std::ranges::find(kTerms, name, &TermSpec::name);
    if (spec == kTerms.end() || (!at_end() && !ends_word(text_[pos_]))) {
      // Also "~c200" or "~u/x": a term name must end the word.
      return fail(start,
                  "unknown filter term " + std::string(text_.substr(start, word_end() - start)));
    }
    switch (spec->arg) {
      case ArgKind::kNone:
        return std::make_unique<Node>(Node{.op = spec->op, .detail = spec->detail});
      case ArgKind::kInteger:
        return parse_code(*spec);
      case ArgKind::kRegex:
        return parse_argument_term(*spec, "~" + std::string(spec->name) + " needs a regex");
    }
    return nullptr;
  }

  std::unique_ptr<Node> parse_code(const TermSpec& spec) {
    skip_space();
    const size_t start = pos_;
    const size_t end = word_end();
    unsigned code = 0;  // Unsigned: from_chars takes no sign.
    const char* last = text_.data() + end;
    const auto [ptr, ec] = std::from_chars(text_.data() + start, last, code);
    if (ec != std::errc() || ptr != last || code > 999) {
      return fail(start, "~" + std::string(spec.name) + " needs an integer status code");
    }
    pos_ = end;
    return std::make_unique<Node>(Node{.op = spec.op, .code = static_cast<int>(code)});
  }

  // read_argument reads a quoted or bare argument at pos_; false with the error set (|missing|
  // when no argument starts here) when there is none.
  bool read_argument(Argument* out, const std::string& missing) {
    const char c = peek();
    if (at_end() || ends_word(c) || c == '!' || c == '~') {
      fail(pos_, missing);
      return false;
    }
    if (c == '\'' || c == '"') {
      const size_t open = pos_;
      size_t i = pos_ + 1;
      for (;;) {
        if (i >= text_.size()) {
          fail(open, "unterminated quote");
          return false;
        }
        const char ch = text_[i];
        if (ch == c) {
          out->positions.push_back(i);  // An error at the end of the regex: the closing quote.
          pos_ = i + 1;
          return true;
        }
        if (ch == '\\' && i + 1 < text_.size() && (text_[i + 1] == c || text_[i + 1] == '\\')) {
          ++i;  // The escaped quote or backslash stands for itself.
        }
        out->text.push_back(text_[i]);
        out->positions.push_back(i);
        ++i;
      }
    }
    for (const size_t end = word_end(); pos_ < end; ++pos_) {
      out->text.push_back(text_[pos_]);
      out->positions.push_back(pos_);
    }
    out->positions.push_back(pos_);
    return true;
  }

  std::unique_ptr<Node> parse_argument_term(const TermSpec& spec, const std::string& missing) {
    skip_space();
    Argument argument;
    if (!read_argument(&argument, missing)) {
      return nullptr;
    }
    Regex::Error regex_error;
    std::unique_ptr<Regex> regex =
        Regex::compile(argument.text, Regex::Options{.dot_all = spec.dot_all}, &regex_error);
    if (!regex) {
      const size_t offset = std::min(regex_error.offset, argument.positions.size() - 1);
      return fail(argument.positions[offset], "invalid regex: " + regex_error.message);
    }
    return std::make_unique<Node>(
        Node{.op = spec.op, .regex = std::move(regex), .detail = spec.detail});
  }

  std::string_view text_;
  FilterError* error_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Node> parse_expression(std::string_view text, FilterError* error) {
  return Parser(text, error).parse();
}

}  // namespace sightglass::core::filter_internal
