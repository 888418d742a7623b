// From file arrays to attention inputs: 4-d checks, layout interpretation, and the q/k/v consistency rules.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "fgattn/error.h"
#include "fgattn/io.h"
#include "io/input_file.h"

namespace fgattn {
namespace {

std::string extension_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

const char* layout_text(Layout layout) { return layout == Layout::BSHD ? "[B, S, H, D]" : "[B, H, S, D]"; }

// q [B, Sq, H, D]; k, v [B, Skv, H, D]; one dtype. Names are the error arguments (file, or file:tensor).
void check_consistent(const Qkv& t, const std::string& k_name, const std::string& v_name) {
  const auto& q = t.q.shape;
  auto check = [&](const std::string& name, const HostTensor& x) {
    if (x.dtype != t.q.dtype)
      throw Error(name, fmt::format("dtype {} differs from q's {}", dtype_name(x.dtype), dtype_name(t.q.dtype)));
    const auto& s = x.shape;
    if (s[0] != q[0] || s[2] != q[2] || s[3] != q[3])
      throw Error(name, fmt::format("shape mismatch: (B, S, H, D) = {} vs q's {}; B, H and D must agree",
                                    shape_string(s), shape_string(q)));
  };
  check(k_name, t.k);
  check(v_name, t.v);
  if (t.k.shape[1] != t.v.shape[1])
    throw Error(v_name, fmt::format("shape mismatch: v has {} keys but k has {}; their sequence lengths must agree",
                                    t.v.shape[1], t.k.shape[1]));
}

}  // namespace

HostTensor to_host_tensor(RawArray array, Layout layout, const std::string& what) {
  if (array.shape.size() != 4)
    throw Error(what, fmt::format("expected a 4-d array {}, got shape {}", layout_text(layout), io::shape_text(array.shape)));
  const auto& s = array.shape;
  for (std::int64_t extent : s)
    if (extent <= 0) throw Error(what, fmt::format("shape {} must have positive extents", io::shape_text(s)));
  if (io::checked_byte_count(s, array.dtype, what) != array.bytes.size())
    throw Error(what, fmt::format("holds {} bytes but shape {} needs {}", array.bytes.size(), io::shape_text(s),
                                  io::checked_byte_count(s, array.dtype, what)));
  HostTensor t;
  t.dtype = array.dtype;
  t.layout = layout;
  t.shape = layout == Layout::BSHD ? std::array{s[0], s[1], s[2], s[3]} : std::array{s[0], s[2], s[1], s[3]};
  t.bytes = std::move(array.bytes);  // the packed file order is the packed layout order
  return t;
}

RawArray to_raw_array(const HostTensor& tensor) {
  const auto& s = tensor.shape;
  RawArray a;
  a.dtype = tensor.dtype;
  a.shape = tensor.layout == Layout::BSHD ? std::vector{s[0], s[1], s[2], s[3]} : std::vector{s[0], s[2], s[1], s[3]};
  a.bytes = tensor.bytes;
  return a;
}

Qkv load_qkv(const std::vector<std::string>& paths, Layout layout) {
  if (paths.empty()) throw Error("files", "no input file: give one .safetensors or three .npy files (q, k, v)");
  for (const auto& p : paths) {
    const std::string ext = extension_of(p);
    if (ext != ".safetensors" && ext != ".npy")
      throw Error(p, fmt::format("unknown extension '{}': expected .safetensors or .npy", ext));
  }
  Qkv t;
  if (extension_of(paths[0]) == ".safetensors") {
    if (paths.size() != 1)
      throw Error("files", fmt::format("a .safetensors file must be given alone, got {} files", paths.size()));
    const std::string& path = paths[0];
    auto arrays = read_safetensors(path, {"q", "k", "v"});
    t.q = to_host_tensor(std::move(arrays.at("q")), layout, path + ":q");
    t.k = to_host_tensor(std::move(arrays.at("k")), layout, path + ":k");
    t.v = to_host_tensor(std::move(arrays.at("v")), layout, path + ":v");
    check_consistent(t, path + ":k", path + ":v");
    return t;
  }
  if (paths.size() != 3)
    throw Error("files", fmt::format("expected exactly 3 .npy files (q, k, v), got {}", paths.size()));
  for (const auto& p : paths)
    if (extension_of(p) != ".npy") throw Error(p, "mixing .npy and .safetensors: give three .npy files (q, k, v)");
  t.q = to_host_tensor(read_npy(paths[0]), layout, paths[0]);
  t.k = to_host_tensor(read_npy(paths[1]), layout, paths[1]);
  t.v = to_host_tensor(read_npy(paths[2]), layout, paths[2]);
  check_consistent(t, paths[1], paths[2]);
  return t;
}

}  // namespace fgattn
