#pragma once
// Producer warpgroup of the sm_90a kernel: the asynchronous gather. For each tile of a plan row's sorted key
// list it waits for a free stage, pulls the kept K rows and then the V rows straight into the swizzled panel
// layout wgmma reads, and lets each tile's K and V land on their own mbarrier (no thread waits for the copies).
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

// Each thread copies one fixed 16-byte chunk of every (128 / chunks)-th row: with 8 or 16 rows per pass the row's
// swizzle phase (row % 8) is the same on every pass, so destinations are one base plus immediate offsets
// (nothing per pass lives in registers under the producer's small budget).
template <typename Cfg>
struct GatherShape {
  static constexpr int kRowsPerPass = 128 / Cfg::kChunks, kPasses = Cfg::kBlockN / kRowsPerPass;
  static_assert(kRowsPerPass % 8 == 0 && 32 % kRowsPerPass == 0, "the swizzle phase must repeat every pass");
};

// The keys of this thread's slots (slot thread / chunks + pass * rows per pass), read from shared memory just
// before the tile's copies. All keys are read before any copy: cp_async_16 is a compiler memory barrier, so a key
// read between two copies would wait for its shared-memory load on every pass (a serial LDS -> LDGSTS chain).
template <typename Cfg>
struct ThreadKeys {
  std::uint32_t key[GatherShape<Cfg>::kPasses];
  __device__ __forceinline__ void load(const std::int32_t* tile_keys, int thread) {
    const int slot0 = thread / Cfg::kChunks;
#pragma unroll
    for (int pass = 0; pass < GatherShape<Cfg>::kPasses; ++pass)
      key[pass] = static_cast<std::uint32_t>(tile_keys[slot0 + pass * GatherShape<Cfg>::kRowsPerPass]);
  }
};

// The cp.async gather of one tile. A row's address is key x 32-bit stride + 64-bit base (the host checks the stride
// fits), and a full tile (every tile of a row but its last) copies without the per-slot bounds predicate.
template <typename Cfg>
__device__ __forceinline__ void gather_rows(std::uint32_t stage_addr, const KvSource& src, const ThreadKeys<Cfg>& keys,
                                            int count, int thread) {
  constexpr int kRowsPerPass = GatherShape<Cfg>::kRowsPerPass, kPasses = GatherShape<Cfg>::kPasses;
  const int slot0 = thread / Cfg::kChunks, chunk = thread % Cfg::kChunks;
  const std::uint32_t dst = stage_addr + sm90::panel_offset(slot0, chunk, Cfg::kBlockN);
  // The row base as one opaque 64-bit value, or nvcc re-associates the sum and adds the pointer's parts per copy;
  // then each row's address is one IMAD.WIDE.U32 (key x stride + base) and a VIADD.
  std::uint64_t base = reinterpret_cast<std::uint64_t>(src.base) + chunk * 16;
  asm("" : "+l"(base));
  const std::uint32_t stride = src.row_stride_bytes;
  auto row = [&](int pass) { return reinterpret_cast<const void*>(base + static_cast<std::uint64_t>(keys.key[pass]) * stride); };
  if (count == Cfg::kBlockN) {
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass)
      ptx::cp_async_16(dst + pass * kRowsPerPass * sm90::kPanelRowBytes, row(pass));
    return;
  }
#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int slot = slot0 + pass * kRowsPerPass;
    ptx::cp_async_16(dst + pass * kRowsPerPass * sm90::kPanelRowBytes, row(pass), slot < count);
  }
}

// A tile TMA can load whole: its keys are one run (keys are sorted and unique, so last - first = count - 1), and
// slots past `count` fall at or past Skv (TMA zero-fills them), so no row outside the plan enters the tile.
template <typename Cfg>
__device__ __forceinline__ bool is_tma_run(const std::int32_t* tile_keys, int count, int seq_kv) {
  const int first = tile_keys[0];
  return tile_keys[count - 1] - first == count - 1 && (count == Cfg::kBlockN || first + count == seq_kv);
}

