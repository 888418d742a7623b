// Pass 2 of the GPU oracle: one bit per (query block, key): max over the block's queries of P[q, key] > tau,
// with P = exp2(scaled logit - row LSE). Only the bitmask reaches global memory.
#include <cmath>

#include "cuda/predict/qk_tile.cuh"

namespace fgattn::cuda {
namespace {

constexpr int kTilesPerCta = 8;  // 512 keys per CTA: the Q fragments are loaded once for all of them

template <typename T, int D, int Warps>
__global__ void __launch_bounds__(Warps * 32) oracle_bits_kernel(OracleBitsParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ktiles = reinterpret_cast<T*>(smem_raw);  // two stages
  __shared__ float column_max[Warps][qk::kTileKeys];
  __shared__ unsigned ballot_words[2];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bh = blockIdx.z, b = bh / p.qk.heads, h = bh % p.qk.heads, qb = blockIdx.y;
  const int row0 = qb * p.block_m + warp * qk::kRowsPerWarp;
  const int words = (p.qk.seq_kv + 63) / 64;
  const std::int64_t plan_row = static_cast<std::int64_t>(bh) * gridDim.y + qb;

  std::uint32_t qf[D / 16][4];
  qk::load_q_fragments<T, D>(p.qk, b, h, row0, qf);
  float lse[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = row0 + lane / 4 + half * 8;
    lse[half] = row < p.qk.seq_q ? p.lse2[static_cast<std::int64_t>(bh) * p.qk.seq_q + row] : INFINITY;  // P = 0
  }

  const int first_tile = blockIdx.x * kTilesPerCta;
  const int tiles = min(kTilesPerCta, words - first_tile);
  qk::for_each_k_tile<T, D>(p.qk, b, h, first_tile, tiles, ktiles, [&](int t, const T* ktile) {
    float acc[8][4];
    qk::qk_tile<T, D>(qf, ktile, acc);
#pragma unroll
    for (int nb = 0; nb < 8; ++nb)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        float pmax = fmaxf(exp2f(acc[nb][c] * p.qk.scale_log2 - lse[0]), exp2f(acc[nb][2 + c] * p.qk.scale_log2 - lse[1]));
        // Max over the 8 row pairs of the warp: lanes that share lane % 4 hold the same keys.
        for (int offset = 4; offset < 32; offset <<= 1) pmax = fmaxf(pmax, __shfl_xor_sync(0xffffffffu, pmax, offset));
        if (lane < 4) column_max[warp][nb * 8 + lane * 2 + c] = pmax;
      }
    __syncthreads();
    if (threadIdx.x < qk::kTileKeys) {
      float m = column_max[0][threadIdx.x];
#pragma unroll
      for (int w = 1; w < Warps; ++w) m = fmaxf(m, column_max[w][threadIdx.x]);
      const int key = (first_tile + t) * qk::kTileKeys + static_cast<int>(threadIdx.x);
      const unsigned ballot = __ballot_sync(0xffffffffu, key < p.qk.seq_kv && m > p.tau);
      if (lane == 0) ballot_words[warp] = ballot;
    }
    __syncthreads();
    if (threadIdx.x == 0)
      p.bits[plan_row * words + first_tile + t] = static_cast<std::uint64_t>(ballot_words[0]) |
                                                  (static_cast<std::uint64_t>(ballot_words[1]) << 32);
  });
}

template <typename T, int D, int Warps>
cudaError_t launch(const OracleBitsParams& p, cudaStream_t stream) {
  const int smem = 2 * qk::Layout<D>::kTileElems * static_cast<int>(sizeof(T));
  auto kernel = oracle_bits_kernel<T, D, Warps>;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem); e != cudaSuccess) return e;
  const int words = (p.qk.seq_kv + 63) / 64;
  const dim3 grid((words + kTilesPerCta - 1) / kTilesPerCta, (p.qk.seq_q + p.block_m - 1) / p.block_m,
                  p.qk.batch * p.qk.heads);
  kernel<<<grid, Warps * 32, smem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_for_type(const OracleBitsParams& p, cudaStream_t stream) {
  if (p.qk.head_dim == 64) return p.block_m == 64 ? launch<T, 64, 4>(p, stream) : launch<T, 64, 8>(p, stream);
  return p.block_m == 64 ? launch<T, 128, 4>(p, stream) : launch<T, 128, 8>(p, stream);
}

}  // namespace

cudaError_t launch_oracle_bits(const OracleBitsParams& p, cudaStream_t stream) {
  if ((p.qk.head_dim != 64 && p.qk.head_dim != 128) || (p.block_m != 64 && p.block_m != 128)) return cudaErrorInvalidValue;
  return p.qk.element == ElementType::bf16 ? launch_for_type<__nv_bfloat16>(p, stream) : launch_for_type<__half>(p, stream);
}

}  // namespace fgattn::cuda
