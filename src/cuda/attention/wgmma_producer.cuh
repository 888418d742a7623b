#pragma once
// Producer warpgroup of the sm_90a kernel: the asynchronous gather. For each tile of a plan row's sorted key
// list it waits for a free stage, pulls the kept K rows and then the V rows straight into the swizzled panel
// layout wgmma reads, and lets each tile's K and V land on their own mbarrier (no thread waits for the copies).
// How a tile is pulled (params.h, KvLoad): a tile whose keys are one contiguous run by TMA tile loads (tma_runs,
// tma_rows, tma_groups), any other by 16-byte cp.async per thread (cp_async, tma_runs), one TMA load per row
// (tma_rows), or TMA for its aligned 8-slot groups of consecutive keys and cp.async for the rest (tma_groups).
// Slots past the row's key count are zero-filled, so a short last tile multiplies finite zeros (its scores are
// masked to -inf by the softmax).
#include <cstdint>

#include "cuda/attention/params.h"
#include "cuda/attention/tma_maps.h"
#include "cuda/attention/wgmma_config.cuh"
#include "cuda/common/ptx.cuh"
#include "cuda/common/sm90.cuh"

namespace fgattn::cuda {

// The stage ring's mbarriers: full (the producer's copies have landed) and empty (the consumers are done), for
// K and V separately.
struct StageBarriers {
  std::uint64_t *full_k, *full_v, *empty_k, *empty_v;
};

struct PlanRow {  // one work item: a (batch, head, query block) row of the plan
  int b, h, q0, key_count;
  const std::int32_t* keys;
};

template <typename Cfg>
__device__ __forceinline__ PlanRow plan_row(const AttentionParams& p, std::int64_t item) {
  // rows < 2^31 (checked on the host): 32-bit division, not the 64-bit call
  const int row = p.all_keys ? static_cast<int>(item) : p.order[item];
  const int nqb = (p.seq_q + Cfg::kBlockM - 1) / Cfg::kBlockM;
  const int bh = row / nqb, q0 = (row - bh * nqb) * Cfg::kBlockM;
  if (p.all_keys) return PlanRow{bh / p.heads, bh % p.heads, q0, p.seq_kv, nullptr};
  const std::int64_t begin = p.offsets[row];
  return PlanRow{bh / p.heads, bh % p.heads, q0, static_cast<int>(p.offsets[row + 1] - begin), p.indices + begin};
}

// Key of slot `slot` in the tile that starts at the row's `first` key (all_keys rows have no index list).
__device__ __forceinline__ std::int32_t tile_key(const PlanRow& r, int first, int slot) {
  return r.keys != nullptr ? __ldg(r.keys + first + slot) : first + slot;
}

// Where one tile of K (or V) comes from: its tensor maps, its global base and row stride for cp.async.
struct KvSource {
  const CUtensorMap* tile_map;
  const CUtensorMap* row_map;
  const CUtensorMap* group_map;
  const char* base;               // row 0 of this (batch, head)
  std::uint32_t row_stride_bytes;  // < 2^32: check_gpu_operand (cuda/common/checks.cpp) refuses more
};

// Each thread copies one fixed 16-byte chunk of every (128 / chunks)-th row: with 8 or 16 rows per pass the row's
// swizzle phase (row % 8) is the same on every pass, so destinations are one base plus immediate offsets
// (nothing per pass lives in registers under the producer's small budget).
template <typename Cfg>
struct GatherShape {
  static constexpr int kRowsPerPass = 128 / Cfg::kChunks, kPasses = Cfg::kBlockN / kRowsPerPass;
  static_assert(kRowsPerPass % 8 == 0 && 32 % kRowsPerPass == 0, "the swizzle phase must repeat every pass");
};

// What the gather of one tile needs in registers, read from shared memory just before its copies: the keys of this
// thread's slots (slot thread / chunks + pass * rows per pass) and, for tma_groups, the tile's group bits. All keys
// are read before any copy: cp_async_16 is a compiler memory barrier, so a key read between two copies would wait
// for its shared-memory load on every pass (a serial LDS -> LDGSTS chain, step 8).
template <typename Cfg>
struct ThreadKeys {
  std::uint32_t key[GatherShape<Cfg>::kPasses];
  std::uint32_t group_words[Cfg::kBlockN / 32];
  __device__ __forceinline__ void load(const std::int32_t* tile_keys, const std::uint32_t* words, bool groups,
                                       int thread) {
    const int slot0 = thread / Cfg::kChunks;
#pragma unroll
    for (int pass = 0; pass < GatherShape<Cfg>::kPasses; ++pass)
      key[pass] = static_cast<std::uint32_t>(tile_keys[slot0 + pass * GatherShape<Cfg>::kRowsPerPass]);
    if (groups) {
#pragma unroll
      for (int w = 0; w < Cfg::kBlockN / 32; ++w) group_words[w] = words[w];
    }
  }
};

// Groups (KvLoad::tma_groups): an aligned group of 8 slots whose bit is set in `group_words` (group_run_words)
// holds 8 consecutive keys; its first thread loads it by TMA (one box per panel, bytes expected on `full` before
// the thread's own cp.async arrival) and no thread copies it with cp.async.
// A row's address is key x 32-bit stride + 64-bit base (the host checks the stride fits), and a full tile (every
// tile of a row but its last) copies without the per-slot bounds predicate.
template <typename Cfg, bool Groups>
__device__ __forceinline__ void gather_rows(std::uint32_t stage_addr, const KvSource& src, const ThreadKeys<Cfg>& keys,
                                            int count, const PlanRow& r, std::uint64_t* full, int thread) {
  constexpr int kRowsPerPass = GatherShape<Cfg>::kRowsPerPass, kPasses = GatherShape<Cfg>::kPasses;
  const int slot0 = thread / Cfg::kChunks, chunk = thread % Cfg::kChunks;
  const std::uint32_t dst = stage_addr + sm90::panel_offset(slot0, chunk, Cfg::kBlockN);
  // The row base as one opaque 64-bit value, or nvcc re-associates the sum and adds the pointer's parts per copy;
  // then each row's address is one IMAD.WIDE.U32 (key x stride + base) and a VIADD.
  std::uint64_t base = reinterpret_cast<std::uint64_t>(src.base) + chunk * 16;
  asm("" : "+l"(base));
  const std::uint32_t stride = src.row_stride_bytes;
  auto row = [&](int pass) { return reinterpret_cast<const void*>(base + static_cast<std::uint64_t>(keys.key[pass]) * stride); };
  if (!Groups && count == Cfg::kBlockN) {
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass)
      ptx::cp_async_16(dst + pass * kRowsPerPass * sm90::kPanelRowBytes, row(pass));
    return;
  }
#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int slot = slot0 + pass * kRowsPerPass;
    if constexpr (Groups) {
      // The group's bit: word (pass * rows per pass) / 32 is the same for every thread of the pass.
      if ((keys.group_words[pass * kRowsPerPass / 32] >> (slot & 24)) & 1u) {
        if (slot % kTmaGroupRows == 0 && chunk == 0) {
          ::cuda::ptx::mbarrier_expect_tx(::cuda::ptx::sem_relaxed, ::cuda::ptx::scope_cta, ::cuda::ptx::space_shared,
                                          full, kTmaGroupRows * Cfg::kHeadDim * Cfg::kElemBytes);
#pragma unroll
          for (int panel = 0; panel < Cfg::kHeadDim / sm90::kPanelCols; ++panel)
            sm90::tma_load_4d(stage_addr + panel * Cfg::kBlockN * sm90::kPanelRowBytes + slot * sm90::kPanelRowBytes,
                              src.group_map, panel * sm90::kPanelCols, static_cast<int>(keys.key[pass]), r.h, r.b, full);
        }
        continue;
      }
    }
    ptx::cp_async_16(dst + pass * kRowsPerPass * sm90::kPanelRowBytes, row(pass), slot < count);
  }
}

