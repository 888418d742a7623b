#pragma once
// Readers for user-captured tensors: .safetensors (what safetensors.torch.save_file writes) and .npy.
// Every malformed file throws fgattn::Error naming the file and the problem; nothing is allocated beyond
// what the file's real size can hold.
#include <map>
#include <string>

#include "fgattn/tensor.h"
#include "fgattn/workload.h"

namespace fgattn {

// A raw N-d array as stored in a file: dtype, shape, packed row-major bytes.
struct RawArray {
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

std::map<std::string, RawArray> read_safetensors(const std::string& path);
// Reads only the listed tensors and throws if one is missing (naming those the file holds). The other
// entries are still checked, but may have a dtype fgattn does not read; their bytes are never loaded.
std::map<std::string, RawArray> read_safetensors(const std::string& path, const std::vector<std::string>& names);
RawArray read_npy(const std::string& path);

// Writers (for tests, the examples and round trips).
void write_safetensors(const std::string& path, const std::map<std::string, RawArray>& arrays);
void write_npy(const std::string& path, const RawArray& array);

// Interprets a 4-d array stored as [B,S,H,D] (Layout::BSHD) or [B,H,S,D] (Layout::BHSD).
HostTensor to_host_tensor(RawArray array, Layout layout, const std::string& what);
RawArray to_raw_array(const HostTensor& tensor);

// Loads Q, K, V: one .safetensors holding tensors named q, k, v; or three .npy files (q, k, v in order).
Qkv load_qkv(const std::vector<std::string>& paths, Layout layout);

}  // namespace fgattn
