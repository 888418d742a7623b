#pragma once
// Producer warpgroup of the sm_90a kernel: the asynchronous gather. Two streams (K and V) each take every tile of
// the plan rows' sorted key lists, wait for a free stage, pull the kept rows straight into the swizzled panel
// layout wgmma reads, and let the tile land on its stage's mbarrier (no thread waits for the copies).
// How a tile is pulled (params.h, KvLoad): a tile whose keys are one contiguous run (every tile of a dense plan)
// by TMA tile loads (tma_runs), any other by 16-byte cp.async per thread (both modes).
// Slots past the row's key count are zero-filled, so a short last tile multiplies finite zeros (its scores are
// masked to -inf by the softmax).
#include <cstdint>

#include "cuda/attention/kernel_traits.cuh"
#include "cuda/attention/named_barriers.cuh"
#include "cuda/attention/params.h"
#include "cuda/attention/pipeline.cuh"
#include "cuda/attention/tile_scheduler.cuh"
#include "cuda/common/ptx.cuh"
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

// Where one tile of K (or V) comes from: its tensor map, its global base and row stride for cp.async.
struct KvSource {
  const CUtensorMap* tile_map;
  const char* base;                // row 0 of this (batch, head)
  std::uint32_t row_stride_bytes;  // < 2^32: check_gpu_operand (cuda/host/checks.cpp) refuses more
};

// The producer warpgroup is two streams of 64 threads (kStreamThreads): warps 0-1 load K tiles, warps 2-3 V tiles,
// each walking the same tiles on its own, so a K tile is never queued behind a V stage that is still in use (and the
// other way round). ncu's source counters of the single-stream producer showed the consumers spinning on K-full
// barriers while the producer sat in the wait for a free V stage (docs/performance.md, issue 17).
inline constexpr int kStreamThreads = 64;

// Each stream thread copies a fixed pair of 16-byte chunks (c and c + 8: the same offset in both 64-column panels)
// or one chunk (D = 64) of every 8th row: with 8 rows per pass the row's swizzle phase (row % 8) is the same on every
// pass, so destinations are one base plus immediate offsets (nothing per pass lives in registers under the
// producer's small budget), and one row address serves both chunks.
template <typename Cfg>
struct GatherShape {
  static constexpr int kThreadsPerRow = 8, kChunksPerThread = Cfg::kChunks / kThreadsPerRow;
  static constexpr int kRowsPerPass = kStreamThreads / kThreadsPerRow, kPasses = Cfg::kBlockN / kRowsPerPass;
  static_assert(kRowsPerPass == 8 && Cfg::kChunks % kThreadsPerRow == 0, "the swizzle phase must repeat every pass");
};

// The keys of this thread's slots (slot thread / 8 + pass * 8), read from shared memory just before the tile's
// copies. All keys are read before any copy: cp_async_16 is a compiler memory barrier, so a key read between two
// copies would wait for its shared-memory load on every pass (a serial LDS -> LDGSTS chain).
template <typename Cfg>
struct ThreadKeys {
  std::uint32_t key[GatherShape<Cfg>::kPasses];
  __device__ __forceinline__ void load(const std::int32_t* tile_keys, int thread) {
    const int slot0 = thread / GatherShape<Cfg>::kThreadsPerRow;
#pragma unroll
    for (int pass = 0; pass < GatherShape<Cfg>::kPasses; ++pass)
      key[pass] = static_cast<std::uint32_t>(tile_keys[slot0 + pass * GatherShape<Cfg>::kRowsPerPass]);
  }
};

// The cp.async gather of one tile by one stream. A row's address is key x 32-bit stride + 64-bit base (the host
// checks the stride fits), and a full tile (every tile of a row but its last) copies without the per-slot bounds
// predicate.
template <typename Cfg>
__device__ __forceinline__ void gather_rows(std::uint32_t stage_addr, const KvSource& src, const ThreadKeys<Cfg>& keys,
                                            int count, int thread) {
  using Shape = GatherShape<Cfg>;
  constexpr int kPassBytes = Shape::kRowsPerPass * sm90::kPanelRowBytes, kPanelBytes = Cfg::kBlockN * sm90::kPanelRowBytes;
  const int slot0 = thread / Shape::kThreadsPerRow, chunk = thread % Shape::kThreadsPerRow;
  const std::uint32_t dst = stage_addr + sm90::panel_offset(slot0, chunk, Cfg::kBlockN);
  // The row base as one opaque 64-bit value, or nvcc re-associates the sum and adds the pointer's parts per copy;
  // then each row's address is one IMAD.WIDE.U32 (key x stride + base), and its chunks are immediate offsets.
  std::uint64_t base = reinterpret_cast<std::uint64_t>(src.base) + chunk * 16;
  asm("" : "+l"(base));
  const std::uint32_t stride = src.row_stride_bytes;
  auto row = [&](int pass) { return base + static_cast<std::uint64_t>(keys.key[pass]) * stride; };
  auto copy_row = [&](int pass, auto... valid) {
    const std::uint64_t from = row(pass);
#pragma unroll
    for (int c = 0; c < Shape::kChunksPerThread; ++c)  // chunk + 8c: the next panel, 128 bytes further in the row
      ptx::cp_async_16(dst + pass * kPassBytes + c * kPanelBytes, reinterpret_cast<const void*>(from + c * 128), valid...);
  };
  if (count == Cfg::kBlockN) {
#pragma unroll
    for (int pass = 0; pass < Shape::kPasses; ++pass) copy_row(pass);
    return;
  }
#pragma unroll
  for (int pass = 0; pass < Shape::kPasses; ++pass) copy_row(pass, slot0 + pass * Shape::kRowsPerPass < count);
}

