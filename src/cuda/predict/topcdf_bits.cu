// Pass 2 of the GPU Top-CDF: one CTA per (b, h, query pool). Softmax of the pooled logits, then the smallest
// set of key pools whose mass reaches tau (found by bisection on the probability's bits instead of a sort:
// pool j is kept iff the mass of the pools more probable than j is below tau * sum), OR-ed into the query
// block's per-key bits. Key pools that are not self-similar are always kept; a query pool that is not keeps all.
#include <cub/block/block_reduce.cuh>
#include <cuda/functional>

#include <cmath>

#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kThreads = 256;
using BlockReduce = cub::BlockReduce<float, kThreads>;

// Sets the bits of keys [begin, end) of one plan row.
__device__ inline void keep_keys(std::uint64_t* row_bits, int begin, int end) {
  while (begin < end) {
    const int word = begin / 64, first = begin % 64, last = min(64, first + (end - begin));
    const std::uint64_t mask = (last - first == 64 ? ~0ull : ((1ull << (last - first)) - 1)) << first;
    atomicOr(reinterpret_cast<unsigned long long*>(row_bits + word), static_cast<unsigned long long>(mask));
    begin += last - first;
  }
}

__global__ void __launch_bounds__(kThreads) topcdf_bits_kernel(TopCdfBitsParams p) {
  extern __shared__ float prob[];  // [key pools]
  __shared__ float q_mean[128];
  __shared__ typename BlockReduce::TempStorage reduce_storage;
  __shared__ float broadcast;
  const int q_pools = (p.seq_q + p.pool - 1) / p.pool, k_pools = (p.seq_kv + p.pool - 1) / p.pool;
  const int bh = blockIdx.x / q_pools, qp = blockIdx.x % q_pools;
  const int words = (p.seq_kv + 63) / 64, query_blocks = (p.seq_q + p.block_m - 1) / p.block_m;
  std::uint64_t* row_bits = p.bits + (static_cast<std::int64_t>(bh) * query_blocks + qp * p.pool / p.block_m) * words;
  const std::int64_t k_base = static_cast<std::int64_t>(bh) * k_pools;

  if (p.tau >= 1.f || !p.q_similar[static_cast<std::int64_t>(bh) * q_pools + qp]) {
    for (int w = threadIdx.x; w < words; w += kThreads) keep_keys(row_bits, w * 64, min(p.seq_kv, (w + 1) * 64));
    return;
  }
  for (int d = threadIdx.x; d < p.head_dim; d += kThreads)
    q_mean[d] = p.q_means[(static_cast<std::int64_t>(bh) * q_pools + qp) * p.head_dim + d];
  __syncthreads();

  float local_max = -INFINITY;
  for (int j = threadIdx.x; j < k_pools; j += kThreads) {
    const float* k_mean = p.k_means + (k_base + j) * p.head_dim;
    float dot = 0.f;
    for (int d = 0; d < p.head_dim; ++d) dot += q_mean[d] * k_mean[d];
    prob[j] = dot * p.scale;
    local_max = fmaxf(local_max, prob[j]);
  }
  const float block_max = BlockReduce(reduce_storage).Reduce(local_max, ::cuda::maximum<>{});
  if (threadIdx.x == 0) broadcast = block_max;
  __syncthreads();
  const float max_logit = broadcast;
  float local_sum = 0.f;
  for (int j = threadIdx.x; j < k_pools; j += kThreads) {
    prob[j] = expf(prob[j] - max_logit);
    local_sum += prob[j];
  }
  __syncthreads();  // reduce_storage is reused
  const float block_sum = BlockReduce(reduce_storage).Sum(local_sum);
  if (threadIdx.x == 0) broadcast = block_sum;
  __syncthreads();
  const float target = p.tau * broadcast;

  // Smallest x (as float bits; probabilities are >= 0 so their bits order like their values) with
  // mass(p > x) < target; then pool j is kept iff p_j >= x.
  unsigned lo = 0, hi = __float_as_uint(1.0f) + 1;  // the largest probability is exactly 1
  while (lo < hi) {
    const unsigned mid = lo + (hi - lo) / 2;
    float local = 0.f;
    for (int j = threadIdx.x; j < k_pools; j += kThreads)
      if (__float_as_uint(prob[j]) > mid) local += prob[j];
    __syncthreads();
    const float mass = BlockReduce(reduce_storage).Sum(local);
    if (threadIdx.x == 0) broadcast = mass;
    __syncthreads();
    if (broadcast < target) hi = mid; else lo = mid + 1;
  }
  for (int j = threadIdx.x; j < k_pools; j += kThreads)
    if (__float_as_uint(prob[j]) >= lo || !p.k_similar[k_base + j]) keep_keys(row_bits, j * p.pool, min(p.seq_kv, (j + 1) * p.pool));
}

}  // namespace

cudaError_t launch_topcdf_bits(const TopCdfBitsParams& p, cudaStream_t stream) {
  if (p.head_dim > 128 || p.pool < 1 || p.block_m % p.pool != 0) return cudaErrorInvalidValue;
  const int q_pools = (p.seq_q + p.pool - 1) / p.pool, k_pools = (p.seq_kv + p.pool - 1) / p.pool;
  const int smem = k_pools * static_cast<int>(sizeof(float));
  if (cudaError_t e = cudaFuncSetAttribute(topcdf_bits_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      e != cudaSuccess)
    return e;
  topcdf_bits_kernel<<<static_cast<unsigned>(p.batch_heads) * static_cast<unsigned>(q_pools), kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
