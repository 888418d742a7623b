#pragma once
// TMA descriptors of K and V for the sm_90a producer (KvLoad::tma_runs): each of K and V viewed as a (D, Skv, H, B)
// tensor through its strides, with the 128-byte swizzle of sm90.cuh's panel layout and boxes of 64 columns by
// block_n rows (a run of consecutive keys). Rows at or past Skv read as zeros (TMA's out-of-bounds fill), which the
// producer uses for a short last tile.
#include "cuda/attention/params.h"

namespace fgattn::cuda {

// Fills p's tile maps for tiles of `block_n` keys. Returns false, leaving them unspecified, when TMA cannot
// describe the operands (a stride that is not a multiple of 16 bytes, an unaligned base) or the driver lacks
// cuTensorMapEncodeTiled: the caller then gathers with cp.async.
bool encode_kv_maps(AttentionParams& p, int block_n);

}  // namespace fgattn::cuda