// A tile TMA can load whole: its keys are one run (keys are sorted and unique, so last - first = count - 1), and
// slots past `count` fall at or past Skv (TMA zero-fills them), so no row outside the plan enters the tile.
template <typename Cfg>
__device__ __forceinline__ bool is_tma_run(const std::int32_t* tile_keys, int count, int seq_kv) {
  const int first = tile_keys[0];
  return tile_keys[count - 1] - first == count - 1 && (count == Cfg::kBlockN || first + count == seq_kv);
}

// Runs on one stream's 64 threads (thread = 0..63) until every plan row of this CTA has its K (or V) tiles loaded.
// Per tile: the tile's key indices (loaded one tile ahead, one or two per thread, so their latency hides under the
// previous tile) go through the stream's buffer in shared memory, since each thread copies rows of 16 different
// slots; then the stream waits for a free stage and loads the tile into it, by TMA when the keys are one run
// (KvLoad::tma_runs) or by cp.async, and the tile lands on the stage's full barrier (one arrival per stream thread,
// plus the TMA bytes). No thread waits for its copies.
template <typename Cfg, KernelMode Mode>
__device__ void produce_stream(const AttentionParams& p, const void* tensor, const std::int64_t (&stride)[3],
                               const CUtensorMap* tile_map, std::uint32_t stages, std::uint64_t* full,
                               std::uint64_t* empty, std::int32_t* tile_keys, NamedBarrier keys_ready, int thread) {
  constexpr int kN = Cfg::kBlockN, kPanels = Cfg::kHeadDim / sm90::kPanelCols;
  constexpr int kPanelBytes = kN * sm90::kPanelRowBytes, kKeysPerThread = kN / kStreamThreads;
  static_assert(kN % kStreamThreads == 0, "each stream thread stages the same number of a tile's keys");
  std::int32_t next_key[kKeysPerThread];
  auto read_keys = [&](const TileCursor<Cfg>& t) {
#pragma unroll
    for (int i = 0; i < kKeysPerThread; ++i) {
      const int slot = thread + i * kStreamThreads;
      next_key[i] = t.valid() && slot < t.count() ? tile_key(t.row, t.first, slot) : 0;
    }
  };
  TileCursor<Cfg> tile(p);
  read_keys(tile);
  for (int tile_seq = 0; tile.valid(); ++tile_seq) {
    const int stage = tile_seq % Cfg::kStages;
    const std::uint32_t free_parity = ((tile_seq / Cfg::kStages) & 1) ^ 1;
#pragma unroll
    for (int i = 0; i < kKeysPerThread; ++i) tile_keys[thread + i * kStreamThreads] = next_key[i];
    named_sync(keys_ready, kStreamThreads);
    const PlanRow& r = tile.row;
    const int count = tile.count();
    const bool run = p.kv_load == KvLoad::tma_runs && is_tma_run<Cfg>(tile_keys, count, p.seq_kv);
    ThreadKeys<Cfg> keys;
    if (!run) keys.load(tile_keys, thread);
    const std::int32_t first_key = tile_keys[0];
    named_sync(keys_ready, kStreamThreads);  // every thread has read the buffer: the next tile's keys may go in
    TileCursor<Cfg> after = tile;
    after.advance();  // its look_ahead() waits until this tile's copies are issued
    read_keys(after);

    sm90::mbar_wait(&empty[stage], free_parity);
    const std::uint32_t stage_addr = stages + stage * Cfg::kKvTileBytes;
    if constexpr (Mode == KernelMode::no_gather) {
      sm90::mbar_arrive(&full[stage]);
    } else if (run) {
      if (thread == 0) {
        sm90::mbar_arrive_expect_tx(&full[stage], Cfg::kKvTileBytes);
#pragma unroll
        for (int panel = 0; panel < kPanels; ++panel)
          sm90::tma_load_4d(stage_addr + panel * kPanelBytes, tile_map, panel * sm90::kPanelCols, first_key, r.h, r.b,
                            &full[stage]);
      } else {
        sm90::mbar_arrive(&full[stage]);
      }
    } else {
      const KvSource src{tile_map, static_cast<const char*>(tensor) + (r.b * stride[0] + r.h * stride[2]) * 2,
                         static_cast<std::uint32_t>(stride[1] * 2)};
      gather_rows<Cfg>(stage_addr, src, keys, count, thread);
      sm90::mbar_arrive_on_cp_async(&full[stage]);
    }
    after.look_ahead();
    tile = after;
  }
  asm volatile("cp.async.wait_all;\n" ::: "memory");  // nothing in flight when the producer exits
}

// Runs on the 128 producer threads (thread = 0..127): warps 0-1 stream K, warps 2-3 stream V (none in the S-only
// mode). K and V stages are freed separately: K as soon as S = Q K^T has read it, V after P V.
template <typename Cfg, KernelMode Mode = KernelMode::normal>
__device__ void produce_kv(const AttentionParams& p, std::uint32_t k_smem, std::uint32_t v_smem, const StageBarriers& bars,
                           std::int32_t* key_buffer, int thread) {
  if (thread < kStreamThreads) {
    produce_stream<Cfg, Mode>(p, p.k, p.k_stride, &p.k_tile_map, k_smem, bars.full_k, bars.empty_k, key_buffer,
                              NamedBarrier::producer_k_keys, thread);
  } else if constexpr (Mode != KernelMode::scores_only) {  // no V: the consumers never wait for it
    produce_stream<Cfg, Mode>(p, p.v, p.v_stride, &p.v_tile_map, v_smem, bars.full_v, bars.empty_v,
                              key_buffer + Cfg::kBlockN, NamedBarrier::producer_v_keys, thread - kStreamThreads);
  }
}

}  // namespace fgattn::cuda
