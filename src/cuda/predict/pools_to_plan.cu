// Pass 4 of the GPU Top-CDF: kept key pools -> the CSR plan on the device. After CUB scans the row counts into
// offsets (scan_offsets, bits_to_plan.cu), one warp per row lists its kept pools in shared memory, then writes
// the row's keys coalesced (lane i: key i); the row schedule (schedule_rows_cuda) then orders the rows.
// Cost at Wan 480p: 4 B per kept key written (density 0.5 -> ~200 MB, ~45 us); the scan and the sort of
// 3,072 rows are single-pass CUB kernels of a few us each.
#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarps = 4;

__global__ void __launch_bounds__(kWarps * 32) pools_to_plan_kernel(PoolsToPlanParams p) {
  __shared__ std::uint16_t kept[kWarps][kMaxKeyPools];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarps + warp;
  if (row >= p.rows) return;
  const std::uint32_t* words = p.pool_bits + row * p.pool_words;
  // The row's kept pools in ascending order: 32 words at a time, a lane per word, placed by a warp scan.
  int listed = 0;
  for (int w0 = 0; w0 < p.pool_words; w0 += 32) {
    const int w = w0 + lane;
    std::uint32_t word = w < p.pool_words ? words[w] : 0u;
    const int n = __popc(word);
    int at = n;
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const int up = __shfl_up_sync(0xffffffffu, at, offset);
      if (lane >= offset) at += up;
    }
    const int total = __shfl_sync(0xffffffffu, at, 31);
    at += listed - n;
    for (; word != 0u; word &= word - 1u) kept[warp][at++] = static_cast<std::uint16_t>(w * 32 + __ffs(word) - 1);
    listed += total;
  }
  __syncwarp();
  // Pools are whole except the last key pool, which (when kept) is also the row's last: key i of the row is
  // kept[i / pool] * pool + i % pool. pool is a power of two (it divides block_m).
  const int shift = __ffs(p.pool) - 1;
  const std::int64_t begin = p.offsets[row], count = p.offsets[row + 1] - begin;
  std::int32_t* out = p.indices + begin;
  for (std::int64_t i = lane; i < count; i += 32)
    out[i] = (static_cast<std::int32_t>(kept[warp][i >> shift]) << shift) + static_cast<std::int32_t>(i & (p.pool - 1));
}

}  // namespace

cudaError_t launch_pools_to_plan(const PoolsToPlanParams& p, cudaStream_t stream) {
  if (p.pool < 1 || (p.pool & (p.pool - 1)) != 0 || p.k_pools > kMaxKeyPools || p.rows < 1) return cudaErrorInvalidValue;
  const auto blocks = static_cast<unsigned>((p.rows + kWarps - 1) / kWarps);
  pools_to_plan_kernel<<<blocks, kWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