// The tile's groups of 8 slots that hold 8 consecutive keys, as bits (bit s % 32 of word s / 32 for a group's first
// slot s), from each thread's key of the tile (`key`, thread = slot). Every producer thread must call it.
template <typename Cfg>
__device__ __forceinline__ void group_run_words(std::int32_t key, int count, int thread, std::uint32_t* words) {
  const std::int32_t group_last = __shfl_down_sync(0xffffffffu, key, kTmaGroupRows - 1);
  const bool run = thread % kTmaGroupRows == 0 && thread + kTmaGroupRows <= count && group_last - key == kTmaGroupRows - 1;
  const std::uint32_t ballot = __ballot_sync(0xffffffffu, run);
  if (thread % 32 == 0 && thread < Cfg::kBlockN) words[thread / 32] = ballot;
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
__device__ __forceinline__ void load_tile(KvLoad mode, bool run, const KvSource& src, std::uint32_t stage_addr,
                                          const std::int32_t* tile_keys, const std::uint32_t* group_words, int count,
                                          const PlanRow& r, int seq_kv, std::uint64_t* full, int thread) {
  constexpr int kN = Cfg::kBlockN, kPanels = Cfg::kHeadDim / sm90::kPanelCols;
  constexpr int kPanelBytes = kN * sm90::kPanelRowBytes;
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
  } else if (mode == KvLoad::tma_rows) {
    if (thread < kN) {
      const int key = thread < count ? tile_keys[thread] : seq_kv;  // past Skv: TMA fills zeros
      sm90::mbar_arrive_expect_tx(full, Cfg::kHeadDim * Cfg::kElemBytes);
#pragma unroll
      for (int panel = 0; panel < kPanels; ++panel)
        sm90::tma_load_4d(stage_addr + panel * kPanelBytes + thread * sm90::kPanelRowBytes, src.row_map,
                          panel * sm90::kPanelCols, key, r.h, r.b, full);
    } else {
      sm90::mbar_arrive(full);
    }
  } else {
    ThreadKeys<Cfg> keys;
    keys.load(tile_keys, group_words, mode == KvLoad::tma_groups, thread);
    if (mode == KvLoad::tma_groups) gather_rows<Cfg, true>(stage_addr, src, keys, count, r, full, thread);
    else gather_rows<Cfg, false>(stage_addr, src, keys, count, r, full, thread);
    sm90::mbar_arrive_on_cp_async(full);
  }
}

