#pragma once
// The latent "video": a C-channel content vector per grid token with spatial and temporal correlation.
#include <cstdint>
#include <vector>

#include "workload/random.h"

namespace fgattn::workload {

struct ContentParams {
  std::int64_t frames = 1, height = 1, width = 1, channels = 16;
  double correlation = 0.9;  // AR(1) coefficient of the smoothing along each axis
};

// Returns [T * H * W][C] (raster order t, y, x), each channel of unit variance over the video:
// a panning static scene, a slowly changing dynamic layer, and a few moving objects.
std::vector<float> make_content(const ContentParams& p, Rng& rng);

}  // namespace fgattn::workload
