#include "io/input_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <limits>
#include <system_error>

#include "fgattn/error.h"

namespace fgattn::io {

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  const auto status = std::filesystem::status(path_, ec);
  if (ec || !std::filesystem::exists(status)) throw Error(path_, "cannot open: no such file");
  if (!std::filesystem::is_regular_file(status)) throw Error(path_, "cannot open: not a regular file");
  size_ = std::filesystem::file_size(path_, ec);
  if (ec) throw Error(path_, fmt::format("cannot read the file size: {}", ec.message()));
  in_.open(path_, std::ios::binary);
  if (!in_) throw Error(path_, "cannot open for reading");
}

std::vector<std::byte> InputFile::read(std::uint64_t offset, std::uint64_t count, const std::string& what) {
  if (offset > size_ || count > size_ - offset)
    throw Error(path_, fmt::format("truncated: {} needs bytes [{}, {}) but the file has {} bytes", what, offset,
                                   offset + count, size_));
  std::vector<std::byte> bytes(static_cast<std::size_t>(count));
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(offset));
  in_.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
  if (!in_ || static_cast<std::uint64_t>(in_.gcount()) != count)
    throw Error(path_, fmt::format("read error while reading {}", what));
  return bytes;
}

std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape, DType dtype, const std::string& argument) {
  std::uint64_t total = dtype_size(dtype);
  // Bytes must fit a signed 64-bit offset (streams, HostTensor::numel) as well as size_t.
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (std::int64_t extent : shape) {
    if (extent < 0) throw Error(argument, fmt::format("shape {} has a negative extent", shape_text(shape)));
    const auto e = static_cast<std::uint64_t>(extent);
    if (e != 0 && total > limit / e)
      throw Error(argument, fmt::format("shape {} is too large (its byte size overflows 64 bits)", shape_text(shape)));
    total *= e;
  }
  return total;
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace fgattn::io
