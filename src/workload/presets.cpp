// Named workload shapes (docs/workload.md explains each choice).
#include <fmt/format.h>

#include "fgattn/error.h"
#include "fgattn/workload.h"

namespace fgattn {
namespace {

WorkloadSpec make(std::string name, std::int64_t T, std::int64_t H, std::int64_t W, std::int64_t heads, std::int64_t D,
                  std::int64_t text, std::uint64_t seed) {
  WorkloadSpec s;
  s.name = std::move(name);
  s.frames = T;
  s.height = H;
  s.width = W;
  s.heads = heads;
  s.head_dim = D;
  s.text_tokens = text;
  s.seed = seed;
  return s;
}

std::vector<WorkloadSpec> all_presets() {
  std::vector<WorkloadSpec> p;
  p.push_back(make("tiny", 4, 8, 8, 2, 32, 0, 7));      // 256 tokens: unit tests
  p.push_back(make("small", 6, 14, 24, 2, 64, 0, 42));  // 2016 tokens: `fgattn demo` on a CPU (Wan's 30:52 aspect)
  p.push_back(make("wan480p", 21, 30, 52, 12, 128, 0, 480));   // Wan2.1-1.3B, 81 frames at 480p: 32,760 tokens
  p.push_back(make("wan720p", 21, 45, 80, 12, 128, 0, 720));   // 75,600 tokens
  WorkloadSpec hy = make("hunyuan720p", 21, 45, 80, 24, 128, 256, 1280);  // 75,600 video + 256 text = 75,856
  hy.rope_dims = {16, 56, 56};  // HunyuanVideo's rope_dim_list
  p.push_back(hy);
  return p;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& s : all_presets()) names.push_back(s.name);
  return names;
}

WorkloadSpec preset(std::string_view name) {
  for (auto& s : all_presets())
    if (s.name == name) return s;
  throw Error("preset", fmt::format("unknown preset '{}' (known: {})", name, fmt::join(preset_names(), ", ")));
}

}  // namespace fgattn
