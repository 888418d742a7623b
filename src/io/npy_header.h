#pragma once
// The .npy header is a Python dict literal; this parses just that subset (strings, True/False, integers,
// tuples/lists), with a nesting limit, and reports what it does not understand.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fgattn::io {

struct PyValue {
  enum class Kind { string, boolean, integer, sequence, dict, none } kind = Kind::none;
  std::string text;            // string
  bool flag = false;           // boolean
  std::int64_t number = 0;     // integer
  std::vector<PyValue> items;  // sequence
  std::map<std::string, PyValue> entries;  // dict
};

// Throws Error(argument, ...) naming the offending position.
PyValue parse_py_literal(std::string_view text, const std::string& argument);

}  // namespace fgattn::io
