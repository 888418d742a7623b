// Pass 2 of the GPU Top-CDF: one CTA per plan row (b, h, query block). The block's query pools share each key
// pool's mean as it is read (coalesced float4 rows); each warp then takes one query pool: softmax over the
// key pools and the smallest set whose mass reaches tau — found by bisection on the probability's bits, not a
// sort: pool j is kept iff the mass of the pools more probable than j is below tau * sum. The union over the
// block's query pools becomes the row's per-key bits. Key pools that are not self-similar are always kept; a
// query pool that is not makes the row keep every key.
#include <cmath>

#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kMaxPoolsPerBlock = 16;  // block_m / pool
constexpr int kMaxDim = 128;

__device__ inline float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}
__device__ inline float warp_max(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}

__global__ void __launch_bounds__(kWarps * 32) topcdf_bits_kernel(TopCdfBitsParams p) {
  extern __shared__ float prob[];  // [pools in this block][key pools], then keep flags [key pools]
  __shared__ float q_mean[kMaxPoolsPerBlock][kMaxDim];
  __shared__ int keep_all;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q_pools = (p.seq_q + p.pool - 1) / p.pool, k_pools = (p.seq_kv + p.pool - 1) / p.pool;
  const int query_blocks = (p.seq_q + p.block_m - 1) / p.block_m;
  const int bh = blockIdx.x / query_blocks, qb = blockIdx.x % query_blocks;
  const int first_pool = qb * (p.block_m / p.pool), pools = min(p.block_m / p.pool, q_pools - first_pool);
  const int words = (p.seq_kv + 63) / 64;
  std::uint64_t* row_bits = p.bits + static_cast<std::int64_t>(blockIdx.x) * words;
  unsigned char* keep = reinterpret_cast<unsigned char*>(prob + pools * k_pools);
  const std::int64_t k_base = static_cast<std::int64_t>(bh) * k_pools, q_base = static_cast<std::int64_t>(bh) * q_pools + first_pool;

  if (threadIdx.x == 0) {
    keep_all = p.tau >= 1.f;
    for (int i = 0; i < pools; ++i) keep_all |= !p.q_similar[q_base + i];
  }
  for (int i = threadIdx.x; i < pools * p.head_dim; i += blockDim.x)
    q_mean[i / p.head_dim][i % p.head_dim] = p.q_means[(q_base + i / p.head_dim) * p.head_dim + i % p.head_dim];
  for (int j = threadIdx.x; j < k_pools; j += blockDim.x) keep[j] = !p.k_similar[k_base + j];
  __syncthreads();
  if (keep_all) {
    for (int w = threadIdx.x; w < words; w += blockDim.x) {
      const int valid = min(64, p.seq_kv - w * 64);
      row_bits[w] = valid == 64 ? ~0ull : (1ull << valid) - 1;
    }
    return;
  }

  // Pooled logits: each warp reads whole key-pool means (lane: dims lane*dpl .. +dpl, coalesced) and dots them
  // with every query pool of the block, whose means each lane keeps in registers.
  const int dims_per_lane = p.head_dim / 32;  // 2 or 4
  float q_reg[kMaxPoolsPerBlock][4];
#pragma unroll
  for (int i = 0; i < kMaxPoolsPerBlock; ++i)
#pragma unroll
    for (int d = 0; d < 4; ++d) q_reg[i][d] = i < pools && d < dims_per_lane ? q_mean[i][lane * dims_per_lane + d] : 0.f;
  for (int j = warp; j < k_pools; j += kWarps) {
    float k_part[4];
    const float* k_mean = p.k_means + (k_base + j) * p.head_dim + lane * dims_per_lane;
#pragma unroll
    for (int d = 0; d < 4; ++d) k_part[d] = d < dims_per_lane ? k_mean[d] : 0.f;
#pragma unroll
    for (int i = 0; i < kMaxPoolsPerBlock; ++i) {
      if (i >= pools) break;
      float dot = 0.f;
#pragma unroll
      for (int d = 0; d < 4; ++d) dot += k_part[d] * q_reg[i][d];
      dot = warp_sum(dot);
      if (lane == 0) prob[i * k_pools + j] = dot * p.scale;
    }
  }
  __syncthreads();

  for (int i = warp; i < pools; i += kWarps) {
    float* row = prob + i * k_pools;
    float m = -INFINITY;
    for (int j = lane; j < k_pools; j += 32) m = fmaxf(m, row[j]);
    m = warp_max(m);
    float sum = 0.f;
    for (int j = lane; j < k_pools; j += 32) {
      row[j] = expf(row[j] - m);
      sum += row[j];
    }
    const float target = p.tau * warp_sum(sum);
    // Smallest x (as float bits: probabilities are >= 0, so their bits order like their values) with
    // mass(p > x) < target; pool j is kept iff p_j >= x. The largest probability is exactly 1.
    unsigned lo = 0, hi = __float_as_uint(1.0f) + 1;
    while (lo < hi) {
      const unsigned mid = lo + (hi - lo) / 2;
      float mass = 0.f;
      for (int j = lane; j < k_pools; j += 32)
        if (__float_as_uint(row[j]) > mid) mass += row[j];
      if (warp_sum(mass) < target) hi = mid; else lo = mid + 1;
    }
    for (int j = lane; j < k_pools; j += 32)
      if (__float_as_uint(row[j]) >= lo) keep[j] = 1;  // benign race: every writer stores 1
  }
  __syncthreads();

  for (int w = threadIdx.x; w < words; w += blockDim.x) {
    std::uint64_t word = 0;
    for (int bit = 0; bit < 64 && w * 64 + bit < p.seq_kv; ++bit)
      if (keep[(w * 64 + bit) / p.pool]) word |= 1ull << bit;
    row_bits[w] = word;
  }
}

}  // namespace

std::size_t topcdf_smem_bytes(int block_m, int pool, int seq_kv) {
  const std::size_t k_pools = static_cast<std::size_t>((seq_kv + pool - 1) / pool);
  return static_cast<std::size_t>(block_m / pool) * k_pools * sizeof(float) + k_pools;
}

cudaError_t launch_topcdf_bits(const TopCdfBitsParams& p, cudaStream_t stream) {
  if (p.head_dim > kMaxDim || p.head_dim % 32 != 0 || p.pool < 1 || p.block_m % p.pool != 0 ||
      p.block_m / p.pool > kMaxPoolsPerBlock)
    return cudaErrorInvalidValue;
  const auto smem = static_cast<int>(topcdf_smem_bytes(p.block_m, p.pool, p.seq_kv));
  if (cudaError_t e = cudaFuncSetAttribute(topcdf_bits_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      e != cudaSuccess)
    return e;
  const int query_blocks = (p.seq_q + p.block_m - 1) / p.block_m;
  topcdf_bits_kernel<<<static_cast<unsigned>(p.batch_heads) * static_cast<unsigned>(query_blocks), kWarps * 32, smem,
                       stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
