#pragma once
// Epilogue: O = acc / rowsum, rounded to T, staged through the warp's own rows of the (swizzled) Q tile and
// written with 16-byte stores; LSE = (max + log2(sum)) * ln 2. Rows with no key give O = 0, LSE = -inf.
#include <cmath>
#include <cstdint>

#include "cuda/attention/params.h"
#include "cuda/attention/tile_config.cuh"
#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

template <typename Cfg, typename T>
__device__ __forceinline__ void store_output(const AttentionParams& p, float (&acc)[Cfg::kHeadDim / 8][4],
                                             const float (&row_max)[2], const float (&row_sum)[2], T* sq_warp,
                                             int b, int h, int q_warp0) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) inv[r] = row_sum[r] > 0.f ? 1.f / row_sum[r] : 0.f;
  // (16, D) rows of this warp, same swizzle as the Q tile (this warp alone read these rows).
#pragma unroll
  for (int j = 0; j < Cfg::kHeadDim / 8; ++j)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = g + 8 * r;
      const std::uint32_t packed = ptx::pack2<T>(acc[j][2 * r] * inv[r], acc[j][2 * r + 1] * inv[r]);
      *reinterpret_cast<std::uint32_t*>(sq_warp + swizzled(row, j, Cfg::kChunks) + 2 * t) = packed;
    }
  __syncwarp();
  char* obase = static_cast<char*>(p.o) + (b * p.o_stride[0] + h * p.o_stride[2]) * Cfg::kElemBytes;
  constexpr int kIters = Cfg::kRowsPerWarp * Cfg::kChunks / 32;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int idx = it * 32 + lane;
    const int row = idx / Cfg::kChunks, chunk = idx % Cfg::kChunks;
    const int q = q_warp0 + row;
    if (q < p.seq_q) {
      const uint4 v = *reinterpret_cast<const uint4*>(sq_warp + swizzled(row, chunk, Cfg::kChunks));
      *reinterpret_cast<uint4*>(obase + static_cast<std::int64_t>(q) * p.o_stride[1] * Cfg::kElemBytes + chunk * 16) = v;
    }
  }
  if (p.lse != nullptr && t == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int q = q_warp0 + g + 8 * r;
      if (q < p.seq_q) {
        const float lse = row_sum[r] > 0.f ? (row_max[r] + log2f(row_sum[r])) * 0.69314718055994531f : -INFINITY;
        p.lse[(static_cast<std::int64_t>(b) * p.heads + h) * p.seq_q + q] = lse;
      }
    }
  }
}

}  // namespace fgattn::cuda

namespace fgattn::cuda {

// Epilogue straight from the accumulator fragment (no shared-memory staging, so the Q tile can already hold the
// next row's Q): each thread stores its 2-element pieces of rows g and g + 8 of the warp's 16 rows.
template <typename T, int D>
__device__ __forceinline__ void store_output_direct(const AttentionParams& p, const float (&acc)[D / 8][4],
                                                    const float (&row_max)[2], const float (&row_sum)[2], int b, int h,
                                                    int q_warp0) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  char* obase = static_cast<char*>(p.o) + (b * p.o_stride[0] + h * p.o_stride[2]) * 2;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int q = q_warp0 + g + 8 * r;
    if (q >= p.seq_q) continue;
    const float inv = row_sum[r] > 0.f ? 1.f / row_sum[r] : 0.f;
    char* orow = obase + static_cast<std::int64_t>(q) * p.o_stride[1] * 2;
#pragma unroll
    for (int j = 0; j < D / 8; ++j)
      *reinterpret_cast<std::uint32_t*>(orow + (8 * j + 2 * t) * 2) = ptx::pack2<T>(acc[j][2 * r] * inv, acc[j][2 * r + 1] * inv);
    if (p.lse != nullptr && t == 0)
      p.lse[(static_cast<std::int64_t>(b) * p.heads + h) * p.seq_q + q] =
          row_sum[r] > 0.f ? (row_max[r] + log2f(row_sum[r])) * 0.69314718055994531f : -INFINITY;
  }
}

}  // namespace fgattn::cuda
