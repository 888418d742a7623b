#pragma once
// Consumer warpgroup of the sm_90a kernel: 64 query rows of each plan row, against the gathered tiles.
// Per tile t (FA3's intra-warpgroup overlap): issue S_t = Q K_t^T and O += P_{t-1} V_{t-1} together, then run the
// online softmax of S_t on the CUDA cores while the P V product still runs on the tensor cores. With two
// consumers, named barriers make them take turns issuing (ping-pong), so one's softmax hides under the other's
// MMAs. A K stage goes back to the producer as soon as S = Q K^T has read it, a V stage once P V has completed.
#include <cstdint>

#include "cuda/attention/epilogue.cuh"
#include "cuda/attention/kernel_traits.cuh"
#include "cuda/attention/named_barriers.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/pipeline.cuh"
#include "cuda/attention/softmax.cuh"
#include "cuda/attention/tile_scheduler.cuh"
#include "cuda/common/ptx.cuh"
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

// Two consumers take turns issuing wgmma (named_barriers.cuh): each waits for its own "may issue" barrier and, once
// its MMAs are issued, arrives on the other's. A lone consumer never waits.
template <typename Cfg>
struct ConsumerTurns {
  int self;
  __device__ __forceinline__ void start() const {
    if (Cfg::kConsumers == 2 && self == 1) named_arrive(NamedBarrier::consumer0_may_issue, 256);  // consumer 0 first
  }
  __device__ __forceinline__ void wait_turn() const {
    if (Cfg::kConsumers == 2) named_sync(of_consumer(NamedBarrier::consumer0_may_issue, self), 256);
  }
  __device__ __forceinline__ void pass_turn() const {
    if (Cfg::kConsumers == 2) named_arrive(of_consumer(NamedBarrier::consumer0_may_issue, 1 - self), 256);
  }
  __device__ __forceinline__ void sync_warpgroup() const {
    named_sync(of_consumer(NamedBarrier::consumer0_warpgroup, self), 128);
  }
};

// Q rows [q0, q0 + 64) of (b, h) into this consumer's panel-layout Q tile; rows past Sq are zero.
template <typename Cfg>
__device__ __forceinline__ void load_q(const AttentionParams& p, std::uint32_t q_smem, int b, int h, int q0, int thread) {
  const char* base = static_cast<const char*>(p.q) + (b * p.q_stride[0] + h * p.q_stride[2]) * 2;
  constexpr int kIters = 64 * Cfg::kChunks / 128;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int idx = it * 128 + thread;
    const int row = idx / Cfg::kChunks, chunk = idx % Cfg::kChunks;
    const bool valid = q0 + row < p.seq_q;
    const char* src = base + static_cast<std::int64_t>(valid ? q0 + row : 0) * p.q_stride[1] * 2 + chunk * 16;
    ptx::cp_async_16(q_smem + sm90::panel_offset(row, chunk, 64), src, valid);
  }
}

// Q of plan row `item` (this consumer's 64 rows) into q_smem, unless the row is past the end or has no key.
template <typename Cfg>
__device__ __forceinline__ void prefetch_q(const AttentionParams& p, std::uint32_t q_smem, std::int64_t item,
                                           int consumer, int thread) {
  if (item >= p.rows) return;
  const PlanRow next = plan_row<Cfg>(p, item);
  if (next.key_count > 0) load_q<Cfg>(p, q_smem, next.b, next.h, next.q0 + 64 * consumer, thread);
}

// Waits until the whole warpgroup's part of Q has landed and is visible to wgmma.
template <typename Cfg>
__device__ __forceinline__ void wait_q(const ConsumerTurns<Cfg>& turns) {
  asm volatile("cp.async.wait_all;\n" ::: "memory");  // this thread's part of Q has landed
  sm90::fence_generic_to_async();
  turns.sync_warpgroup();  // ... and every other thread's
}

