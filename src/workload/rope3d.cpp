#include "workload/rope3d.h"

#include <fmt/format.h>

#include <cmath>

#include "fgattn/error.h"

namespace fgattn::workload {

Rope3d make_rope3d(std::int64_t head_dim, std::array<int, 3> dims, double theta) {
  if (head_dim < 2 || head_dim % 2 != 0) throw Error("head_dim", fmt::format("3D RoPE needs an even head dim >= 2, got {}", head_dim));
  if (dims[0] == 0 && dims[1] == 0 && dims[2] == 0) {
    const int sixth = static_cast<int>(head_dim / 6);
    dims = {static_cast<int>(head_dim) - 4 * sixth, 2 * sixth, 2 * sixth};
  }
  if (dims[0] + dims[1] + dims[2] != head_dim || dims[0] % 2 || dims[1] % 2 || dims[2] % 2)
    throw Error("rope_dims", fmt::format("({}, {}, {}) must be even and sum to head dim {}", dims[0], dims[1], dims[2], head_dim));
  Rope3d r;
  r.dims = dims;
  for (int a = 0; a < 3; ++a)
    for (int k = 0; k < dims[static_cast<std::size_t>(a)] / 2; ++k) {
      r.freq.push_back(std::pow(theta, -2.0 * k / dims[static_cast<std::size_t>(a)]));
      r.axis.push_back(a);
    }
  return r;
}

void apply_rope3d(const Rope3d& rope, float* x, std::int64_t t, std::int64_t y, std::int64_t xpos) {
  const double pos[3] = {static_cast<double>(t), static_cast<double>(y), static_cast<double>(xpos)};
  for (std::size_t p = 0; p < rope.freq.size(); ++p) {
    const double angle = pos[rope.axis[p]] * rope.freq[p];
    const double c = std::cos(angle), s = std::sin(angle);
    const double a = x[2 * p], b = x[2 * p + 1];
    x[2 * p] = static_cast<float>(a * c - b * s);
    x[2 * p + 1] = static_cast<float>(a * s + b * c);
  }
}

}  // namespace fgattn::workload
