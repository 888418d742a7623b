#pragma once
// Online softmax in base 2 over one warp's 16 query rows. Each thread holds two rows (lane / 4 and
// lane / 4 + 8) of the m16n8 accumulator layout; a row's four owners reduce with two xor-shuffles.
// Invariant: every tile holds >= 1 kept key, so the running max is finite after the first tile.
#include <cmath>

#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

template <int NTiles>  // 8-key accumulator tiles per K/V tile
struct OnlineSoftmax {
  float row_max[2] = {-INFINITY, -INFINITY};  // running max of the scaled base-2 logits
  float row_sum[2] = {0.f, 0.f};              // this thread's partial sum of exp2(logit - max)

  // s: raw scores (NTiles x 4). Masks slots >= valid_keys, exponentiates in place (exp2 of the scaled logit minus
  // the running max) and returns each row's rescale factor for the output accumulator. The max is taken over the
  // raw scores (scale_log2 > 0 keeps the order), so each score costs one FFMA and one ex2 (no separate scaling).
  template <bool Masked = true>
  __device__ __forceinline__ void step(float (&s)[NTiles][4], int valid_keys, float scale_log2, float (&rescale)[2]) {
    const int col0 = 2 * (static_cast<int>(threadIdx.x) % 4);
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < NTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (Masked && j * 8 + col0 + (e & 1) >= valid_keys) s[j][e] = -INFINITY;
        tile_max[e / 2] = fmaxf(tile_max[e / 2], s[j][e]);
      }
    float neg_max[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r] * scale_log2);
      rescale[r] = ptx::fast_exp2(row_max[r] - new_max);  // exp2(-inf) = 0 on the first tile
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

// The row LSE alone (the oracle's first pass: no P, no P V to hide the exponentials under). OnlineSoftmax makes
// every exponential wait for the tile's max (a 32-deep FMNMX chain and two shuffles) and sums in one 32-deep FADD
// chain per row: with two consumer warps per scheduler that latency, not a pipe, bounded the pass (ncu, 2026-12-01:
// "wait" the first stall reason, 53 % issue). Here the exponentials of a tile use the max of the tiles before it
// (its own max is found beside them), sums run in four chains per row, and a tile whose max passes the old one by
// more than kRescanLog2 is summed again against its own max (no overflow: terms stay below 2^kRescanLog2).
// Registers are tight (two S buffers of 64 floats live): two sum chains per row, four max chains.
template <int NTiles, int FmaExpEvery>
struct RowLogSumExp {
  static constexpr float kRescanLog2 = 64.f;
  float row_max[2] = {-INFINITY, -INFINITY};  // max of the scaled base-2 logits summed so far
  float row_sum[2] = {0.f, 0.f};              // this thread's partial sum of exp2(logit - row_max)

  // s: raw scores (NTiles x 4); masked slots (>= valid_keys) are set to -inf, the rest left as they are.
  template <bool Masked>
  __device__ __forceinline__ void step(float (&s)[NTiles][4], int valid_keys, float scale_log2) {
    if (Masked) {
      const int col0 = 2 * (static_cast<int>(threadIdx.x) % 4);
#pragma unroll
      for (int j = 0; j < NTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (j * 8 + col0 + (e & 1) >= valid_keys) s[j][e] = -INFINITY;
    }
    float tile_max[2];  // the raw max: scale_log2 > 0 keeps the order
#pragma unroll
    for (int r = 0; r < 2; ++r) tile_max[r] = tree_max(s, r);
    if (row_max[0] == -INFINITY) {  // the row's first tile (the same for every lane): its own max
#pragma unroll
      for (int r = 0; r < 2; ++r) row_max[r] = row_reduce_max(tile_max[r]) * scale_log2;
    }
    float sum[2];
    sum_exp2(s, scale_log2, row_max, sum);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float new_max = fmaxf(row_max[r], row_reduce_max(tile_max[r]) * scale_log2);
      if (new_max - row_max[r] > kRescanLog2) {  // rare: sum this tile again against its own max
        const float m[2] = {new_max, new_max};
        float again[2];
        sum_exp2(s, scale_log2, m, again);
        sum[r] = again[r];
      } else {
        sum[r] *= ptx::fast_exp2(row_max[r] - new_max);
      }
      row_sum[r] = row_sum[r] * ptx::fast_exp2(row_max[r] - new_max) + sum[r];
      row_max[r] = new_max;
    }
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

 private:
  __device__ __forceinline__ static float row_reduce_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  }
  // Max of row r's 2 * NTiles values in four chains (depth NTiles / 2 + 2, not 2 * NTiles; few live registers).
  __device__ __forceinline__ static float tree_max(const float (&s)[NTiles][4], int r) {
    float m[4] = {s[0][2 * r], s[0][2 * r + 1], s[1][2 * r], s[1][2 * r + 1]};
#pragma unroll
    for (int j = 2; j < NTiles; j += 2)
#pragma unroll
      for (int c = 0; c < 4; ++c) m[c] = fmaxf(m[c], s[j + c / 2][2 * r + c % 2]);
    return fmaxf(fmaxf(m[0], m[1]), fmaxf(m[2], m[3]));
  }
  // Per row, the sum of exp2(s * scale_log2 - max) in two independent chains; every FmaExpEvery-th 8-key tile on
  // the FMA pipe (ptx::exp2_on_fma), the rest on MUFU.
  __device__ __forceinline__ static void sum_exp2(const float (&s)[NTiles][4], float scale_log2, const float (&max)[2],
                                                  float (&sum)[2]) {
    float part[2][2] = {};
#pragma unroll
    for (int j = 0; j < NTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float d = fmaf(s[j][e], scale_log2, -max[e / 2]);
        const bool on_fma = FmaExpEvery > 0 && j % (FmaExpEvery > 0 ? FmaExpEvery : 1) == FmaExpEvery - 1;
        part[e / 2][e & 1] += on_fma ? ptx::exp2_on_fma(d) : ptx::fast_exp2(d);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) sum[r] = part[r][0] + part[r][1];
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