// wgmma descriptors of this consumer's Q tile and of the K stages; a k-step of 16 elements inside a 128-byte panel
// row is +32 bytes, a new panel +rows * 128.
template <typename T, typename Cfg>
struct QkOperands {
  std::uint64_t q_desc, k_desc;
  __device__ __forceinline__ QkOperands(std::uint32_t q_smem, std::uint32_t k_smem)
      : q_desc(sm90::sw128_desc(q_smem, 16, 1024)), k_desc(sm90::sw128_desc(k_smem, 16, 1024)) {}
  static __device__ __forceinline__ std::uint64_t k_step(int ks, int rows) {
    return static_cast<std::uint64_t>(((ks / 4) * rows * 128 + (ks % 4) * 32) >> 4);
  }
  // Issues S = Q K^T for the K tile in `stage` (not committed).
  __device__ __forceinline__ void issue(int stage, float (&s)[Cfg::kBlockN / 8][4]) const {
#pragma unroll
    for (int ks = 0; ks < Cfg::kHeadDim / 16; ++ks)
      sm90::gmma_ss<T, Cfg::kBlockN>(q_desc + k_step(ks, 64),
                                     k_desc + ((stage * Cfg::kKvTileBytes) >> 4) + k_step(ks, Cfg::kBlockN), s, ks > 0);
  }
};

// Masks key slots only in a row's partial last tile. Returns whether O needs rescaling (OnlineSoftmax::step).
template <int Tiles, bool LazyMax>
__device__ __forceinline__ bool softmax_step(OnlineSoftmax<Tiles, LazyMax>& softmax, float (&s)[Tiles][4], int valid_keys,
                                             float scale_log2, float (&rescale)[2]) {
  if (valid_keys >= Tiles * 8) return softmax.template step<false>(s, valid_keys, scale_log2, rescale);
  return softmax.template step<true>(s, valid_keys, scale_log2, rescale);
}