// This CTA's tiles in order: plan rows blockIdx.x, blockIdx.x + grid, ... and kBlockN keys at a time (rows with no
// key have no tile). The next row with a key is found one row ahead (`ahead`), so moving to it costs nothing;
// finding the one after it (dependent loads of order and offsets) can wait until the caller has work in flight:
// advance() then look_ahead(), or next() for both.
template <typename Cfg>
struct TileCursor {
  const AttentionParams* p;
  std::int64_t item, ahead_item;
  int first = 0;
  bool ahead_stale = false;
  PlanRow row{}, ahead{};
  __device__ __forceinline__ TileCursor(const AttentionParams& params) : p(&params), item(blockIdx.x) {
    settle(item, row);
    ahead_item = item + gridDim.x;
    settle(ahead_item, ahead);
  }
  __device__ __forceinline__ bool valid() const { return item < p->rows; }
  __device__ __forceinline__ int count() const { return min(Cfg::kBlockN, row.key_count - first); }
  __device__ __forceinline__ void advance() {
    first += Cfg::kBlockN;
    if (first >= row.key_count) item = ahead_item, row = ahead, first = 0, ahead_stale = true;
  }
  __device__ __forceinline__ void look_ahead() {
    if (!ahead_stale) return;
    ahead_stale = false;
    ahead_item = item + gridDim.x;
    settle(ahead_item, ahead);
  }
  __device__ __forceinline__ void next() { advance(), look_ahead(); }
  // To the first row at or after `at` that has a key (at >= rows: none).
  __device__ __forceinline__ void settle(std::int64_t& at, PlanRow& r) const {
    for (; at < p->rows; at += gridDim.x) {
      r = plan_row<Cfg>(*p, at);
      if (r.key_count > 0) return;
    }
  }
};

