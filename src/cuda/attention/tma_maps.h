#pragma once
// TMA descriptors of K and V for the sm_90a producer (params.h, KvLoad): each of K and V viewed as a
// (D, Skv, H, B) tensor through its strides, with the 128-byte swizzle of sm90.cuh's panel layout and boxes of
// 64 columns by block_n rows (contiguous key runs), 1 row (tma_rows) or kTmaGroupRows rows (tma_groups). Rows at
// or past Skv read as zeros (TMA's out-of-bounds fill), which the producer uses for a short last tile.
#include "cuda/attention/params.h"

namespace fgattn::cuda {

inline constexpr int kTmaGroupRows = 8;  // KvLoad::tma_groups: aligned groups of 8 tile slots

// Fills the maps p.kv_load reads (tile maps always; row or group maps in their modes) for tiles of `block_n` keys.
// Returns false, leaving p's maps unspecified, when TMA cannot
// describe the operands (a stride that is not a multiple of 16 bytes, an unaligned base) or the driver lacks
// cuTensorMapEncodeTiled: the caller then gathers with cp.async.
bool encode_kv_maps(AttentionParams& p, int block_n);

}  // namespace fgattn::cuda
