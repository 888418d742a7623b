#pragma once
// Online softmax in base 2 over one warp's 16 query rows. Each thread holds two rows (lane / 4 and
// lane / 4 + 8) of the m16n8 accumulator layout; a row's four owners reduce with two xor-shuffles.
// Invariant: every tile holds >= 1 kept key, so the running max is finite after the first tile.
#include <cmath>

#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

// NTiles: 8-key accumulator tiles per K/V tile. LazyMax: a row keeps its max within kMaxSlack (below), for kernels
// whose output accumulator then skips its rescale; otherwise every tile's max moves the row's (the S-only passes,
// which have no output to rescale).
template <int NTiles, bool LazyMax = false>
struct OnlineSoftmax {
  float row_max[2] = {-INFINITY, -INFINITY};  // running max of the scaled base-2 logits
  float row_sum[2] = {0.f, 0.f};              // this thread's partial sum of exp2(logit - max)

  // LazyMax: a row keeps its running max while a tile's max stays within kMaxSlack (base 2) of it. Its probabilities
  // then reach at most 2^kMaxSlack (exact after the final division by the row sum, and bf16 P keeps its relative
  // precision), and the output accumulator needs no rescale for that tile (as FlashAttention-4 does).
  static constexpr float kMaxSlack = 8.f;

  // s: raw scores (NTiles x 4). Masks slots >= valid_keys, exponentiates in place (exp2 of the scaled logit minus
  // the running max) and returns whether some row of the warp moved its max: only then does the output accumulator
  // need its rows multiplied by `rescale` (which is 1 for rows that kept theirs). The max is taken over the raw
  // scores (scale_log2 > 0 keeps the order), so each score costs one FFMA and one ex2 (no separate scaling).
  template <bool Masked = true>
  __device__ __forceinline__ bool step(float (&s)[NTiles][4], int valid_keys, float scale_log2, float (&rescale)[2]) {
    const int col0 = 2 * (static_cast<int>(threadIdx.x) % 4);
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < NTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (Masked && j * 8 + col0 + (e & 1) >= valid_keys) s[j][e] = -INFINITY;
        tile_max[e / 2] = fmaxf(tile_max[e / 2], s[j][e]);
      }
    // Each row decides alone (its four owners hold the same maxima), so the exponentials never wait for the vote;
    // only the caller's rescale of O does.
    bool moved = false;
    float neg_max[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      tile_max[r] *= scale_log2;
      float new_max;
      if constexpr (LazyMax) {
        const bool move = tile_max[r] > row_max[r] + kMaxSlack;  // always on the first tile (row_max = -inf)
        new_max = move ? tile_max[r] : row_max[r];
        moved |= move;
      } else {
        new_max = fmaxf(row_max[r], tile_max[r]);
      }
      rescale[r] = ptx::fast_exp2(row_max[r] - new_max);  // 1 if kept; exp2(-inf) = 0 on the first tile
      row_max[r] = new_max;
      row_sum[r] *= rescale[r];
      neg_max[r] = -new_max;
    }
#pragma unroll
    for (int j = 0; j < NTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = ptx::fast_exp2(fmaf(s[j][e], scale_log2, neg_max[e / 2]));
        row_sum[e / 2] += s[j][e];
      }
    if constexpr (LazyMax) return __any_sync(0xffffffffu, moved);
    return true;
  }

  // Full row sums (after the last tile), reduced over the row's four owners.
  __device__ __forceinline__ void finish(float (&sum)[2]) const {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      sum[r] = row_sum[r];
      sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 1);
      sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 2);
    }
  }
};

// Rescales an m16n8-layout accumulator (rows lane / 4 and lane / 4 + 8) by each row's factor from step().
template <int Tiles>
__device__ __forceinline__ void rescale_rows(float (&acc)[Tiles][4], const float (&rescale)[2]) {
#pragma unroll
  for (int j = 0; j < Tiles; ++j) {
    acc[j][0] *= rescale[0];
    acc[j][1] *= rescale[0];
    acc[j][2] *= rescale[1];
    acc[j][3] *= rescale[1];
  }
}

}  // namespace fgattn::cuda
