#pragma once
// 3D rotary position embedding as Wan2.1 applies it: the head dim is split into temporal, height and width
// bands; each band rotates its channel pairs by position * theta^(-2k / band_dims) of its own axis.
#include <array>
#include <cstdint>
#include <vector>

namespace fgattn::workload {

struct Rope3d {
  std::array<int, 3> dims{};          // channels per axis (t, h, w), even, summing to head_dim
  std::vector<double> freq;           // [head_dim / 2] angular frequency of each channel pair
  std::vector<int> axis;              // [head_dim / 2] which axis (0 t, 1 h, 2 w) each pair follows
};

// dims = {0, 0, 0}: Wan2.1's split, t = D - 4 * (D / 6), h = w = 2 * (D / 6).
Rope3d make_rope3d(std::int64_t head_dim, std::array<int, 3> dims, double theta = 10000.0);

// Rotates x[0 .. D) in place for the token at grid position (t, y, x): pair p = (x[2p], x[2p+1]).
void apply_rope3d(const Rope3d& rope, float* x, std::int64_t t, std::int64_t y, std::int64_t xpos);

}  // namespace fgattn::workload
