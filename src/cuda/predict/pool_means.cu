// Pass 1 of the GPU Top-CDF: one warp per pool of `pool` consecutive tokens of one (b, h), Q's and K's pools in
// one launch. The pool's first 16 tokens are staged in shared memory by cp.async (16 bytes per lane per copy) and
// both passes read them there; each lane owns D/32 dims of a token row. The per-token cosine sums (dot and norm of
// 16 tokens = 32 values) are reduced with one reduce-scatter butterfly (31 shuffles instead of 32 x 5).
// Cost at Wan 480p (12 heads x 32,760 tokens, D = 128): 2 x 100.6 MB read once from HBM (~45 us at 4.5 TB/s; pools
// of more than 16 tokens re-read the rest from L1/L2 in the cosine pass), 25 MB of bf16 hi/lo means written.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/common/ptx.cuh"
#include "cuda/predict/topcdf_params.h"

namespace fgattn::cuda {
namespace {

constexpr int kWarpsPerCta = 4;
constexpr int kChunk = 16;  // tokens per butterfly: 16 x (dot, norm) = 32 values

__device__ inline float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// One butterfly step of reduce_scatter32: lanes exchange half of their 2 * Offset partial sums.
template <int Offset>
__device__ inline void reduce_scatter_step(float (&v)[32], int lane) {
  const bool upper = lane & Offset;
#pragma unroll
  for (int i = 0; i < Offset; ++i) {
    const float send = upper ? v[i] : v[i + Offset];
    const float keep = upper ? v[i + Offset] : v[i];
    v[i] = keep + __shfl_xor_sync(0xffffffffu, send, Offset);
  }
  if constexpr (Offset > 1) reduce_scatter_step<Offset / 2>(v, lane);
}

// After the call lane l holds the warp-wide sum of v[l].
__device__ inline float reduce_scatter32(float (&v)[32], int lane) {
  reduce_scatter_step<16>(v, lane);
  return v[0];
}

// A lane's Dpl consecutive dims of one token row: one 8- or 4-byte load, kept packed (2 dims per register).
template <int Dpl>
struct RawDims {
  unsigned w[Dpl / 2];
};

template <int Dpl, typename T>
__device__ inline RawDims<Dpl> load_raw(const T* x) {
  static_assert(Dpl == 2 || Dpl == 4);
  RawDims<Dpl> r;
  if constexpr (Dpl == 4) {
    const uint2 raw = *reinterpret_cast<const uint2*>(x);
    r.w[0] = raw.x, r.w[1] = raw.y;
  } else {
    r.w[0] = *reinterpret_cast<const unsigned*>(x);
  }
  return r;
}

template <typename T, int Dpl>
__device__ inline void unpack(const RawDims<Dpl>& r, float (&out)[Dpl]) {
  const T* e = reinterpret_cast<const T*>(r.w);
#pragma unroll
  for (int i = 0; i < Dpl; ++i) out[i] = static_cast<float>(e[i]);
}

template <typename T, int D>
__global__ void __launch_bounds__(kWarpsPerCta * 32, 8) pool_means_kernel(PoolMeansParams p) {
  constexpr int kDpl = D / 32;
  const int lane = threadIdx.x % 32;
  const std::int64_t bh_count = static_cast<std::int64_t>(p.batch) * p.heads;
  const int q_pools = (p.q.seq + p.pool - 1) / p.pool, k_pools = (p.k.seq + p.pool - 1) / p.pool;
  std::int64_t item = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const bool is_q = item < bh_count * q_pools;
  if (!is_q) item -= bh_count * q_pools;
  const PoolSide& side = is_q ? p.q : p.k;
  const int pools = is_q ? q_pools : k_pools;
  if (item >= bh_count * pools) return;
  const int pool_index = static_cast<int>(item % pools), bh = static_cast<int>(item / pools);
  const T* rows = static_cast<const T*>(side.x) + (bh / p.heads) * side.stride[0] + (bh % p.heads) * side.stride[2];
  const T* x = rows + lane * kDpl;  // this lane's dims of token 0
  const int begin = pool_index * p.pool, end = min(side.seq, begin + p.pool);
  const float n = static_cast<float>(end - begin);

  // The pool's first kChunk tokens are staged in shared memory by cp.async (zero-filled past the end: +0 in bf16 and
  // f16) and read from there by both passes: with the default pool of 16 that is the whole pool, read from memory
  // once, with no registers held for it (more warps, more bytes in flight). Larger pools add their other tokens a
  // few at a time.
  __shared__ __align__(16) T staged_rows[kWarpsPerCta][kChunk * D];
  const T* staged = staged_rows[threadIdx.x / 32];
  {
    constexpr int kChunksPerRow = D * static_cast<int>(sizeof(T)) / 16;
#pragma unroll
    for (int i = lane; i < kChunk * kChunksPerRow; i += 32) {
      const int r = i / kChunksPerRow, c = i % kChunksPerRow;
      const bool valid = begin + r < end;
      ptx::cp_async_16(ptx::smem_addr(staged + r * D + c * 8), rows + (valid ? (begin + r) * side.stride[1] : 0) + c * 8,
                       valid);
    }
    ptx::cp_async_commit();
    ptx::cp_async_wait<0>();
    __syncwarp();
  }
  auto staged_dims = [&](int t) { return *reinterpret_cast<const RawDims<kDpl>*>(staged + t * D + lane * kDpl); };
  float mean[kDpl] = {};
#pragma unroll
  for (int t = 0; t < kChunk; ++t) {
    float v[kDpl];
    unpack<T>(staged_dims(t), v);
#pragma unroll
    for (int i = 0; i < kDpl; ++i) mean[i] += v[i];
  }
#pragma unroll 4
  for (int c = begin + kChunk; c < end; ++c) {
    float v[kDpl];
    unpack<T>(load_raw<kDpl>(x + c * side.stride[1]), v);
#pragma unroll
    for (int i = 0; i < kDpl; ++i) mean[i] += v[i];
  }
  float mean_norm2 = 0.f;
#pragma unroll
  for (int i = 0; i < kDpl; ++i) {
    mean[i] /= n;
    mean_norm2 += mean[i] * mean[i];
  }
  const float mean_norm = sqrtf(warp_sum(mean_norm2));

  // Mean cosine of the tokens to the mean (as the CPU: a zero-norm token or mean contributes 0), and the tokens' mean
  // and largest norm (the key side's outlier guard: an attention sink hides in its pool's mean).
  float cos_sum = 0.f, norm_sum = 0.f, norm_max = 0.f;
  for (int c = begin; c < end; c += kChunk) {
    float v[2 * kChunk];
#pragma unroll
    for (int t = 0; t < kChunk; ++t) {
      float e[kDpl];
      RawDims<kDpl> raw{};
      if (c == begin) raw = staged_dims(t);
      else if (c + t < end) raw = load_raw<kDpl>(x + (c + t) * side.stride[1]);
      unpack<T>(raw, e);
      float dot = 0.f, norm2 = 0.f;
#pragma unroll
      for (int i = 0; i < kDpl; ++i) {
        dot += e[i] * mean[i];
        norm2 += e[i] * e[i];
      }
      v[2 * t] = dot;
      v[2 * t + 1] = norm2;
    }
    const float mine = reduce_scatter32(v, lane);  // even lane 2t: dot of token t; odd lane: its norm^2
    const float norm2 = __shfl_xor_sync(0xffffffffu, mine, 1);
    if (lane % 2 == 0 && c + lane / 2 < end) {
      const float norm = sqrtf(norm2);
      norm_sum += norm;
      norm_max = fmaxf(norm_max, norm);
      if (norm2 > 0.f && mean_norm > 0.f) cos_sum += mine / (norm * mean_norm);
    }
  }
  cos_sum = warp_sum(cos_sum);
  norm_sum = warp_sum(norm_sum);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) norm_max = fmaxf(norm_max, __shfl_xor_sync(0xffffffffu, norm_max, offset));

