#pragma once
// Epilogue: O = acc / rowsum, rounded to T and stored from the accumulator fragment; LSE = (max + log2(sum)) * ln 2.
// Rows with no key give O = 0, LSE = -inf.
#include <cmath>
#include <cstdint>

#include "cuda/attention/params.h"
#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

// Each thread stores its 2-element pieces of rows g and g + 8 of the warp's 16 rows, with no shared-memory staging,
// so the Q tile can already hold the next row's Q.
template <typename T, int D>
__device__ __forceinline__ void store_output(const AttentionParams& p, const float (&acc)[D / 8][4],
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
