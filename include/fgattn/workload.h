#pragma once
// Seeded generator of video-like attention inputs (see docs/workload.md for why it looks like a DiT's).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fgattn/tensor.h"

namespace fgattn {

struct WorkloadSpec {
  std::string name;
  std::int64_t frames = 1, height = 1, width = 1;  // latent grid T x H x W; S = T * H * W
  std::int64_t heads = 1, head_dim = 64, batch = 1;
  std::int64_t text_tokens = 0;  // tokens prepended to the video tokens (HunyuanVideo), kept by every plan
  std::uint64_t seed = 1;
  // Content and attention-shape knobs (documented in docs/workload.md).
  double content_correlation = 0.9;  // neighbour correlation of the latent content field
  double rope_strength = 1.0;        // weight of the 3D rotary positional part of q/k
  double logit_scale = 1.0;          // sharpness of attention
  int sink_keys = 4;                 // keys every query attends strongly
  std::array<int, 3> rope_dims{};    // head-dim channels per RoPE axis (t, h, w); {0,0,0}: Wan2.1's split

  std::int64_t seq() const { return text_tokens + frames * height * width; }
};

std::vector<std::string> preset_names();
WorkloadSpec preset(std::string_view name);  // throws fgattn::Error("preset", ...) for unknown names

struct Qkv {
  HostTensor q, k, v;
};

Qkv generate_workload(const WorkloadSpec& spec, DType dtype = DType::f32, Layout layout = Layout::BSHD);

}  // namespace fgattn
