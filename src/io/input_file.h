#pragma once
// Bounded reads from a user's file: every size a header declares is checked against the file's real size
// before anything is allocated, so a corrupt or hostile header fails fast instead of exhausting memory.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "fgattn/dtype.h"

namespace fgattn::io {

class InputFile {
 public:
  explicit InputFile(std::string path);  // throws Error(path, ...) if it is missing or not a regular file
  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // Reads [offset, offset + count); throws if that range is not inside the file.
  std::vector<std::byte> read(std::uint64_t offset, std::uint64_t count, const std::string& what);

 private:
  std::string path_;
  std::uint64_t size_ = 0;
  std::ifstream in_;
};

// numel(shape) * dtype_size with overflow checks; throws Error(argument, ...) on overflow.
std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape, DType dtype, const std::string& argument);

std::string shape_text(const std::vector<std::int64_t>& shape);

}  // namespace fgattn::io
