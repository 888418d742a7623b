#pragma once
// Consumer warpgroup of KernelMode::scores_only: S = Q K^T on the tensor cores with no V and no output tile, for
// the GPU oracle (src/cuda/predict/oracle_host.cpp). The producer streams K alone; per tile a consumer issues S,
// frees the K stage as soon as S is in registers, and then either
//  - row_lse: runs the online max / sum of exp2 (the attention kernel's softmax, without P V) and writes each
//    query row's natural-log LSE to p.lse; or
//  - oracle_bits: keeps key j for the plan row when some query q of the block has log2 P[q, j] > log2 tau, i.e.
//    S[q, j] > (LSE_q log2 e + log2 tau) / scale_log2: one compare per score, no exponential. Each warp ORs its
//    16 rows and stores one bit row of its own (p.oracle.bits holds block_m / 16 partial rows per plan row).
// In the bits pass the two consumers of a 128-query row take turns issuing (ConsumerTurns), so one's compares run
// under the other's wgmma; the row-LSE pass issues without turns (measured 4-6 % faster: its two S buffers already
// keep the tensor cores busy under its softmax).
#include <cmath>
#include <cstdint>

#include "cuda/attention/consumer.cuh"  // ConsumerTurns, QkOperands, Q loads: shared with the attention consumer
#include "cuda/attention/kernel_traits.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/pipeline.cuh"
#include "cuda/attention/softmax.cuh"
#include "cuda/attention/tile_scheduler.cuh"
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

// The oracle's keep bits of one warp's S tile (16 rows x kN keys; rows g and g + 8 in this thread): OR over the
// rows (shuffles), then ballots put 32 consecutive keys in one word; lanes 0 and 1 store the tile's 64-key words in
// this warp's own partial bit row (no atomics: bits_to_plan ORs the block's warps).
template <int STiles>
__device__ __forceinline__ void store_tile_bits(const float (&s)[STiles][4], const float (&threshold)[2], int valid_keys,
                                                std::uint64_t* warp_bits, int first_key, int words, int lane) {
  constexpr int kBallots = STiles / 4, kWords = (kBallots + 1) / 2;
  const int t = lane % 4;
  std::uint32_t mine = 0;  // bit 2 j + c: key 8 j + 2 t + c of the tile
#pragma unroll
  for (int j = 0; j < STiles; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c)
      if (s[j][c] > threshold[0] || s[j][2 + c] > threshold[1]) mine |= 1u << (2 * j + c);
  if (valid_keys < STiles * 8) {  // the row's partial last tile: slots past its keys hold zero-filled rows
    std::uint32_t valid = 0;
#pragma unroll
    for (int j = 0; j < STiles; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c)
        if (8 * j + 2 * t + c < valid_keys) valid |= 1u << (2 * j + c);
    mine &= valid;
  }
  // Lanes with the same t hold the same keys for different rows.
  mine |= __shfl_xor_sync(0xffffffffu, mine, 4);
  mine |= __shfl_xor_sync(0xffffffffu, mine, 8);
  mine |= __shfl_xor_sync(0xffffffffu, mine, 16);
  // Ballot b holds keys 32 b + L (L = lane): key 8 j + 2 t' + c with j = 4 b + L / 8, t' = (L % 8) / 2, c = L % 2.
  const std::uint32_t owner = __shfl_sync(0xffffffffu, mine, (lane % 8) / 2);
  std::uint32_t ballot[kBallots];
#pragma unroll
  for (int b = 0; b < kBallots; ++b) ballot[b] = __ballot_sync(0xffffffffu, (owner >> (2 * (4 * b + lane / 8) + lane % 2)) & 1u);
#pragma unroll
  for (int w = 0; w < kWords; ++w) {
    const int index = first_key / 64 + w;
    if (lane == w && index < words)
      warp_bits[index] = ballot[2 * w] | (2 * w + 1 < kBallots ? static_cast<std::uint64_t>(ballot[2 * w + 1]) << 32 : 0ull);
  }
}

