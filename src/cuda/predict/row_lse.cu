// Pass 1 of the GPU oracle: base-2 LSE of every query row over all keys (QK^T only, online max/sum).
#include <cmath>

#include "cuda/predict/qk_tile.cuh"

namespace fgattn::cuda {
namespace {

constexpr int kWarps = 4;  // 64 query rows per CTA

// exp2(x - m) that treats a row with no valid key yet (m = -inf) as contributing nothing, instead of NaN.
__device__ inline float exp2_shifted(float x, float m) { return m == -INFINITY ? 0.f : exp2f(x - m); }

template <typename T, int D>
__global__ void __launch_bounds__(kWarps * 32) row_lse_kernel(RowLseParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ktiles = reinterpret_cast<T*>(smem_raw);  // two stages
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bh = blockIdx.y, b = bh / p.qk.heads, h = bh % p.qk.heads;
  const int row0 = blockIdx.x * kWarps * qk::kRowsPerWarp + warp * qk::kRowsPerWarp;

  std::uint32_t qf[D / 16][4];
  qk::load_q_fragments<T, D>(p.qk, b, h, row0, qf);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  const int tiles = (p.qk.seq_kv + qk::kTileKeys - 1) / qk::kTileKeys;
  qk::for_each_k_tile<T, D>(p.qk, b, h, 0, tiles, ktiles, [&](int t, const T* ktile) {
    float acc[8][4];
    qk::qk_tile<T, D>(qf, ktile, acc);
    const int key_base = t * qk::kTileKeys + (lane % 4) * 2;
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // half 0: row lane/4, half 1: row lane/4 + 8
      float tile_max = -INFINITY;
#pragma unroll
      for (int nb = 0; nb < 8; ++nb)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const bool valid = key_base + nb * 8 + c < p.qk.seq_kv;
          acc[nb][half * 2 + c] = valid ? acc[nb][half * 2 + c] * p.qk.scale_log2 : -INFINITY;
          tile_max = fmaxf(tile_max, acc[nb][half * 2 + c]);
        }
      const float new_m = fmaxf(m[half], tile_max);
      float sum = 0.f;
#pragma unroll
      for (int nb = 0; nb < 8; ++nb)
#pragma unroll
        for (int c = 0; c < 2; ++c) sum += exp2_shifted(acc[nb][half * 2 + c], new_m);
      l[half] = l[half] * exp2_shifted(m[half], new_m) + sum;
      m[half] = new_m;
    }
  });
  // Combine the four lanes of a quad (they hold different keys of the same rows).
#pragma unroll
  for (int half = 0; half < 2; ++half) {
#pragma unroll
    for (int offset = 1; offset < 4; offset <<= 1) {
      const float other_m = __shfl_xor_sync(0xffffffffu, m[half], offset);
      const float other_l = __shfl_xor_sync(0xffffffffu, l[half], offset);
      const float new_m = fmaxf(m[half], other_m);
      l[half] = l[half] * exp2_shifted(m[half], new_m) + other_l * exp2_shifted(other_m, new_m);
      m[half] = new_m;
    }
    const int row = row0 + lane / 4 + half * 8;
    if (lane % 4 == 0 && row < p.qk.seq_q) p.lse2[(static_cast<std::int64_t>(bh)) * p.qk.seq_q + row] = m[half] + log2f(l[half]);
  }
}

template <typename T, int D>
cudaError_t launch(const RowLseParams& p, cudaStream_t stream) {
  const int smem = 2 * qk::Layout<D>::kTileElems * static_cast<int>(sizeof(T));
  auto kernel = row_lse_kernel<T, D>;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem); e != cudaSuccess) return e;
  const dim3 grid((p.qk.seq_q + kWarps * 16 - 1) / (kWarps * 16), p.qk.batch * p.qk.heads);
  kernel<<<grid, kWarps * 32, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_row_lse(const RowLseParams& p, cudaStream_t stream) {
  const bool bf16 = p.qk.element == ElementType::bf16;
  switch (p.qk.head_dim) {
    case 64: return bf16 ? launch<__nv_bfloat16, 64>(p, stream) : launch<__half, 64>(p, stream);
    case 128: return bf16 ? launch<__nv_bfloat16, 128>(p, stream) : launch<__half, 128>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace fgattn::cuda
