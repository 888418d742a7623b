#pragma once
// The sm_90a gathered M x 1 attention forward: warp-specialised and persistent.
// Warpgroup 0 gathers K/V tiles (producer.cuh); warpgroups 1.. run wgmma + online softmax (consumer.cuh, or
// consumer_scores.cuh in the S-only mode). Rows are taken in the persistent order of tile_scheduler.cuh, and the
// producer streams tiles across row boundaries, so the next row's first tiles load under this row's epilogue.
#include <cstdint>

#include "cuda/attention/consumer.cuh"
#include "cuda/attention/consumer_scores.cuh"
#include "cuda/attention/kernel_traits.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/pipeline.cuh"
#include "cuda/attention/producer.cuh"
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

template <typename T, typename Cfg, KernelMode Mode = KernelMode::normal>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kCtasPerSm)
    attention_kernel(const __grid_constant__ AttentionParams p) {
  extern __shared__ unsigned char smem_raw[];
  // The SW128 swizzle is a function of address bits: tiles must start on 1024-byte boundaries.
  const std::uint32_t raw_addr = ptx::smem_addr(smem_raw);
  const std::uint32_t pad = ((raw_addr + 1023u) & ~1023u) - raw_addr;
  unsigned char* smem = smem_raw + pad;
  const std::uint32_t smem_addr = raw_addr + pad;
  auto* barrier_words = reinterpret_cast<std::uint64_t*>(smem + Cfg::kBarrierOffset);
  const StageBarriers bars{barrier_words, barrier_words + Cfg::kStages, barrier_words + 2 * Cfg::kStages,
                           barrier_words + 3 * Cfg::kStages};

  const int warpgroup = static_cast<int>(threadIdx.x) / 128, thread = static_cast<int>(threadIdx.x) % 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < Cfg::kStages; ++s) {
      sm90::mbar_init(&bars.full_k[s], kStreamThreads);  // one arrival per thread of the K (V) stream, + TMA bytes
      sm90::mbar_init(&bars.full_v[s], kStreamThreads);
      sm90::mbar_init(&bars.empty_k[s], Cfg::kConsumers * 4);  // one arrival per consumer warp
      sm90::mbar_init(&bars.empty_v[s], Cfg::kConsumers * 4);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();

  if (warpgroup == 0) {
    cutlass::arch::warpgroup_reg_dealloc<Cfg::kProducerRegs>();
    produce_kv<Cfg, Mode>(p, smem_addr + Cfg::kKOffset, smem_addr + Cfg::kVOffset, bars,
                          reinterpret_cast<std::int32_t*>(smem + Cfg::kKeyBufferOffset), thread);
  } else {
    cutlass::arch::warpgroup_reg_alloc<Cfg::kConsumerRegs>();
    if constexpr (Mode == KernelMode::scores_only) consume_scores<T, Cfg>(p, smem_addr, bars, warpgroup - 1, thread);
    else consume<T, Cfg, Mode>(p, smem_addr, bars, warpgroup - 1, thread);
  }
}

}  // namespace fgattn::cuda
