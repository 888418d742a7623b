#pragma once
// Producer side of the gather kernel: the Q tile and the gathered K/V tiles, by 16-byte cp.async into
// swizzled shared memory. Slot j of K/V tile t holds key indices[start + t * kBlockN + j]; slots past the
// row's key count and query rows past Sq are zero-filled (their scores are masked to -inf by the softmax,
// and zero V rows keep 0 * garbage out of the output).
#include <cstdint>

#include "cuda/attention/params.h"
#include "cuda/attention/tile_config.cuh"
#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

template <typename Cfg, typename T>
__device__ __forceinline__ void load_q_tile(const AttentionParams& p, T* sq, int b, int h, int q0) {
  const char* base = static_cast<const char*>(p.q) + (b * p.q_stride[0] + h * p.q_stride[2]) * Cfg::kElemBytes;
  constexpr int kIters = Cfg::kBlockM * Cfg::kChunks / Cfg::kThreads;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int idx = it * Cfg::kThreads + static_cast<int>(threadIdx.x);
    const int row = idx / Cfg::kChunks, chunk = idx % Cfg::kChunks;
    const int q = q0 + row;
    const bool valid = q < p.seq_q;
    const char* src = base + (static_cast<std::int64_t>(valid ? q : 0) * p.q_stride[1]) * Cfg::kElemBytes + chunk * 16;
    ptx::cp_async_16(ptx::smem_addr(sq + swizzled(row, chunk, Cfg::kChunks)), src, valid);
  }
}

// Gathers the K and V rows of keys[first .. first + count) (count <= kBlockN) into one stage.
template <typename Cfg, typename T>
__device__ __forceinline__ void gather_kv_tile(const AttentionParams& p, T* sk, T* sv, const std::int32_t* keys,
                                               int count, int b, int h) {
  const char* kbase = static_cast<const char*>(p.k) + (b * p.k_stride[0] + h * p.k_stride[2]) * Cfg::kElemBytes;
  const char* vbase = static_cast<const char*>(p.v) + (b * p.v_stride[0] + h * p.v_stride[2]) * Cfg::kElemBytes;
  constexpr int kIters = Cfg::kBlockN * Cfg::kChunks / Cfg::kThreads;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int idx = it * Cfg::kThreads + static_cast<int>(threadIdx.x);
    const int slot = idx / Cfg::kChunks, chunk = idx % Cfg::kChunks;
    const bool valid = slot < count;
    const std::int64_t key = valid ? __ldg(keys + slot) : 0;
    const int off = swizzled(slot, chunk, Cfg::kChunks);
    ptx::cp_async_16(ptx::smem_addr(sk + off), kbase + key * p.k_stride[1] * Cfg::kElemBytes + chunk * 16, valid);
    ptx::cp_async_16(ptx::smem_addr(sv + off), vbase + key * p.v_stride[1] * Cfg::kElemBytes + chunk * 16, valid);
  }
}

}  // namespace fgattn::cuda
