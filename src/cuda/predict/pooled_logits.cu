// Pass 2 of the GPU Top-CDF: pooled logits L = scale * log2(e) * Qp Kp^T per (b, h) on the tensor cores.
// A CTA (8 warps) owns 128 query pools x 512 key pools: each warp keeps its 16 query pools' hi/lo A fragments in
// registers for the whole CTA and streams 64-key-pool tiles of K (hi and lo, cp.async into XOR-swizzled shared
// memory, double-buffered, conflict-free ldmatrix). Three mma per fragment pair: hi*hi + hi*lo + lo*hi.
// Cost at Wan 480p (12 x 2048 x 2048 pools, D = 128): 3 x 12.9 = 38.7 GFLOP of bf16 mma.sync (~65 us at the
// ~600 TFLOP/s mma.sync reaches on H100/H200, ~100 us at 60 %); 192 MB of fp32 logits written; K read from L2
// once per 128 query pools (192 MB of L2 reads; the 25 MB of means stay in the 50 MB L2).
#include <cuda_bf16.h>

#include "cuda/common/ptx.cuh"
#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerCta = 16 * kWarps;  // query pools
constexpr int kTileKeys = kLogitColumnAlign;  // key pools per smem tile
constexpr int kTilesPerCta = 8;               // 512 key pools per CTA

template <int D>
constexpr int tile_bytes() { return kTileKeys * D * 2; }  // one of hi / lo

template <int D>
constexpr int smem_bytes() { return 2 /*stages*/ * 2 /*hi, lo*/ * tile_bytes<D>(); }

// Byte offset of 16-byte chunk `c` of row `r` in a tile of D bf16 per row: chunk index XOR (row mod 8), so the 8
// rows an ldmatrix reads land in 8 different bank groups.
template <int D>
__device__ inline std::uint32_t swizzle(int r, int c) {
  return static_cast<std::uint32_t>(r * D * 2 + ((c ^ (r & 7)) * 16));
}