  // hi + lo carries 16 significant bits of the fp32 mean with bf16's (= fp32's) range.
  std::uint16_t hi[kDpl], lo[kDpl];
#pragma unroll
  for (int i = 0; i < kDpl; ++i) {
    const __nv_bfloat16 h = __float2bfloat16_rn(mean[i]);
    const __nv_bfloat16 l = __float2bfloat16_rn(mean[i] - __bfloat162float(h));
    hi[i] = __bfloat16_as_ushort(h);
    lo[i] = __bfloat16_as_ushort(l);
  }
  const std::int64_t out = (static_cast<std::int64_t>(bh) * pools + pool_index) * D + lane * kDpl;
  if constexpr (kDpl == 4) {
    *reinterpret_cast<uint2*>(side.hi + out) = make_uint2(hi[0] | (unsigned{hi[1]} << 16), hi[2] | (unsigned{hi[3]} << 16));
    *reinterpret_cast<uint2*>(side.lo + out) = make_uint2(lo[0] | (unsigned{lo[1]} << 16), lo[2] | (unsigned{lo[3]} << 16));
  } else {
    *reinterpret_cast<unsigned*>(side.hi + out) = hi[0] | (unsigned{hi[1]} << 16);
    *reinterpret_cast<unsigned*>(side.lo + out) = lo[0] | (unsigned{lo[1]} << 16);
  }
  const bool outlier = !is_q && norm_max > p.outlier_ratio * (norm_sum / n);
  if (lane == 0) side.similar[static_cast<std::int64_t>(bh) * pools + pool_index] = cos_sum / n >= p.sim_threshold && !outlier;
}

template <typename T>
cudaError_t launch_typed(const PoolMeansParams& p, unsigned blocks, cudaStream_t stream) {
  if (p.head_dim == 128) pool_means_kernel<T, 128><<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  else pool_means_kernel<T, 64><<<blocks, kWarpsPerCta * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_pool_means(const PoolMeansParams& p, cudaStream_t stream) {
  if ((p.head_dim != 64 && p.head_dim != 128) || p.pool < 1) return cudaErrorInvalidValue;
  const std::int64_t bh = static_cast<std::int64_t>(p.batch) * p.heads;
  const std::int64_t items = bh * ((p.q.seq + p.pool - 1) / p.pool) + bh * ((p.k.seq + p.pool - 1) / p.pool);
  const auto blocks = static_cast<unsigned>((items + kWarpsPerCta - 1) / kWarpsPerCta);
  return p.element == ElementType::bf16 ? launch_typed<__nv_bfloat16>(p, blocks, stream)
                                        : launch_typed<__half>(p, blocks, stream);
}

}  // namespace fgattn::cuda
