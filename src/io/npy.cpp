// .npy (format versions 1.0, 2.0, 3.0): magic "\x93NUMPY", version, header length (2 bytes in 1.0, 4 after),
// a Python-dict header {'descr', 'fortran_order', 'shape'}, then the C-order data.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bit>
#include <cstring>
#include <fstream>

#include "fgattn/error.h"
#include "fgattn/io.h"
#include "io/input_file.h"
#include "io/npy_header.h"

namespace fgattn {
namespace {

static_assert(std::endian::native == std::endian::little, "file buffers are little-endian and copied as is");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
constexpr std::uint64_t kMaxHeaderBytes = 1 << 20;  // real headers are ~100 bytes; bounds parsing work

DType parse_descr(const std::string& descr, const std::string& path) {
  if (descr == "<f4" || descr == "=f4") return DType::f32;
  if (descr == "<f2" || descr == "=f2") return DType::f16;
  if (descr == ">f4" || descr == ">f2")
    throw Error(path, fmt::format("dtype '{}' is big-endian; save the array as little-endian ('<')", descr));
  throw Error(path, fmt::format("unsupported dtype '{}' (fgattn reads '<f4' float32 and '<f2' float16; bfloat16 has "
                                "no .npy type: use .safetensors)",
                                descr));
}

const io::PyValue& entry(const io::PyValue& header, const char* key, const std::string& path) {
  const auto it = header.entries.find(key);
  if (it == header.entries.end()) throw Error(path, fmt::format("the .npy header has no '{}' key", key));
  return it->second;
}

std::string shape_tuple(const std::vector<std::int64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace

RawArray read_npy(const std::string& path) {
  io::InputFile file(path);
  if (file.size() < kMagicSize + 4) throw Error(path, fmt::format("truncated: {} bytes, too short for a .npy file", file.size()));
  const auto prefix = file.read(0, kMagicSize + 2, "the magic string");
  if (std::memcmp(prefix.data(), kMagic, kMagicSize) != 0) throw Error(path, "not a .npy file (bad magic string)");
  const auto major = static_cast<unsigned>(prefix[6]), minor = static_cast<unsigned>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0) throw Error(path, fmt::format("unsupported .npy format version {}.{}", major, minor));
  const std::uint64_t length_size = major == 1 ? 2 : 4;
  const auto length_bytes = file.read(kMagicSize + 2, length_size, "the header length");
  std::uint64_t header_length = 0;
  for (std::uint64_t i = 0; i < length_size; ++i) header_length |= static_cast<std::uint64_t>(length_bytes[i]) << (8 * i);
  const std::uint64_t header_start = kMagicSize + 2 + length_size;
  if (header_length > file.size() - header_start)
    throw Error(path, fmt::format("truncated: header length {} exceeds the {} bytes after it", header_length,
                                  file.size() - header_start));
  if (header_length > kMaxHeaderBytes)
    throw Error(path, fmt::format("header length {} exceeds the {}-byte limit", header_length, kMaxHeaderBytes));
  const auto header_bytes = file.read(header_start, header_length, "the header");
  const std::string_view text(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
  const io::PyValue header = io::parse_py_literal(text, path);
  if (header.kind != io::PyValue::Kind::dict) throw Error(path, "the .npy header is not a dict");

  const auto& descr = entry(header, "descr", path);
  if (descr.kind != io::PyValue::Kind::string)
    throw Error(path, "unsupported dtype: 'descr' is not a simple type string (structured arrays are not supported)");
  const auto& fortran = entry(header, "fortran_order", path);
  if (fortran.kind != io::PyValue::Kind::boolean) throw Error(path, "'fortran_order' must be True or False");
  if (fortran.flag)
    throw Error(path, "fortran_order is True; save a C-contiguous array (numpy.ascontiguousarray) instead");
  const auto& shape_value = entry(header, "shape", path);
  if (shape_value.kind != io::PyValue::Kind::sequence) throw Error(path, "'shape' must be a tuple of integers");

  RawArray a;
  a.dtype = parse_descr(descr.text, path);
  for (const auto& extent : shape_value.items) {
    if (extent.kind != io::PyValue::Kind::integer) throw Error(path, "'shape' must be a tuple of integers");
    a.shape.push_back(extent.number);
  }
  const std::uint64_t bytes = io::checked_byte_count(a.shape, a.dtype, path);
  const std::uint64_t data_start = header_start + header_length;
  if (bytes > file.size() - data_start)
    throw Error(path, fmt::format("truncated: shape {} of {} needs {} data bytes but the file holds {}",
                                  io::shape_text(a.shape), descr.text, bytes, file.size() - data_start));
  a.bytes = file.read(data_start, bytes, "the data");
  return a;
}

void write_npy(const std::string& path, const RawArray& array) {
  const char* descr = nullptr;
  switch (array.dtype) {
    case DType::f32: descr = "<f4"; break;
    case DType::f16: descr = "<f2"; break;
    case DType::bf16: throw Error(path, "bfloat16 has no .npy dtype: write .safetensors or convert to f32");
  }
  const std::uint64_t bytes = io::checked_byte_count(array.shape, array.dtype, path);
  if (bytes != array.bytes.size())
    throw Error(path, fmt::format("array holds {} bytes but {} {} needs {}", array.bytes.size(), descr,
                                  io::shape_text(array.shape), bytes));
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_tuple(array.shape));
  // Pad with spaces and a final newline so the data starts 64-byte aligned (as numpy writes it).
  const bool v1 = header.size() + 64 <= 65535;  // padded length fits 1.0's 2-byte field
  const std::size_t prefix = kMagicSize + 2 + (v1 ? 2 : 4);
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path, "cannot open for writing");
  out.write(kMagic, kMagicSize);
  const char version[2] = {static_cast<char>(v1 ? 1 : 2), 0};
  out.write(version, 2);
  const auto length = static_cast<std::uint32_t>(header.size());
  out.write(reinterpret_cast<const char*>(&length), v1 ? 2 : 4);  // little-endian host (static_assert above)
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(array.bytes.data()), static_cast<std::streamsize>(array.bytes.size()));
  out.close();
  if (!out) throw Error(path, "write failed");
}

}  // namespace fgattn