// Runs on one consumer warpgroup (thread = 0..127 within it) until every plan row of this CTA is done.
template <typename T, typename Cfg>
__device__ void consume_scores(const AttentionParams& p, std::uint32_t smem_addr, const StageBarriers& bars,
                               int consumer, int thread) {
  constexpr int kN = Cfg::kBlockN, kSTiles = kN / 8;
  const ConsumerTurns<Cfg> turns{consumer};
  const int warp = thread / 32, lane = thread % 32;
  const std::uint32_t q_smem = smem_addr + Cfg::kQOffset + consumer * Cfg::kQBytes;
  const QkOperands<T, Cfg> qk(q_smem, smem_addr + Cfg::kKOffset);
  const bool bits = p.scores == ScoresOutput::oracle_bits;
  const float inv_scale_log2 = 1.f / p.scale_log2;

  // The row-LSE pass issues without taking turns: each warpgroup's two S buffers already overlap its own softmax
  // with the tensor cores, and ncu put a third of the consumers' time in the issue block (turn barrier, HGMMA wait);
  // dropping the turns there made the pass 4-6 % faster (docs/performance.md).
  const bool take_turns = bits;
  if (take_turns) turns.start();
  prefetch_q<Cfg>(p, q_smem, blockIdx.x, consumer, thread);
  int tile_seq = 0;
  for (std::int64_t item = blockIdx.x; item < p.rows; item += gridDim.x) {
    const PlanRow r = plan_row<Cfg>(p, item);
    const int q_warp0 = r.q0 + 64 * consumer + 16 * warp;
    const int num_tiles = (r.key_count + kN - 1) / kN;
    const std::int64_t lse_row0 = (static_cast<std::int64_t>(r.b) * p.heads + r.h) * p.seq_q;
    float threshold[2] = {INFINITY, INFINITY};  // rows past Sq keep nothing
    if (bits) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int q = q_warp0 + lane / 4 + 8 * half;
        if (q < p.seq_q) threshold[half] = (p.oracle.lse[lse_row0 + q] * 1.4426950408889634f + p.oracle.log2_tau) * inv_scale_log2;
      }
    }
    // This warp's partial bit row: (plan row, warp of the block) — all_keys: item = plan row.
    std::uint64_t* warp_bits =
        bits ? p.oracle.bits + (item * (Cfg::kBlockM / 16) + consumer * 4 + warp) * p.oracle.words : nullptr;
    if (num_tiles > 0) wait_q(turns);
    OnlineSoftmax<kSTiles> softmax;
    // Two S buffers: S_{t+1} is issued before S_t is used, so the tensor cores work under this warpgroup's
    // compares or softmax (the CUDA-core work per tile is as long as its wgmma here: there is no P V to hide it).
    float s_even[kSTiles][4], s_odd[kSTiles][4];
    auto issue = [&](int t, float(&s)[kSTiles][4]) {
      const int seq = tile_seq + t, stage = seq % Cfg::kStages;
      sm90::mbar_wait(&bars.full_k[stage], (seq / Cfg::kStages) & 1);
      sm90::fence_generic_to_async();
      if (take_turns) turns.wait_turn();
      sm90::fence_accumulators(s);
      sm90::gmma_fence();
      qk.issue(stage, s);
      sm90::gmma_commit();
      if (take_turns) turns.pass_turn();
    };
    // Uses S_t once its wgmma has completed: frees the K stage, then the bits or the softmax step.
    auto use = [&](int t, float(&s)[kSTiles][4]) {
      __syncwarp();
      if (lane == 0) sm90::mbar_arrive(&bars.empty_k[(tile_seq + t) % Cfg::kStages]);
      sm90::fence_accumulators(s);
      if (t == num_tiles - 1) {  // every warp is past this row's last S (the only reader of Q)
        turns.sync_warpgroup();
        prefetch_q<Cfg>(p, q_smem, item + gridDim.x, consumer, thread);
      }
      const int valid_keys = min(kN, r.key_count - t * kN);
      if (bits) {
        store_tile_bits<kSTiles>(s, threshold, valid_keys, warp_bits, t * kN, p.oracle.words, lane);
      } else {
        float rescale[2];
        softmax_step(softmax, s, valid_keys, p.scale_log2, rescale);
      }
    };
    // Unrolled by two so each buffer's state is explicit on every path (ptxas serialises the wgmma otherwise):
    // at the top of the loop S_t is in flight in s_even; a break leaves nothing in flight.
    if (num_tiles > 0) {
      issue(0, s_even);
      for (int t = 0;; t += 2) {
        if (t + 1 >= num_tiles) {
          sm90::gmma_wait<0>();
          use(t, s_even);
          break;
        }
        issue(t + 1, s_odd);
        sm90::gmma_wait<1>();  // S_t is ready; S_{t+1} may still run
        use(t, s_even);
        if (t + 2 >= num_tiles) {
          sm90::gmma_wait<0>();
          use(t + 1, s_odd);
          break;
        }
        issue(t + 2, s_even);
        sm90::gmma_wait<1>();
        use(t + 1, s_odd);
      }
    }
    if (num_tiles == 0) prefetch_q<Cfg>(p, q_smem, item + gridDim.x, consumer, thread);
    tile_seq += num_tiles;
    if (!bits) {
      float row_sum[2];
      softmax.finish(row_sum);
      if (lane % 4 == 0)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int q = q_warp0 + lane / 4 + 8 * half;
          if (q < p.seq_q)
            p.lse[lse_row0 + q] =
                row_sum[half] > 0.f ? (softmax.row_max[half] + log2f(row_sum[half])) * 0.69314718055994531f : -INFINITY;
        }
    }
  }
}

}  // namespace fgattn::cuda