// Loads one tile into the stage at `stage_addr` and arrives on `full` (one arrival per producer thread, plus the
// TMA bytes). `run` (is_tma_run) is the same on every thread.
template <typename Cfg>
__device__ __forceinline__ void load_tile(bool run, const KvSource& src, std::uint32_t stage_addr,
                                          const std::int32_t* tile_keys, int count, const PlanRow& r,
                                          std::uint64_t* full, int thread) {
  constexpr int kPanels = Cfg::kHeadDim / sm90::kPanelCols, kPanelBytes = Cfg::kBlockN * sm90::kPanelRowBytes;
  if (run) {
    if (thread == 0) {
      sm90::mbar_arrive_expect_tx(full, Cfg::kKvTileBytes);
#pragma unroll
      for (int panel = 0; panel < kPanels; ++panel)
        sm90::tma_load_4d(stage_addr + panel * kPanelBytes, src.tile_map, panel * sm90::kPanelCols, tile_keys[0], r.h,
                          r.b, full);
    } else {
      sm90::mbar_arrive(full);
    }
  } else {
    ThreadKeys<Cfg> keys;
    keys.load(tile_keys, thread);
    gather_rows<Cfg>(stage_addr, src, keys, count, thread);
    sm90::mbar_arrive_on_cp_async(full);
  }
}

// Runs on the 128 producer threads (thread = 0..127) until every plan row of this CTA is gathered.
// The key indices of a tile are loaded one tile ahead (their latency hides under the previous tile's gather), one
// per thread, and pass through shared memory (two buffers, one barrier per tile): each thread copies rows of 8-16
// different slots, so it reads their keys back from there (ThreadKeys, for K and again for V: holding them in
// registers across the V stage's wait measured 2 % slower on dense plans, and within 1-2 % either way on gathered
// ones). K and V stages are freed separately: K as soon as S = Q K^T has read it, V after P V. Issuing K a tile
// ahead of V measured 3-5 % slower (docs/performance.md, step 13): the consumers need V of tile t (P V after the
// softmax) before K of t + 1.
template <typename Cfg, KernelMode Mode = KernelMode::normal>
__device__ void produce_kv(const AttentionParams& p, std::uint32_t k_smem, std::uint32_t v_smem, const StageBarriers& bars,
                           std::int32_t* key_buffer, int thread) {
  constexpr int kN = Cfg::kBlockN;
  auto source = [&](const void* tensor, const std::int64_t (&stride)[3], const CUtensorMap* tile_map, const PlanRow& r) {
    return KvSource{tile_map, static_cast<const char*>(tensor) + (r.b * stride[0] + r.h * stride[2]) * 2,
                    static_cast<std::uint32_t>(stride[1] * 2)};
  };
  TileCursor<Cfg> tile(p);
  std::int32_t next_key = tile.valid() && thread < tile.count() ? tile_key(tile.row, 0, thread) : 0;
  for (int tile_seq = 0; tile.valid(); ++tile_seq) {
    const int stage = tile_seq % Cfg::kStages;
    const std::uint32_t free_parity = ((tile_seq / Cfg::kStages) & 1) ^ 1;
    std::int32_t* tile_keys = key_buffer + (tile_seq % 2) * kN;
    if (thread < kN) tile_keys[thread] = next_key;
    named_sync(NamedBarrier::producer_tile_keys, 128);
    TileCursor<Cfg> after = tile;
    after.advance();  // its look_ahead() waits until this tile's copies are issued
    next_key = after.valid() && thread < after.count() ? tile_key(after.row, after.first, thread) : 0;

    const PlanRow& r = tile.row;
    const int count = tile.count();
    const bool run = p.kv_load == KvLoad::tma_runs && is_tma_run<Cfg>(tile_keys, count, p.seq_kv);
    sm90::mbar_wait(&bars.empty_k[stage], free_parity);
    if constexpr (Mode == KernelMode::no_gather) {
      sm90::mbar_arrive(&bars.full_k[stage]);
    } else {
      load_tile<Cfg>(run, source(p.k, p.k_stride, &p.k_tile_map, r), k_smem + stage * Cfg::kKvTileBytes, tile_keys,
                     count, r, &bars.full_k[stage], thread);
    }
    if constexpr (Mode == KernelMode::scores_only) {  // no V: the consumers never wait for it
      after.look_ahead();
      tile = after;
      continue;
    }
    sm90::mbar_wait(&bars.empty_v[stage], free_parity);
    if constexpr (Mode == KernelMode::no_gather) {
      sm90::mbar_arrive(&bars.full_v[stage]);
    } else {
      load_tile<Cfg>(run, source(p.v, p.v_stride, &p.v_tile_map, r), v_smem + stage * Cfg::kKvTileBytes, tile_keys,
                     count, r, &bars.full_v[stage], thread);
    }
    after.look_ahead();
    tile = after;
  }
  asm volatile("cp.async.wait_all;\n" ::: "memory");  // nothing in flight when the producer exits
}

}  // namespace fgattn::cuda
