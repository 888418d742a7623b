#pragma once
// Loading a user's captured tensors for the subcommands that read files (analyze, predict).
#include <cstdint>
#include <string>
#include <vector>

#include "fgattn/workload.h"  // Qkv

namespace fgattn::cli {

// q, k, v from one .safetensors (tensors q, k, v) or three .npy files in `layout` ("bshd" or "bhsd"), keeping only
// the first `heads` heads when heads > 0 (fgattn::Error naming --heads if the file has fewer).
Qkv load_inputs(const std::vector<std::string>& files, const std::string& layout, std::int64_t heads);

}  // namespace fgattn::cli