template <typename T, int Tiles>
__device__ __forceinline__ void pack_p(const float (&s)[Tiles][4], std::uint32_t (&pa)[Tiles / 2][4]) {
#pragma unroll
  for (int kk = 0; kk < Tiles / 2; ++kk) {
    pa[kk][0] = ptx::pack2<T>(s[2 * kk][0], s[2 * kk][1]);
    pa[kk][1] = ptx::pack2<T>(s[2 * kk][2], s[2 * kk][3]);
    pa[kk][2] = ptx::pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    pa[kk][3] = ptx::pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

// KernelMode::no_math: take each tile as it lands and free it at once (nothing computed, nothing written).
template <typename Cfg>
__device__ void drain_tiles(const AttentionParams& p, const StageBarriers& bars, int thread) {
  TileCursor<Cfg> tile(p);
  for (int seq = 0; tile.valid(); ++seq, tile.next()) {
    const int stage = seq % Cfg::kStages;
    const std::uint32_t parity = (seq / Cfg::kStages) & 1;
    sm90::mbar_wait(&bars.full_k[stage], parity);
    sm90::mbar_wait(&bars.full_v[stage], parity);
    __syncwarp();
    if (thread % 32 == 0) sm90::mbar_arrive(&bars.empty_k[stage]), sm90::mbar_arrive(&bars.empty_v[stage]);
  }
}

// Runs on one consumer warpgroup (thread = 0..127 within it) until every plan row of this CTA is done.
template <typename T, typename Cfg, KernelMode Mode = KernelMode::normal>
__device__ void consume(const AttentionParams& p, std::uint32_t smem_addr, const StageBarriers& bars, int consumer,
                        int thread) {
  if constexpr (Mode == KernelMode::no_math) {
    drain_tiles<Cfg>(p, bars, thread);
    return;
  }
  constexpr int D = Cfg::kHeadDim, kN = Cfg::kBlockN, kSTiles = kN / 8, kOTiles = D / 8;
  const ConsumerTurns<Cfg> turns{consumer};
  const int warp = thread / 32, lane = thread % 32;
  const std::uint32_t q_smem = smem_addr + Cfg::kQOffset + consumer * Cfg::kQBytes;
  const QkOperands<T, Cfg> qk(q_smem, smem_addr + Cfg::kKOffset);
  const std::uint64_t v_desc = sm90::sw128_desc(smem_addr + Cfg::kVOffset, kN * 128, 1024);

  // Q of the next plan row is loaded as soon as this row's last S = Q K^T has completed, under the last P V and
  // the epilogue; a row with no keys needs no Q.
  turns.start();
  prefetch_q<Cfg>(p, q_smem, blockIdx.x, consumer, thread);
  int tile_seq = 0;
  for (std::int64_t item = blockIdx.x; item < p.rows; item += gridDim.x) {
    const PlanRow r = plan_row<Cfg>(p, item);
    const int q0 = r.q0 + 64 * consumer;
    const int num_tiles = (r.key_count + kN - 1) / kN;
    if (num_tiles > 0) wait_q(turns);
    float o[kOTiles][4];
#pragma unroll
    for (int j = 0; j < kOTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[j][e] = 0.f;
    OnlineSoftmax<kSTiles, true> softmax;
    float s[kSTiles][4];
    std::uint32_t pa[kSTiles / 2][4];

    auto issue_s = [&](int stage) { qk.issue(stage, s); };
    auto issue_pv = [&](int stage) {
#pragma unroll
      for (int kk = 0; kk < kN / 16; ++kk)
        sm90::gmma_rs<T, D>(pa[kk], v_desc + ((stage * Cfg::kKvTileBytes + kk * 16 * 128) >> 4), o);
    };
    auto wait_full = [&](std::uint64_t* bars, int seq) { sm90::mbar_wait(&bars[seq % Cfg::kStages], (seq / Cfg::kStages) & 1); };
    // The producer's cp.async writes (generic proxy), made visible to this thread's wgmma reads (async proxy).
    auto operands_ready = [] { sm90::fence_generic_to_async(); };
    auto release = [&](std::uint64_t* empty, int seq) {
      __syncwarp();
      if (lane == 0) sm90::mbar_arrive(&empty[seq % Cfg::kStages]);
    };
    auto valid_keys = [&](int t) { return min(kN, r.key_count - t * kN); };

    if (num_tiles > 0) {
      float rescale[2];
      // Prologue: S_0 alone.
      wait_full(bars.full_k, tile_seq);
      operands_ready();
      turns.wait_turn();
      sm90::fence_accumulators(s);
      sm90::gmma_fence();
      issue_s(tile_seq % Cfg::kStages);
      sm90::gmma_commit();
      turns.pass_turn();
      sm90::gmma_wait<0>();
      release(bars.empty_k, tile_seq);
      sm90::fence_accumulators(s);
      softmax_step(softmax, s, valid_keys(0), p.scale_log2, rescale);  // O is still zero: nothing to rescale
      pack_p<T>(s, pa);
      // Steady state: S_t and P_{t-1} V_{t-1} in flight together; the softmax of S_t under P V.
      for (int t = 1; t < num_tiles; ++t) {
        const int cur = tile_seq + t, prev = cur - 1;
        wait_full(bars.full_k, cur);
        wait_full(bars.full_v, prev);
        operands_ready();
        turns.wait_turn();
        sm90::fence_accumulators(s);
        sm90::fence_accumulators(o);
        sm90::gmma_fence();
        issue_s(cur % Cfg::kStages);
        sm90::gmma_commit();
        issue_pv(prev % Cfg::kStages);
        sm90::gmma_commit();
        turns.pass_turn();
        sm90::gmma_wait<1>();  // S_t is ready; P V may still run
        release(bars.empty_k, cur);
        sm90::fence_accumulators(s);
        const bool rescale_o = softmax_step(softmax, s, valid_keys(t), p.scale_log2, rescale);
        sm90::gmma_wait<0>();
        sm90::fence_accumulators(o);
        sm90::fence_registers(pa);  // P stays untouched until the product that reads it has completed
        release(bars.empty_v, prev);
        if (rescale_o) rescale_rows(o, rescale);  // warp-uniform: most tiles keep every row's max
        pack_p<T>(s, pa);
      }
      // Tail: the last P V.
      const int last = tile_seq + num_tiles - 1;
      wait_full(bars.full_v, last);
      operands_ready();
      turns.wait_turn();
      sm90::fence_accumulators(o);
      sm90::gmma_fence();
      issue_pv(last % Cfg::kStages);
      sm90::gmma_commit();
      turns.pass_turn();
      turns.sync_warpgroup();  // every warp is past this row's last S (the only reader of Q)
      prefetch_q<Cfg>(p, q_smem, item + gridDim.x, consumer, thread);
      sm90::gmma_wait<0>();
      sm90::fence_accumulators(o);
      sm90::fence_registers(pa);
      release(bars.empty_v, last);
    } else {
      prefetch_q<Cfg>(p, q_smem, item + gridDim.x, consumer, thread);
    }
    tile_seq += num_tiles;
    float row_sum[2];
    softmax.finish(row_sum);
    store_output<T, D>(p, o, softmax.row_max, row_sum, r.b, r.h, q0 + 16 * warp);
  }
}

}  // namespace fgattn::cuda