template <int D>
__device__ inline void load_tile(std::uint8_t* smem, const std::uint16_t* hi, const std::uint16_t* lo, int first,
                                 int k_pools) {
  constexpr int kChunksPerRow = D / 8;
  constexpr int kChunks = kTileKeys * kChunksPerRow;
#pragma unroll
  for (int i = threadIdx.x; i < 2 * kChunks; i += kWarps * 32) {
    const int which = i / kChunks, r = (i % kChunks) / kChunksPerRow, c = i % kChunksPerRow;
    const bool valid = first + r < k_pools;
    const std::uint16_t* src = (which == 0 ? hi : lo) + static_cast<std::int64_t>(valid ? first + r : 0) * D + c * 8;
    ptx::cp_async_16(ptx::smem_addr(smem + which * tile_bytes<D>() + swizzle<D>(r, c)), src, valid);
  }
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32, 2) pooled_logits_kernel(PooledLogitsParams p) {
  constexpr int kSteps = D / 16;
  extern __shared__ __align__(128) std::uint8_t smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int bh = p.bh_begin + static_cast<int>(blockIdx.z);
  const std::uint16_t* k_hi = p.k_hi + static_cast<std::int64_t>(bh) * p.k_pools * D;
  const std::uint16_t* k_lo = p.k_lo + static_cast<std::int64_t>(bh) * p.k_pools * D;
  const int key_begin = blockIdx.x * kTilesPerCta * kTileKeys;
  const int tiles = min(kTilesPerCta, (p.k_pools - key_begin + kTileKeys - 1) / kTileKeys);

  load_tile<D>(smem, k_hi, k_lo, key_begin, p.k_pools);
  ptx::cp_async_commit();

  // A fragments (m16n8k16, row-major): a0 (g, 2c), a1 (g + 8, 2c), a2 (g, 2c + 8), a3 (g + 8, 2c + 8) of each k-step.
  const int row0 = blockIdx.y * kRowsPerCta + warp * 16;
  std::uint32_t a_hi[kSteps][4], a_lo[kSteps][4];
  {
    const std::int64_t base = static_cast<std::int64_t>(bh) * p.q_pools;
    const bool valid0 = row0 + g < p.q_pools, valid8 = row0 + g + 8 < p.q_pools;
    const auto* q_hi0 = reinterpret_cast<const std::uint32_t*>(p.q_hi + (base + (valid0 ? row0 + g : 0)) * D);
    const auto* q_lo0 = reinterpret_cast<const std::uint32_t*>(p.q_lo + (base + (valid0 ? row0 + g : 0)) * D);
    const auto* q_hi8 = reinterpret_cast<const std::uint32_t*>(p.q_hi + (base + (valid8 ? row0 + g + 8 : 0)) * D);
    const auto* q_lo8 = reinterpret_cast<const std::uint32_t*>(p.q_lo + (base + (valid8 ? row0 + g + 8 : 0)) * D);
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const int w0 = s * 8 + c, w1 = s * 8 + c + 4;  // 32-bit words: dims 16s + 2c and 16s + 2c + 8
      a_hi[s][0] = valid0 ? q_hi0[w0] : 0u, a_hi[s][1] = valid8 ? q_hi8[w0] : 0u;
      a_hi[s][2] = valid0 ? q_hi0[w1] : 0u, a_hi[s][3] = valid8 ? q_hi8[w1] : 0u;
      a_lo[s][0] = valid0 ? q_lo0[w0] : 0u, a_lo[s][1] = valid8 ? q_lo8[w0] : 0u;
      a_lo[s][2] = valid0 ? q_lo0[w1] : 0u, a_lo[s][3] = valid8 ? q_lo8[w1] : 0u;
    }
  }

  // ldmatrix.x4 of 16 key pools x 16 dims: lanes 0-7 keys 0-7 dims 0-7, 8-15 keys 0-7 dims 8-15, 16-23 keys 8-15
  // dims 0-7, 24-31 keys 8-15 dims 8-15 -> {b0, b1} of the pair's first n-tile, then of its second.
  const int ld_row = (lane / 16) * 8 + lane % 8, ld_chunk = (lane / 8) % 2;
  for (int t = 0; t < tiles; ++t) {
    std::uint8_t* stage = smem + (t % 2) * 2 * tile_bytes<D>();
    if (t + 1 < tiles) {
      load_tile<D>(smem + ((t + 1) % 2) * 2 * tile_bytes<D>(), k_hi, k_lo, key_begin + (t + 1) * kTileKeys, p.k_pools);
      ptx::cp_async_commit();
      ptx::cp_async_wait<1>();
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();

    float acc[kTileKeys / 8][4] = {};
    const std::uint32_t hi_base = ptx::smem_addr(stage), lo_base = hi_base + tile_bytes<D>();
#pragma unroll
    for (int s = 0; s < kSteps; ++s)
#pragma unroll
      for (int pair = 0; pair < kTileKeys / 16; ++pair) {
        const std::uint32_t offset = swizzle<D>(pair * 16 + ld_row, s * 2 + ld_chunk);
        std::uint32_t bh4[4], bl4[4];
        ptx::ldmatrix_x4(bh4, hi_base + offset);
        ptx::ldmatrix_x4(bl4, lo_base + offset);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float(&d)[4] = acc[pair * 2 + half];
          ptx::mma_16816<__nv_bfloat16>(d, a_hi[s], bh4[2 * half], bh4[2 * half + 1]);
          ptx::mma_16816<__nv_bfloat16>(d, a_hi[s], bl4[2 * half], bl4[2 * half + 1]);
          ptx::mma_16816<__nv_bfloat16>(d, a_lo[s], bh4[2 * half], bh4[2 * half + 1]);
        }
      }
    __syncthreads();  // the stage is refilled by the next iteration's prefetch

    // Accumulators: c0, c1 at (g, 2c..2c+1), c2, c3 at (g + 8, ...). Whole tiles are stored (the stride is padded).
    float* out = p.logits + (static_cast<std::int64_t>(blockIdx.z) * p.q_pools + row0) * p.logit_stride + key_begin +
                 t * kTileKeys + 2 * c;
#pragma unroll
    for (int n = 0; n < kTileKeys / 8; ++n) {
      if (row0 + g < p.q_pools)
        *reinterpret_cast<float2*>(out + g * p.logit_stride + n * 8) =
            make_float2(acc[n][0] * p.scale_log2, acc[n][1] * p.scale_log2);
      if (row0 + g + 8 < p.q_pools)
        *reinterpret_cast<float2*>(out + (g + 8) * p.logit_stride + n * 8) =
            make_float2(acc[n][2] * p.scale_log2, acc[n][3] * p.scale_log2);
    }
  }
}

template <int D>
cudaError_t launch_d(const PooledLogitsParams& p, cudaStream_t stream) {
  constexpr int bytes = smem_bytes<D>();
  if (cudaError_t e = cudaFuncSetAttribute(pooled_logits_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
      e != cudaSuccess)
    return e;
  const dim3 grid((p.k_pools + kTilesPerCta * kTileKeys - 1) / (kTilesPerCta * kTileKeys),
                  (p.q_pools + kRowsPerCta - 1) / kRowsPerCta, p.bh_count);
  pooled_logits_kernel<D><<<grid, kWarps * 32, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_pooled_logits(const PooledLogitsParams& p, cudaStream_t stream) {
  if (p.logit_stride % kLogitColumnAlign != 0 || p.logit_stride < p.k_pools || p.bh_count < 1 ||
      p.bh_count > 65535 || p.q_pools < 1 || p.k_pools < 1)
    return cudaErrorInvalidValue;
  if (p.head_dim == 128) return launch_d<128>(p, stream);
  if (p.head_dim == 64) return launch_d<64>(p, stream);
  return cudaErrorInvalidValue;
}

}  // namespace fgattn::cuda
