#include "io/npy_header.h"

#include <fmt/format.h>

#include <cctype>
#include <limits>

#include "fgattn/error.h"

namespace fgattn::io {
namespace {

constexpr int kMaxDepth = 8;  // .npy headers nest at most a couple of levels; bounds recursion

class Parser {
 public:
  Parser(std::string_view text, const std::string& argument) : s_(text), argument_(argument) {}

  PyValue document() {
    PyValue v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the header dict");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(argument_, fmt::format("malformed .npy header at offset {}: {}", pos_, what));
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool eat_word(std::string_view w) {
    skip_space();
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  PyValue value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end");
    const char c = s_[pos_];
    PyValue v;
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::string;
      v.text = string_literal();
    } else if (c == '{') {
      v.kind = PyValue::Kind::dict;
      ++pos_;
      while (!eat('}')) {
        skip_space();
        if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) fail("dict keys must be strings");
        std::string key = string_literal();
        if (!eat(':')) fail("expected ':'");
        v.entries[key] = value(depth + 1);
        if (!eat(',')) {
          if (!eat('}')) fail("expected ',' or '}'");
          break;
        }
      }
    } else if (c == '(' || c == '[') {
      v.kind = PyValue::Kind::sequence;
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      while (!eat(close)) {
        v.items.push_back(value(depth + 1));
        if (!eat(',')) {
          if (!eat(close)) fail(fmt::format("expected ',' or '{}'", close));
          break;
        }
      }
    } else if (eat_word("True")) {
      v.kind = PyValue::Kind::boolean;
      v.flag = true;
    } else if (eat_word("False")) {
      v.kind = PyValue::Kind::boolean;
    } else if (eat_word("None")) {
      v.kind = PyValue::Kind::none;
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      v.kind = PyValue::Kind::integer;
      v.number = integer();
    } else {
      fail(fmt::format("unexpected character '{}'", c));
    }
    return v;
  }

  std::string string_literal() {
    const char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') fail("escapes are not supported in header strings");
      out += s_[pos_++];
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }

  std::int64_t integer() {
    const bool negative = s_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) fail("expected a digit");
    std::uint64_t n = 0;
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      const auto digit = static_cast<std::uint64_t>(s_[pos_++] - '0');
      if (n > (max - digit) / 10) fail("integer too large");
      n = n * 10 + digit;
    }
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == 'L'))
      fail("expected an integer");
    const auto value = static_cast<std::int64_t>(n);
    return negative ? -value : value;
  }

  std::string_view s_;
  const std::string& argument_;
  std::size_t pos_ = 0;
};

}  // namespace

PyValue parse_py_literal(std::string_view text, const std::string& argument) { return Parser(text, argument).document(); }

}  // namespace fgattn::io
