// Pass 1 of the GPU Top-CDF: one warp per pool of `pool` consecutive tokens of one (b, h): the pool's mean and
// whether the mean cosine of its tokens to that mean reaches sim_threshold.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarpsPerCta = 4;
constexpr int kMaxDimPerLane = 4;  // D <= 128

__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline float to_float(__half x) { return __half2float(x); }

__device__ inline float warp_sum(float x) {
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

template <typename T>
__global__ void pool_tokens_kernel(PoolParams p) {
  const int pools = (p.seq + p.pool - 1) / p.pool;
  const std::int64_t item = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  if (item >= static_cast<std::int64_t>(p.batch) * p.heads * pools) return;
  const int lane = threadIdx.x % 32, pool_index = static_cast<int>(item % pools);
  const int bh = static_cast<int>(item / pools), b = bh / p.heads, h = bh % p.heads;
  const T* x = static_cast<const T*>(p.x) + b * p.stride[0] + h * p.stride[2];
  const int begin = pool_index * p.pool, end = min(p.seq, begin + p.pool);
  float mean[kMaxDimPerLane] = {};
  for (int s = begin; s < end; ++s)
#pragma unroll
    for (int i = 0; i < kMaxDimPerLane; ++i)
      if (lane + 32 * i < p.head_dim) mean[i] += to_float(x[s * p.stride[1] + lane + 32 * i]);
  float mean_norm2 = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxDimPerLane; ++i) {
    mean[i] /= static_cast<float>(end - begin);
    mean_norm2 += mean[i] * mean[i];
  }
  const float mean_norm = sqrtf(warp_sum(mean_norm2));
  float cos_sum = 0.f;
  for (int s = begin; s < end; ++s) {
    float dot = 0.f, norm2 = 0.f;
#pragma unroll
    for (int i = 0; i < kMaxDimPerLane; ++i)
      if (lane + 32 * i < p.head_dim) {
        const float v = to_float(x[s * p.stride[1] + lane + 32 * i]);
        dot += v * mean[i];
        norm2 += v * v;
      }
    dot = warp_sum(dot);
    norm2 = warp_sum(norm2);
    cos_sum += norm2 > 0.f && mean_norm > 0.f ? dot / (sqrtf(norm2) * mean_norm) : 0.f;
  }
  float* out = p.means + item * p.head_dim;
#pragma unroll
  for (int i = 0; i < kMaxDimPerLane; ++i)
    if (lane + 32 * i < p.head_dim) out[lane + 32 * i] = mean[i];
  if (lane == 0) p.similar[item] = cos_sum / static_cast<float>(end - begin) >= p.sim_threshold;
}

}  // namespace

cudaError_t launch_pool_tokens(const PoolParams& p, cudaStream_t stream) {
  if (p.head_dim > 32 * kMaxDimPerLane || p.pool < 1) return cudaErrorInvalidValue;
  const std::int64_t items = static_cast<std::int64_t>(p.batch) * p.heads * ((p.seq + p.pool - 1) / p.pool);
  const auto blocks = static_cast<unsigned>((items + kWarpsPerCta - 1) / kWarpsPerCta);
  if (p.element == ElementType::bf16)
    pool_tokens_kernel<__nv_bfloat16><<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  else
    pool_tokens_kernel<__half><<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fgattn::cuda
