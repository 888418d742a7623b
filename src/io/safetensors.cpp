// .safetensors: 8-byte little-endian header length N, N bytes of JSON, then the byte buffer. Each JSON entry
// (besides "__metadata__") is {"dtype", "shape", "data_offsets": [begin, end)} relative to the buffer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "fgattn/error.h"
#include "fgattn/io.h"
#include "io/input_file.h"

namespace fgattn {
namespace {

static_assert(std::endian::native == std::endian::little, "file buffers are little-endian and copied as is");

// The reference implementation refuses headers above 100 MB; so do we (bounds JSON parsing memory).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::optional<DType> parse_dtype(const std::string& name) {
  if (name == "BF16") return DType::bf16;
  if (name == "F16") return DType::f16;
  if (name == "F32") return DType::f32;
  return std::nullopt;
}

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::f32: return "F32";
  }
  return "?";
}

std::int64_t non_negative_integer(const nlohmann::json& j, const std::string& where, const std::string& field) {
  if (j.is_number_unsigned()) {
    if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw Error(where, fmt::format("\"{}\" value {} is too large", field, j.dump()));
    return static_cast<std::int64_t>(j.get<std::uint64_t>());
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return j.get<std::int64_t>();
  throw Error(where, fmt::format("\"{}\" must hold non-negative integers, got {}", field, j.dump()));
}

const nlohmann::json& field(const nlohmann::json& entry, const char* name, const std::string& where) {
  const auto it = entry.find(name);
  if (it == entry.end()) throw Error(where, fmt::format("missing field \"{}\"", name));
  return *it;
}

struct Entry {
  std::string name;
  std::optional<DType> dtype;  // empty: a dtype fgattn does not read
  std::string dtype_text;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where, fmt::format("entry must be a JSON object, got {}", j.type_name()));
  Entry e;
  e.name = name;
  const auto& dtype = field(j, "dtype", where);
  if (!dtype.is_string()) throw Error(where, fmt::format("\"dtype\" must be a string, got {}", dtype.dump()));
  e.dtype_text = dtype.get<std::string>();
  e.dtype = parse_dtype(e.dtype_text);
  const auto& shape = field(j, "shape", where);
  if (!shape.is_array()) throw Error(where, fmt::format("\"shape\" must be an array, got {}", shape.dump()));
  for (const auto& extent : shape) e.shape.push_back(non_negative_integer(extent, where, "shape"));
  const auto& offsets = field(j, "data_offsets", where);
  if (!offsets.is_array() || offsets.size() != 2)
    throw Error(where, fmt::format("\"data_offsets\" must be [begin, end], got {}", offsets.dump()));
  e.begin = static_cast<std::uint64_t>(non_negative_integer(offsets[0], where, "data_offsets"));
  e.end = static_cast<std::uint64_t>(non_negative_integer(offsets[1], where, "data_offsets"));
  if (e.end < e.begin) throw Error(where, fmt::format("data_offsets [{}, {}] end before begin", e.begin, e.end));
  return e;
}

std::map<std::string, RawArray> read(const std::string& path, const std::vector<std::string>* only) {
  io::InputFile file(path);
  if (file.size() < 8) throw Error(path, fmt::format("truncated: {} bytes, too short for the 8-byte header length", file.size()));
  const auto length_bytes = file.read(0, 8, "the header length");
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, length_bytes.data(), 8);
  if (header_length > file.size() - 8)
    throw Error(path, fmt::format("header length {} exceeds the {} bytes after it: not a safetensors file or truncated",
                                  header_length, file.size() - 8));
  if (header_length > kMaxHeaderBytes)
    throw Error(path, fmt::format("header length {} exceeds the {}-byte limit", header_length, kMaxHeaderBytes));
  const auto header_bytes = file.read(8, header_length, "the JSON header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(header_bytes.data()),
                                   reinterpret_cast<const char*>(header_bytes.data()) + header_bytes.size());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) throw Error(path, fmt::format("header must be a JSON object, got {}", header.type_name()));

  const std::uint64_t buffer_start = 8 + header_length;
  const std::uint64_t buffer_size = file.size() - buffer_start;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw Error(path, "\"__metadata__\" must be a JSON object");
      continue;
    }
    const std::string where = path + ":" + name;
    Entry e = parse_entry(name, value, where);
    if (e.end > buffer_size)
      throw Error(where, fmt::format("data_offsets [{}, {}] reach past the {}-byte data buffer (file truncated?)", e.begin,
                                     e.end, buffer_size));
    entries.push_back(std::move(e));
  }
  // No overlaps: the tensors' total size then cannot exceed the file, whatever the header claims.
  std::vector<const Entry*> by_begin;
  for (const auto& e : entries) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_begin.size(); ++i)
    if (by_begin[i]->begin < by_begin[i - 1]->end)
      throw Error(path, fmt::format("tensors \"{}\" and \"{}\" overlap in the data buffer", by_begin[i - 1]->name,
                                    by_begin[i]->name));

  if (only) {
    for (const auto& wanted : *only) {
      if (std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.name == wanted; })) continue;
      std::vector<std::string> names;
      for (const auto& e : entries) names.push_back("\"" + e.name + "\"");
      throw Error(path, fmt::format("missing tensor \"{}\"; the file holds {}", wanted,
                                    names.empty() ? std::string("no tensors") : fmt::format("{}", fmt::join(names, ", "))));
    }
  }
  std::map<std::string, RawArray> arrays;
  for (const auto& e : entries) {
    if (only && std::find(only->begin(), only->end(), e.name) == only->end()) continue;
    const std::string where = path + ":" + e.name;
    if (!e.dtype)
      throw Error(where, fmt::format("unsupported dtype \"{}\" (fgattn reads BF16, F16 and F32)", e.dtype_text));
    const std::uint64_t bytes = io::checked_byte_count(e.shape, *e.dtype, where);
    if (e.end - e.begin != bytes)
      throw Error(where, fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", e.begin, e.end,
                                     e.end - e.begin, e.dtype_text, io::shape_text(e.shape), bytes));
    RawArray a;
    a.dtype = *e.dtype;
    a.shape = e.shape;
    a.bytes = file.read(buffer_start + e.begin, bytes, "tensor " + e.name);
    arrays.emplace(e.name, std::move(a));
  }
  return arrays;
}

}  // namespace

std::map<std::string, RawArray> read_safetensors(const std::string& path) { return read(path, nullptr); }

std::map<std::string, RawArray> read_safetensors(const std::string& path, const std::vector<std::string>& names) {
  return read(path, &names);
}

void write_safetensors(const std::string& path, const std::map<std::string, RawArray>& arrays) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, a] : arrays) {
    if (name.empty() || name == "__metadata__") throw Error(path, fmt::format("invalid tensor name \"{}\"", name));
    const std::uint64_t bytes = io::checked_byte_count(a.shape, a.dtype, path + ":" + name);
    if (bytes != a.bytes.size())
      throw Error(path + ":" + name, fmt::format("holds {} bytes but {} {} needs {}", a.bytes.size(),
                                                 dtype_name(a.dtype), io::shape_text(a.shape), bytes));
    header[name] = {{"dtype", dtype_tag(a.dtype)}, {"shape", a.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the buffer 8-byte aligned, as safetensors does
  const std::uint64_t length = text.size();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path, "cannot open for writing");
  out.write(reinterpret_cast<const char*>(&length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, a] : arrays)
    out.write(reinterpret_cast<const char*>(a.bytes.data()), static_cast<std::streamsize>(a.bytes.size()));
  out.close();
  if (!out) throw Error(path, "write failed");
}

}  // namespace fgattn
