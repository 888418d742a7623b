#pragma once
// The K/V stage ring between the producer and the consumers: per stage, for K and V separately, a full mbarrier
// (the producer's copies have landed) and an empty one (every consumer warp is done with the stage).
#include <cstdint>

namespace fgattn::cuda {

struct StageBarriers {
  std::uint64_t *full_k, *full_v, *empty_k, *empty_v;
};

}  // namespace fgattn::cuda
