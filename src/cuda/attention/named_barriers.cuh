#pragma once
// Named barriers (bar.sync / bar.arrive ids) of the sm_90a kernel, by what they guard. Id 0 is __syncthreads().
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

enum class NamedBarrier : int {
  consumer0_may_issue = 1,  // two consumers take turns issuing wgmma (ping-pong, 256 threads): consumer 0's turn,
  consumer1_may_issue = 2,  // consumer 1's turn
  consumer0_warpgroup = 3,  // one consumer warpgroup's own 128 threads (its Q has landed; it is past a row's last S)
  consumer1_warpgroup = 4,
  producer_k_keys = 5,      // the producer's K stream (64 threads): a tile's key indices are in, or out of, its buffer
  producer_v_keys = 6,      // the V stream's
};

// Consumer `consumer`'s (0 or 1) barrier of the pair that starts at `first`.
__device__ __forceinline__ NamedBarrier of_consumer(NamedBarrier first, int consumer) {
  return static_cast<NamedBarrier>(static_cast<int>(first) + consumer);
}

__device__ __forceinline__ void named_sync(NamedBarrier id, int threads) { sm90::named_sync(static_cast<int>(id), threads); }
__device__ __forceinline__ void named_arrive(NamedBarrier id, int threads) {
  sm90::named_arrive(static_cast<int>(id), threads);
}

}  // namespace fgattn::cuda
