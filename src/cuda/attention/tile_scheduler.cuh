#pragma once
// Persistent tile schedule of the sm_90a kernel, shared by the producer and the consumers: the grid is as many CTAs
// as fit the GPU at once, and CTA c takes plan rows order[c], order[c + grid], ... (the row order of
// fgattn/row_order.h, chosen on the host: head by head, longest first; a static LPT-like balance, no atomics).
// Both roles walk the same rows in the same order, so a tile's sequence number names its pipeline stage.
#include <cstdint>

#include "cuda/attention/params.h"

namespace fgattn::cuda {

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

}  // namespace fgattn::cuda
