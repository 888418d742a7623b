#pragma once
// Tile sizes of the gather kernel, from one constexpr description that host and device share, and the
// swizzled shared-memory layout of a (rows, D) tile: 16-byte chunk c of row r lives at chunk c ^ (r % 8),
// so the 8 rows an ldmatrix reads hit 8 different bank groups.
#include <cstdint>

namespace fgattn::cuda {

template <int HeadDim, int BlockM>
struct TileConfig {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;   // queries per CTA (one plan row)
  static constexpr int kBlockN = 64;       // gathered keys per K/V tile
  static constexpr int kStages = 2;        // K/V tiles in flight
  static constexpr int kRowsPerWarp = 16;  // one m16 MMA row block per warp
  static constexpr int kWarps = BlockM / kRowsPerWarp;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kChunks = HeadDim / 8;  // 16-byte chunks per row (8 bf16/f16 elements each)
  static constexpr int kElemBytes = 2;
  // Measured (bench/results/STEPS.md): a 128-register cap for two CTAs per SM pays only for D = 64, M = 128
  // (8 warps, Q re-read from smem each tile). Elsewhere one CTA's register budget keeps Q in registers: D = 128,
  // M = 128 would spill under the cap, and the M = 64 tiles already fit two CTAs (shared memory) at full registers.
  static constexpr int kMinCtasPerSm = (HeadDim == 64 && BlockM == 128) ? 2 : 1;
  static constexpr int kQElems = BlockM * HeadDim;      // (BLK_M, D)
  static constexpr int kKvTileElems = kBlockN * HeadDim;  // (BLK_N, D)
  static constexpr int kSmemBytes = (kQElems + 2 * kStages * kKvTileElems) * kElemBytes;
  static_assert(HeadDim % 64 == 0, "the swizzle needs >= 8 chunks per row");
  static_assert(BlockM % kRowsPerWarp == 0);
};

// Element offset of (row, 16-byte chunk) in a swizzled tile with `chunks` chunks per row.
__host__ __device__ constexpr int swizzled(int row, int chunk, int chunks) {
  return (row * chunks + (chunk ^ (row & 7))) * 8;
}

}  // namespace fgattn::cuda
