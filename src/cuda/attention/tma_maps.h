#pragma once
// TMA descriptors of K and V for the sm_90a producer (params.h, KvLoad): each of K and V viewed as a
// (D, Skv, H, B) tensor through its strides, with boxes of (64 columns, block_n rows) for contiguous key runs and
// (64 columns, 1 row) for the per-row gather and (64 columns, kTmaGroupRows rows) for runs inside gathered tiles, all with the 128-byte swizzle of sm90.cuh's panel layout. Rows at
// or past Skv read as zeros (TMA's out-of-bounds fill), which the producer uses for a short last tile.
#include "cuda/attention/params.h"

namespace fgattn::cuda {

inline constexpr int kTmaGroupRows = 8;  // KvLoad::tma_groups: aligned groups of 8 tile slots

// Fills p's four maps for tiles of `block_n` keys. Returns false, leaving p's maps unspecified, when TMA cannot
// describe the operands (a stride that is not a multiple of 16 bytes, an unaligned base) or the driver lacks
// cuTensorMapEncodeTiled: the caller then gathers with cp.async.
bool encode_kv_maps(AttentionParams& p, int block_n);

}  // namespace fgattn::cuda