// Runs on the 128 producer threads (thread = 0..127) until every plan row of this CTA is gathered.
// The key indices of a tile are loaded one tile ahead (their latency hides under the previous tile's gather), one
// per thread, and pass through shared memory with the tile's group bits (two buffers, one barrier per tile): each
// thread copies rows of 8-16 different slots, so it reads their keys back from there (ThreadKeys, for K and again
// for V: holding them in registers across the V stage's wait measured 2 % slower on dense plans, step13 call T,
// and within 1-2 % either way on gathered ones). K and V stages are freed
// separately: K as soon as S = Q K^T has read it, V after P V. Issuing K a tile ahead of V measured slower
// (bench/results/step13-producer-address): the consumers need V of tile t (P V after the softmax) before K of t + 1.
template <typename Cfg, KernelMode Mode = KernelMode::normal>
__device__ void produce_kv(const AttentionParams& p, std::uint32_t k_smem, std::uint32_t v_smem, const StageBarriers& bars,
                           std::int32_t* key_buffer, int thread) {
  constexpr int kN = Cfg::kBlockN;
  auto source = [&](const void* tensor, const std::int64_t (&stride)[3], const CUtensorMap* tile_map,
                    const CUtensorMap* row_map, const CUtensorMap* group_map, const PlanRow& r) {
    return KvSource{tile_map, row_map, group_map, static_cast<const char*>(tensor) + (r.b * stride[0] + r.h * stride[2]) * 2,
                    static_cast<std::uint32_t>(stride[1] * 2)};
  };
  TileCursor<Cfg> tile(p);
  std::int32_t next_key = tile.valid() && thread < tile.count() ? tile_key(tile.row, 0, thread) : 0;
  for (int tile_seq = 0; tile.valid(); ++tile_seq) {
    const int stage = tile_seq % Cfg::kStages;
    const std::uint32_t free_parity = ((tile_seq / Cfg::kStages) & 1) ^ 1;
    std::int32_t* tile_keys = key_buffer + (tile_seq % 2) * kN;
    auto* group_words = reinterpret_cast<std::uint32_t*>(key_buffer + 2 * kN) + (tile_seq % 2) * (kN / 32);
    if (thread < kN) tile_keys[thread] = next_key;
    if (p.kv_load == KvLoad::tma_groups) group_run_words<Cfg>(next_key, tile.count(), thread, group_words);
    sm90::named_sync(5, 128);
    TileCursor<Cfg> after = tile;
    after.advance();  // its look_ahead() waits until this tile's copies are issued
    next_key = after.valid() && thread < after.count() ? tile_key(after.row, after.first, thread) : 0;

    const PlanRow& r = tile.row;
    const int count = tile.count();
    const bool run = p.kv_load != KvLoad::cp_async && is_tma_run<Cfg>(tile_keys, count, p.seq_kv);
    sm90::mbar_wait(&bars.empty_k[stage], free_parity);
    if constexpr (Mode == KernelMode::no_gather) {
      sm90::mbar_arrive(&bars.full_k[stage]);
    } else {
      load_tile<Cfg>(p.kv_load, run, source(p.k, p.k_stride, &p.k_tile_map, &p.k_row_map, &p.k_group_map, r),
                     k_smem + stage * Cfg::kKvTileBytes, tile_keys, group_words, count, r, p.seq_kv,
                     &bars.full_k[stage], thread);
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
      load_tile<Cfg>(p.kv_load, run, source(p.v, p.v_stride, &p.v_tile_map, &p.v_row_map, &p.v_group_map, r),
                     v_smem + stage * Cfg::kKvTileBytes, tile_keys, group_words, count, r, p.seq_kv,
                     &bars.full_v[stage], thread);
    }
    after.look_ahead();
    tile = after;
  }
  asm volatile("cp.async.wait_all;\n" ::: "memory");  // nothing in flight when the producer exits
}

}  // namespace fgattn::cuda
