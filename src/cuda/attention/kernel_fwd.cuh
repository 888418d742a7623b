#pragma once
// The gathered M x 1 sparse attention forward, step 2 (mma.sync + cp.async, two-stage pipeline,
// two CTAs per SM where registers allow).
// One CTA runs one plan row (b, h, query block): BLK_M queries against that row's sorted key list, taken in
// tiles of BLK_N gathered keys. Warp w owns query rows [16 w, 16 w + 16). Per tile:
//   S = Q K^T (m16n8k16, Q fragments in registers) -> online softmax (exp2) -> O += P V.
// CTAs are launched longest row first (params.order), so uneven rows finish together.
#include <cstdint>

#include "cuda/attention/epilogue.cuh"
#include "cuda/attention/mainloop_gather.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/softmax.cuh"
#include "cuda/attention/tile_config.cuh"
#include "cuda/common/ptx.cuh"

namespace fgattn::cuda {

template <typename T, typename Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinCtasPerSm) attention_gather_kernel(const __grid_constant__ AttentionParams p) {
  constexpr int D = Cfg::kHeadDim, kN = Cfg::kBlockN, kC = Cfg::kChunks;
  constexpr int kKSteps = D / 16;     // k-steps of S = Q K^T
  constexpr int kSTiles = kN / 8;     // 8-key accumulator tiles of S
  constexpr int kPSteps = kN / 16;    // k-steps of O += P V
  constexpr int kOTiles = D / 8;      // 8-wide accumulator tiles of O
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sq = reinterpret_cast<T*>(smem_raw);                    // (BLK_M, D)
  T* sk = sq + Cfg::kQElems;                                 // (STAGES, BLK_N, D)
  T* sv = sk + Cfg::kStages * Cfg::kKvTileElems;             // (STAGES, BLK_N, D)

  const std::int64_t row = p.order[blockIdx.x];
  const std::int64_t nqb = (p.seq_q + Cfg::kBlockM - 1) / Cfg::kBlockM;
  const int qb = static_cast<int>(row % nqb);
  const int bh = static_cast<int>(row / nqb);
  const int b = bh / p.heads, h = bh % p.heads;
  const std::int64_t key_begin = p.offsets[row];
  const int key_count = static_cast<int>(p.offsets[row + 1] - key_begin);
  const std::int32_t* keys = p.indices + key_begin;
  const int num_tiles = (key_count + kN - 1) / kN;

  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int q0 = qb * Cfg::kBlockM;
  T* sq_warp = sq + warp * Cfg::kRowsPerWarp * D;

  float acc[kOTiles][4];
#pragma unroll
  for (int j = 0; j < kOTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.f;
  OnlineSoftmax<kSTiles> softmax;

  if (num_tiles > 0) {
    load_q_tile<Cfg>(p, sq, b, h, q0);
    gather_kv_tile<Cfg>(p, sk, sv, keys, min(kN, key_count), b, h);
    ptx::cp_async_commit();  // group 0: Q + tile 0
    if (num_tiles > 1)
      gather_kv_tile<Cfg>(p, sk + Cfg::kKvTileElems, sv + Cfg::kKvTileElems, keys + kN, min(kN, key_count - kN), b, h);
    ptx::cp_async_commit();  // group 1: tile 1 (maybe empty)
  }

  // Q fragments (A operand): kept in registers when one CTA per SM leaves room, else re-read from shared
  // memory each tile (two CTAs per SM under the 128-register cap).
  constexpr bool kQInRegisters = Cfg::kMinCtasPerSm == 1;
  std::uint32_t qf_regs[kQInRegisters ? kKSteps : 1][4];
  for (int tile = 0; tile < num_tiles; ++tile) {
    const int stage = tile % Cfg::kStages;
    const T* k_s = sk + stage * Cfg::kKvTileElems;
    const T* v_s = sv + stage * Cfg::kKvTileElems;
    ptx::cp_async_wait<1>();  // all groups but the newest: tile `tile` has landed
    __syncthreads();
    // S = Q K^T, (16, BLK_N) per warp
    float s[kSTiles][4];
#pragma unroll
    for (int j = 0; j < kSTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < kKSteps; ++ks) {
      std::uint32_t qf_smem[4];
      if constexpr (kQInRegisters) {
        if (tile == 0) ptx::ldmatrix_x4(qf_regs[ks], ptx::smem_addr(sq_warp + swizzled(lane % 16, 2 * ks + lane / 16, kC)));
      } else {
        ptx::ldmatrix_x4(qf_smem, ptx::smem_addr(sq_warp + swizzled(lane % 16, 2 * ks + lane / 16, kC)));
      }
      const std::uint32_t(&qf)[4] = kQInRegisters ? qf_regs[ks] : qf_smem;
#pragma unroll
      for (int j = 0; j < kSTiles; j += 2) {
        std::uint32_t kf[4];
        const int krow = 8 * j + (lane / 16) * 8 + lane % 8;
        ptx::ldmatrix_x4(kf, ptx::smem_addr(k_s + swizzled(krow, 2 * ks + (lane / 8) % 2, kC)));
        ptx::mma_16816<T>(s[j], qf, kf[0], kf[1]);
        ptx::mma_16816<T>(s[j + 1], qf, kf[2], kf[3]);
      }
    }
    float rescale[2];
    softmax.step(s, min(kN, key_count - tile * kN), p.scale_log2, rescale);
    rescale_rows(acc, rescale);
    // O += P V
#pragma unroll
    for (int kk = 0; kk < kPSteps; ++kk) {
      const std::uint32_t pa[4] = {ptx::pack2<T>(s[2 * kk][0], s[2 * kk][1]), ptx::pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                   ptx::pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   ptx::pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int j = 0; j < kOTiles; j += 2) {
        std::uint32_t vf[4];
        const int vrow = 16 * kk + ((lane / 8) % 2) * 8 + lane % 8;
        ptx::ldmatrix_x4_trans(vf, ptx::smem_addr(v_s + swizzled(vrow, j + lane / 16, kC)));
        ptx::mma_16816<T>(acc[j], pa, vf[0], vf[1]);
        ptx::mma_16816<T>(acc[j + 1], pa, vf[2], vf[3]);
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
    if (tile + 2 < num_tiles) {
      const int first = (tile + 2) * kN;
      gather_kv_tile<Cfg>(p, sk + stage * Cfg::kKvTileElems, sv + stage * Cfg::kKvTileElems, keys + first,
                          min(kN, key_count - first), b, h);
    }
    ptx::cp_async_commit();
  }
  float row_sum[2];
  softmax.finish(row_sum);
  store_output<Cfg>(p, acc, softmax.row_max, row_sum, sq_warp, b, h, q0 + warp * Cfg::kRowsPerWarp);
}

}  // namespace fgattn::cuda
